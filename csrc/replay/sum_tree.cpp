#include "replay/sum_tree.h"

#include <algorithm>
#include <limits>

namespace fastrl::replay {

namespace {
constexpr double kInf = std::numeric_limits<double>::infinity();
}

SumTree::SumTree(std::int64_t num_leaves) : num_leaves_(num_leaves) {
  while (base_ < num_leaves) base_ *= 2;
  sum_.assign(static_cast<std::size_t>(2 * base_), 0.0);
  min_.assign(static_cast<std::size_t>(2 * base_), kInf);
}

void SumTree::update_parents(std::int64_t node) {
  for (node /= 2; node >= 1; node /= 2) {
    sum_[node] = sum_[2 * node] + sum_[2 * node + 1];
    min_[node] = std::min(min_[2 * node], min_[2 * node + 1]);
  }
}

void SumTree::set(std::int64_t leaf, double value) {
  const std::int64_t node = base_ + leaf;
  sum_[node] = value;
  min_[node] = value;
  update_parents(node);
}

void SumTree::clear(std::int64_t leaf) {
  const std::int64_t node = base_ + leaf;
  sum_[node] = 0.0;
  min_[node] = kInf;
  update_parents(node);
}

void SumTree::assign(const std::vector<double>& values, const std::vector<std::uint8_t>& present) {
  for (std::int64_t i = 0; i < num_leaves_; ++i) {
    sum_[base_ + i] = present[i] ? values[i] : 0.0;
    min_[base_ + i] = present[i] ? values[i] : kInf;
  }
  for (std::int64_t node = base_ - 1; node >= 1; --node) {
    sum_[node] = sum_[2 * node] + sum_[2 * node + 1];
    min_[node] = std::min(min_[2 * node], min_[2 * node + 1]);
  }
}

void SumTree::find_many(double* mass, std::int64_t* leaf, std::int64_t n) const {
  // Groups of 8 descents kept in registers: their loads are independent, so the
  // latencies of a level overlap instead of following one another.
  constexpr int kLanes = 32;
  const double* sum = sum_.data();
  for (std::int64_t i0 = 0; i0 < n; i0 += kLanes) {
    const int m = static_cast<int>(std::min<std::int64_t>(kLanes, n - i0));
    double ms[kLanes];
    std::int64_t node[kLanes];
    for (int j = 0; j < kLanes; ++j) {
      ms[j] = j < m ? mass[i0 + j] : 0.0;
      node[j] = 1;
    }
    for (std::int64_t level = 1; level < base_; level *= 2) {
      for (int j = 0; j < kLanes; ++j) {
        const double left = sum[2 * node[j]];
        const double right = sum[2 * node[j] + 1];
        // The same rule as find(), without branches: the direction is a coin
        // flip that a branch predictor cannot learn. (Written with & and | on
        // integers and a multiply, which the compiler keeps branch-free; &&,
        // || and ?: are turned into jumps.) left * 0.0 is exactly 0.
        const int go_right = (static_cast<int>(ms[j] >= left) & static_cast<int>(right > 0.0)) |
                             static_cast<int>(left <= 0.0);
        ms[j] -= left * static_cast<double>(go_right);
        node[j] = 2 * node[j] + go_right;
        __builtin_prefetch(sum + 2 * node[j]);
      }
    }
    for (int j = 0; j < m; ++j) leaf[i0 + j] = node[j] - base_;
  }
}

void SumTree::set_many(const std::int64_t* leaves, const double* values, std::int64_t n) {
  std::int64_t node[64];
  bool min_open[64];  // false once the lane's min stopped changing
  for (std::int64_t i0 = 0; i0 < n; i0 += 64) {
    const std::int64_t m = std::min<std::int64_t>(64, n - i0);
    for (std::int64_t i = 0; i < m; ++i) {
      node[i] = base_ + leaves[i0 + i];
      sum_[node[i]] = values[i0 + i];
      min_[node[i]] = values[i0 + i];
      min_open[i] = true;
    }
    // Level by level: every child is final before its parent is recomputed, and
    // the m independent updates of a level overlap (a shared parent is simply
    // recomputed again, to the same value). `level` is the number of nodes on
    // the level being written.
    for (std::int64_t level = base_ / 2; level >= 1; level /= 2) {
      if (level <= m) {
        // No more nodes up here than lanes: recomputing every node of the
        // remaining levels is less work than following each lane.
        for (std::int64_t p = 2 * level - 1; p >= 1; --p) {
          sum_[p] = sum_[2 * p] + sum_[2 * p + 1];
          min_[p] = std::min(min_[2 * p], min_[2 * p + 1]);
        }
        break;
      }
      for (std::int64_t i = 0; i < m; ++i) {
        const std::int64_t p = node[i] / 2;
        sum_[p] = sum_[2 * p] + sum_[2 * p + 1];
        // A node's min depends only on its children's: once it comes out
        // unchanged, so would every ancestor's (as far as this lane goes).
        if (min_open[i]) {
          const double mn = std::min(min_[2 * p], min_[2 * p + 1]);
          min_open[i] = mn != min_[p];
          min_[p] = mn;
        }
        node[i] = p;
      }
    }
  }
}

std::int64_t SumTree::find(double mass) const {
  std::int64_t node = 1;
  while (node < base_) {
    const double left = sum_[2 * node];
    const double right = sum_[2 * node + 1];
    // Go right only when the mass is past the left subtree and the right one
    // holds something; otherwise go left (which then must hold something).
    if ((mass >= left && right > 0.0) || left <= 0.0) {
      mass -= left;
      node = 2 * node + 1;
    } else {
      node = 2 * node;
    }
  }
  return node - base_;
}

}  // namespace fastrl::replay
