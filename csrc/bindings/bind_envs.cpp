// Python bindings of the native vectorized environments (fastrl.vector.native
// is their public face).
//
// Every call checks and converts its arguments while holding the GIL, then
// releases the GIL for the C++ stepping: from then on only C++ buffers owned by
// this object are touched (the action buffer and output arrays allocated
// before the release), so other Python threads can run meanwhile.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <type_traits>
#include <vector>

#include "bindings/array_block.h"
#include "bindings/register.h"
#include "core/thread_pool.h"
#include "envs/acrobot.h"
#include "envs/cartpole.h"
#include "envs/exact_trig.h"
#include "envs/mountain_car.h"
#include "envs/mountain_car_continuous.h"
#include "envs/pendulum.h"
#include "envs/vec_env.h"

namespace py = pybind11;

namespace fastrl::bindings {
namespace {

using envs::AutoresetMode;
using envs::ContinuousAction;

py::array AsArray(const py::handle& obj) {
  if (py::isinstance<py::array>(obj)) return py::reinterpret_borrow<py::array>(obj);
  return py::module_::import("numpy").attr("asarray")(obj);
}

std::string ShapeString(const py::array& a) {
  std::string s = "(";
  for (py::ssize_t d = 0; d < a.ndim(); ++d) {
    s += std::to_string(a.shape(d));
    if (a.ndim() == 1 || d + 1 < a.ndim()) s += d + 1 < a.ndim() ? ", " : ",";
  }
  return s + ")";
}

// A new C-contiguous array of T with shape (d0,) or (d0, d1). The step's
// per-call cost is mostly these allocations, so they go straight to NumPy's
// PyArray_NewFromDescr with a cached descriptor (py::array_t's constructor
// adds vectors, stride computation and a descriptor lookup per call).
template <class T>
py::array NewArray(py::ssize_t d0, py::ssize_t d1 = -1) {
  auto& api = py::detail::npy_api::get();
  static PyObject* const descr = py::dtype::of<T>().release().ptr();  // one reference kept for good
  Py_INCREF(descr);  // PyArray_NewFromDescr steals a reference
  const Py_intptr_t dims[2] = {d0, d1};
  PyObject* arr = api.PyArray_NewFromDescr_(api.PyArray_Type_, descr, d1 < 0 ? 1 : 2, dims, nullptr, nullptr, 0, nullptr);
  if (arr == nullptr) throw py::error_already_set();
  return py::reinterpret_steal<py::array>(arr);
}

template <class T>
T* Data(const py::array& a) {
  return reinterpret_cast<T*>(py::detail::array_proxy(a.ptr())->data);
}

// The action argument as an ndarray in native byte order (a list or a
// non-native array is converted once), and its dtype's kind and type number.
struct ActionArray {
  py::array array;
  const py::detail::PyArray_Proxy* proxy;
  char kind;
  int type_num;
};

ActionArray ReadActionArray(const py::handle& obj) {
  auto& api = py::detail::npy_api::get();
  py::array a = api.PyArray_Check_(obj.ptr()) ? py::reinterpret_borrow<py::array>(obj) : AsArray(obj);
  auto* descr = reinterpret_cast<const py::detail::PyArrayDescr_Proxy*>(py::detail::array_proxy(a.ptr())->descr);
  if (descr->byteorder == '>') {  // big-endian data on a little-endian machine
    a = py::module_::import("numpy").attr("asarray")(a, a.dtype().attr("newbyteorder")("="));
    descr = reinterpret_cast<const py::detail::PyArrayDescr_Proxy*>(py::detail::array_proxy(a.ptr())->descr);
  }
  return {a, py::detail::array_proxy(a.ptr()), descr->kind, descr->type_num};
}

// Copies a 1-D integer array of element type T into out, checking 0 <= v < num_actions.
template <class T>
void CopyDiscrete(const ActionArray& a, std::int64_t num_actions, std::vector<std::int64_t>& out) {
  const char* base = a.proxy->data;
  const py::ssize_t stride = a.proxy->strides[0];
  const py::ssize_t n = a.proxy->dimensions[0];
  for (py::ssize_t i = 0; i < n; ++i) {
    const T v = *reinterpret_cast<const T*>(base + i * stride);
    bool negative = false;
    if constexpr (std::is_signed_v<T>) negative = v < 0;
    if (negative || static_cast<std::uint64_t>(v) >= static_cast<std::uint64_t>(num_actions)) {
      throw py::value_error("actions[" + std::to_string(i) + "] = " + std::to_string(v) +
                            " is outside the action space Discrete(" + std::to_string(num_actions) + ")");
    }
    out[i] = static_cast<std::int64_t>(v);
  }
}

// Discrete actions: a (num_envs,) array of any integer dtype with values in [0, n).
void ConvertActions(const py::handle& obj, int num_envs, std::int64_t num_actions, std::vector<std::int64_t>& out) {
  const ActionArray a = ReadActionArray(obj);
  if (a.kind != 'i' && a.kind != 'u') {
    throw py::type_error("actions must be an integer array (Discrete action space), got dtype " +
                         std::string(py::str(a.array.dtype())));
  }
  if (a.proxy->nd == 0) throw py::type_error("actions must be an array of one action per env, got a scalar");
  if (a.proxy->nd != 1 || a.proxy->dimensions[0] != num_envs) {
    throw py::value_error("actions must have shape (" + std::to_string(num_envs) + ",), got " + ShapeString(a.array));
  }
  using api = py::detail::npy_api;
  switch (a.type_num) {
    case api::NPY_BYTE_: return CopyDiscrete<signed char>(a, num_actions, out);
    case api::NPY_UBYTE_: return CopyDiscrete<unsigned char>(a, num_actions, out);
    case api::NPY_SHORT_: return CopyDiscrete<short>(a, num_actions, out);
    case api::NPY_USHORT_: return CopyDiscrete<unsigned short>(a, num_actions, out);
    case api::NPY_INT_: return CopyDiscrete<int>(a, num_actions, out);
    case api::NPY_UINT_: return CopyDiscrete<unsigned int>(a, num_actions, out);
    case api::NPY_LONG_: return CopyDiscrete<long>(a, num_actions, out);
    case api::NPY_ULONG_: return CopyDiscrete<unsigned long>(a, num_actions, out);
    case api::NPY_LONGLONG_: return CopyDiscrete<long long>(a, num_actions, out);
    case api::NPY_ULONGLONG_: return CopyDiscrete<unsigned long long>(a, num_actions, out);
    default:
      throw py::type_error("actions has an unsupported integer dtype " + std::string(py::str(a.array.dtype())));
  }
}

// Continuous actions: a (num_envs, 1) float32 or float64 array of non-NaN values.
void ConvertActions(const py::handle& obj, int num_envs, std::int64_t /*num_actions*/,
                    std::vector<ContinuousAction>& out) {
  const ActionArray a = ReadActionArray(obj);
  using api = py::detail::npy_api;
  const bool is_f32 = a.type_num == api::NPY_FLOAT_;
  if (!is_f32 && a.type_num != api::NPY_DOUBLE_) {
    throw py::type_error("actions must be a float32 or float64 array (Box action space), got dtype " +
                         std::string(py::str(a.array.dtype())));
  }
  if (a.proxy->nd == 0) throw py::type_error("actions must be an array of one action per env, got a scalar");
  if (a.proxy->nd != 2 || a.proxy->dimensions[0] != num_envs || a.proxy->dimensions[1] != 1) {
    throw py::value_error("actions must have shape (" + std::to_string(num_envs) + ", 1), got " +
                          ShapeString(a.array));
  }
  const char* base = a.proxy->data;
  const py::ssize_t stride = a.proxy->strides[0];
  for (py::ssize_t i = 0; i < num_envs; ++i) {
    const char* p = base + i * stride;
    const double v = is_f32 ? static_cast<double>(*reinterpret_cast<const float*>(p)) : *reinterpret_cast<const double*>(p);
    if (std::isnan(v)) throw py::value_error("actions[" + std::to_string(i) + "] is NaN");
    out[i] = {v, is_f32};
  }
}

// The Python-facing object: a VecEnv plus the buffers of one pending step.
template <class Env>
class PyVecEnv {
 public:
  using Vec = envs::VecEnv<Env>;
  using Action = typename Env::Action;
  static constexpr int kObsDim = Env::kObsDim;
  static constexpr int kStateDim = Env::kStateDim;
  // Batches from this size on are stepped with the GIL released (kGrain envs
  // take 15-25 us, so this many take a few us).
  static constexpr int kGilFreeEnvs = Env::kGrain / 4 > 1 ? Env::kGrain / 4 : 1;

