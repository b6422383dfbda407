// An allocator for the replay memory's big arrays (ring slots, frames, sum tree).
//
// Sampling reads a few random rows of arrays that can hold gigabytes. With 4 KiB
// pages nearly every such read also misses the TLB, and the page walk is one
// more dependent trip to memory. Arrays of at least kHugeBytes are therefore
// mapped at a 2 MiB boundary and marked MADV_HUGEPAGE, so that the kernel backs
// them with 2 MiB pages where it can (transparent huge pages in "madvise" or
// "always" mode; elsewhere the advice is a no-op and nothing else changes).
// Smaller arrays come from the C heap, cache-line aligned.
#pragma once

#include <sys/mman.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <new>
#include <vector>

namespace fastrl::replay {

template <typename T>
class BigAllocator {
 public:
  using value_type = T;
  static constexpr std::size_t kHugeBytes = std::size_t{4} << 20;
  static constexpr std::size_t kHugePage = std::size_t{2} << 20;

  BigAllocator() = default;
  template <typename U>
  BigAllocator(const BigAllocator<U>&) noexcept {}

  T* allocate(std::size_t n) {
    if (n > static_cast<std::size_t>(-1) / sizeof(T) - kHugePage) throw std::bad_alloc();
    const std::size_t bytes = n * sizeof(T);
    if (bytes < kHugeBytes) {
      // Cache-line aligned, so that a 64-byte group of entries is one line.
      void* p = std::aligned_alloc(64, (bytes + 64) & ~std::size_t{63});
      if (p == nullptr) throw std::bad_alloc();
      return static_cast<T*>(p);
    }
    // Over-map by one huge page, then unmap the unaligned head and the tail.
    const std::size_t len = round_up(bytes);
    void* raw = mmap(nullptr, len + kHugePage, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (raw == MAP_FAILED) throw std::bad_alloc();
    const auto start = reinterpret_cast<std::uintptr_t>(raw);
    const std::uintptr_t aligned = (start + kHugePage - 1) & ~(kHugePage - 1);
    if (aligned > start) munmap(raw, aligned - start);
    const std::uintptr_t end = start + len + kHugePage;
    if (end > aligned + len) munmap(reinterpret_cast<void*>(aligned + len), end - (aligned + len));
#ifdef MADV_HUGEPAGE
    madvise(reinterpret_cast<void*>(aligned), len, MADV_HUGEPAGE);
#endif
    return reinterpret_cast<T*>(aligned);
  }

  void deallocate(T* p, std::size_t n) noexcept {
    const std::size_t bytes = n * sizeof(T);
    if (bytes < kHugeBytes) {
      std::free(p);
    } else {
      munmap(p, round_up(bytes));
    }
  }

  template <typename U>
  bool operator==(const BigAllocator<U>&) const noexcept {
    return true;
  }
  template <typename U>
  bool operator!=(const BigAllocator<U>&) const noexcept {
    return false;
  }

 private:
  static std::size_t round_up(std::size_t bytes) { return (bytes + kHugePage - 1) & ~(kHugePage - 1); }
};

template <typename T>
using BigVector = std::vector<T, BigAllocator<T>>;

}  // namespace fastrl::replay
