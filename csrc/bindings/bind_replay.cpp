// Python binding of the replay memory (fastrl._core._ReplayCore). fastrl/replay.py
// subclasses it; `add` is bound directly so that the hot path has no Python
// layer. Arguments are checked and converted with the GIL held, then the GIL is
// released around the C++ work, which only touches C++-owned memory and numpy
// buffers that local references keep alive.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <iomanip>
#include <locale>
#include <memory>
#include <new>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <system_error>
#include <tuple>
#include <vector>

#include "bindings/array_block.h"
#include "bindings/register.h"
#include "core/crc32.h"
#include "replay/replay_memory.h"

namespace py = pybind11;

namespace fastrl::bindings {

namespace {

using replay::ReplayMemory;

// Releasing the GIL costs a fraction of a microsecond; below this many bytes
// of copying the C++ work is shorter than that, and holding the GIL does not
// delay other threads measurably. The per-buffer mutex makes both paths safe.
constexpr std::size_t kReleaseGilBytes = 4096;
// The same trade-off for update_priorities: a tree update is a few tens of
// nanoseconds per index.
constexpr py::ssize_t kReleaseGilPriorities = 256;

py::detail::PyArray_Proxy* proxy(py::handle h) { return py::detail::array_proxy(h.ptr()); }

bool is_array(py::handle h) { return py::detail::npy_api::get().PyArray_Check_(h.ptr()); }

// An ndarray view of h: h itself when it is one, else np.asarray(h) (no dtype
// change: a dtype mismatch is reported by the caller, never cast).
py::array as_array(py::handle h) {
  if (is_array(h)) return py::reinterpret_borrow<py::array>(h);
  return py::reinterpret_steal<py::array>(
      py::detail::npy_api::get().PyArray_FromAny_(h.ptr(), nullptr, 0, 0, 0, nullptr));
}

std::string shape_str(const py::array& a) {
  std::string s = "(";
  for (py::ssize_t i = 0; i < a.ndim(); ++i) s += std::to_string(a.shape(i)) + (a.ndim() == 1 ? "," : i + 1 < a.ndim() ? ", " : "");
  return s + ")";
}

std::string shape_str(const std::vector<py::ssize_t>& v) {
  std::string s = "(";
  for (std::size_t i = 0; i < v.size(); ++i) s += std::to_string(v[i]) + (v.size() == 1 ? "," : i + 1 < v.size() ? ", " : "");
  return s + ")";
}

[[noreturn]] void memory_error(std::int64_t capacity, std::uint64_t bytes) {
  const std::string msg = "capacity " + std::to_string(capacity) + " needs " +
                          (bytes ? std::to_string(bytes / (1 << 20)) + " MiB" : std::string("more bytes than exist")) +
                          ", which this machine cannot allocate";
  PyErr_SetString(PyExc_MemoryError, msg.c_str());
  throw py::error_already_set();
}

class PyReplay {
 public:
  PyReplay(std::int64_t capacity, std::vector<py::ssize_t> obs_shape, py::dtype obs_dtype,
           std::vector<py::ssize_t> action_shape, py::dtype action_dtype, std::int64_t num_envs, std::int64_t n_step,
           double gamma, std::int64_t frame_stack, std::uint64_t seed, bool prioritized, double alpha, double eps)
      : obs_shape_(std::move(obs_shape)),
        action_shape_(std::move(action_shape)),
        obs_dtype_(std::move(obs_dtype)),
        action_dtype_(std::move(action_dtype)) {
    // Ranges were checked in fastrl/replay.py; here only what protects memory.
    replay::Config c;
    c.capacity = capacity;
    c.num_envs = num_envs;
    c.n_step = n_step;
    c.gamma = gamma;
    c.frame_stack = frame_stack;
    c.obs_bytes = static_cast<std::size_t>(obs_dtype_.itemsize());
    for (auto d : obs_shape_) c.obs_bytes *= static_cast<std::size_t>(d);
    c.action_bytes = static_cast<std::size_t>(action_dtype_.itemsize());
    for (auto d : action_shape_) c.action_bytes *= static_cast<std::size_t>(d);
    obs_item_ = static_cast<std::size_t>(obs_dtype_.itemsize());
    action_item_ = static_cast<std::size_t>(action_dtype_.itemsize());
    obs_bytes_ = c.obs_bytes;
    action_bytes_ = c.action_bytes;
    c.prioritized = prioritized;
    c.alpha = alpha;
    c.eps = eps;
    c.seed = seed;
    if (capacity < 1 || capacity > std::int64_t{0x7fffffff})
      throw py::value_error("capacity must be in [1, 2**31 - 1], got " + std::to_string(capacity));
    const std::uint64_t need = replay::upfront_bytes(c);
    const auto phys = static_cast<std::uint64_t>(sysconf(_SC_PHYS_PAGES)) *
                      static_cast<std::uint64_t>(sysconf(_SC_PAGESIZE));
    if (need == 0 || need > phys) memory_error(capacity, need);
    try {
      mem_ = std::make_unique<ReplayMemory>(c);
    } catch (const std::bad_alloc&) {
      memory_error(capacity, need);
    } catch (const std::length_error&) {
      memory_error(capacity, need);
    }
    obs_num_envs_shape_ = obs_shape_;
    obs_num_envs_shape_.insert(obs_num_envs_shape_.begin(), num_envs);
    action_num_envs_shape_ = action_shape_;
    action_num_envs_shape_.insert(action_num_envs_shape_.begin(), num_envs);
  }

  ReplayMemory& mem() { return *mem_; }
  std::int64_t num_envs() const { return mem_->config().num_envs; }

  // Checks an obs/action argument: exact dtype, shape (num_envs, *shape) or,
  // with one env, shape; returns a C-contiguous array (a copy only when the
  // input was not contiguous).
  py::array check_data(py::handle h, const char* name, const py::dtype& dtype,
                       const std::vector<py::ssize_t>& shape, const std::vector<py::ssize_t>& full) {
    py::array a = as_array(h);
    auto* descr = proxy(a)->descr;
    if (descr != dtype.ptr() && !dtype.equal(a.dtype()))
      throw py::type_error(std::string(name) + " must have dtype " + py::str(dtype).cast<std::string>() + ", got " +
                           py::str(a.dtype()).cast<std::string>() + " (fastrl never casts silently)");
    auto matches = [&](const std::vector<py::ssize_t>& want) {
      if (a.ndim() != static_cast<py::ssize_t>(want.size())) return false;
      for (std::size_t i = 0; i < want.size(); ++i)
        if (a.shape(static_cast<py::ssize_t>(i)) != want[i]) return false;
      return true;
    };
    if (!matches(full) && !(num_envs() == 1 && matches(shape)))
      throw py::value_error(std::string(name) + " must have shape " + shape_str(full) + ", got " + shape_str(a));
    if (!(proxy(a)->flags & py::detail::npy_api::NPY_ARRAY_C_CONTIGUOUS_))
      a = py::array::ensure(a, py::array::c_style);
    return a;
  }

