// One register_* function per area; module.cpp calls each once.
#pragma once

#include <pybind11/pybind11.h>

namespace fastrl::bindings {

void register_replay(pybind11::module_& m);
void register_envs(pybind11::module_& m);

}  // namespace fastrl::bindings
