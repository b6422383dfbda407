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