  PyVecEnv(int num_envs, int num_threads, const typename Env::Config& config, std::int64_t max_episode_steps,
           int autoreset_mode)
      : vec_(num_envs, num_threads, config, max_episode_steps, static_cast<AutoresetMode>(autoreset_mode)),
        actions_(num_envs) {}

  ~PyVecEnv() {
    // The background step writes into buffers owned here: let it finish.
    if (worker_) worker_->Wait();
  }

  int num_envs() const { return vec_.num_envs(); }
  int num_threads() const { return vec_.num_threads(); }

  py::array_t<float> Reset(const std::optional<std::vector<std::uint64_t>>& seeds, const py::object& mask_obj,
                           double bound_a, double bound_b) {
    CheckNotPending("reset");
    const int n = num_envs();
    if (seeds && static_cast<int>(seeds->size()) != n) {
      throw py::value_error("seed has " + std::to_string(seeds->size()) + " entries, expected num_envs=" + std::to_string(n));
    }
    std::vector<std::uint8_t> mask;
    if (!mask_obj.is_none()) {
      const py::array m = AsArray(mask_obj);
      if (!m.dtype().is(py::dtype::of<bool>()) || m.ndim() != 1 || m.shape(0) != n) {
        throw py::value_error("reset_mask must be a bool array of shape (" + std::to_string(n) + ",)");
      }
      mask.resize(n);
      for (int i = 0; i < n; ++i) mask[i] = *(static_cast<const std::uint8_t*>(m.data()) + i * m.strides(0)) != 0;
    }
    py::array_t<float> obs({n, kObsDim});
    float* obs_ptr = obs.mutable_data();
    const typename Env::ResetOptions options{bound_a, bound_b};
    {
      // Safe without the GIL: only this object's C++ state and the freshly
      // allocated obs buffer (not yet visible to Python) are written.
      py::gil_scoped_release release;
      vec_.Reset(seeds ? seeds->data() : nullptr, mask.empty() ? nullptr : mask.data(), options, obs_ptr);
    }
    was_reset_ = true;
    return obs;
  }

