#include "bindings/register.h"

namespace fastrl::bindings {

void register_envs(pybind11::module_& /*m*/) {}

}  // namespace fastrl::bindings
