// MountainCar (Moore 1990) with gymnasium's MountainCar-v0 arithmetic: float64
// state, math.cos, np.clip, the same operation order as gymnasium's step().
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>

#include "core/rng.h"
#include "envs/env_common.h"

namespace fastrl::envs {

struct MountainCarConfig {
  // the episode terminates at position >= 0.5 with velocity >= goal_velocity.
  double goal_velocity = 0.0;
};

class MountainCar {
 public:
  using Config = MountainCarConfig;
  using Action = std::int64_t;
  using ResetOptions = UniformBounds;
  static constexpr int kObsDim = 2;
  static constexpr int kStateDim = 2;
  static constexpr std::int64_t kNumActions = 3;
  static constexpr int kGrain = 1024;
  static constexpr TaskInfo kInfo = {
      {{"MountainCar-v0", 200}, {nullptr, 0}}, 1,
      {-1.2f, -0.07f}, {0.6f, 0.07f},
      0.0f, 0.0f, {"low", "high"}, false, false, {{"goal_velocity", "real"}}, 1};

  static ResetOptions DefaultResetOptions() { return {-0.6, -0.4}; }

  explicit MountainCar(const Config& config = {}) : goal_velocity_(config.goal_velocity) {}

  void Reset(Rng& rng, const ResetOptions& options) {
    position_ = rng.uniform(options.low, options.high);
    velocity_ = 0.0;
  }

  void WriteObs(float* obs) const {
    obs[0] = static_cast<float>(position_);
    obs[1] = static_cast<float>(velocity_);
  }

  StepResult Step(Action action, float* obs) {
    constexpr double min_position = -1.2;
    constexpr double max_position = 0.6;
    constexpr double max_speed = 0.07;
    constexpr double goal_position = 0.5;
    constexpr double force = 0.001;
    constexpr double gravity = 0.0025;

    double position = position_, velocity = velocity_;
    velocity += static_cast<double>(action - 1) * force + std::cos(3 * position) * (-gravity);
    velocity = std::min(std::max(velocity, -max_speed), max_speed);
    position += velocity;
    position = std::min(std::max(position, min_position), max_position);
    if (position == min_position && velocity < 0) velocity = 0;
    position_ = position;
    velocity_ = velocity;
    WriteObs(obs);
    const bool terminated = position >= goal_position && velocity >= goal_velocity_;
    return {-1.0, terminated};
  }

  void GetState(double* out) const {
    out[0] = position_;
    out[1] = velocity_;
  }
  void SetState(const double* in) {
    position_ = in[0];
    velocity_ = in[1];
  }

 private:
  double goal_velocity_;
  double position_ = 0.0;
  double velocity_ = 0.0;
};

}  // namespace fastrl::envs