  // Reads a (num_envs,) real array (or a scalar with one env) into float32.
  void read_reward(py::handle h, float* out) {
    if (num_envs() == 1 && (PyFloat_Check(h.ptr()) || (PyLong_Check(h.ptr()) && !PyBool_Check(h.ptr())))) {
      const double v = PyFloat_Check(h.ptr()) ? PyFloat_AS_DOUBLE(h.ptr()) : PyLong_AsDouble(h.ptr());
      if (v == -1.0 && PyErr_Occurred()) throw py::error_already_set();
      out[0] = static_cast<float>(v);
      return;
    }
    py::array a = as_array(h);
    const char kind = py::detail::array_descriptor_proxy(proxy(a)->descr)->kind;
    if (kind != 'f' && kind != 'i' && kind != 'u')
      throw py::type_error("reward must be a real number array, got dtype " + py::str(a.dtype()).cast<std::string>());
    check_vec_shape(a, "reward");
    py::array_t<float, py::array::forcecast> f(a);  // a numeric reward is stored as float32 by contract
    std::memcpy(out, f.data(), sizeof(float) * static_cast<std::size_t>(num_envs()));
  }

  // Reads a (num_envs,) bool or 0/1 integer array (or a scalar with one env).
  void read_flags(py::handle h, const char* name, std::uint8_t* out) {
    if (num_envs() == 1 && (PyBool_Check(h.ptr()) || PyLong_Check(h.ptr()))) {
      const long v = PyLong_AsLong(h.ptr());
      if (v != 0 && v != 1) throw py::value_error(std::string(name) + " must hold only 0/1 or booleans");
      out[0] = static_cast<std::uint8_t>(v);
      return;
    }
    py::array a = as_array(h);
    const char kind = py::detail::array_descriptor_proxy(proxy(a)->descr)->kind;
    if (kind != 'b' && kind != 'i' && kind != 'u')
      throw py::type_error(std::string(name) + " must be a bool or 0/1 integer array, got dtype " +
                           py::str(a.dtype()).cast<std::string>());
    check_vec_shape(a, name);
    if (kind == 'b' && a.itemsize() == 1 && (proxy(a)->flags & py::detail::npy_api::NPY_ARRAY_C_CONTIGUOUS_)) {
      std::memcpy(out, a.data(), static_cast<std::size_t>(num_envs()));
      return;
    }
    py::array_t<std::int64_t, py::array::forcecast> v(a);
    for (std::int64_t e = 0; e < num_envs(); ++e) {
      if (v.data()[e] != 0 && v.data()[e] != 1)
        throw py::value_error(std::string(name) + " must hold only 0/1 or booleans");
      out[e] = static_cast<std::uint8_t>(v.data()[e]);
    }
  }

  void check_vec_shape(const py::array& a, const char* name) {
    const bool ok = (a.ndim() == 1 && a.shape(0) == num_envs()) || (num_envs() == 1 && a.ndim() == 0);
    if (!ok)
      throw py::value_error(std::string(name) + " must have shape (" + std::to_string(num_envs()) + ",), got " +
                            shape_str(a));
  }

  void add(py::handle obs, py::handle action, py::handle reward, py::handle next_obs, py::handle terminated,
           py::handle truncated, py::handle mask) {
    const auto n = static_cast<std::size_t>(num_envs());
    py::array o = check_data(obs, "obs", obs_dtype_, obs_shape_, obs_num_envs_shape_);
    py::array no = check_data(next_obs, "next_obs", obs_dtype_, obs_shape_, obs_num_envs_shape_);
    py::array act = check_data(action, "action", action_dtype_, action_shape_, action_num_envs_shape_);
    // Small per-call scratch on the stack for the common small num_envs.
    float r_small[16];
    std::uint8_t flags_small[48];
    std::vector<float> r_big;
    std::vector<std::uint8_t> flags_big;
    float* r = r_small;
    std::uint8_t* flags = flags_small;
    if (n > 16) {
      r_big.resize(n);
      flags_big.resize(3 * n);
      r = r_big.data();
      flags = flags_big.data();
    }
    read_reward(reward, r);
    read_flags(terminated, "terminated", flags);
    read_flags(truncated, "truncated", flags + n);
    const bool masked = !mask.is_none();
    if (masked) read_flags(mask, "mask", flags + 2 * n);
    const auto* po = static_cast<const std::uint8_t*>(o.data());
    const auto* pno = static_cast<const std::uint8_t*>(no.data());
    const auto* pa = static_cast<const std::uint8_t*>(act.data());
    const std::uint8_t* pm = masked ? flags + 2 * n : nullptr;
    if (n * mem_->config().obs_bytes >= kReleaseGilBytes) {
      // Safe: only C++ memory and the numpy buffers held by o/no/act are used.
      py::gil_scoped_release release;
      mem_->add(po, pa, r, pno, flags, flags + n, pm);
    } else {
      mem_->add(po, pa, r, pno, flags, flags + n, pm);
    }
  }

  std::int64_t check_batch_size(py::handle h) {
    if (!PyLong_Check(h.ptr()) || PyBool_Check(h.ptr())) {
      if (!PyIndex_Check(h.ptr()) || PyBool_Check(h.ptr()))
        throw py::type_error("batch_size must be an int, got " + py::str(py::type::of(h)).cast<std::string>());
    }
    // PyNumber_Index can still fail (a multi-element numpy array has __index__ and raises TypeError there).
    PyObject* index = PyNumber_Index(h.ptr());
    if (index == nullptr) {
      PyErr_Clear();
      throw py::type_error("batch_size must be an int, got " + py::str(py::type::of(h)).cast<std::string>());
    }
    const long long b = PyLong_AsLongLong(py::reinterpret_steal<py::object>(index).ptr());
    if (b == -1 && PyErr_Occurred()) {  // beyond 64 bits
      PyErr_Clear();
      throw py::value_error("batch_size is out of range: " + py::str(h).cast<std::string>());
    }
    if (b <= 0) throw py::value_error("batch_size must be positive, got " + std::to_string(b));
    return b;
  }

