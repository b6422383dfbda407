// fastrl._testing: hooks into the C++ internals for the test suite, built only with -DFASTRL_TESTING=ON (never
// part of the production module fastrl._core). The envs' exact-arithmetic shortcuts, checked against libm,
// and the prioritized replay's sum/min tree alone, checked against a plain array.
//
// Compiled with -fno-builtin like the env sources, so that ::pow(x, 2.0) here is the libm call the shortcuts
// are compared with, not a folded x*x.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <string>

#include "core/rng.h"
#include "envs/env_common.h"
#include "envs/exact_trig.h"
#include "envs/pendulum.h"
#include "replay/sum_tree.h"

namespace py = pybind11;

namespace {

using fastrl::Rng;
namespace envs = fastrl::envs;
namespace replay = fastrl::replay;

void RegisterEnvHooks(py::module_& m) {
  // The envs' replacement of Python's x**2 (libm pow) on each element.
  m.def(
      "pow_square",
      [](const py::array_t<double, py::array::c_style | py::array::forcecast>& x) {
        py::array_t<double> out(x.size());
        const double* in = x.data();
        double* o = out.mutable_data();
        for (py::ssize_t i = 0; i < x.size(); ++i) o[i] = envs::PowSquare(in[i]);
        return out;
      },
      py::arg("x"), "PowSquare(x) elementwise (equals math.pow(x, 2) bit for bit); for tests.");
  m.def(
      "fmod_two_pi",
      [](const py::array_t<double, py::array::c_style | py::array::forcecast>& x) {
        py::array_t<double> out(x.size());
        const double* in = x.data();
        double* o = out.mutable_data();
        for (py::ssize_t i = 0; i < x.size(); ++i) o[i] = envs::Pendulum::FmodTwoPi(in[i]);
        return out;
      },
      py::arg("x"), "Pendulum's fmod(x, 2 pi) elementwise (equals math.fmod bit for bit); for tests.");
  m.def(
      "powf_square",
      [](const py::array_t<float, py::array::c_style | py::array::forcecast>& x) {
        py::array_t<float> out(x.size());
        const float* in = x.data();
        float* o = out.mutable_data();
        for (py::ssize_t i = 0; i < x.size(); ++i) o[i] = envs::PowfSquare(in[i]);
        return out;
      },
      py::arg("x"), "PowfSquare(x) elementwise (equals NumPy's float32 x**2, libm powf); for tests.");
  m.def(
      "sincos",
      [](const py::array_t<double, py::array::c_style | py::array::forcecast>& x) {
        py::array_t<double> s(x.size()), c(x.size());
        const double* in = x.data();
        double* sp = s.mutable_data();
        double* cp = c.mutable_data();
        envs::SinCosBatch(in, sp, cp, static_cast<std::size_t>(x.size()));
        return py::make_tuple(s, c);
      },
      py::arg("x"), "The envs' SinCosBatch(x): (sin, cos), equal to libm's sin and cos; for tests.");
  m.def(
      "check_sincos",
      [](const py::array_t<double, py::array::c_style | py::array::forcecast>& x, std::int64_t uniform_count,
         double low, double high, std::uint64_t seed) {
        // Compares the fast path's proven values with libm's sin/cos on x and
        // on uniform_count draws from [low, high); counts mismatches and fallbacks.
        std::int64_t mismatches = 0, sin_fallbacks = 0, cos_fallbacks = 0, total = 0;
        double first_mismatch = std::nan("");
        auto check = [&](double v) {
          const envs::SinCosPair r = envs::SinCosFast(envs::V2{v, v});
          const bool sin_ok = r.sin_ok[0] != 0, cos_ok = r.cos_ok[0] != 0;
          const bool bad = (sin_ok && r.sin[0] != ::sin(v)) || (cos_ok && r.cos[0] != ::cos(v));
          if (bad && mismatches++ == 0) first_mismatch = v;
          sin_fallbacks += !sin_ok;
          cos_fallbacks += !cos_ok;
          ++total;
        };
        const double* in = x.data();
        {
          py::gil_scoped_release release;  // reads only x's buffer, kept alive by the caller
          for (py::ssize_t i = 0; i < x.size(); ++i) check(in[i]);
          Rng rng(seed);
          for (std::int64_t i = 0; i < uniform_count; ++i) check(rng.uniform(low, high));
        }
        py::dict out;
        out["total"] = total;
        out["mismatches"] = mismatches;
        out["first_mismatch"] = first_mismatch;
        out["sin_fallbacks"] = sin_fallbacks;
        out["cos_fallbacks"] = cos_fallbacks;
        return out;
      },
      py::arg("x"), py::arg("uniform_count") = 0, py::arg("low") = 0.0, py::arg("high") = 1.0,
      py::arg("seed") = 0,
      "Checks the envs' fast sin/cos path against libm on x and on uniform draws; for tests.");
  m.def(
      "check_exact_shortcuts",
      [](std::int64_t count, std::uint64_t seed) {
        // Draws count inputs per shortcut and compares with libm; counts mismatches.
        std::int64_t pow_bad = 0, powf_bad = 0, fmod_bad = 0;
        {
          py::gil_scoped_release release;  // touches no Python object
          Rng rng(seed);
          for (std::int64_t i = 0; i < count; ++i) {
            // pow: Pendulum's ranges, then magnitudes spread over 2^-60..2^60
            const double x = i % 2 ? rng.uniform(-10.0, 10.0) : (rng.uniform() < 0.5 ? -1 : 1) * std::exp2(rng.uniform(-60, 60));
            const double p = envs::PowSquare(x), q = ::pow(x, 2.0);
            pow_bad += std::memcmp(&p, &q, sizeof p) != 0;
            // powf: torques in [-3, 3], then magnitudes over 2^-20..2^20
            const float xf = static_cast<float>(i % 2 ? rng.uniform(-3.0, 3.0)
                                                      : (rng.uniform() < 0.5 ? -1 : 1) * std::exp2(rng.uniform(-20, 20)));
            const float pf = envs::PowfSquare(xf), qf = ::powf(xf, 2.0f);
            powf_bad += std::memcmp(&pf, &qf, sizeof pf) != 0;
            // fmod(a, 2 pi): angles around Pendulum's range, then up to 2^21
            const double a = i % 2 ? rng.uniform(-100.0, 100.0) : rng.uniform(-0x1p21, 0x1p21);
            const double fa = envs::Pendulum::FmodTwoPi(a), fb = ::fmod(a, 2 * M_PI);
            fmod_bad += std::memcmp(&fa, &fb, sizeof fa) != 0;
          }
        }
        py::dict out;
        out["pow"] = pow_bad;
        out["powf"] = powf_bad;
        out["fmod"] = fmod_bad;
        return out;
      },
      py::arg("count"), py::arg("seed") = 0,
      "Mismatch counts of PowSquare/PowfSquare/FmodTwoPi against libm on count random inputs each; for tests.");
}


using F64Array = py::array_t<double, py::array::c_style | py::array::forcecast>;
using I64Array = py::array_t<std::int64_t, py::array::c_style | py::array::forcecast>;

void check_leaf(const replay::SumTree& t, std::int64_t leaf) {
  if (leaf < 0 || leaf >= t.num_leaves())
    throw py::value_error("leaf " + std::to_string(leaf) + " out of range [0, " + std::to_string(t.num_leaves()) + ")");
}

void RegisterSumTree(py::module_& m) {
  using replay::SumTree;
  py::class_<SumTree>(m, "SumTree", "The prioritized replay's sum/min tree alone.")
      .def(py::init([](std::int64_t n) {
             if (n < 1 || n > std::int64_t{0x7fffffff}) throw py::value_error("num_leaves must be in [1, 2**31)");
             return SumTree(n);
           }),
           py::arg("num_leaves"))
      .def_property_readonly("num_leaves", &SumTree::num_leaves)
      .def_property_readonly("total", &SumTree::total)
      .def_property_readonly("min", &SumTree::min)
      .def("get", [](const SumTree& t, std::int64_t leaf) { check_leaf(t, leaf); return t.get(leaf); })
      .def("set", [](SumTree& t, std::int64_t leaf, double v) { check_leaf(t, leaf); t.set(leaf, v); })
      .def("clear", [](SumTree& t, std::int64_t leaf) { check_leaf(t, leaf); t.clear(leaf); })
      .def("find", &SumTree::find, py::arg("mass"))
      .def("set_many",
           [](SumTree& t, const I64Array& leaves, const F64Array& values) {
             if (leaves.ndim() != 1 || values.ndim() != 1 || leaves.shape(0) != values.shape(0))
               throw py::value_error("leaves and values must be 1-D arrays of one length");
             for (py::ssize_t i = 0; i < leaves.shape(0); ++i) check_leaf(t, leaves.data()[i]);
             t.set_many(leaves.data(), values.data(), leaves.shape(0));
           })
      .def("find_many", [](const SumTree& t, const F64Array& mass) {
        if (mass.ndim() != 1) throw py::value_error("mass must be 1-D");
        I64Array out(mass.shape(0));
        t.find_many(mass.data(), out.mutable_data(), mass.shape(0));
        return out;
      });
}

}  // namespace

PYBIND11_MODULE(_testing, m) {
  m.doc() = "fastrl's test hooks into the C++ internals (built only for tests).";
  RegisterEnvHooks(m);
  RegisterSumTree(m);
}
