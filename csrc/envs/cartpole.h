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

  // sin and cos of the angles of count envs about to step (count <=
  // kMaxPrepareCount), for their Step(): one batched pass, mostly without libm
  // calls (exact_trig.h).
  static void PrepareStep(CartPole* envs, std::size_t count) {
    double theta[kMaxPrepareCount], sin_theta[kMaxPrepareCount], cos_theta[kMaxPrepareCount];
    for (std::size_t i = 0; i < count; ++i) theta[i] = envs[i].state_[2];
    SinCosBatch(theta, sin_theta, cos_theta, count);
    for (std::size_t i = 0; i < count; ++i) {
      envs[i].sin_theta_ = sin_theta[i];
      envs[i].cos_theta_ = cos_theta[i];
    }
  }

  void WriteObs(float* obs) const {
    for (int k = 0; k < kStateDim; ++k) obs[k] = static_cast<float>(state_[k]);
  }

  StepResult Step(Action action, float* obs) {
    // Constants computed exactly as gymnasium's __init__ does.
    constexpr double gravity = 9.8;
    constexpr double masscart = 1.0;
    constexpr double masspole = 0.1;
    constexpr double total_mass = masspole + masscart;
    constexpr double length = 0.5;
    constexpr double polemass_length = masspole * length;
    constexpr double force_mag = 10.0;
    constexpr double tau = 0.02;
    const double theta_threshold = 12 * 2 * M_PI / 360;
    constexpr double x_threshold = 2.4;

    double x = state_[0], x_dot = state_[1], theta = state_[2], theta_dot = state_[3];
    const double force = action == 1 ? force_mag : -force_mag;
    // Exactly libm's sin(theta) and cos(theta), from PrepareStep.
    const double sintheta = sin_theta_, costheta = cos_theta_;
    // np.square is a plain multiply (not pow).
    const double temp = (force + polemass_length * (theta_dot * theta_dot) * sintheta) / total_mass;
    const double thetaacc = (gravity * sintheta - costheta * temp) /
                            (length * (4.0 / 3.0 - masspole * (costheta * costheta) / total_mass));
    const double xacc = temp - polemass_length * thetaacc * costheta / total_mass;
    x = x + tau * x_dot;
    x_dot = x_dot + tau * xacc;
    theta = theta + tau * theta_dot;
    theta_dot = theta_dot + tau * thetaacc;
    state_[0] = x;
    state_[1] = x_dot;
    state_[2] = theta;
    state_[3] = theta_dot;
    WriteObs(obs);

    const bool terminated = x < -x_threshold || x > x_threshold || theta < -theta_threshold || theta > theta_threshold;
    double reward;
    if (sutton_barto_reward_) {
      reward = terminated ? -1.0 : 0.0;
    } else {
      reward = 1.0;
    }
    return {reward, terminated};
  }

  void GetState(double* out) const {
    for (int k = 0; k < kStateDim; ++k) out[k] = state_[k];
  }
  void SetState(const double* in) {
    for (int k = 0; k < kStateDim; ++k) state_[k] = in[k];
  }

 private:
  bool sutton_barto_reward_;
  double state_[kStateDim] = {0.0, 0.0, 0.0, 0.0};
  double sin_theta_ = 0.0;  // of state_[2], set by PrepareStep
  double cos_theta_ = 1.0;
};

}  // namespace fastrl::envs