  // Allocates the batch arrays and fills them; returns a Batch (a tuple subclass).
  // Arrays are made with numpy's C API and the Batch is filled in place: at a
  // few microseconds per call, pybind11's generic array and tuple helpers would
  // cost as much as the gather itself.
  py::object sample(py::handle batch_size, double beta) {
    const std::int64_t b = check_batch_size(batch_size);
    // Small batches take their seven arrays from one block (see array_block.h).
    const auto ub = static_cast<std::size_t>(b);
    const std::size_t bytes = 2 * ArrayBlock::Padded(ub * obs_bytes_) + ArrayBlock::Padded(ub * action_bytes_) +
                              4 * ArrayBlock::Padded(ub * 8);
    std::optional<ArrayBlock> block;
    if (ArrayBlock::Suits(bytes)) block.emplace(bytes);
    ArrayBlock* blk = block ? &*block : nullptr;
    py::object obs = new_array(obs_dtype_, obs_item_, b, obs_shape_, blk);
    py::object next_obs = new_array(obs_dtype_, obs_item_, b, obs_shape_, blk);
    py::object action = new_array(action_dtype_, action_item_, b, action_shape_, blk);
    py::object reward = new_array(f32_, 4, b, {}, blk), discount = new_array(f32_, 4, b, {}, blk),
               weights = new_array(f32_, 4, b, {}, blk);
    py::object indices = new_array(i64_, 8, b, {}, blk);
    replay::BatchOut out{data_of<std::uint8_t>(obs), data_of<std::uint8_t>(action), data_of<float>(reward),
                         data_of<std::uint8_t>(next_obs), data_of<float>(discount), data_of<std::int64_t>(indices),
                         data_of<float>(weights)};
    run_sample(b, beta, out);
    PyObject* fields[7] = {obs.release().ptr(),      action.release().ptr(),  reward.release().ptr(),
                           next_obs.release().ptr(), discount.release().ptr(), indices.release().ptr(),
                           weights.release().ptr()};
    return make_batch(fields);
  }

  // Fills caller-owned arrays (checked in fastrl/replay.py; re-checked here
  // for size and contiguity so that nothing can write out of bounds).
  void sample_into(py::handle batch_size, double beta, py::array obs, py::array action, py::array reward,
                   py::array next_obs, py::array discount, py::array indices, py::array weights) {
    const std::int64_t b = check_batch_size(batch_size);
    const auto& c = mem_->config();
    auto need = [&](const py::array& a, std::size_t bytes, const char* field) {
      if (!(proxy(a)->flags & py::detail::npy_api::NPY_ARRAY_C_CONTIGUOUS_) || !a.writeable() ||
          static_cast<std::size_t>(a.nbytes()) != bytes)
        throw py::value_error(std::string("out.") + field + " must be a writeable C-contiguous array of " +
                              std::to_string(bytes) + " bytes");
    };
    const auto ub = static_cast<std::size_t>(b);
    need(obs, ub * c.obs_bytes, "obs");
    need(next_obs, ub * c.obs_bytes, "next_obs");
    need(action, ub * c.action_bytes, "action");
    need(reward, ub * 4, "reward");
    need(discount, ub * 4, "discount");
    need(indices, ub * 8, "indices");
    need(weights, ub * 4, "weights");
    replay::BatchOut out{static_cast<std::uint8_t*>(obs.mutable_data()),
                         static_cast<std::uint8_t*>(action.mutable_data()),
                         static_cast<float*>(reward.mutable_data()),
                         static_cast<std::uint8_t*>(next_obs.mutable_data()),
                         static_cast<float*>(discount.mutable_data()),
                         static_cast<std::int64_t*>(indices.mutable_data()),
                         static_cast<float*>(weights.mutable_data())};
    run_sample(b, beta, out);
  }

  void run_sample(std::int64_t b, double beta, const replay::BatchOut& out) {
    try {
      if (static_cast<std::size_t>(b) * mem_->config().obs_bytes * 2 >= kReleaseGilBytes) {
        // Safe: only C++ memory and the output arrays (owned by this frame or
        // the caller's live Batch) are touched.
        py::gil_scoped_release release;
        mem_->sample(b, beta, out);
      } else {
        mem_->sample(b, beta, out);
      }
    } catch (const replay::ArgumentError& e) {
      throw py::value_error(e.what());
    }
  }

  void update_priorities(py::handle indices, py::handle priorities) {
    py::array ia = as_array(indices);
    py::array pa = as_array(priorities);
    const char ik = py::detail::array_descriptor_proxy(proxy(ia)->descr)->kind;
    const char pk = py::detail::array_descriptor_proxy(proxy(pa)->descr)->kind;
    if (ik != 'i' && ik != 'u') throw py::type_error("indices must be an integer array (Batch.indices)");
    if (pk != 'f' && pk != 'i' && pk != 'u') throw py::type_error("priorities must be a real number array");
    if (ia.ndim() != 1) throw py::value_error("indices must be 1-D, got shape " + shape_str(ia));
    if (pa.ndim() != 1 || pa.shape(0) != ia.shape(0))
      throw py::value_error("priorities must have the shape of indices " + shape_str(ia) + ", got " + shape_str(pa));
    const py::array iv = contiguous_as<std::int64_t>(ia, i64_);
    const py::array pv = contiguous_as<double>(pa, f64_);
    const py::ssize_t n = iv.shape(0);
    const auto* idx = static_cast<const std::int64_t*>(iv.data());
    const auto* prio = static_cast<const double*>(pv.data());
    for (py::ssize_t i = 0; i < n; ++i) {
      const double p = prio[i];
      if (!std::isfinite(p) || p < 0)
        throw py::value_error("priorities must be finite and >= 0, got " + py::str(py::float_(p)).cast<std::string>() +
                              " at position " + std::to_string(i));
    }
    try {
      if (n >= kReleaseGilPriorities) {
        // Safe: iv/pv are local contiguous copies or views kept alive here.
        py::gil_scoped_release release;
        mem_->update_priorities(idx, prio, n);
      } else {
        mem_->update_priorities(idx, prio, n);
      }
    } catch (const replay::ArgumentError& e) {
      throw py::value_error(e.what());
    }
  }

  static void set_batch_type(py::object t) { batch_type() = std::move(t); }

  // a's values as a C-contiguous array of T (whose dtype is `dtype`): a itself
  // when it already is one (the usual Batch.indices and float64 priorities),
  // else a converted copy (numeric conversion is the documented contract here).
  template <typename T>
  static py::array contiguous_as(const py::array& a, const py::dtype& dtype) {
    constexpr int kNeed = py::detail::npy_api::NPY_ARRAY_C_CONTIGUOUS_ | py::detail::npy_api::NPY_ARRAY_ALIGNED_;
    if (proxy(a)->descr == dtype.ptr() && (proxy(a)->flags & kNeed) == kNeed) return a;
    return py::array_t<T, py::array::forcecast | py::array::c_style>(a);
  }

