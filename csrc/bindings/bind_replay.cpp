#include "bindings/register.h"

namespace fastrl::bindings {

void register_replay(pybind11::module_& /*m*/) {}

}  // namespace fastrl::bindings
