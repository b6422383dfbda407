// Acrobot (Sutton 1996, "book" dynamics) with gymnasium's Acrobot-v1
// arithmetic: the reset state is drawn in float64 and stored as float32; a step
// appends the torque, integrates one classic RK4 step of dt = 0.2 s in float64
// (NumPy's elementwise array arithmetic, in the same order), wraps the angles
// into [-pi, pi] and bounds the velocities. x**2 on float64 is libm pow.
//
// One known difference: gymnasium computes the *reset* observation's cos/sin
// with NumPy's float32 kernels (the reset state is float32), which differ from
// the correctly rounded float32(cos(double)) used here in the last bit for
// about 1 value in 1500. Every observation after a step, every reward and every
// state match exactly.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>

#include "core/rng.h"
#include "envs/env_common.h"

namespace fastrl::envs {

struct AcrobotConfig {};

class Acrobot {
 public:
  using Config = AcrobotConfig;
  using Action = std::int64_t;
  using ResetOptions = UniformBounds;
  static constexpr int kObsDim = 6;
  static constexpr int kStateDim = 4;
  static constexpr std::int64_t kNumActions = 3;
  static constexpr int kGrain = 64;

  static constexpr double kMaxVel1 = 4 * M_PI;
  static constexpr double kMaxVel2 = 9 * M_PI;
  static constexpr TaskInfo kInfo = {
      {{"Acrobot-v1", 500}, {nullptr, 0}}, 1,
      {-1.0f, -1.0f, -1.0f, -1.0f, static_cast<float>(-kMaxVel1), static_cast<float>(-kMaxVel2)},
      {1.0f, 1.0f, 1.0f, 1.0f, static_cast<float>(kMaxVel1), static_cast<float>(kMaxVel2)},
      0.0f, 0.0f, {"low", "high"}, false, true, {{nullptr, nullptr}}, 0};

  static ResetOptions DefaultResetOptions() { return {-0.1, 0.1}; }

  explicit Acrobot(const Config& /*config*/ = {}) {}

  void Reset(Rng& rng, const ResetOptions& options) {
    for (double& s : s_) s = static_cast<float>(rng.uniform(options.low, options.high));
  }

  void WriteObs(float* obs) const {
    obs[0] = static_cast<float>(std::cos(s_[0]));
    obs[1] = static_cast<float>(std::sin(s_[0]));
    obs[2] = static_cast<float>(std::cos(s_[1]));
    obs[3] = static_cast<float>(std::sin(s_[1]));
    obs[4] = static_cast<float>(s_[2]);
    obs[5] = static_cast<float>(s_[3]);
  }

  StepResult Step(Action action, float* obs) {
    constexpr double kTorque[3] = {-1.0, 0.0, 1.0};
    constexpr double dt = 0.2;
    constexpr double dt2 = dt / 2.0;
    const double torque = kTorque[action];

    // rk4(self._dsdt, s_augmented, [0, dt]); the augmented 5th component (the
    // torque) has derivative 0, so it stays `torque` in every stage.
    double y0[4], k1[4], k2[4], k3[4], k4[4], y[4];
    for (int j = 0; j < 4; ++j) y0[j] = s_[j];
    Derivs(y0, torque, k1);
    for (int j = 0; j < 4; ++j) y[j] = y0[j] + dt2 * k1[j];
    Derivs(y, torque, k2);
    for (int j = 0; j < 4; ++j) y[j] = y0[j] + dt2 * k2[j];
    Derivs(y, torque, k3);
    for (int j = 0; j < 4; ++j) y[j] = y0[j] + dt * k3[j];
    Derivs(y, torque, k4);
    double ns[4];
    for (int j = 0; j < 4; ++j) ns[j] = y0[j] + dt / 6.0 * (k1[j] + 2 * k2[j] + 2 * k3[j] + k4[j]);

    ns[0] = Wrap(ns[0], -M_PI, M_PI);
    ns[1] = Wrap(ns[1], -M_PI, M_PI);
    ns[2] = Bound(ns[2], -kMaxVel1, kMaxVel1);
    ns[3] = Bound(ns[3], -kMaxVel2, kMaxVel2);
    for (int j = 0; j < 4; ++j) s_[j] = ns[j];

    // The observation and the termination test share cos(theta1).
    double s0, c0, s1, c1;
    ::sincos(s_[0], &s0, &c0);
    ::sincos(s_[1], &s1, &c1);
    const bool terminated = -c0 - std::cos(s_[1] + s_[0]) > 1.0;
    obs[0] = static_cast<float>(c0);
    obs[1] = static_cast<float>(s0);
    obs[2] = static_cast<float>(c1);
    obs[3] = static_cast<float>(s1);
    obs[4] = static_cast<float>(s_[2]);
    obs[5] = static_cast<float>(s_[3]);
    return {terminated ? 0.0 : -1.0, terminated};
  }

  void GetState(double* out) const {
    for (int j = 0; j < kStateDim; ++j) out[j] = s_[j];
  }
  void SetState(const double* in) {
    for (int j = 0; j < kStateDim; ++j) s_[j] = in[j];
  }

 private:
  // gymnasium's AcrobotEnv._dsdt (book dynamics), operation for operation.
  static void Derivs(const double* s, double a, double* out) {
    constexpr double m1 = 1.0, m2 = 1.0, l1 = 1.0, lc1 = 0.5, lc2 = 0.5, I1 = 1.0, I2 = 1.0, g = 9.8;
    // lc1**2, lc2**2, l1**2 of these powers of two are exact: any pow gives them.
    constexpr double lc1_sq = lc1 * lc1, lc2_sq = lc2 * lc2, l1_sq = l1 * l1;
    const double theta1 = s[0], theta2 = s[1], dtheta1 = s[2], dtheta2 = s[3];
    double sin_t2, cos_t2;
    ::sincos(theta2, &sin_t2, &cos_t2);  // exactly sin() and cos() (glibc)
    const double d1 = m1 * lc1_sq + m2 * (l1_sq + lc2_sq + 2 * l1 * lc2 * cos_t2) + I1 + I2;
    const double d2 = m2 * (lc2_sq + l1 * lc2 * cos_t2) + I2;
    const double phi2 = m2 * lc2 * g * std::cos(theta1 + theta2 - M_PI / 2.0);
    const double phi1 = -m2 * l1 * lc2 * PowSquare(dtheta2) * sin_t2 -
                        2 * m2 * l1 * lc2 * dtheta2 * dtheta1 * sin_t2 +
                        (m1 * lc1 + m2 * l1) * g * std::cos(theta1 - M_PI / 2) + phi2;
    const double ddtheta2 = (a + d2 / d1 * phi1 - m2 * l1 * lc2 * PowSquare(dtheta1) * sin_t2 - phi2) /
                            (m2 * lc2_sq + I2 - PowSquare(d2) / d1);
    const double ddtheta1 = -(d2 * ddtheta2 + phi1) / d1;
    out[0] = dtheta1;
    out[1] = dtheta2;
    out[2] = ddtheta1;
    out[3] = ddtheta2;
  }

  static double Wrap(double x, double m, double M) {
    const double diff = M - m;
    while (x > M) x = x - diff;
    while (x < m) x = x + diff;
    return x;
  }

  // min(max(x, m), M) with Python's builtins.
  static double Bound(double x, double m, double M) {
    if (m > x) x = m;
    if (M < x) x = M;
    return x;
  }

  double s_[kStateDim] = {0.0, 0.0, 0.0, 0.0};
};

}  // namespace fastrl::envs
