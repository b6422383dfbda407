// A growable pool of fixed-size byte entries with a free list.
//
// The replay memory keeps two of these beside its ring: final observations at
// episode ends (and wherever the caller's next add does not continue the
// stream) and the older frames of a frame-stack segment's first stack. Both
// are needed only for a small fraction of the slots, so they grow on demand
// instead of reserving room for every slot.
#pragma once

#include <cstdint>
#include <cstring>
#include <vector>

namespace fastrl::replay {

class EntryPool {
 public:
  EntryPool() = default;
  explicit EntryPool(std::size_t entry_bytes) : entry_bytes_(entry_bytes) {}

  std::size_t entry_bytes() const { return entry_bytes_; }
  std::int64_t num_entries() const {
    return entry_bytes_ == 0 ? 0 : static_cast<std::int64_t>(data_.size() / entry_bytes_);
  }
  std::int64_t num_free() const { return static_cast<std::int64_t>(free_.size()); }

  // Returns the id of an unused entry; its contents are unspecified.
  std::int32_t alloc() {
    if (!free_.empty()) {
      const std::int32_t id = free_.back();
      free_.pop_back();
      return id;
    }
    const auto id = static_cast<std::int32_t>(num_entries());
    data_.resize(data_.size() + entry_bytes_);
    return id;
  }

  // Allocates an entry and fills it with `entry_bytes()` bytes from src.
  std::int32_t store(const void* src) {
    const std::int32_t id = alloc();
    if (entry_bytes_ != 0) std::memcpy(at(id), src, entry_bytes_);
    return id;
  }

  void release(std::int32_t id) { free_.push_back(id); }

  std::uint8_t* at(std::int32_t id) { return data_.data() + static_cast<std::size_t>(id) * entry_bytes_; }
  const std::uint8_t* at(std::int32_t id) const {
    return data_.data() + static_cast<std::size_t>(id) * entry_bytes_;
  }

  // Raw state, for saving and restoring the pool exactly.
  const std::vector<std::uint8_t>& data() const { return data_; }
  const std::vector<std::int32_t>& free_list() const { return free_; }
  void restore(std::vector<std::uint8_t> data, std::vector<std::int32_t> free_list) {
    data_ = std::move(data);
    free_ = std::move(free_list);
  }

 private:
  std::size_t entry_bytes_ = 0;
  std::vector<std::uint8_t> data_;
  std::vector<std::int32_t> free_;
};

}  // namespace fastrl::replay