  py::tuple Step(const py::handle& actions) {
    CheckNotPending("step");
    Prepare(actions);
    {
      // Safe without the GIL: Prepare() copied the actions into actions_ and
      // allocated the outputs; the step touches only C++ buffers. A batch
      // below kGilFreeEnvs steps in a few us: too short for another thread
      // to use the GIL, and giving it up risks waiting for it to come back.
      std::optional<py::gil_scoped_release> release;
      if (num_envs() >= kGilFreeEnvs) release.emplace();
      any_done_ = vec_.Step(actions_.data(), outputs_);
    }
    return TakeResults();
  }

  void StepAsync(const py::handle& actions) {
    CheckNotPending("step_async");
    Prepare(actions);
    pending_ = true;
    if (vec_.num_envs() < Vec::grain()) {
      // A batch this small steps in less time than a thread hand-off takes:
      // step now, on this thread, and hand the result out in step_wait().
      py::gil_scoped_release release;
      any_done_ = vec_.Step(actions_.data(), outputs_);
      return;
    }
    if (!worker_) worker_ = std::make_unique<BackgroundWorker>();
    // The job reads actions_ and writes outputs_ (owned here, hidden from
    // Python until step_wait), so it never needs the GIL.
    worker_->Submit([this] { any_done_ = vec_.Step(actions_.data(), outputs_); });
  }

