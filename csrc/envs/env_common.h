// Pieces shared by the one-header-per-task environments.
//
// Each task header defines a class with the same small contract:
//   using Config, Action, ResetOptions;  static constexpr kObsDim, kStateDim;
//   Reset(rng, options)                  draw a start state;
//   WriteObs(obs)                        the observation of the current state;
//   Step(action, obs) -> StepResult      advance one step, write the new observation;
//   GetState(out) / SetState(in)         the physical state as float64 values;
// and optionally
//   static StepBatch(envs, actions, count, obs, rewards, terminated)
//                                        Step() of count <= kMaxBatchCount envs
//                                        in one batched (SIMD) pass, with the
//                                        same results; the batched stepper then
//                                        calls it instead of Step().
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

#include <cstddef>
#include <cstdint>
#include <cstring>

namespace fastrl::envs {

// Most envs one StepBatch call covers.
constexpr std::size_t kMaxBatchCount = 64;

// Python's x**2 for a float64 x, i.e. libm pow(x, 2.0), bit for bit, mostly
// without calling pow. The exact square is hi + lo, with hi = x*x (rounded)
// and lo its rounding error (Dekker's product, exact without FMA). glibc's
// pow (2.28 and later) is documented within 0.54 ULP of the exact result, so
// when the exact square lies within 0.45 ULP of hi, every other double is more
// than 0.55 ULP away and pow must return hi (about 1 call in 10 falls back).
// Near-ties, powers of two (whose lower neighbour is half an ULP away) and
// extreme magnitudes go to pow itself. Absolute values use fabs: a ?: would
// compile to a branch that the sign of the data mispredicts half the time.
inline double PowSquare(double x) {
  const double ax = __builtin_fabs(x);
  if (!(ax > 0x1p-400 && ax < 0x1p400)) return ::pow(x, 2.0);  // also NaN, inf, 0
  const double hi = x * x;
  const double split = 134217729.0 * x;  // 2**27 + 1 (Veltkamp)
  const double xh = split - (split - x);
  const double xl = x - xh;
  const double lo = ((xh * xh - hi) + 2.0 * xh * xl) + xl * xl;
  std::uint64_t bits;
  __builtin_memcpy(&bits, &hi, sizeof bits);
  const std::uint64_t ulp_bits = (bits & 0x7FF0000000000000ULL) - (52ULL << 52);
  double ulp;
  __builtin_memcpy(&ulp, &ulp_bits, sizeof ulp);
  // One test for both rejections: a power of two gets ulp 0.
  if ((bits & 0x000FFFFFFFFFFFFFULL) == 0) ulp = 0.0;
  if (!(__builtin_fabs(lo) < 0.45 * ulp)) return ::pow(x, 2.0);
  return hi;
}

// NumPy's float32 x**2, i.e. libm powf(x, 2.0f), bit for bit, mostly without
// calling powf. The exact square of a float fits a double. glibc's powf
// computes 2^(y log2 x) in double and rounds it to float; its documented error
// budget (e_powf.c: relative error of log2 x below 1.83 * 2^-33, of exp2 below
// 1.69 * 2^-34, the former scaled by ln 2 |y log2 x|, bounded there by 128 for a
// worst case of 0.82 ULP) gives, for y = 2 and 2^-8 <= |x| <= 2^8 (|y log2 x|
// <= 16), a double within 1.33 * 2^-29 of x*x relatively, i.e. within 0.042
// float ULP. So when the exact square lies within 0.45 ULP of the nearest
// float, powf must return that float. Other magnitudes use the general bound
// (0.82 ULP: within 0.15 ULP).
inline float PowfSquare(float x) {
  const float ax = __builtin_fabsf(x);
  if (!(ax > 0x1p-60f && ax < 0x1p60f)) return ::powf(x, 2.0f);  // also NaN, inf, 0
  const double exact = static_cast<double>(x) * static_cast<double>(x);
  const float hi = static_cast<float>(exact);
  std::uint32_t bits;
  __builtin_memcpy(&bits, &hi, sizeof bits);
  const std::uint32_t ulp_bits = (bits & 0x7F800000U) - (23U << 23);
  float ulp;
  __builtin_memcpy(&ulp, &ulp_bits, sizeof ulp);
  if ((bits & 0x007FFFFFU) == 0) ulp = 0.0f;  // hi is a power of two
  const double tolerance = ax >= 0x1p-8f && ax <= 0x1p8f ? 0.45 : 0.15;
  if (!(__builtin_fabs(exact - static_cast<double>(hi)) < tolerance * static_cast<double>(ulp))) {
    return ::powf(x, 2.0f);
  }
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

// What a native task tells Python about itself, next to its code: the gymnasium ids it stands for (with their
// time limits), its spaces, the names of its two reset options and its settings. fastrl/vector/native.py
// builds its task table and the gymnasium spaces from this (the reset options' defaults come from the task's
// DefaultResetOptions()), so adding a task touches its header and one line of the bindings.
struct TaskId {
  const char* id;
  std::int64_t max_episode_steps;
};

struct TaskSetting {
  const char* name;  // the make_vec keyword (a field of the task's Config)
  const char* kind;  // "bool" or "real"
};

struct TaskInfo {
  TaskId ids[2];
  int num_ids;
  float obs_low[8];  // the first kObsDim entries are used
  float obs_high[8];
  float action_low;  // continuous tasks (kNumActions == 0): the bounds of their one action
  float action_high;
  const char* reset_keys[2];  // gymnasium's reset(options=...) keys of the two reset bounds
  bool symmetric_reset;       // the keys are half-widths of symmetric ranges (Pendulum) instead of low/high
  bool float32_reset_obs;     // gymnasium computes the reset observation from a float32 state (Acrobot)
  TaskSetting settings[1];
  int num_settings;
};

// Uniform start-state bounds (gymnasium's reset(options={"low": ..., "high": ...})).
struct UniformBounds {
  double low;
  double high;
};

}  // namespace fastrl::envs
