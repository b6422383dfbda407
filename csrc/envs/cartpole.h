// CartPole (Barto, Sutton & Anderson 1983) with gymnasium's CartPole-v1/v0
// arithmetic: float64 state, explicit Euler with tau = 0.02, libm sin/cos, the
// same operation order as gymnasium's step() so results match bit for bit.
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <utility>

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
  static constexpr TaskInfo kInfo = {
      {{"CartPole-v1", 500}, {"CartPole-v0", 200}}, 2,
      // gymnasium's bounds: twice the termination thresholds (x 2.4, theta 12 degrees), velocities unbounded
      {-4.8f, -INFINITY, static_cast<float>(-2 * (12 * 2 * M_PI / 360)), -INFINITY},
      {4.8f, INFINITY, static_cast<float>(2 * (12 * 2 * M_PI / 360)), INFINITY},
      0.0f, 0.0f, {"low", "high"}, false, false, {{"sutton_barto_reward", "bool"}}, 1};

  static ResetOptions DefaultResetOptions() { return {-0.05, 0.05}; }

  explicit CartPole(const Config& config = {}) : sutton_barto_reward_(config.sutton_barto_reward) {}

  void Reset(Rng& rng, const ResetOptions& options) {
    for (double& s : state_) s = rng.uniform(options.low, options.high);
  }

  // Steps count envs (count <= kMaxBatchCount) with actions[i], writing
  // env i's observation, reward and termination at obs + i * kObsDim,
  // rewards[i] and terminated[i]. Same results as Step() on each env, in
  // batched passes: sin/cos of every angle first (exact_trig.h, mostly without
  // libm calls), then the dynamics, two (SSE2) or four (AVX2) envs per vector
  // operation. Elementwise IEEE operations give the same doubles in vector
  // lanes as in scalar code, and Dynamics() is the one formula all paths run.
  static void StepBatch(CartPole* envs, const Action* actions, std::size_t count, float* obs, double* rewards,
                        bool* terminated) {
    if (HasAvx2()) {
      StepBatchAvx2(envs, actions, count, obs, rewards, terminated);
    } else {
      StepBatchSse2(envs, actions, count, obs, rewards, terminated);
    }
  }

  FASTRL_LANES_INLINE void WriteObs(float* obs) const {
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
  FASTRL_LANES_INLINE static void Dynamics(T* s, const T& force, const T& sintheta, const T& costheta) {
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
  template <class V>
  FASTRL_LANES_INLINE static Mask<V> OutOfBounds(const V& x, const V& theta) {
    return (x < -kXThreshold) | (x > kXThreshold) | (theta < -kThetaThreshold) | (theta > kThetaThreshold);
  }

  // {f(0), ..., f(lanes - 1)}, built in one expression.
  template <class V, class F, std::size_t... L>
  FASTRL_LANES_INLINE static V Gather(F f, std::index_sequence<L...>) {
    return V{f(L)...};
  }
  template <class V, class F>
  FASTRL_LANES_INLINE static V Gather(F f) {
    return Gather<V>(f, std::make_index_sequence<sizeof(V) / sizeof(double)>());
  }

  template <class V>
  FASTRL_LANES_INLINE static void StepBatchLanes(CartPole* envs, const Action* actions, std::size_t count, float* obs,
                                                 double* rewards, bool* terminated) {
    constexpr std::size_t kLanes = sizeof(V) / sizeof(double);
    double theta[kMaxBatchCount], sin_theta[kMaxBatchCount], cos_theta[kMaxBatchCount];
    for (std::size_t i = 0; i < count; ++i) theta[i] = envs[i].state_[2];
    SinCosBatchLanes<V>(theta, sin_theta, cos_theta, count);
    std::size_t i = 0;
    for (; i + kLanes <= count; i += kLanes) {
      const CartPole* const e = envs + i;
      V s[kStateDim];
      for (int k = 0; k < kStateDim; ++k) s[k] = Gather<V>([=](std::size_t l) { return e[l].state_[k]; });
      const V force = Gather<V>([=](std::size_t l) { return Force(actions[i + l]); });
      V sintheta, costheta;
      __builtin_memcpy(&sintheta, sin_theta + i, sizeof(V));
      __builtin_memcpy(&costheta, cos_theta + i, sizeof(V));
      Dynamics(s, force, sintheta, costheta);
      const Mask<V> out = OutOfBounds(s[0], s[2]);
      for (std::size_t l = 0; l < kLanes; ++l) {
        CartPole& env = envs[i + l];
        for (int k = 0; k < kStateDim; ++k) env.state_[k] = s[k][l];
        env.Finish(out[l] != 0, obs + (i + l) * kObsDim, rewards[i + l], terminated[i + l]);
      }
    }
    for (; i < count; ++i) {
      envs[i].StepWith(actions[i], sin_theta[i], cos_theta[i], obs + i * kObsDim, rewards[i], terminated[i]);
    }
  }
  static void StepBatchSse2(CartPole* envs, const Action* actions, std::size_t count, float* obs, double* rewards,
                            bool* terminated) {
    StepBatchLanes<V2>(envs, actions, count, obs, rewards, terminated);
  }
  __attribute__((target("avx2"))) static void StepBatchAvx2(CartPole* envs, const Action* actions, std::size_t count,
                                                            float* obs, double* rewards, bool* terminated) {
    StepBatchLanes<V4>(envs, actions, count, obs, rewards, terminated);
  }

  // The rest of a step once the new state is in state_.
  FASTRL_LANES_INLINE void Finish(bool is_terminated, float* obs, double& reward, bool& terminated) const {
    WriteObs(obs);
    if (sutton_barto_reward_) {
      reward = is_terminated ? -1.0 : 0.0;
    } else {
      reward = 1.0;
    }
    terminated = is_terminated;
  }

  FASTRL_LANES_INLINE void StepWith(Action action, double sintheta, double costheta, float* obs, double& reward, bool& terminated) {
    Dynamics(state_, Force(action), sintheta, costheta);
    Finish(OutOfBounds(state_[0], state_[2]), obs, reward, terminated);
  }

  bool sutton_barto_reward_;
  double state_[kStateDim] = {0.0, 0.0, 0.0, 0.0};
};

}  // namespace fastrl::envs