  py::tuple StepWait() {
    if (!pending_) throw py::value_error("step_wait() called without a pending step_async(actions)");
    if (worker_) {
      py::gil_scoped_release release;  // waiting touches no Python object
      worker_->Wait();
    }
    pending_ = false;
    return TakeResults();
  }

  bool pending() const { return pending_; }

  // Whether the infos of steps that end an episode carry "episode"/"_episode" (RecordEpisodeStatistics').
  bool episode_statistics() const { return episode_stats_; }
  void set_episode_statistics(bool on) {
    CheckNotPending("episode_statistics");
    episode_stats_ = on;
  }

  // infos of a step in which some episode ended, with gymnasium's keys, dtypes
  // and masks: "episode" {"r" float64, "l" int64, "t" float64} and "_episode"
  // as RecordEpisodeStatistics gives them (zeros where no episode ended), and in
  // same-step mode "final_obs" (object array holding a (obs_dim,) float32 array
  // per ended env, None elsewhere), "final_info" ({}) and their "_" masks.
  py::dict EndInfos() {
    if (!episode_stats_ && vec_.mode() != AutoresetMode::kSameStep) return py::dict();  // gymnasium's: none
    const int n = num_envs();
    py::object r, t, l, mask;  // py::object: a default py::array would allocate an empty array
    if (ep_mask_) {  // filled by the step itself (large batches, see Prepare)
      r = std::move(ep_r_), t = std::move(ep_t_), l = std::move(ep_l_), mask = std::move(ep_mask_);
    } else {
      ArrayBlock block(3 * ArrayBlock::Padded(8 * static_cast<std::size_t>(n)) + ArrayBlock::Padded(n));
      py::array ra = block.New<double>(n), ta = block.New<double>(n), la = block.New<std::int64_t>(n),
                ma = block.New<bool>(n);
      double* rp = Data<double>(ra);
      double* tp = Data<double>(ta);
      std::int64_t* lp = Data<std::int64_t>(la);
      bool* mp = Data<bool>(ma);
      for (int i = 0; i < n; ++i) vec_.WriteEpisodeStats(static_cast<std::size_t>(i), rp, lp, tp, mp);
      r = std::move(ra), t = std::move(ta), l = std::move(la), mask = std::move(ma);
    }
    const bool* mp = reinterpret_cast<const bool*>(py::detail::array_proxy(mask.ptr())->data);
    py::dict infos;
    if (vec_.mode() == AutoresetMode::kSameStep) {
      py::array final_obs = py::module_::import("numpy").attr("full")(n, py::none(), "object");
      const float* src = vec_.final_obs().data();
      for (int i = 0; i < n; ++i) {
        if (!mp[i]) continue;
        py::array_t<float> row(kObsDim);
        std::copy(src + static_cast<std::size_t>(i) * kObsDim, src + static_cast<std::size_t>(i + 1) * kObsDim,
                  row.mutable_data());
        final_obs.attr("__setitem__")(i, row);
      }
      infos["final_obs"] = final_obs;
      infos["_final_obs"] = mask.attr("copy")();
      infos["final_info"] = py::dict();
      infos["_final_info"] = mask.attr("copy")();
    }
    if (!episode_stats_) return infos;
    // Keys interned once: this runs on most steps of a large batch.
    static const py::str key_r("r"), key_l("l"), key_t("t"), key_episode("episode"), key_mask("_episode");
    py::dict episode;
    PyDict_SetItem(episode.ptr(), key_r.ptr(), r.ptr());
    PyDict_SetItem(episode.ptr(), key_l.ptr(), l.ptr());
    PyDict_SetItem(episode.ptr(), key_t.ptr(), t.ptr());
    PyDict_SetItem(infos.ptr(), key_episode.ptr(), episode.ptr());
    PyDict_SetItem(infos.ptr(), key_mask.ptr(), mask.ptr());
    return infos;
  }

  py::array_t<double> GetState() {
    CheckNotPending("get_state");
    py::array_t<double> out({num_envs(), kStateDim});
    vec_.GetState(out.mutable_data());
    return out;
  }

