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
// -fno-builtin and -ffp-contract=off, so neither pow nor a*b+c is rewritten.
#pragma once

#include <math.h>

namespace fastrl::envs {

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
