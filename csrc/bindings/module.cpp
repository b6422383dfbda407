// The private compiled module fastrl._core. Each area binds itself in its own
// file; this file only wires them together.
#include <pybind11/pybind11.h>

#include "bindings/register.h"

#ifndef FASTRL_VERSION
#define FASTRL_VERSION "dev"
#endif

PYBIND11_MODULE(_core, m) {
  m.doc() = "fastrl's compiled core (private): replay memory and vectorized environments.";
  m.attr("__version__") = FASTRL_VERSION;
  fastrl::bindings::register_replay(m);
  fastrl::bindings::register_envs(m);
}