  py::array_t<float> SetState(const py::handle& obj) {
    CheckNotPending("set_state");
    const py::array a = AsArray(obj);
    if (!a.dtype().is(py::dtype::of<double>())) {
      throw py::type_error("states must be a float64 array, got dtype " + std::string(py::str(a.dtype())));
    }
    if (a.ndim() != 2 || a.shape(0) != num_envs() || a.shape(1) != kStateDim) {
      throw py::value_error("states must have shape (" + std::to_string(num_envs()) + ", " + std::to_string(kStateDim) +
                            "), got " + ShapeString(a));
    }
    const auto c = py::array_t<double, py::array::c_style>::ensure(a);
    const double* p = c.data();
    for (py::ssize_t k = 0; k < c.size(); ++k) {
      if (!std::isfinite(p[k])) throw py::value_error("states must be finite, got " + std::to_string(p[k]));
    }
    vec_.SetState(p);
    py::array_t<float> obs({num_envs(), kObsDim});
    vec_.WriteObs(obs.mutable_data());
    return obs;
  }

 private:
  void CheckNotPending(const char* what) const {
    if (pending_) {
      throw py::value_error(std::string(what) + "() called while a step_async() is pending; call step_wait() first");
    }
  }

  // Converts and checks actions, allocates the output arrays (GIL held).
  void Prepare(const py::handle& actions) {
    const int n = num_envs();
    if (!was_reset_) throw py::value_error("call reset() before step()");
    ConvertActions(actions, n, Env::kNumActions, actions_);
    if (vec_.mode() == AutoresetMode::kDisabled) {
      const int i = vec_.FirstEnvNeedingReset();
      if (i >= 0) {
        throw py::value_error("env " + std::to_string(i) +
                              " ended its episode and autoreset is disabled: call reset(options={'reset_mask': mask}) "
                              "before stepping it");
      }
    }
    const std::size_t un = static_cast<std::size_t>(n);
    const std::size_t bytes = ArrayBlock::Padded(sizeof(float) * kObsDim * un) + ArrayBlock::Padded(8 * un) +
                              2 * ArrayBlock::Padded(un);
    if (ArrayBlock::Suits(bytes)) {
      ArrayBlock block(bytes);
      obs_ = block.New<float>(n, kObsDim);
      rewards_ = block.New<double>(n);
      terminated_ = block.New<bool>(n);
      truncated_ = block.New<bool>(n);
    } else {
      obs_ = NewArray<float>(n, kObsDim);
      rewards_ = NewArray<double>(n);
      terminated_ = NewArray<bool>(n);
      truncated_ = NewArray<bool>(n);
    }
    outputs_ = {Data<float>(obs_), Data<double>(rewards_), Data<bool>(terminated_), Data<bool>(truncated_)};
    if (n >= Vec::grain()) {
      // Large batches nearly always end some episode: the step writes the
      // episode statistics as it goes, on every thread, instead of a serial
      // pass over all envs afterwards (which caps the gain from more threads).
      py::array r = NewArray<double>(n), l = NewArray<std::int64_t>(n), t = NewArray<double>(n),
                mask = NewArray<bool>(n);
      outputs_.episode_r = Data<double>(r);
      outputs_.episode_l = Data<std::int64_t>(l);
      outputs_.episode_t = Data<double>(t);
      outputs_.episode_mask = Data<bool>(mask);
      ep_r_ = std::move(r), ep_l_ = std::move(l), ep_t_ = std::move(t), ep_mask_ = std::move(mask);
    }
  }

  // (obs, rewards, terminations, truncations, infos) of the finished step.
  py::tuple TakeResults() {
    py::tuple result = py::make_tuple(std::move(obs_), std::move(rewards_), std::move(terminated_),
                                      std::move(truncated_), any_done_ ? EndInfos() : py::dict());
    ep_r_ = py::object(), ep_l_ = py::object(), ep_t_ = py::object(), ep_mask_ = py::object();  // unused if none ended
    return result;
  }