 private:
  static py::object& batch_type() {
    static py::object* t = new py::object();  // leaked on purpose: lives until interpreter exit
    return *t;
  }

  // Builds Batch(*fields) (a NamedTuple, i.e. a tuple subclass) without running
  // Python code; steals the seven references.
  static py::object make_batch(PyObject* const* fields) {
    PyTypeObject* type = batch_type() ? reinterpret_cast<PyTypeObject*>(batch_type().ptr()) : &PyTuple_Type;
    PyObject* r = type == &PyTuple_Type ? PyTuple_New(7) : type->tp_alloc(type, 7);
    if (r == nullptr) {
      for (int i = 0; i < 7; ++i) Py_DECREF(fields[i]);
      throw py::error_already_set();
    }
    for (int i = 0; i < 7; ++i) PyTuple_SET_ITEM(r, i, fields[i]);
    return py::reinterpret_steal<py::object>(r);
  }

  // A new C-contiguous array of shape (b, *shape) and the given dtype.
  // A new C-contiguous (b, *shape) array of dtype (items of itemsize bytes), from `block` when given.
  static py::object new_array(const py::dtype& dtype, std::size_t itemsize, std::int64_t b,
                              const std::vector<py::ssize_t>& shape, ArrayBlock* block = nullptr) {
    Py_intptr_t dims[33];
    if (shape.size() > 32) throw py::value_error("obs_shape/action_shape may have at most 32 axes");
    dims[0] = static_cast<Py_intptr_t>(b);
    for (std::size_t i = 0; i < shape.size(); ++i) dims[i + 1] = static_cast<Py_intptr_t>(shape[i]);
    const int nd = static_cast<int>(shape.size() + 1);
    if (block != nullptr) return block->New(dtype.ptr(), itemsize, nd, dims);
    auto& api = py::detail::npy_api::get();
    Py_INCREF(dtype.ptr());  // PyArray_NewFromDescr steals the descriptor
    PyObject* a = api.PyArray_NewFromDescr_(api.PyArray_Type_, dtype.ptr(), nd, dims, nullptr, nullptr, 0, nullptr);
    if (a == nullptr) throw py::error_already_set();
    return py::reinterpret_steal<py::object>(a);
  }

  template <typename T>
  static T* data_of(const py::object& a) {
    return reinterpret_cast<T*>(proxy(a)->data);
  }

  std::vector<py::ssize_t> obs_shape_, action_shape_, obs_num_envs_shape_, action_num_envs_shape_;
  py::dtype obs_dtype_, action_dtype_;
  std::size_t obs_item_ = 0, action_item_ = 0;    // itemsize of each dtype
  std::size_t obs_bytes_ = 0, action_bytes_ = 0;  // bytes of one observation / action
  py::dtype f32_ = py::dtype::of<float>(), f64_ = py::dtype::of<double>(), i64_ = py::dtype::of<std::int64_t>();
  std::unique_ptr<ReplayMemory> mem_;

 public:
  py::dict state();
  void set_state(const py::dict& d);
  void save_stream(int fd, const std::string& cls, const std::string& config_json);
  void save_stream_nogil(int fd, const std::string& cls, const std::string& config_json);
  void load_stream(int fd, std::uint64_t payload_offset, std::uint64_t payload_bytes, std::uint64_t write_count,
                   double max_priority, const std::vector<std::uint64_t>& rng,
                   const std::vector<std::tuple<std::string, std::string, std::vector<std::int64_t>>>& arrays);
  std::uint64_t held_bytes() const {
    const auto cap = static_cast<std::uint64_t>(mem_->config().capacity);
    return mem_->held_bytes(std::min(mem_->write_count(), cap));
  }
};

// ---- streamed files ---------------------------------------------------------------
//
// A replay file of format version 2: a fixed header (magic, version, JSON length), a JSON header (class,
// config, scalars, array table, payload size), the payload (the arrays, streamed from the ring without a
// copy of the buffer), then a 4-byte little-endian CRC-32 of the payload. The file descriptors are the
// caller's (Python opens, fsyncs and renames); these classes only write and read through them.

namespace {

constexpr char kMagic[16] = {'F', 'A', 'S', 'T', 'R', 'L', '-', 'R', 'E', 'P', 'L', 'A', 'Y', 0, 0, 0};

class FdSink : public replay::ByteSink {
 public:
  explicit FdSink(int fd) : fd_(fd) {}
  void write(const void* data, std::size_t n) override {
    if (checksum_) crc_ = Crc32::update(crc_, data, n);
    const auto* p = static_cast<const std::uint8_t*>(data);
    while (n > 0) {
      const ssize_t w = ::write(fd_, p, std::min<std::size_t>(n, std::size_t{1} << 30));
      if (w < 0) {
        if (errno == EINTR) continue;
        throw std::system_error(errno, std::generic_category(), "writing the replay file");
      }
      p += w;
      n -= static_cast<std::size_t>(w);
      written_ += static_cast<std::uint64_t>(w);
    }
  }
  bool checksum_ = false;
  std::uint32_t crc_ = 0;
  std::uint64_t written_ = 0;

 private:
  int fd_;
};

class FdSource : public replay::ByteSource {
 public:
  FdSource(int fd, std::uint64_t offset, std::uint64_t payload_bytes)
      : fd_(fd), offset_(offset), end_(offset + payload_bytes) {}
  void read(void* data, std::size_t n) override {
    if (offset_ + n > end_) throw std::runtime_error("replay file: the arrays overrun the payload size");
    auto* p = static_cast<std::uint8_t*>(data);
    std::size_t left = n;
    while (left > 0) {
      const ssize_t r = ::pread(fd_, p, std::min<std::size_t>(left, std::size_t{1} << 30),
                                static_cast<off_t>(offset_));
      if (r < 0) {
        if (errno == EINTR) continue;
        throw std::system_error(errno, std::generic_category(), "reading the replay file");
      }
      if (r == 0) throw std::runtime_error("replay file is truncated");
      p += r;
      left -= static_cast<std::size_t>(r);
      offset_ += static_cast<std::uint64_t>(r);
    }
    crc_ = Crc32::update(crc_, data, n);
  }
  void finish() override {
    if (offset_ != end_) throw std::runtime_error("replay file: the arrays do not fill the payload");
    std::uint8_t trailer[4];
    std::size_t got = 0;
    while (got < 4) {
      const ssize_t r = ::pread(fd_, trailer + got, 4 - got, static_cast<off_t>(end_ + got));
      if (r < 0 && errno == EINTR) continue;
      if (r <= 0) throw std::runtime_error("replay file is truncated (no checksum)");
      got += static_cast<std::size_t>(r);
    }
    const std::uint32_t stored = static_cast<std::uint32_t>(trailer[0]) | (static_cast<std::uint32_t>(trailer[1]) << 8) |
                                 (static_cast<std::uint32_t>(trailer[2]) << 16) |
                                 (static_cast<std::uint32_t>(trailer[3]) << 24);
    if (stored != crc_) throw std::runtime_error("replay file is corrupted (CRC-32 mismatch)");
  }

