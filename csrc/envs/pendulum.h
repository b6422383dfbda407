// Pendulum swing-up with gymnasium's Pendulum-v1 arithmetic.
//
// The state (th, thdot) is float64. Under NumPy 2 the torque u keeps the dtype
// of the action array: with float32 actions, u**2 is powf and 3.0 * u and
// 0.001 * u**2 are float32 products, each widened to float64 only when added
// to a float64 term; with float64 actions every term is float64. Python's
// x**2 on a float64 is libm pow (not x*x), and th % (2 pi) is NumPy's
// remainder (fmod, then shifted to the divisor's sign).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>

#include "core/rng.h"
#include "envs/env_common.h"

namespace fastrl::envs {

struct PendulumConfig {
  // gravitational acceleration (gymnasium's `g`).
  double g = 10.0;
};

struct PendulumResetOptions {
  // start angle drawn from [-x_init, x_init], angular velocity from [-y_init, y_init].
  double x_init;
  double y_init;
};

class Pendulum {
 public:
  using Config = PendulumConfig;
  using Action = ContinuousAction;
  using ResetOptions = PendulumResetOptions;
  static constexpr int kObsDim = 3;
  static constexpr int kStateDim = 2;
  static constexpr std::int64_t kNumActions = 0;  // continuous
  static constexpr int kGrain = 512;
  static constexpr double kMaxTorque = 2.0;
  static constexpr TaskInfo kInfo = {
      {{"Pendulum-v1", 200}, {nullptr, 0}}, 1,
      {-1.0f, -1.0f, -8.0f}, {1.0f, 1.0f, 8.0f},
      -2.0f, 2.0f, {"x_init", "y_init"}, true, false, {{"g", "real"}}, 1};

  static ResetOptions DefaultResetOptions() { return {M_PI, 1.0}; }

  // 3 * g / (2 * l) with l = 1, evaluated as Python does: (3 * g) / 2.0.
  explicit Pendulum(const Config& config = {}) : g_(config.g), gravity_gain_(3 * config.g / (2 * 1.0)) {}

  void Reset(Rng& rng, const ResetOptions& options) {
    // np_random.uniform(low=-high, high=high) draws the angle first.
    th_ = rng.uniform(-options.x_init, options.x_init);
    thdot_ = rng.uniform(-options.y_init, options.y_init);
    sin_th_ = std::sin(th_);
  }

  void WriteObs(float* obs) const {
    obs[0] = static_cast<float>(std::cos(th_));
    obs[1] = static_cast<float>(sin_th_);
    obs[2] = static_cast<float>(thdot_);
  }

  StepResult Step(const Action& action, float* obs) {
    constexpr double max_speed = 8;
    constexpr double dt = 0.05;
    constexpr double m = 1.0;
    constexpr double l = 1.0;
    // np.clip(u, -max_torque, max_torque)[0]: bounds are exact in both dtypes.
    const double u = std::min(std::max(action.value, -kMaxTorque), kMaxTorque);
    double torque_cost;  // 0.001 * u**2
    double torque_acc;   // 3.0 / (m * l**2) * u
    if (action.is_float32) {
      const float uf = static_cast<float>(u);
      torque_cost = static_cast<double>(0.001f * PowfSquare(uf));
      torque_acc = static_cast<double>(static_cast<float>(3.0 / (m * l * l)) * uf);
    } else {
      torque_cost = 0.001 * PowSquare(u);
      torque_acc = 3.0 / (m * l * l) * u;  // l**2 == l*l exactly for l = 1
    }
    const double costs = PowSquare(AngleNormalize(th_)) + 0.1 * PowSquare(thdot_) + torque_cost;
    double newthdot = thdot_ + (gravity_gain_ * sin_th_ + torque_acc) * dt;
    newthdot = std::min(std::max(newthdot, -max_speed), max_speed);
    th_ = th_ + newthdot * dt;
    thdot_ = newthdot;
    double s, c;
    ::sincos(th_, &s, &c);  // glibc's sincos gives exactly sin() and cos()
    sin_th_ = s;            // reused by the next step's dynamics
    obs[0] = static_cast<float>(c);
    obs[1] = static_cast<float>(s);
    obs[2] = static_cast<float>(thdot_);
    return {-costs, false};
  }

  void GetState(double* out) const {
    out[0] = th_;
    out[1] = thdot_;
  }
  void SetState(const double* in) {
    th_ = in[0];
    thdot_ = in[1];
    sin_th_ = std::sin(th_);
  }

 private:
  // ((x + pi) % (2 pi)) - pi with NumPy's float64 remainder.
  // fmod(a, 2 pi) exactly (fmod is exact: a - k * 2pi for k = trunc(a / 2pi)),
  // without glibc's slow bit-by-bit fmod for |a| < 2**20. 2pi = kHi + kLo with
  // kHi holding 27 significant bits, so for an integer k < 2**26 both k * kHi
  // and k * kLo are exact, a - k * kHi is exact (Sterbenz: k * kHi is within a
  // factor 2 of a), and the last subtraction, whose exact result is the
  // (representable) remainder, is exact too.
 public:
  static double FmodTwoPi(double a) {
    constexpr double b = 2 * M_PI;
    // No early return for |a| < b (k = 0 below gives r = |a| exactly): its
    // branch, like a ?: for the absolute value, would follow the data's sign
    // and magnitude and be mispredicted about half the time.
    const double abs_a = __builtin_fabs(a);
    if (!(abs_a < 0x1p20)) return std::fmod(a, b);  // also inf, NaN
    constexpr double kHi = 0x1.921fb54000000p+2;  // 2pi with its low 26 bits cleared
    constexpr double kLo = b - kHi;                      // exact
    // The quotient only seeds k (corrected below), so a multiply will do.
    double k = static_cast<double>(static_cast<std::int64_t>(abs_a * (1.0 / b)));
    double r = (abs_a - k * kHi) - k * kLo;
    if (r < 0) {  // a / b rounded up to an integer
      k -= 1;
      r = (abs_a - k * kHi) - k * kLo;
    } else if (r >= b) {
      k += 1;
      r = (abs_a - k * kHi) - k * kLo;
    }
    return __builtin_copysign(r, a);  // fmod's result has a's sign
  }

 private:
  static double AngleNormalize(double x) {
    const double a = x + M_PI;
    const double b = 2 * M_PI;
    const double mod = FmodTwoPi(a);
    // NumPy's remainder moves a negative fmod up by b (b > 0) and makes a zero
    // +0; adding 0.0 does the latter. A select rather than a branch on the
    // data's sign.
    return (mod + (mod < 0 ? b : 0.0)) - M_PI;
  }

  double g_;
  double gravity_gain_;
  double th_ = 0.0;
  double thdot_ = 0.0;
  double sin_th_ = 0.0;
};

}  // namespace fastrl::envs