  Vec vec_;
  std::vector<Action> actions_;
  // Outputs of the step in flight, handed to Python (and released here) by TakeResults().
  py::array obs_;
  py::array rewards_;
  py::array terminated_;
  py::array truncated_;
  py::object ep_r_, ep_l_, ep_t_, ep_mask_;  // large batches only (see Prepare)
  bool episode_stats_ = true;
  envs::StepOutputs outputs_{};
  bool any_done_ = false;
  bool pending_ = false;
  bool was_reset_ = false;
  std::unique_ptr<BackgroundWorker> worker_;  // last: joined before the buffers go
};

// step(actions) as a raw METH_FASTCALL method: pybind11's generic dispatcher
// (argument loaders, overload records, a type lookup for self) costs about as
// much as stepping 64 CartPoles, and step is called once per env step of a
// training loop. The method descriptor checks that self is an instance of the
// class (or a subclass) before this runs.
template <class Env>
PyObject* StepFastcall(PyObject* self, PyObject* const* args, Py_ssize_t nargs, PyObject* kwnames) {
  try {
    const Py_ssize_t nkw = kwnames == nullptr ? 0 : PyTuple_GET_SIZE(kwnames);
    const bool by_keyword = nargs == 0 && nkw == 1 &&
                            PyUnicode_CompareWithASCIIString(PyTuple_GET_ITEM(kwnames, 0), "actions") == 0;
    if (!(nargs == 1 && nkw == 0) && !by_keyword) {
      throw py::type_error("step() takes exactly one argument, actions");
    }
    auto vh = reinterpret_cast<py::detail::instance*>(self)->get_value_and_holder();
    if (!vh.holder_constructed()) throw py::type_error("step() called on an object whose __init__ did not run");
    return vh.template value_ptr<PyVecEnv<Env>>()->Step(py::handle(args[0])).release().ptr();
  } catch (py::error_already_set& e) {
    e.restore();
    return nullptr;
  } catch (...) {
    py::detail::try_translate_exceptions();
    return nullptr;
  }
}

// The task's TaskInfo (its header) as a dict for fastrl/vector/native.py, plus the reset options' defaults.
template <class Env>
py::dict TaskInfoDict() {
  const envs::TaskInfo& t = Env::kInfo;
  py::dict ids, settings, out;
  for (int i = 0; i < t.num_ids; ++i) ids[t.ids[i].id] = t.ids[i].max_episode_steps;
  for (int i = 0; i < t.num_settings; ++i) settings[t.settings[i].name] = t.settings[i].kind;
  py::list low, high;
  for (int k = 0; k < Env::kObsDim; ++k) {
    low.append(t.obs_low[k]);
    high.append(t.obs_high[k]);
  }
  const auto [default_a, default_b] = Env::DefaultResetOptions();
  out["ids"] = ids;
  out["obs_low"] = low;
  out["obs_high"] = high;
  out["num_actions"] = Env::kNumActions;
  out["action_low"] = t.action_low;
  out["action_high"] = t.action_high;
  out["reset_keys"] = py::make_tuple(t.reset_keys[0], t.reset_keys[1]);
  out["reset_defaults"] = py::make_tuple(default_a, default_b);
  out["symmetric_reset"] = t.symmetric_reset;
  out["float32_reset_obs"] = t.float32_reset_obs;
  out["settings"] = settings;
  return out;
}

template <class Env, class... Extra, class... ExtraArgs>
void BindVecEnv(py::module_& m, const char* name, const char* doc, typename Env::Config (*make_config)(Extra...),
                ExtraArgs... extra_args) {
  using Cls = PyVecEnv<Env>;
  py::class_<Cls> cls(m, name, doc);
  cls      .def(py::init([make_config](int num_envs, int num_threads, std::int64_t max_episode_steps, int autoreset_mode,
                                  Extra... extra) {
             if (num_envs < 1) throw py::value_error("num_envs must be >= 1");
             if (num_threads < 1) throw py::value_error("num_threads must be >= 1");
             if (max_episode_steps < 1) throw py::value_error("max_episode_steps must be >= 1");
             if (autoreset_mode < 0 || autoreset_mode > 2) throw py::value_error("autoreset_mode must be 0, 1 or 2");
             return std::make_unique<Cls>(num_envs, num_threads, make_config(extra...), max_episode_steps,
                                          autoreset_mode);
           }),
           py::arg("num_envs"), py::arg("num_threads"), py::arg("max_episode_steps"), py::arg("autoreset_mode"),
           extra_args...)
      .def_property_readonly("num_envs", &Cls::num_envs)
      .def_property_readonly("num_threads", &Cls::num_threads)
      .def_property_readonly("pending", &Cls::pending)
      .def_property("episode_statistics", &Cls::episode_statistics, &Cls::set_episode_statistics)
      .def_property_readonly_static("obs_dim", [](py::object) { return Env::kObsDim; })
      .def_property_readonly_static("state_dim", [](py::object) { return Env::kStateDim; })
      .def_property_readonly_static("info", [](py::object) { return TaskInfoDict<Env>(); })
      .def_property_readonly_static("grain", [](py::object) { return Env::kGrain; })
      .def("reset", &Cls::Reset, py::arg("seeds"), py::arg("mask"), py::arg("bound_a"), py::arg("bound_b"))
      .def("step_async", &Cls::StepAsync, py::arg("actions"))
      .def("step_wait", &Cls::StepWait)
      .def("get_state", &Cls::GetState)
      .def("set_state", &Cls::SetState, py::arg("states"));
  // One definition per task class, alive for the whole process as CPython requires.
  static PyMethodDef step_def = {
      "step", reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(&StepFastcall<Env>)),
      METH_FASTCALL | METH_KEYWORDS,
      "step(actions) -> (obs, rewards, terminations, truncations, infos): steps every env once."};
  py::object step = py::reinterpret_steal<py::object>(
      PyDescr_NewMethod(reinterpret_cast<PyTypeObject*>(cls.ptr()), &step_def));
  if (!step) throw py::error_already_set();
  cls.attr("step") = step;
  // The module's list of task classes, in registration order: fastrl/vector/native.py's task table.
  const py::tuple known = py::hasattr(m, "NATIVE_TASKS") ? py::tuple(m.attr("NATIVE_TASKS")) : py::tuple();
  m.attr("NATIVE_TASKS") = known + py::make_tuple(name);
}

envs::CartPoleConfig MakeCartPoleConfig(bool sutton_barto_reward) { return {sutton_barto_reward}; }
envs::PendulumConfig MakePendulumConfig(double g) { return {g}; }
envs::MountainCarConfig MakeMountainCarConfig(double goal_velocity) { return {goal_velocity}; }
envs::MountainCarContinuousConfig MakeMountainCarContinuousConfig(double goal_velocity) { return {goal_velocity}; }
envs::AcrobotConfig MakeAcrobotConfig() { return {}; }

}  // namespace

