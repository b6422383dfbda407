// Several small NumPy arrays carved from one malloc'd block.
//
// NumPy's own allocation looks its allocator up (a context variable and a named
// capsule) for every array, on creation and again on release, which costs about
// as much per array as a small batched call's whole C++ work. An ArrayBlock is
// one malloc and one capsule shared by all the arrays of one call: each array
// holds the capsule as its base, and the block is freed with the last of them.
// Only for small arrays (Suits()): any one of them keeps the whole block alive.
// The arrays are ordinary C-contiguous, aligned, writeable arrays that do not
// own their data (so ndarray.resize() refuses them; np.resize works).
#pragma once

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cstddef>
#include <cstdlib>
#include <new>
#include <stdexcept>

namespace fastrl::bindings {

class ArrayBlock {
 public:
  static constexpr std::size_t kAlign = 16;
  // Whether arrays totalling `bytes` (as counted by Padded) are small enough to share a block.
  static constexpr bool Suits(std::size_t bytes) { return bytes <= 16384; }
  // Bytes an array of `bytes` bytes takes in a block.
  static constexpr std::size_t Padded(std::size_t bytes) { return (bytes + kAlign - 1) / kAlign * kAlign; }

  explicit ArrayBlock(std::size_t bytes) {
    void* data = std::malloc(bytes == 0 ? 1 : bytes);
    if (data == nullptr) throw std::bad_alloc();
    PyObject* owner =
        PyCapsule_New(data, nullptr, [](PyObject* capsule) { std::free(PyCapsule_GetPointer(capsule, nullptr)); });
    if (owner == nullptr) {
      std::free(data);
      throw pybind11::error_already_set();
    }
    owner_ = pybind11::reinterpret_steal<pybind11::object>(owner);
    next_ = static_cast<char*>(data);
    end_ = next_ + bytes;
  }

  // A new C-contiguous array of `descr` (borrowed; items of `itemsize` bytes)
  // with `nd` dims, taking Padded(itemsize * product of dims) bytes of the block.
  pybind11::array New(PyObject* descr, std::size_t itemsize, int nd, const Py_intptr_t* dims) {
    auto& api = pybind11::detail::npy_api::get();
    std::size_t bytes = itemsize;
    for (int d = 0; d < nd; ++d) bytes *= static_cast<std::size_t>(dims[d]);
    bytes = Padded(bytes);
    if (next_ + bytes > end_) throw std::logic_error("ArrayBlock too small");
    Py_INCREF(descr);  // PyArray_NewFromDescr steals a reference
    PyObject* arr = api.PyArray_NewFromDescr_(
        api.PyArray_Type_, descr, nd, const_cast<Py_intptr_t*>(dims), nullptr, next_,
        pybind11::detail::npy_api::NPY_ARRAY_C_CONTIGUOUS_ | pybind11::detail::npy_api::NPY_ARRAY_ALIGNED_ |
            pybind11::detail::npy_api::NPY_ARRAY_WRITEABLE_,
        nullptr);
    if (arr == nullptr) throw pybind11::error_already_set();
    pybind11::array result = pybind11::reinterpret_steal<pybind11::array>(arr);
    if (api.PyArray_SetBaseObject_(arr, owner_.inc_ref().ptr()) != 0) throw pybind11::error_already_set();  // steals
    next_ += bytes;
    return result;
  }

  // A new (d0,) or (d0, d1) array of T.
  template <class T>
  pybind11::array New(pybind11::ssize_t d0, pybind11::ssize_t d1 = -1) {
    static PyObject* const descr = pybind11::dtype::of<T>().release().ptr();  // one reference kept for good
    const Py_intptr_t dims[2] = {d0, d1};
    return New(descr, sizeof(T), d1 < 0 ? 1 : 2, dims);
  }

 private:
  pybind11::object owner_;
  char* next_ = nullptr;
  char* end_ = nullptr;
};

}  // namespace fastrl::bindings
