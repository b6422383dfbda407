// Pieces shared by the one-header-per-task environments.
//
// Each task header defines a class with the same small contract:
//   using Config, Action, ResetOptions;  static constexpr kObsDim, kStateDim;
//   Reset(rng, options)                  draw a start state;
//   WriteObs(obs)                        the observation of the current state;
//   Step(action, obs) -> StepResult      advance one step, write the new observation;
//   GetState(out) / SetState(in)         the physical state as float64 values.
// The batched stepper (vec_env.h) owns the time limit, autoreset and episode
// statistics, so the task classes hold physics only.
//
// Floating point: Python's x**2 is libm pow(), which differs from x*x in the
// last bit for about 1 double in 1000, so the headers call ::pow/::powf from
// <math.h> (std::pow(float, float) is __builtin_powf, which gcc may fold into
// a multiply). The files that include these headers are compiled with
// -fno-builtin and -ffp-contract=off, so neither pow nor a*b+c is rewritten;
// bit copies use __builtin_memcpy, which -fno-builtin would otherwise turn
// into a library call.
#pragma once

#include <math.h>

#include <cstdint>
#include <cstring>

namespace fastrl::envs {

// Python's x**2 for a float64 x, i.e. libm pow(x, 2.0), bit for bit, mostly
// without calling pow. The exact square is hi + lo, with hi = x*x (rounded)
// and lo its rounding error (Dekker's product, exact without FMA). glibc's
// pow is within 0.54 ULP of the exact result, so when the exact square lies
// within 0.4 ULP of hi, every other double is more than 0.6 ULP away and pow
// must return hi. Near-ties, powers of two (whose lower neighbour is half an
// ULP away) and extreme magnitudes go to pow itself.
inline double PowSquare(double x) {
  const double ax = x < 0 ? -x : x;
  if (!(ax > 0x1p-400 && ax < 0x1p400)) return ::pow(x, 2.0);  // also NaN, inf, 0
  const double hi = x * x;
  const double split = 134217729.0 * x;  // 2**27 + 1 (Veltkamp)
  const double xh = split - (split - x);
  const double xl = x - xh;
  const double lo = ((xh * xh - hi) + 2.0 * xh * xl) + xl * xl;
  std::uint64_t bits;
  __builtin_memcpy(&bits, &hi, sizeof bits);
  if ((bits & 0x000FFFFFFFFFFFFFULL) == 0) return ::pow(x, 2.0);  // hi is a power of two
  const std::uint64_t ulp_bits = (bits & 0x7FF0000000000000ULL) - (52ULL << 52);
  double ulp;
  __builtin_memcpy(&ulp, &ulp_bits, sizeof ulp);
  if (!((lo < 0 ? -lo : lo) < 0.4 * ulp)) return ::pow(x, 2.0);
  return hi;
}

// NumPy's float32 x**2, i.e. libm powf(x, 2.0f), bit for bit, mostly without
// calling powf. The exact square of a float fits a double. glibc's powf is
// within 0.82 ULP of the exact result, so when the exact square lies within
// 0.15 ULP of the nearest float, powf must return that float.
inline float PowfSquare(float x) {
  const float ax = x < 0 ? -x : x;
  if (!(ax > 0x1p-60f && ax < 0x1p60f)) return ::powf(x, 2.0f);  // also NaN, inf, 0
  const double exact = static_cast<double>(x) * static_cast<double>(x);
  const float hi = static_cast<float>(exact);
  std::uint32_t bits;
  __builtin_memcpy(&bits, &hi, sizeof bits);
  if ((bits & 0x007FFFFFU) == 0) return ::powf(x, 2.0f);  // hi is a power of two
  const std::uint32_t ulp_bits = (bits & 0x7F800000U) - (23U << 23);
  float ulp;
  __builtin_memcpy(&ulp, &ulp_bits, sizeof ulp);
  const double err = exact - static_cast<double>(hi);
  if (!((err < 0 ? -err : err) < 0.15 * static_cast<double>(ulp))) return ::powf(x, 2.0f);
  return hi;
}

struct StepResult {
  double reward;
  bool terminated;
};

// A continuous action as the user passed it. Whether it arrived as float32
// matters: gymnasium's numpy-2 scalar arithmetic keeps float32 values float32
// (Pendulum's torque terms, MountainCarContinuous), so the same number gives
// different rounding as float32 and as float64.
struct ContinuousAction {
  double value;
  bool is_float32;
};

// Uniform start-state bounds (gymnasium's reset(options={"low": ..., "high": ...})).
struct UniformBounds {
  double low;
  double high;
};

}  // namespace fastrl::envs