 private:
  int fd_;
  std::uint64_t offset_, end_;
  std::uint32_t crc_ = 0;
};

std::string json_string(const std::string& v) {
  std::string out = "\"";
  for (char c : v) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + "\"";
}

// Raises OSError(errno, message) for a failed read or write (ENOSPC, EIO, ...), as Python's own I/O does.
[[noreturn]] void raise_os_error(const std::system_error& e) {
  py::object err = py::reinterpret_steal<py::object>(
      PyObject_CallFunction(PyExc_OSError, "is", e.code().value(), e.what()));
  if (!err) throw py::error_already_set();
  PyErr_SetObject(PyExc_OSError, err.ptr());
  throw py::error_already_set();
}

std::string header_json(const std::string& cls, const std::string& config_json, const replay::StreamHeader& h) {
  std::ostringstream o;
  o.imbue(std::locale::classic());
  o << "{\"class\": " << json_string(cls) << ", \"config\": " << config_json << ", \"scalars\": {\"write_count\": "
    << h.write_count << ", \"max_priority\": " << std::setprecision(17) << h.max_priority << ", \"rng_state\": [";
  for (std::size_t i = 0; i < h.rng.size(); ++i) o << (i ? ", " : "") << h.rng[i];
  o << "]}, \"arrays\": [";
  std::uint64_t offset = 0;
  for (std::size_t a = 0; a < h.arrays.size(); ++a) {
    const replay::ArraySpec& x = h.arrays[a];
    o << (a ? ", " : "") << "{\"name\": " << json_string(x.name) << ", \"dtype\": " << json_string(x.dtype)
      << ", \"shape\": [";
    for (std::size_t d = 0; d < x.shape.size(); ++d) o << (d ? ", " : "") << x.shape[d];
    o << "], \"offset\": " << offset << "}";
    offset += x.bytes;
  }
  o << "], \"payload_bytes\": " << offset << "}";
  return o.str();
}

}  // namespace

void PyReplay::save_stream(int fd, const std::string& cls, const std::string& config_json) {
  try {
    save_stream_nogil(fd, cls, config_json);
  } catch (const std::system_error& e) {
    raise_os_error(e);
  }
}

void PyReplay::save_stream_nogil(int fd, const std::string& cls, const std::string& config_json) {
  FdSink sink(fd);
  py::gil_scoped_release release;  // Safe: reads the ring under the buffer's mutex and writes to a file only.
  mem_->save_stream(
      [&](const replay::StreamHeader& h) {
        const std::string json = header_json(cls, config_json, h);
        std::uint8_t fixed[28];
        std::memcpy(fixed, kMagic, 16);
        const std::uint32_t version = 2;
        const std::uint64_t len = json.size();
        std::memcpy(fixed + 16, &version, 4);  // little-endian, as the Python side's struct "<16sIQ"
        std::memcpy(fixed + 20, &len, 8);
        sink.write(fixed, sizeof fixed);
        sink.write(json.data(), json.size());
        sink.checksum_ = true;
      },
      sink);
  sink.checksum_ = false;
  const std::uint32_t crc = sink.crc_;
  std::uint8_t trailer[4] = {static_cast<std::uint8_t>(crc), static_cast<std::uint8_t>(crc >> 8),
                             static_cast<std::uint8_t>(crc >> 16), static_cast<std::uint8_t>(crc >> 24)};
  sink.write(trailer, 4);
}

void PyReplay::load_stream(int fd, std::uint64_t payload_offset, std::uint64_t payload_bytes,
                           std::uint64_t write_count, double max_priority, const std::vector<std::uint64_t>& rng,
                           const std::vector<std::tuple<std::string, std::string, std::vector<std::int64_t>>>& arrays) {
  replay::StreamHeader h;
  h.write_count = write_count;
  h.max_priority = max_priority;
  if (rng.size() != h.rng.size()) throw py::value_error("replay file: 'rng_state' must hold 4 words");
  std::copy(rng.begin(), rng.end(), h.rng.begin());
  for (const auto& [name, dtype, shape] : arrays) h.arrays.push_back(replay::ArraySpec{name, dtype, shape, 0});
  FdSource source(fd, payload_offset, payload_bytes);
  try {
    py::gil_scoped_release release;  // Safe: reads a file and fills the ring under the buffer's mutex only.
    mem_->load_stream(h, source);
  } catch (const replay::ArgumentError& e) {
    throw py::value_error(e.what());
  } catch (const std::system_error& e) {
    raise_os_error(e);
  } catch (const std::runtime_error& e) {
    throw py::value_error(e.what());
  }
}

// ---- state_dict ----------------------------------------------------------------

template <typename T>
py::array_t<T> to_numpy(const std::vector<T>& v) {
  py::array_t<T> a(static_cast<py::ssize_t>(v.size()));
  if (!v.empty()) std::memcpy(a.mutable_data(), v.data(), v.size() * sizeof(T));
  return a;
}

template <typename T>
std::vector<T> from_numpy(const py::dict& d, const char* key) {
  if (!d.contains(key)) throw py::value_error(std::string("state_dict: missing array '") + key + "'");
  py::array a = py::reinterpret_borrow<py::array>(as_array(d[key]));
  if (!py::dtype::of<T>().equal(a.dtype()) || a.ndim() != 1)
    throw py::value_error(std::string("state_dict: '") + key + "' must be a 1-D " +
                          py::str(py::dtype::of<T>()).cast<std::string>() + " array");
  py::array_t<T, py::array::c_style> c(a);
  return std::vector<T>(c.data(), c.data() + c.shape(0));
}

template <typename T, typename S, typename M>
py::array_t<T> field(const std::vector<S>& v, M S::*member) {
  py::array_t<T> a(static_cast<py::ssize_t>(v.size()));
  T* p = a.mutable_data();
  for (std::size_t i = 0; i < v.size(); ++i) p[i] = static_cast<T>(v[i].*member);
  return a;
}

template <typename T, typename S, typename M>
void unfield(const py::dict& d, const char* key, std::vector<S>& v, M S::*member) {
  std::vector<T> x = from_numpy<T>(d, key);
  if (x.size() != v.size()) throw py::value_error(std::string("state_dict: '") + key + "' has the wrong length");
  for (std::size_t i = 0; i < v.size(); ++i) v[i].*member = static_cast<M>(x[i]);
}

py::dict PyReplay::state() {
  replay::State st;
  {
    py::gil_scoped_release release;  // Safe: copies C++ state under the buffer's mutex only.
    st = mem_->state();
  }
  py::dict d;
  d["write_count"] = py::int_(st.write_count);
  d["max_priority"] = py::float_(st.max_priority);
  d["rng_state"] = to_numpy(std::vector<std::uint64_t>(st.rng.begin(), st.rng.end()));
  d["slot_id"] = field<std::uint64_t>(st.slots, &replay::Slot::id);
  d["slot_reward"] = field<float>(st.slots, &replay::Slot::reward);
  d["slot_discount"] = field<float>(st.slots, &replay::Slot::discount);
  d["slot_boot"] = field<std::int32_t>(st.slots, &replay::Slot::boot);
  d["slot_env"] = field<std::int32_t>(st.slots, &replay::Slot::env);
  d["slot_next_ref"] = field<std::int32_t>(st.slots, &replay::Slot::next_ref);
  d["slot_frame_pred"] = field<std::int32_t>(st.slots, &replay::Slot::frame_pred);
  d["slot_frame_succ"] = field<std::int32_t>(st.slots, &replay::Slot::frame_succ);
  d["slot_start_ref"] = field<std::int32_t>(st.slots, &replay::Slot::start_ref);
  d["slot_valid_pos"] = field<std::int32_t>(st.slots, &replay::Slot::valid_pos);
  d["slot_next_kind"] = field<std::uint8_t>(st.slots, &replay::Slot::next_kind);
  d["frames"] = to_numpy(st.frames);
  d["actions"] = to_numpy(st.actions);
  d["heads"] = to_numpy(st.heads);
  d["side_data"] = to_numpy(st.side_data);
  d["side_free"] = to_numpy(st.side_free);
  d["start_data"] = to_numpy(st.start_data);
  d["start_free"] = to_numpy(st.start_free);
  d["valid"] = to_numpy(st.valid);
  d["stream_last_slot"] = field<std::int32_t>(st.streams, &replay::Stream::last_slot);
  d["stream_open"] = field<std::uint8_t>(st.streams, &replay::Stream::open);
  d["stream_win_len"] = field<std::int32_t>(st.streams, &replay::Stream::win_len);
  d["win_slot"] = to_numpy(st.win_slot);
  d["win_id"] = to_numpy(st.win_id);
  d["win_acc"] = to_numpy(st.win_acc);
  d["priorities"] = to_numpy(st.priorities);
  return d;
}

void PyReplay::set_state(const py::dict& d) {
  replay::State st;
  for (const char* key : {"write_count", "max_priority"})
    if (!d.contains(key)) throw py::value_error(std::string("state_dict: missing '") + key + "'");
  st.write_count = d["write_count"].cast<std::uint64_t>();
  st.max_priority = d["max_priority"].cast<double>();
  auto rng = from_numpy<std::uint64_t>(d, "rng_state");
  if (rng.size() != 4) throw py::value_error("state_dict: 'rng_state' must hold 4 words");
  std::copy(rng.begin(), rng.end(), st.rng.begin());
  const std::size_t cap = static_cast<std::size_t>(mem_->config().capacity);
  st.slots.resize(from_numpy<std::uint64_t>(d, "slot_id").size());
  if (st.slots.size() != cap) throw py::value_error("state_dict: slot arrays do not match capacity");
  unfield<std::uint64_t>(d, "slot_id", st.slots, &replay::Slot::id);
  unfield<float>(d, "slot_reward", st.slots, &replay::Slot::reward);
  unfield<float>(d, "slot_discount", st.slots, &replay::Slot::discount);
  unfield<std::int32_t>(d, "slot_boot", st.slots, &replay::Slot::boot);
  unfield<std::int32_t>(d, "slot_env", st.slots, &replay::Slot::env);
  unfield<std::int32_t>(d, "slot_next_ref", st.slots, &replay::Slot::next_ref);
  unfield<std::int32_t>(d, "slot_frame_pred", st.slots, &replay::Slot::frame_pred);
  unfield<std::int32_t>(d, "slot_frame_succ", st.slots, &replay::Slot::frame_succ);
  unfield<std::int32_t>(d, "slot_start_ref", st.slots, &replay::Slot::start_ref);
  unfield<std::int32_t>(d, "slot_valid_pos", st.slots, &replay::Slot::valid_pos);
  unfield<std::uint8_t>(d, "slot_next_kind", st.slots, &replay::Slot::next_kind);
  st.frames = from_numpy<std::uint8_t>(d, "frames");
  st.actions = from_numpy<std::uint8_t>(d, "actions");
  st.heads = from_numpy<std::uint8_t>(d, "heads");
  st.side_data = from_numpy<std::uint8_t>(d, "side_data");
  st.side_free = from_numpy<std::int32_t>(d, "side_free");
  st.start_data = from_numpy<std::uint8_t>(d, "start_data");
  st.start_free = from_numpy<std::int32_t>(d, "start_free");
  st.valid = from_numpy<std::int32_t>(d, "valid");
  st.streams.resize(static_cast<std::size_t>(num_envs()));
  unfield<std::int32_t>(d, "stream_last_slot", st.streams, &replay::Stream::last_slot);
  unfield<std::uint8_t>(d, "stream_open", st.streams, &replay::Stream::open);
  unfield<std::int32_t>(d, "stream_win_len", st.streams, &replay::Stream::win_len);
  st.win_slot = from_numpy<std::int32_t>(d, "win_slot");
  st.win_id = from_numpy<std::uint64_t>(d, "win_id");
  st.win_acc = from_numpy<double>(d, "win_acc");
  st.priorities = from_numpy<double>(d, "priorities");
  try {
    py::gil_scoped_release release;  // Safe: validates and moves C++ vectors under the buffer's mutex only.
    mem_->set_state(std::move(st));
  } catch (const replay::ArgumentError& e) {
    throw py::value_error(e.what());
  }
}

// ---- raw entry points for the per-step calls ---------------------------------------
//
// sample(32) of a small buffer takes well under a microsecond of C++ work, so the
// generic call machinery around it (a Python method forwarding to a pybind11
// method, pybind11's argument dispatcher) would cost as much again. The public
// `sample` and `update_priorities` are therefore plain CPython METH_FASTCALL
// methods: the usual call shapes are parsed here, and anything else (out=,
// as_torch=, an unusual beta) is forwarded to the Python method
// `_sample_slow`, which validates it and documents the full signature.

constexpr double kDefaultBeta = 0.4;  // PrioritizedReplayBuffer.sample's default, as in fastrl/replay.py

// The C++ object behind `self` (an instance of _ReplayCore or a subclass: the
// method descriptor has checked that much). Raises TypeError when __init__ did
// not run.
PyReplay& self_of(PyObject* self) {
  auto* inst = reinterpret_cast<py::detail::instance*>(self);
  py::detail::value_and_holder vh;
  if (inst->simple_layout) {
    // One pybind11 base only, so the first (and only) value is ours.
    vh = inst->get_value_and_holder(nullptr, false);
  } else {
    static const py::detail::type_info* info = py::detail::get_type_info(typeid(PyReplay));
    vh = inst->get_value_and_holder(info, false);
  }
  if (!vh.inst || !vh.holder_constructed() || vh.value_ptr() == nullptr)
    throw py::type_error("the replay buffer was not initialized (its __init__ did not run)");
  return *static_cast<PyReplay*>(vh.value_ptr());
}

// Runs f, turning C++ exceptions into a Python error and a null return.
template <typename F>
PyObject* guarded(F&& f) noexcept {
  try {
    return f();
  } catch (py::error_already_set& e) {
    e.restore();
  } catch (const py::builtin_exception& e) {
    e.set_error();
  } catch (const replay::ArgumentError& e) {
    PyErr_SetString(PyExc_ValueError, e.what());
  } catch (const std::bad_alloc&) {
    PyErr_NoMemory();
  } catch (const std::exception& e) {
    PyErr_SetString(PyExc_RuntimeError, e.what());
  }
  return nullptr;
}

// self.<name>(*args, **kwargs) with the arguments exactly as received.
PyObject* forward(PyObject* self, const char* name, PyObject* const* args, Py_ssize_t nargs, PyObject* kwnames) {
  const Py_ssize_t total = nargs + (kwnames ? PyTuple_GET_SIZE(kwnames) : 0);
  std::vector<PyObject*> stack(static_cast<std::size_t>(total + 1));
  stack[0] = self;
  std::copy(args, args + total, stack.begin() + 1);
  py::str method(name);
  return PyObject_VectorcallMethod(method.ptr(), stack.data(), static_cast<std::size_t>(nargs + 1), kwnames);
}

bool is_name(PyObject* key, const char* name) {
  return PyUnicode_Check(key) && PyUnicode_CompareWithASCIIString(key, name) == 0;
}

PyObject* sample_entry(PyObject* self, PyObject* const* args, Py_ssize_t nargs, PyObject* kwnames) {
  return guarded([&]() -> PyObject* {
    PyReplay& r = self_of(self);
    const bool prioritized = r.mem().config().prioritized;
    const Py_ssize_t nkw = kwnames ? PyTuple_GET_SIZE(kwnames) : 0;
    // Fast shapes: sample(batch_size), and for a prioritized buffer also
    // sample(batch_size, beta) and sample(batch_size, beta=beta), with beta a
    // finite non-negative float.
    bool fast = nargs == 1 && nkw == 0;
    double beta = prioritized ? kDefaultBeta : 0.0;
    if (prioritized && nargs + nkw == 2 && (nargs == 2 || is_name(PyTuple_GET_ITEM(kwnames, 0), "beta"))) {
      PyObject* b = args[1];
      fast = PyFloat_CheckExact(b) && std::isfinite(PyFloat_AS_DOUBLE(b)) && PyFloat_AS_DOUBLE(b) >= 0.0;
      if (fast) beta = PyFloat_AS_DOUBLE(b);
    }
    if (!fast) return forward(self, "_sample_slow", args, nargs, kwnames);
    return r.sample(args[0], beta).release().ptr();
  });
}

PyObject* update_priorities_entry(PyObject* self, PyObject* const* args, Py_ssize_t nargs, PyObject* kwnames) {
  return guarded([&]() -> PyObject* {
    PyReplay& r = self_of(self);
    PyObject* indices = nullptr;
    PyObject* priorities = nullptr;
    const Py_ssize_t nkw = kwnames ? PyTuple_GET_SIZE(kwnames) : 0;
    if (nargs + nkw != 2 || nargs > 2)
      throw py::type_error("update_priorities() takes 2 arguments (indices, priorities), got " +
                           std::to_string(nargs + nkw));
    PyObject* slots[2] = {nargs > 0 ? args[0] : nullptr, nargs > 1 ? args[1] : nullptr};
    for (Py_ssize_t k = 0; k < nkw; ++k) {
      PyObject* key = PyTuple_GET_ITEM(kwnames, k);
      const int pos = is_name(key, "indices") ? 0 : is_name(key, "priorities") ? 1 : -1;
      if (pos < 0 || slots[pos] != nullptr)
        throw py::type_error("update_priorities() got an unexpected or repeated keyword argument '" +
                             py::str(key).cast<std::string>() + "'");
      slots[pos] = args[nargs + k];
    }
    indices = slots[0];
    priorities = slots[1];
    if (!r.mem().config().prioritized)
      throw py::type_error("update_priorities needs a PrioritizedReplayBuffer");
    r.update_priorities(indices, priorities);
    Py_RETURN_NONE;
  });
}

// Docstrings carry a text signature (the part before "--") for inspect.signature.
PyMethodDef uniform_sample_def = {
    "sample", reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(sample_entry)),
    METH_FASTCALL | METH_KEYWORDS,
    "sample($self, /, batch_size, *, out=None, as_torch=False, pin_memory=None)\n--\n\n"
    "Samples ``batch_size`` transitions uniformly (with replacement) among the sampleable ones.\n"
    "\n"
    "Args:\n"
    "    batch_size: 1 <= batch_size <= len(self), else ValueError.\n"
    "    out: a Batch of preallocated C-contiguous arrays (numpy, or torch CPU tensors with\n"
    "        ``as_torch=True``) of the right shapes/dtypes to gather into; returned filled.\n"
    "    as_torch: return torch CPU tensors instead of numpy arrays.\n"
    "    pin_memory: with ``as_torch``, gather into pinned host memory (default: whether CUDA is\n"
    "        available), ready for ``batch.to(\"cuda\")``.\n"
    "\n"
    "Returns:\n"
    "    Batch(obs, action, reward, next_obs, discount, indices, weights); weights are ones.\n"};

PyMethodDef prioritized_sample_def = {
    "sample", reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(sample_entry)),
    METH_FASTCALL | METH_KEYWORDS,
    "sample($self, /, batch_size, beta=0.4, *, out=None, as_torch=False, pin_memory=None)\n--\n\n"
    "Samples ``batch_size`` transitions by priority (stratified); see the class docstring.\n"
    "\n"
    "``beta >= 0`` is the importance-sampling exponent (0: weights of one, 1: full correction):\n"
    "``weights = (N P(i)) ** -beta / max_j (N P(j)) ** -beta`` (float32). Other arguments as\n"
    "``ReplayBuffer.sample``.\n"};

