// CartPole (Barto, Sutton & Anderson 1983) with gymnasium's CartPole-v1/v0
// arithmetic: float64 state, explicit Euler with tau = 0.02, libm sin/cos, the
// same operation order as gymnasium's step() so results match bit for bit.
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>

#include "core/rng.h"
#include "envs/env_common.h"
#include "envs/exact_trig.h"

namespace fastrl::envs {

struct CartPoleConfig {
  // reward 0 per step and -1 at termination instead of +1 per step.
  bool sutton_barto_reward = false;
};

class CartPole {
 public:
  using Config = CartPoleConfig;
  using Action = std::int64_t;
  using ResetOptions = UniformBounds;
  static constexpr int kObsDim = 4;
  static constexpr int kStateDim = 4;
  static constexpr std::int64_t kNumActions = 2;
  // Envs per thread below which splitting a batch costs more than it saves.
  static constexpr int kGrain = 1024;

  static ResetOptions DefaultResetOptions() { return {-0.05, 0.05}; }

  explicit CartPole(const Config& config = {}) : sutton_barto_reward_(config.sutton_barto_reward) {}

  void Reset(Rng& rng, const ResetOptions& options) {
    for (double& s : state_) s = rng.uniform(options.low, options.high);
  }

  // Steps count envs (count <= kMaxPrepareCount) with actions[i], writing
  // env i's observation, reward and termination at obs + i * kObsDim,
  // rewards[i] and terminated[i]. Same results as Step() on each env, in
  // batched passes: sin/cos of every angle first (exact_trig.h, mostly without
  // libm calls), then the dynamics two envs per SSE2 operation. Elementwise
  // IEEE operations give the same doubles in vector lanes as in scalar code,
  // and Dynamics() is the one formula both paths run.
  static void StepBatch(CartPole* envs, const Action* actions, std::size_t count, float* obs, double* rewards,
                        bool* terminated) {
    double theta[kMaxPrepareCount], sin_theta[kMaxPrepareCount], cos_theta[kMaxPrepareCount];
    for (std::size_t i = 0; i < count; ++i) theta[i] = envs[i].state_[2];
    SinCosBatch(theta, sin_theta, cos_theta, count);
    std::size_t i = 0;
    for (; i + 2 <= count; i += 2) {
      CartPole& a = envs[i];
      CartPole& b = envs[i + 1];
      V2 s[kStateDim];
      for (int k = 0; k < kStateDim; ++k) s[k] = V2{a.state_[k], b.state_[k]};
      const V2 force = {Force(actions[i]), Force(actions[i + 1])};
      const V2 sintheta = {sin_theta[i], sin_theta[i + 1]};
      const V2 costheta = {cos_theta[i], cos_theta[i + 1]};
      Dynamics(s, force, sintheta, costheta);
      for (int k = 0; k < kStateDim; ++k) {
        a.state_[k] = s[k][0];
        b.state_[k] = s[k][1];
      }
      const V2i out = OutOfBounds(s[0], s[2]);
      a.Finish(out[0] != 0, obs + i * kObsDim, rewards[i], terminated[i]);
      b.Finish(out[1] != 0, obs + (i + 1) * kObsDim, rewards[i + 1], terminated[i + 1]);
    }
    if (i < count) envs[i].StepWith(actions[i], sin_theta[i], cos_theta[i], obs + i * kObsDim, rewards[i], terminated[i]);
  }

  void WriteObs(float* obs) const {
    for (int k = 0; k < kStateDim; ++k) obs[k] = static_cast<float>(state_[k]);
  }

  StepResult Step(Action action, float* obs) {
    double sintheta, costheta;
    SinCosBatch(&state_[2], &sintheta, &costheta, 1);
    StepResult result;
    StepWith(action, sintheta, costheta, obs, result.reward, result.terminated);
    return result;
  }

  void GetState(double* out) const {
    for (int k = 0; k < kStateDim; ++k) out[k] = state_[k];
  }
  void SetState(const double* in) {
    for (int k = 0; k < kStateDim; ++k) state_[k] = in[k];
  }

 private:
  // Constants computed exactly as gymnasium's __init__ does.
  static constexpr double kGravity = 9.8;
  static constexpr double kMassCart = 1.0;
  static constexpr double kMassPole = 0.1;
  static constexpr double kTotalMass = kMassPole + kMassCart;
  static constexpr double kLength = 0.5;
  static constexpr double kPoleMassLength = kMassPole * kLength;
  static constexpr double kForceMag = 10.0;
  static constexpr double kTau = 0.02;
  static constexpr double kXThreshold = 2.4;
  static constexpr double kThetaThreshold = 12 * 2 * M_PI / 360;

  static double Force(Action action) { return action == 1 ? kForceMag : -kForceMag; }

  // gymnasium's step() arithmetic in its operation order, on T = double (one
  // env) or V2 (two envs per lane): s = {x, x_dot, theta, theta_dot} is
  // advanced in place; sintheta/costheta are exactly libm's sin/cos(theta).
  template <class T>
  static void Dynamics(T* s, T force, T sintheta, T costheta) {
    const T x = s[0], x_dot = s[1], theta = s[2], theta_dot = s[3];
    // np.square is a plain multiply (not pow).
    const T temp = (force + kPoleMassLength * (theta_dot * theta_dot) * sintheta) / kTotalMass;
    const T thetaacc = (kGravity * sintheta - costheta * temp) /
                       (kLength * (4.0 / 3.0 - kMassPole * (costheta * costheta) / kTotalMass));
    const T xacc = temp - kPoleMassLength * thetaacc * costheta / kTotalMass;
    s[0] = x + kTau * x_dot;
    s[1] = x_dot + kTau * xacc;
    s[2] = theta + kTau * theta_dot;
    s[3] = theta_dot + kTau * thetaacc;
  }

  static bool OutOfBounds(double x, double theta) {
    return x < -kXThreshold || x > kXThreshold || theta < -kThetaThreshold || theta > kThetaThreshold;
  }
  static V2i OutOfBounds(V2 x, V2 theta) {
    return (x < -kXThreshold) | (x > kXThreshold) | (theta < -kThetaThreshold) | (theta > kThetaThreshold);
  }

  // The rest of a step once the new state is in state_.
  void Finish(bool is_terminated, float* obs, double& reward, bool& terminated) const {
    WriteObs(obs);
    if (sutton_barto_reward_) {
      reward = is_terminated ? -1.0 : 0.0;
    } else {
      reward = 1.0;
    }
    terminated = is_terminated;
  }

  void StepWith(Action action, double sintheta, double costheta, float* obs, double& reward, bool& terminated) {
    Dynamics(state_, Force(action), sintheta, costheta);
    Finish(OutOfBounds(state_[0], state_[2]), obs, reward, terminated);
  }

  bool sutton_barto_reward_;
  double state_[kStateDim] = {0.0, 0.0, 0.0, 0.0};
};

}  // namespace fastrl::envs
