#include "replay/sum_tree.h"

#include <algorithm>
#include <limits>

namespace fastrl::replay {

namespace {
constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr std::int64_t kFan = 4;

std::int64_t round_up(std::int64_t x) { return (x + kFan - 1) / kFan * kFan; }
}  // namespace

SumTree::SumTree(std::int64_t num_leaves) : num_leaves_(num_leaves) {
  // Level sizes from the leaves up, each padded to a whole group of 4.
  std::vector<std::int64_t> used{num_leaves};
  while (used.back() > 1) used.push_back((used.back() + kFan - 1) / kFan);
  std::reverse(used.begin(), used.end());
  used_ = used;
  depth_ = static_cast<int>(used_.size()) - 1;
  off_.resize(used_.size());
  std::int64_t at = 0;
  for (std::size_t l = 0; l < used_.size(); ++l) {
    off_[l] = at;
    at += round_up(used_[l]);
  }
  leaf_off_ = off_[depth_];
  sum_.assign(static_cast<std::size_t>(at), 0.0);
  min_.assign(static_cast<std::size_t>(at), kInf);
}

// Recomputes node j of `level` (above the leaves) from its four children.
void SumTree::recompute(int level, std::int64_t j) {
  const std::size_t c = static_cast<std::size_t>(off_[level + 1] + kFan * j);
  const std::size_t p = static_cast<std::size_t>(off_[level] + j);
  sum_[p] = ((sum_[c] + sum_[c + 1]) + sum_[c + 2]) + sum_[c + 3];
  min_[p] = std::min(std::min(min_[c], min_[c + 1]), std::min(min_[c + 2], min_[c + 3]));
}

void SumTree::update_parents(std::int64_t leaf) {
  std::int64_t j = leaf;
  for (int level = depth_ - 1; level >= 0; --level) {
    j /= kFan;
    recompute(level, j);
  }
}

void SumTree::set(std::int64_t leaf, double value) {
  sum_[leaf_off_ + leaf] = value;
  min_[leaf_off_ + leaf] = value;
  update_parents(leaf);
}

void SumTree::clear(std::int64_t leaf) {
  sum_[leaf_off_ + leaf] = 0.0;
  min_[leaf_off_ + leaf] = kInf;
  update_parents(leaf);
}

void SumTree::assign(const std::vector<double>& values, const std::vector<std::uint8_t>& present) {
  for (std::int64_t i = 0; i < num_leaves_; ++i) {
    sum_[leaf_off_ + i] = present[i] ? values[i] : 0.0;
    min_[leaf_off_ + i] = present[i] ? values[i] : kInf;
  }
  for (int level = depth_ - 1; level >= 0; --level)
    for (std::int64_t j = 0; j < used_[level]; ++j) recompute(level, j);
}

std::int64_t SumTree::find(double mass) const {
  std::int64_t j = 0;
  for (int level = 1; level <= depth_; ++level) {
    const double* c = sum_.data() + off_[level] + kFan * j;
    // The first child whose running prefix exceeds the mass (it is positive:
    // its prefix grew); past the node's total (rounding), the last positive one.
    double prefix = 0.0;
    std::int64_t pick = -1;
    double before = 0.0;
    std::int64_t last_positive = 0;
    double before_last = 0.0;
    for (std::int64_t k = 0; k < kFan; ++k) {
      const double next = prefix + c[k];
      if (c[k] > 0.0) {
        last_positive = k;
        before_last = prefix;
      }
      if (pick < 0 && mass < next) {
        pick = k;
        before = prefix;
      }
      prefix = next;
    }
    if (pick < 0) {
      pick = last_positive;
      before = before_last;
    }
    mass -= before;
    j = kFan * j + pick;
  }
  return j;
}

void SumTree::find_many(const double* mass, std::int64_t* leaf, std::int64_t n) const {
  constexpr std::int64_t kLanes = 64;
  const double* sum = sum_.data();
  double ms[kLanes];
  std::int64_t j[kLanes];
  for (std::int64_t i0 = 0; i0 < n; i0 += kLanes) {
    const std::int64_t m = std::min(kLanes, n - i0);
    for (std::int64_t i = 0; i < m; ++i) {
      ms[i] = mass[i0 + i];
      j[i] = 0;
    }
    for (int level = 1; level <= depth_; ++level) {
      const double* row = sum + off_[level];
      const double* next_row = level < depth_ ? sum + off_[level + 1] : row;
      // Past a node's total (rounding) the count can point at a padding child
      // of the level's last node; clamping to the last real node keeps every
      // read inside the tree (and, with the prefix before it, agrees with find()).
      const std::int64_t last = used_[level] - 1;
      for (std::int64_t i = 0; i < m; ++i) {
        const double* c = row + kFan * j[i];
        const double p1 = c[0];
        const double p2 = p1 + c[1];
        const double p3 = p2 + c[2];
        // Prefixes never decrease, so the number of them <= the mass picks the
        // child; integer adds and a small table keep this free of branches
        // (the choice is a coin flip to a branch predictor).
        const int k = static_cast<int>(ms[i] >= p1) + static_cast<int>(ms[i] >= p2) + static_cast<int>(ms[i] >= p3);
        const double before[4] = {0.0, p1, p2, p3};
        const std::int64_t child = std::min(kFan * j[i] + k, last);
        ms[i] -= before[child - kFan * j[i]];
        j[i] = child;
        __builtin_prefetch(next_row + kFan * j[i]);
      }
    }
    // The count agrees with find() while the mass stays below each visited
    // node's total. Rounding can break that only in a way that ends on an
    // empty leaf (every leaf under a zero sum is empty), so those few redo find().
    for (std::int64_t i = 0; i < m; ++i) leaf[i0 + i] = sum[leaf_off_ + j[i]] > 0.0 ? j[i] : find(mass[i0 + i]);
  }
}

void SumTree::set_many(const std::int64_t* leaves, const double* values, std::int64_t n) {
  std::int64_t node[64];
  bool min_open[64];  // false once the lane's min stopped changing
  for (std::int64_t i0 = 0; i0 < n; i0 += 64) {
    const std::int64_t m = std::min<std::int64_t>(64, n - i0);
    for (std::int64_t i = 0; i < m; ++i) {
      node[i] = leaves[i0 + i];
      sum_[leaf_off_ + node[i]] = values[i0 + i];
      min_[leaf_off_ + node[i]] = values[i0 + i];
      min_open[i] = true;
    }
    // Level by level: every child is final before its parent is recomputed, and
    // the m independent updates of a level overlap (a shared parent is simply
    // recomputed again, to the same value).
    for (int level = depth_ - 1; level >= 0; --level) {
      if (used_[level] <= m) {
        // No more nodes up here than lanes: recomputing every node of the
        // remaining levels is less work than following each lane.
        for (int l = level; l >= 0; --l)
          for (std::int64_t j = 0; j < used_[l]; ++j) recompute(l, j);
        break;
      }
      const std::size_t child_off = static_cast<std::size_t>(off_[level + 1]);
      const std::size_t parent_off = static_cast<std::size_t>(off_[level]);
      for (std::int64_t i = 0; i < m; ++i) {
        const std::int64_t j = node[i] / kFan;
        const std::size_t c = child_off + static_cast<std::size_t>(kFan * j);
        sum_[parent_off + j] = ((sum_[c] + sum_[c + 1]) + sum_[c + 2]) + sum_[c + 3];
        // A node's min depends only on its children's: once it comes out
        // unchanged, so would every ancestor's (as far as this lane goes).
        if (min_open[i]) {
          const double mn = std::min(std::min(min_[c], min_[c + 1]), std::min(min_[c + 2], min_[c + 3]));
          min_open[i] = mn != min_[parent_off + j];
          min_[parent_off + j] = mn;
        }
        node[i] = j;
      }
    }
  }
}

}  // namespace fastrl::replay