PyMethodDef update_priorities_def = {
    "update_priorities", reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(update_priorities_entry)),
    METH_FASTCALL | METH_KEYWORDS,
    "update_priorities($self, /, indices, priorities)\n--\n\n"
    "Sets the priority of sampled transitions.\n"
    "\n"
    "Args:\n"
    "    indices: ``(B,)`` integer array, ``Batch.indices`` of an earlier sample.\n"
    "    priorities: ``(B,)`` real array, finite and >= 0 (typically ``|td_error|``); stored as\n"
    "        ``(priority + eps) ** alpha``.\n"
    "\n"
    "Indices whose slot was overwritten since the sample are ignored (their transition is gone).\n"
    "NaN, infinite or negative priorities, and indices this buffer never handed out, raise\n"
    "ValueError before anything is changed. For a repeated index the last priority wins.\n"};

// Adds a METH_FASTCALL method to cls under `attr` (its __name__ stays def.ml_name).
void add_raw_method(py::handle cls, const char* attr, PyMethodDef* def) {
  py::object descr = py::reinterpret_steal<py::object>(
      PyDescr_NewMethod(reinterpret_cast<PyTypeObject*>(cls.ptr()), def));
  if (!descr) throw py::error_already_set();
  py::setattr(cls, attr, descr);
}

}  // namespace

