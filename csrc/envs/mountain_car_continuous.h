// Continuous MountainCar with gymnasium's MountainCarContinuous-v0 arithmetic.
//
// gymnasium keeps this env's state as a float32 array after the first step
// (float64 right after reset) and mixes it with Python floats and the action's
// own dtype, so under NumPy 2 most of its arithmetic is float32. NpScalar
// replays those promotion rules operation by operation. The reward uses the
// raw (unclipped) action: -0.1 * action**2 (+100 at the goal).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>

#include "core/rng.h"
#include "envs/env_common.h"
#include "envs/numpy_scalar.h"

namespace fastrl::envs {

struct MountainCarContinuousConfig {
  // the episode terminates at position >= 0.45 with velocity >= goal_velocity.
  double goal_velocity = 0.0;
};

class MountainCarContinuous {
 public:
  using Config = MountainCarContinuousConfig;
  using Action = ContinuousAction;
  using ResetOptions = UniformBounds;
  static constexpr int kObsDim = 2;
  static constexpr int kStateDim = 2;
  static constexpr std::int64_t kNumActions = 0;  // continuous
  static constexpr int kGrain = 512;
  static constexpr TaskInfo kInfo = {
      {{"MountainCarContinuous-v0", 999}, {nullptr, 0}}, 1,
      {-1.2f, -0.07f}, {0.6f, 0.07f},
      -1.0f, 1.0f, {"low", "high"}, false, false, {{"goal_velocity", "real"}}, 1};

  static ResetOptions DefaultResetOptions() { return {-0.6, -0.4}; }

  explicit MountainCarContinuous(const Config& config = {}) : goal_velocity_(config.goal_velocity) {}

  void Reset(Rng& rng, const ResetOptions& options) {
    position_ = rng.uniform(options.low, options.high);
    velocity_ = 0.0;
    state_is_float32_ = false;
  }

  void WriteObs(float* obs) const {
    obs[0] = state_is_float32_ ? position32_ : static_cast<float>(position_);
    obs[1] = state_is_float32_ ? velocity32_ : static_cast<float>(velocity_);
  }

  StepResult Step(const Action& action, float* obs) {
    using S = NpScalar;
    const S a = action.is_float32 ? S::Float32(action.value) : S::Float64(action.value);
    S position = state_is_float32_ ? S::Float32(position32_) : S::Float64(position_);
    S velocity = state_is_float32_ ? S::Float32(velocity32_) : S::Float64(velocity_);

    // force = min(max(action[0], -1.0), 1.0): Python's min/max return one of
    // their arguments, so force is either the action scalar or a Python float.
    S force = a;
    if (S::Python(-1.0) > force) force = S::Python(-1.0);
    if (S::Python(1.0) < force) force = S::Python(1.0);

    // math.cos takes the value as a double and returns a Python float.
    const S cos_term = S::Python(0.0025 * std::cos((S::Python(3) * position).value()));
    velocity = velocity + (force * S::Python(0.0015) - cos_term);
    if (velocity > S::Python(0.07)) velocity = S::Python(0.07);
    if (velocity < S::Python(-0.07)) velocity = S::Python(-0.07);
    position = position + velocity;
    if (position > S::Python(0.6)) position = S::Python(0.6);
    if (position < S::Python(-1.2)) position = S::Python(-1.2);
    if (position == S::Python(-1.2) && velocity < S::Python(0.0)) velocity = S::Python(0.0);

    const bool terminated = position >= S::Python(0.45) && velocity >= S::Python(goal_velocity_);
    double reward = terminated ? 100.0 : 0.0;
    reward -= PowSquare(action.value) * 0.1;  // math.pow(action[0], 2): unclipped

    // self.state = np.array([position, velocity], dtype=np.float32). Kept in
    // float members: gcc 12's SLP vectorizer (with -fno-builtin) dropped the
    // rounding of `double_member = static_cast<float>(x)` here.
    position32_ = static_cast<float>(position.value());
    velocity32_ = static_cast<float>(velocity.value());
    state_is_float32_ = true;
    WriteObs(obs);
    return {reward, terminated};
  }

  void GetState(double* out) const {
    out[0] = state_is_float32_ ? position32_ : position_;
    out[1] = state_is_float32_ ? velocity32_ : velocity_;
  }
  // gymnasium's state is a float64 array right after reset() and a float32
  // array after any step. A set state whose values are both exact float32
  // numbers is taken as the float32 kind, so get_state()/set_state() round
  // trips are exact; a reset state (a float64 draw) is float32-exact with
  // probability about 2**-29.
  void SetState(const double* in) {
    position_ = in[0];
    velocity_ = in[1];
    position32_ = static_cast<float>(in[0]);
    velocity32_ = static_cast<float>(in[1]);
    state_is_float32_ = static_cast<double>(position32_) == in[0] && static_cast<double>(velocity32_) == in[1];
  }

 private:
  double goal_velocity_;
  double position_ = 0.0;
  double velocity_ = 0.0;
  float position32_ = 0.0f;  // the state after a step (gymnasium: a float32 array)
  float velocity32_ = 0.0f;
  bool state_is_float32_ = false;  // which pair holds the state
};

}  // namespace fastrl::envs
