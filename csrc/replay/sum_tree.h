// A float64 sum tree with a min tree over the same leaves, for prioritized
// replay.
//
// Leaf i holds a non-negative priority (already raised to alpha); empty leaves
// hold 0 in the sum tree and +inf in the min tree. Every update recomputes the
// parents from their children (no running deltas), so the totals never drift
// however many updates are made.
#pragma once

#include <cstdint>
#include <vector>

#include "replay/big_alloc.h"

namespace fastrl::replay {

class SumTree {
 public:
  SumTree() = default;
  explicit SumTree(std::int64_t num_leaves);

  std::int64_t num_leaves() const { return num_leaves_; }
  double total() const { return sum_[1]; }
  // Smallest non-empty leaf, +inf when every leaf is empty.
  double min() const { return min_[1]; }
  double get(std::int64_t leaf) const { return sum_[base_ + leaf]; }

  void set(std::int64_t leaf, double value);
  void clear(std::int64_t leaf);
  // Sets every leaf at once (empty where present[i] == 0) in O(num_leaves).
  void assign(const std::vector<double>& values, const std::vector<std::uint8_t>& present);

  // The leaf where the prefix sum crosses `mass`, mass in [0, total()). Only
  // leaves with a positive value are ever returned (rounding can not make it
  // land on an empty leaf) as long as total() > 0.
  std::int64_t find(double mass) const;

  // find() for n masses at once (mass is overwritten). The descents run one
  // tree level at a time with the next level's loads prefetched, so the n
  // independent cache misses of a level overlap instead of following one
  // another: this keeps sampling time nearly flat as the tree outgrows the
  // caches. Same result as calling find() on each mass.
  void find_many(double* mass, std::int64_t* leaf, std::int64_t n) const;

  // set() for n leaves at once; for a repeated leaf the last value wins.
  void set_many(const std::int64_t* leaves, const double* values, std::int64_t n);

 private:
  void update_parents(std::int64_t node);

  std::int64_t num_leaves_ = 0;
  std::int64_t base_ = 1;  // index of leaf 0: a power of two >= num_leaves
  BigVector<double> sum_;
  BigVector<double> min_;
};

}  // namespace fastrl::replay