void register_replay(py::module_& m) {
  py::class_<PyReplay> cls(m, "_ReplayCore", "C++ replay memory; use fastrl.ReplayBuffer.");
  // fastrl/replay.py installs these as ReplayBuffer.sample and
  // PrioritizedReplayBuffer.sample / update_priorities.
  add_raw_method(cls, "_uniform_sample", &uniform_sample_def);
  add_raw_method(cls, "_prioritized_sample", &prioritized_sample_def);
  add_raw_method(cls, "_update_priorities", &update_priorities_def);
  cls
      .def(py::init<std::int64_t, std::vector<py::ssize_t>, py::dtype, std::vector<py::ssize_t>, py::dtype,
                    std::int64_t, std::int64_t, double, std::int64_t, std::uint64_t, bool, double, double>(),
           py::arg("capacity"), py::arg("obs_shape"), py::arg("obs_dtype"), py::arg("action_shape"),
           py::arg("action_dtype"), py::arg("num_envs"), py::arg("n_step"), py::arg("gamma"),
           py::arg("frame_stack"), py::arg("seed"), py::arg("prioritized"), py::arg("alpha"), py::arg("eps"))
      .def("add", &PyReplay::add, py::arg("obs"), py::arg("action"), py::arg("reward"), py::arg("next_obs"),
           py::arg("terminated"), py::arg("truncated"), py::arg("mask") = py::none(),
           
"Adds one step of every env.\n"
"\n"
"Args:\n"
"    obs: ``(num_envs, *obs_shape)`` array of exactly ``obs_dtype`` (o_t).\n"
"    action: ``(num_envs, *action_shape)`` array of exactly ``action_dtype`` (a_t).\n"
"    reward: ``(num_envs,)`` real array (any int/float dtype), stored as float32 (r_t).\n"
"    next_obs: ``(num_envs, *obs_shape)`` array of exactly ``obs_dtype`` (o_{t+1}; the true final\n"
"        observation at an episode end, not the reset one).\n"
"    terminated, truncated: ``(num_envs,)`` bool or 0/1 integer arrays.\n"
"    mask: None, or a ``(num_envs,)`` bool/0-1 array: envs with False are skipped on this step.\n"
"\n"
"With ``num_envs == 1`` the leading axis may be left out and reward/terminated/truncated/mask may\n"
"be scalars. Non-arrays are converted with ``np.asarray`` and must then have the exact dtype (a\n"
"Python int is an int64 action). Wrong dtypes raise TypeError, wrong shapes ValueError, naming the\n"
"argument; the buffer is unchanged then.\n"
"\n")
      .def("_sample", &PyReplay::sample, py::arg("batch_size"), py::arg("beta"))
      .def("_sample_into", &PyReplay::sample_into, py::arg("batch_size"), py::arg("beta"), py::arg("obs"),
           py::arg("action"), py::arg("reward"), py::arg("next_obs"), py::arg("discount"), py::arg("indices"),
           py::arg("weights"))
      .def("_state", &PyReplay::state)
      .def("_set_state", &PyReplay::set_state, py::arg("state"))
      .def("_save_stream", &PyReplay::save_stream, py::arg("fd"), py::arg("cls"), py::arg("config_json"))
      .def("_load_stream", &PyReplay::load_stream, py::arg("fd"), py::arg("payload_offset"),
           py::arg("payload_bytes"), py::arg("write_count"), py::arg("max_priority"), py::arg("rng_state"),
           py::arg("arrays"))
      .def_property_readonly("_held_bytes", &PyReplay::held_bytes)
      .def("__len__", [](PyReplay& self) { return self.mem().size(); })
      .def_property_readonly("_write_count", [](PyReplay& self) { return self.mem().write_count(); })
      .def_property_readonly("capacity", [](PyReplay& self) { return self.mem().config().capacity; });
  m.def("_set_batch_type", &PyReplay::set_batch_type, py::arg("batch_type"));
  m.def(
      "_replay_upfront_bytes",
      [](std::int64_t capacity, std::uint64_t obs_bytes, std::uint64_t action_bytes, std::int64_t num_envs,
         std::int64_t frame_stack, bool prioritized) {
        if (capacity < 1 || num_envs < 1 || frame_stack < 1) throw py::value_error("sizes must be positive");
        replay::Config c;
        c.capacity = capacity;
        c.obs_bytes = static_cast<std::size_t>(obs_bytes);
        c.action_bytes = static_cast<std::size_t>(action_bytes);
        c.num_envs = num_envs;
        c.frame_stack = frame_stack;
        c.prioritized = prioritized;
        return replay::upfront_bytes(c);  // 0: more than 64 bits
      },
      py::arg("capacity"), py::arg("obs_bytes"), py::arg("action_bytes"), py::arg("num_envs"),
      py::arg("frame_stack"), py::arg("prioritized"),
      "Bytes a replay memory with this configuration allocates up front (0: more than 2**64).");
}

}  // namespace fastrl::bindings