void register_envs(py::module_& m) {
  BindVecEnv<envs::CartPole>(m, "CartPoleVecEnv", "Batched CartPole (gymnasium CartPole-v1/v0 dynamics).",
                             &MakeCartPoleConfig, py::arg("sutton_barto_reward") = false);
  BindVecEnv<envs::Pendulum>(m, "PendulumVecEnv", "Batched Pendulum (gymnasium Pendulum-v1 dynamics).",
                             &MakePendulumConfig, py::arg("g") = 10.0);
  BindVecEnv<envs::MountainCar>(m, "MountainCarVecEnv", "Batched MountainCar (gymnasium MountainCar-v0 dynamics).",
                                &MakeMountainCarConfig, py::arg("goal_velocity") = 0.0);
  BindVecEnv<envs::MountainCarContinuous>(
      m, "MountainCarContinuousVecEnv",
      "Batched continuous MountainCar (gymnasium MountainCarContinuous-v0 dynamics).",
      &MakeMountainCarContinuousConfig, py::arg("goal_velocity") = 0.0);
  BindVecEnv<envs::Acrobot>(m, "AcrobotVecEnv", "Batched Acrobot (gymnasium Acrobot-v1 dynamics).",
                            &MakeAcrobotConfig);
}

}  // namespace fastrl::bindings
