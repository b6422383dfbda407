#include "replay/replay_memory.h"

#include "replay/copy.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <new>
#include <type_traits>

namespace fastrl::replay {

namespace {

// a * b with overflow detection; returns false on overflow.
bool mul_ok(std::uint64_t a, std::uint64_t b, std::uint64_t& out) {
  if (a != 0 && b > std::numeric_limits<std::uint64_t>::max() / a) return false;
  out = a * b;
  return true;
}

bool add_ok(std::uint64_t a, std::uint64_t b, std::uint64_t& out) {
  if (b > std::numeric_limits<std::uint64_t>::max() - a) return false;
  out = a + b;
  return true;
}

}  // namespace

std::size_t row_bytes(const Config& c) {
  const std::size_t frame = c.obs_bytes / static_cast<std::size_t>(c.frame_stack);
  const std::size_t bytes = sizeof(SlotMeta) + frame + c.action_bytes;
  return bytes <= 64 ? 64 : (bytes + 7) & ~std::size_t{7};
}

std::uint64_t upfront_bytes(const Config& c) {
  const std::uint64_t cap = static_cast<std::uint64_t>(c.capacity);
  const std::uint64_t frame = c.obs_bytes / static_cast<std::uint64_t>(c.frame_stack);
  std::uint64_t per_slot = 0, total = 0, part = 0;
  if (!add_ok(frame, c.action_bytes, per_slot)) return 0;
  // + the row's SlotMeta and rounding, SlotLinks, the sampleable list, the trees.
  if (!add_ok(per_slot, sizeof(SlotMeta) + 64 + sizeof(SlotLinks) + sizeof(std::int32_t) + (c.prioritized ? 32 : 0),
              per_slot))
    return 0;
  if (!mul_ok(cap, per_slot, total)) return 0;
  if (!mul_ok(static_cast<std::uint64_t>(c.num_envs), c.obs_bytes, part) || !add_ok(total, part, total)) return 0;
  return total;
}

ReplayMemory::ReplayMemory(const Config& config)
    : cfg_(config), rng_(config.seed), side_(config.obs_bytes) {
  frame_bytes_ = cfg_.obs_bytes / static_cast<std::size_t>(cfg_.frame_stack);
  starts_ = EntryPool(frame_bytes_ * static_cast<std::size_t>(cfg_.frame_stack - 1));
  gamma_pow_.resize(static_cast<std::size_t>(cfg_.n_step + 1));
  for (std::int64_t k = 0; k <= cfg_.n_step; ++k) gamma_pow_[k] = std::pow(cfg_.gamma, static_cast<double>(k));
  const auto cap = static_cast<std::size_t>(cfg_.capacity);
  row_bytes_ = row_bytes(cfg_);
  rows_.resize(cap * row_bytes_);
  for (std::size_t s = 0; s < cap; ++s) new (rows_.data() + s * row_bytes_) SlotMeta{};
  links_.resize(cap);
  heads_.resize(static_cast<std::size_t>(cfg_.num_envs) * cfg_.obs_bytes);
  valid_.reserve(cap);
  streams_.resize(static_cast<std::size_t>(cfg_.num_envs));
  const auto win = static_cast<std::size_t>(cfg_.num_envs * cfg_.n_step);
  win_slot_.assign(win, -1);
  win_id_.assign(win, kEmpty);
  win_acc_.assign(win, 0.0);
  if (cfg_.prioritized) tree_ = SumTree(cfg_.capacity);
}

std::uint64_t ReplayMemory::write_count() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return write_count_;
}

std::int64_t ReplayMemory::size() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return static_cast<std::int64_t>(valid_.size());
}

// ---- frames -----------------------------------------------------------------

void ReplayMemory::frame_ptrs(std::int32_t s, const std::uint8_t** ptrs) const {
  const std::int64_t k = cfg_.frame_stack;
  std::int32_t cur = s;
  ptrs[k - 1] = frame_at(cur);
  for (std::int64_t m = 0; m < k - 1; ++m) {
    const SlotLinks& link = links_[cur];
    if (link.frame_pred < 0) {
      // Segment start: the remaining older frames come from its first stack.
      const std::uint8_t* start = starts_.at(link.start_ref);
      for (std::int64_t j = 0; j <= k - 2 - m; ++j) ptrs[j] = start + static_cast<std::size_t>(j + m) * frame_bytes_;
      return;
    }
    cur = link.frame_pred;
    ptrs[k - 2 - m] = frame_at(cur);
  }
}

void ReplayMemory::copy_obs(std::int32_t s, std::uint8_t* dst) const {
  if (cfg_.frame_stack == 1) {
    copy_row(dst, frame_at(s), frame_bytes_);
    return;
  }
  const std::uint8_t* ptrs[64];
  std::vector<const std::uint8_t*> many;
  const std::uint8_t** p = ptrs;
  if (cfg_.frame_stack > 64) {
    many.resize(static_cast<std::size_t>(cfg_.frame_stack));
    p = many.data();
  }
  frame_ptrs(s, p);
  for (std::int64_t j = 0; j < cfg_.frame_stack; ++j) std::memcpy(dst + j * frame_bytes_, p[j], frame_bytes_);
}

void ReplayMemory::copy_next_obs(std::int32_t s, std::uint8_t* dst) const {
  const SlotMeta& m = meta(s);
  switch (m.next_kind) {
    case kNextSlot:
      copy_obs(m.next_ref, dst);
      break;
    case kNextSide:
      std::memcpy(dst, side_.at(m.next_ref), cfg_.obs_bytes);
      break;
    default:
      std::memcpy(dst, head(m.next_ref), cfg_.obs_bytes);
      break;
  }
}

// u's predecessor is about to be overwritten: give u its own first stack.
void ReplayMemory::reroot(std::int32_t u) {
  const std::int64_t k = cfg_.frame_stack;
  // Allocate first: growing the pool moves its data, which the pointers below may point into.
  const std::int32_t id = starts_.alloc();
  std::vector<const std::uint8_t*> ptrs(static_cast<std::size_t>(k));
  frame_ptrs(u, ptrs.data());
  std::uint8_t* dst = starts_.at(id);
  for (std::int64_t j = 0; j < k - 1; ++j) std::memcpy(dst + j * frame_bytes_, ptrs[j], frame_bytes_);
  links_[u].frame_pred = -1;
  links_[u].start_ref = id;
}

// ---- sampleable list ----------------------------------------------------------

void ReplayMemory::make_valid(std::int32_t s) {
  meta(s).valid_pos = static_cast<std::int32_t>(valid_.size());
  valid_.push_back(s);
  if (cfg_.prioritized) tree_.set(s, max_leaf_);
}

void ReplayMemory::remove_valid(std::int32_t s) {
  const std::int32_t pos = meta(s).valid_pos;
  const std::int32_t last = valid_.back();
  valid_[pos] = last;
  meta(last).valid_pos = pos;
  valid_.pop_back();
  meta(s).valid_pos = -1;
  if (cfg_.prioritized) tree_.clear(s);
}

// ---- n-step windows -------------------------------------------------------------

void ReplayMemory::close_entry(std::int32_t env, std::int32_t j, std::int32_t boot, std::int64_t k, bool terminated) {
  const std::size_t w = static_cast<std::size_t>(env * cfg_.n_step + j);
  SlotMeta& m = meta(win_slot_[w]);
  m.reward = static_cast<float>(win_acc_[w]);
  m.discount = terminated ? 0.0f : static_cast<float>(gamma_pow_[k]);
  m.boot = boot;
  make_valid(win_slot_[w]);
}

void ReplayMemory::pop_front(std::int32_t env, std::int32_t count) {
  Stream& st = streams_[env];
  const std::size_t base = static_cast<std::size_t>(env * cfg_.n_step);
  for (std::int32_t j = count; j < st.win_len; ++j) {
    win_slot_[base + j - count] = win_slot_[base + j];
    win_id_[base + j - count] = win_id_[base + j];
    win_acc_[base + j - count] = win_acc_[base + j];
  }
  st.win_len -= count;
}

void ReplayMemory::close_all(std::int32_t env, std::int32_t boot, bool terminated) {
  Stream& st = streams_[env];
  for (std::int32_t j = 0; j < st.win_len; ++j) close_entry(env, j, boot, st.win_len - j, terminated);
  st.win_len = 0;
}

// ---- add ----------------------------------------------------------------------------

void ReplayMemory::evict(std::int32_t s) {
  SlotMeta& m = meta(s);
  SlotLinks& link = links_[s];
  if (m.valid_pos >= 0) {
    remove_valid(s);
  } else {
    // Still in its env's open window (as its oldest entry: older ones of the
    // same env were written, hence overwritten, first).
    Stream& st = streams_[link.env];
    const std::size_t base = static_cast<std::size_t>(link.env * cfg_.n_step);
    for (std::int32_t j = 0; j < st.win_len; ++j) {
      if (win_slot_[base + j] == s) {
        pop_front(link.env, j + 1);
        break;
      }
    }
  }
  if (cfg_.frame_stack > 1 && link.frame_succ >= 0) reroot(link.frame_succ);
  if (m.next_kind == kNextSide) side_.release(m.next_ref);
  if (link.start_ref >= 0) starts_.release(link.start_ref);
  Stream& st = streams_[link.env];
  if (st.last_slot == s) {
    st.last_slot = -1;
    st.open = 0;
  }
  m = SlotMeta{};
  link = SlotLinks{};
}

void ReplayMemory::add_one(std::int32_t env, const std::uint8_t* obs, const std::uint8_t* action, float reward,
                           const std::uint8_t* next_obs, bool terminated, bool truncated) {
  const std::int64_t k = cfg_.frame_stack;
  const std::uint64_t id = write_count_;
  const auto s = static_cast<std::int32_t>(id % static_cast<std::uint64_t>(cfg_.capacity));
  if (meta(s).id != kEmpty) evict(s);

  Stream& st = streams_[env];
  const std::int32_t prev = st.open ? st.last_slot : -1;
  bool frame_link = false;
  if (prev >= 0) {
    if (std::memcmp(obs, head(env), cfg_.obs_bytes) == 0) {
      meta(prev).next_kind = kNextSlot;
      meta(prev).next_ref = s;
      // obs equals prev's next obs; it continues prev's frames if its older
      // k-1 frames are prev's newer k-1 frames.
      frame_link = k > 1;
      if (frame_link) {
        std::vector<const std::uint8_t*> ptrs(static_cast<std::size_t>(k));
        frame_ptrs(prev, ptrs.data());
        for (std::int64_t j = 0; j + 1 < k && frame_link; ++j)
          frame_link = std::memcmp(obs + j * frame_bytes_, ptrs[j + 1], frame_bytes_) == 0;
      }
    } else {
      // The caller's obs does not continue the stream: keep prev's next obs
      // aside and end the open windows there, as at a truncation.
      meta(prev).next_kind = kNextSide;
      meta(prev).next_ref = side_.store(head(env));
      close_all(env, prev, false);
    }
  }

  SlotMeta& m = meta(s);
  SlotLinks& link = links_[s];
  m.id = id;
  link.env = env;
  if (frame_link) {
    link.frame_pred = prev;
    links_[prev].frame_succ = s;
  } else if (k > 1) {
    link.start_ref = starts_.store(obs);
  }
  std::memcpy(frame_at(s), obs + (k - 1) * frame_bytes_, frame_bytes_);
  std::memcpy(action_at(s), action, cfg_.action_bytes);

  const bool ended = terminated || truncated;
  if (ended) {
    m.next_kind = kNextSide;
    m.next_ref = side_.store(next_obs);
    st.open = 0;
  } else {
    m.next_kind = kNextHead;
    m.next_ref = env;
    std::memcpy(head(env), next_obs, cfg_.obs_bytes);
    st.open = 1;
  }
  st.last_slot = s;

  // n-step window: entry j (oldest first) collects gamma**age * reward.
  const std::size_t base = static_cast<std::size_t>(env * cfg_.n_step);
  win_slot_[base + st.win_len] = s;
  win_id_[base + st.win_len] = id;
  win_acc_[base + st.win_len] = 0.0;
  st.win_len += 1;
  const double r = static_cast<double>(reward);
  for (std::int32_t j = 0; j < st.win_len; ++j) win_acc_[base + j] += gamma_pow_[st.win_len - 1 - j] * r;
  if (ended) {
    close_all(env, s, terminated);
  } else if (st.win_len == cfg_.n_step) {
    close_entry(env, 0, s, cfg_.n_step, false);
    pop_front(env, 1);
  }
  write_count_ = id + 1;
}

void ReplayMemory::add(const std::uint8_t* obs, const std::uint8_t* action, const float* reward,
                       const std::uint8_t* next_obs, const std::uint8_t* terminated, const std::uint8_t* truncated,
                       const std::uint8_t* mask) {
  std::lock_guard<std::mutex> lock(mutex_);
  for (std::int64_t e = 0; e < cfg_.num_envs; ++e) {
    if (mask != nullptr && !mask[e]) continue;
    add_one(static_cast<std::int32_t>(e), obs + e * cfg_.obs_bytes, action + e * cfg_.action_bytes, reward[e],
            next_obs + e * cfg_.obs_bytes, terminated[e] != 0, truncated[e] != 0);
  }
}

// ---- sample -------------------------------------------------------------------------

const std::uint8_t* ReplayMemory::next_obs_src(const SlotMeta& boot) const {
  switch (boot.next_kind) {
    case kNextSlot:
      return frame_at(boot.next_ref);
    case kNextSide:
      return side_.at(boot.next_ref);
    default:
      return head(boot.next_ref);
  }
}

namespace {
// Rings smaller than this mostly stay in the caches between calls, where
// prefetch_ahead() would cost more than it saves.
constexpr std::size_t kSpeculateBytes = std::size_t{16} << 20;

// Prefetches the cache lines of a row of up to 256 bytes; longer rows are
// streamed by the hardware prefetcher once their copy starts.
inline void prefetch_row(const std::uint8_t* p, std::size_t bytes) {
  const std::size_t end = bytes < 256 ? bytes : 256;
  for (std::size_t off = 0; off < end; off += 64) __builtin_prefetch(p + off);
  if (bytes > 0 && bytes <= 256) __builtin_prefetch(p + bytes - 1);  // a row may straddle one more line
}
}  // namespace

void ReplayMemory::pick_uniform(std::int32_t* picked, std::int64_t m) {
  const auto n = static_cast<std::uint64_t>(valid_.size());
  const std::uint64_t filled = std::min<std::uint64_t>(write_count_, static_cast<std::uint64_t>(cfg_.capacity));
  const std::size_t head_bytes = sizeof(SlotMeta) + frame_bytes_ + cfg_.action_bytes;
  if (2 * n >= filled) {
    // Most written slots are sampleable (all but the open n-step windows):
    // draw written slots and redraw the few that are not sampleable. That is
    // uniform over the sampleable slots, like drawing from valid_, but the
    // first memory access of a pick is its own row instead of an entry of
    // valid_ that then leads to the row, one dependent cache miss less.
    for (std::int64_t i = 0; i < m; ++i) {
      picked[i] = static_cast<std::int32_t>(rng_.below(filled));
      prefetch_row(row(picked[i]), head_bytes);
    }
    for (std::int64_t i = 0; i < m; ++i)
      while (meta(picked[i]).valid_pos < 0) picked[i] = static_cast<std::int32_t>(rng_.below(filled));
  } else {
    std::int64_t pos[64];
    for (std::int64_t i = 0; i < m; ++i) {
      pos[i] = static_cast<std::int64_t>(rng_.below(n));
      __builtin_prefetch(&valid_[pos[i]]);
    }
    for (std::int64_t i = 0; i < m; ++i) {
      picked[i] = valid_[pos[i]];
      prefetch_row(row(picked[i]), head_bytes);
    }
  }
}

// A uniform sample's picks depend only on the rng state, the batch size and
// the written range, so a loop of sample calls can be followed ahead of time:
// at the end of call k this requests the rows of call k + 2's picks, and the
// rows that call k + 1's picks (requested at the end of call k - 1, cached by
// now) will read next. Only loads of rows inside the ring are made and nothing
// is written, so a wrong guess (an add that changed the written range, a
// redraw, another batch size) costs time, never correctness, and is noticed at
// the next call, which starts over.
void ReplayMemory::prefetch_ahead(std::int64_t m) {
  const std::uint64_t filled = std::min<std::uint64_t>(write_count_, static_cast<std::uint64_t>(cfg_.capacity));
  const std::size_t head_bytes = sizeof(SlotMeta) + frame_bytes_ + cfg_.action_bytes;
  Rng ahead = rng_;
  if (spec_m_ == m && spec_filled_ == filled && spec_state_ == rng_.state()) {
    // Call k + 1 will pick spec_picks_: request their bootstrap rows (n_step
    // > 1) or next observations (n_step == 1, where the slot bootstraps itself).
    for (std::int64_t i = 0; i < m; ++i) {
      const std::int32_t s = spec_picks_[i];
      const SlotMeta& sm = meta(s);
      if (sm.valid_pos < 0) continue;
      if (sm.boot == s) {
        prefetch_row(next_obs_src(sm), cfg_.obs_bytes);
      } else {
        __builtin_prefetch(row(sm.boot));
      }
    }
    ahead.set_state(spec_after_);
  } else {
    // No usable guess for call k + 1: request its rows now.
    for (std::int64_t i = 0; i < m; ++i) prefetch_row(row(static_cast<std::int32_t>(ahead.below(filled))), head_bytes);
  }
  // Call k + 2 starts where call k + 1's draws end (without redraws).
  spec_state_ = ahead.state();
  for (std::int64_t i = 0; i < m; ++i) {
    spec_picks_[i] = static_cast<std::int32_t>(ahead.below(filled));
    prefetch_row(row(spec_picks_[i]), head_bytes);
  }
  spec_after_ = ahead.state();
  spec_m_ = m;
  spec_filled_ = filled;
}

void ReplayMemory::sample(std::int64_t batch_size, double beta, const BatchOut& out) {
  std::lock_guard<std::mutex> lock(mutex_);
  const auto n = static_cast<std::int64_t>(valid_.size());
  if (n == 0) throw ArgumentError("batch_size", "batch_size: the buffer holds no sampleable transition yet");
  if (batch_size > n)
    throw ArgumentError("batch_size", "batch_size " + std::to_string(batch_size) + " exceeds the " +
                                          std::to_string(n) + " sampleable transitions");
  // The gather runs in stages over chunks of picks, each stage prefetching what
  // the next one reads (pick -> its row: metadata, frame, action -> bootstrap
  // row -> its next observation). With a large ring every step is a cache
  // miss; staging makes the misses of one chunk overlap instead of queueing
  // one after the other, which keeps sample time nearly flat in capacity.
  constexpr std::int64_t kChunk = 64;
  std::int32_t picked[kChunk];
  std::int64_t leaf[kChunk];
  double mass[kChunk];
  const std::uint8_t* next_src[kChunk];  // frame_stack == 1: where each next obs lies
  const double min_leaf = cfg_.prioritized ? tree_.min() : 1.0;
  const std::size_t obs_bytes = cfg_.obs_bytes;
  const std::size_t action_bytes = cfg_.action_bytes;
  const std::size_t head_bytes = sizeof(SlotMeta) + frame_bytes_ + action_bytes;
  const bool single_frame = cfg_.frame_stack == 1;
  for (std::int64_t i0 = 0; i0 < batch_size; i0 += kChunk) {
    const std::int64_t m = std::min(kChunk, batch_size - i0);
    if (cfg_.prioritized) {
      // Stratified: draw i lands in the i-th of batch_size equal slices of the total.
      const double total = tree_.total();
      const double seg = total / static_cast<double>(batch_size);
      for (std::int64_t i = 0; i < m; ++i) {
        mass[i] = (static_cast<double>(i0 + i) + rng_.uniform()) * seg;
        if (mass[i] >= total) mass[i] = std::nextafter(total, 0.0);
      }
      tree_.find_many(mass, leaf, m);
      for (std::int64_t i = 0; i < m; ++i) {
        picked[i] = static_cast<std::int32_t>(leaf[i]);
        prefetch_row(row(picked[i]), head_bytes);
      }
    } else {
      pick_uniform(picked, m);
    }
    // With n_step > 1 the bootstrap slot is another row (with n_step == 1 it is
    // the slot itself).
    for (std::int64_t i = 0; i < m; ++i) {
      const std::int32_t boot = meta(picked[i]).boot;
      if (boot != picked[i]) __builtin_prefetch(row(boot));
    }
    if (single_frame) {
      for (std::int64_t i = 0; i < m; ++i) {
        next_src[i] = next_obs_src(meta(meta(picked[i]).boot));
        prefetch_row(next_src[i], obs_bytes);
      }
      for (std::int64_t i = 0; i < m; ++i) {
        const std::int32_t s = picked[i];
        const SlotMeta& sm = meta(s);
        const std::int64_t b = i0 + i;
        copy_row(out.obs + b * obs_bytes, frame_at(s), obs_bytes);
        copy_row(out.action + b * action_bytes, action_at(s), action_bytes);
        out.reward[b] = sm.reward;
        out.discount[b] = sm.discount;
        out.indices[b] = static_cast<std::int64_t>(sm.id);
        copy_row(out.next_obs + b * obs_bytes, next_src[i], obs_bytes);
      }
    } else {
      for (std::int64_t i = 0; i < m; ++i) {
        const SlotMeta& boot = meta(meta(picked[i]).boot);
        if (boot.next_kind == kNextSlot) {
          __builtin_prefetch(row(boot.next_ref));
          __builtin_prefetch(frame_at(boot.next_ref));
          __builtin_prefetch(&links_[boot.next_ref]);
        } else if (boot.next_kind == kNextSide) {
          __builtin_prefetch(side_.at(boot.next_ref));
        }
      }
      for (std::int64_t i = 0; i < m; ++i) {
        const std::int32_t s = picked[i];
        const SlotMeta& sm = meta(s);
        const std::int64_t b = i0 + i;
        copy_obs(s, out.obs + b * obs_bytes);
        copy_row(out.action + b * action_bytes, action_at(s), action_bytes);
        out.reward[b] = sm.reward;
        out.discount[b] = sm.discount;
        out.indices[b] = static_cast<std::int64_t>(sm.id);
        copy_next_obs(sm.boot, out.next_obs + b * obs_bytes);
      }
    }
    if (!cfg_.prioritized && batch_size <= kChunk && cfg_.frame_stack == 1 && rows_.size() >= kSpeculateBytes &&
        2 * valid_.size() >= std::min<std::uint64_t>(write_count_, static_cast<std::uint64_t>(cfg_.capacity)))
      prefetch_ahead(batch_size);
    if (cfg_.prioritized && beta != 0.0) {
      // w_i = (N P(i))**-beta / max_j (N P(j))**-beta = (p_i / p_min)**-beta.
      // float32 pow: the weights are float32, and powf of the rounded ratio
      // stays within about one float32 ulp of the double formula at a fraction
      // of the cost of a double pow.
      const auto neg_beta = static_cast<float>(-beta);
      for (std::int64_t i = 0; i < m; ++i)
        out.weights[i0 + i] = std::pow(static_cast<float>(tree_.get(picked[i]) / min_leaf), neg_beta);
    } else {
      std::fill(out.weights + i0, out.weights + i0 + m, 1.0f);
    }
  }
}

void ReplayMemory::update_priorities(const std::int64_t* indices, const double* priorities, std::int64_t n) {
  std::lock_guard<std::mutex> lock(mutex_);
  // Validate everything first (no partial update), computing each leaf value once.
  upd_leaves_.clear();
  upd_values_.clear();
  double max_p = max_priority_;
  const auto cap = static_cast<std::uint64_t>(cfg_.capacity);
  for (std::int64_t i = 0; i < n; ++i) {
    if (indices[i] < 0 || static_cast<std::uint64_t>(indices[i]) >= write_count_)
      throw ArgumentError("indices", "indices: " + std::to_string(indices[i]) +
                                         " was never handed out by this buffer's sample()");
    const double p = priorities[i] + cfg_.eps;
    const double leaf = std::pow(p, cfg_.alpha);
    if (!std::isfinite(leaf))
      throw ArgumentError("priorities", "priorities: (priority + eps) ** alpha overflows for " +
                                            std::to_string(priorities[i]));
    const auto id = static_cast<std::uint64_t>(indices[i]);
    const auto s = static_cast<std::int32_t>(id % cap);
    if (meta(s).id != id || meta(s).valid_pos < 0) continue;  // overwritten since sampled: ignored
    max_p = std::max(max_p, p);
    upd_leaves_.push_back(s);
    // Clamped away from 0 so that the min leaf (the max weight) stays finite.
    upd_values_.push_back(std::max(leaf, std::numeric_limits<double>::min()));
  }
  set_max_priority(max_p);
  tree_.set_many(upd_leaves_.data(), upd_values_.data(), static_cast<std::int64_t>(upd_leaves_.size()));
}

void ReplayMemory::set_max_priority(double p) {
  if (p == max_priority_ && max_leaf_ > 0.0) return;
  max_priority_ = p;
  max_leaf_ = std::max(std::pow(p, cfg_.alpha), std::numeric_limits<double>::min());
}

// ---- state ----------------------------------------------------------------------------

State ReplayMemory::state() const {
  std::lock_guard<std::mutex> lock(mutex_);
  State st;
  st.write_count = write_count_;
  st.max_priority = max_priority_;
  st.rng = rng_.state();
  const auto cap = static_cast<std::size_t>(cfg_.capacity);
  st.slots.resize(cap);
  st.frames.resize(cap * frame_bytes_);
  st.actions.resize(cap * cfg_.action_bytes);
  for (std::size_t s = 0; s < cap; ++s) {
    const auto i = static_cast<std::int32_t>(s);
    const SlotMeta& m = meta(i);
    const SlotLinks& link = links_[s];
    st.slots[s] = Slot{m.id,           m.reward,        m.discount,      m.boot,      link.env,   m.next_ref,
                       link.frame_pred, link.frame_succ, link.start_ref, m.valid_pos, m.next_kind};
    std::memcpy(st.frames.data() + s * frame_bytes_, frame_at(i), frame_bytes_);
    std::memcpy(st.actions.data() + s * cfg_.action_bytes, action_at(i), cfg_.action_bytes);
  }
  st.heads = heads_;
  st.side_data = side_.data();
  st.side_free = side_.free_list();
  st.start_data = starts_.data();
  st.start_free = starts_.free_list();
  st.valid.assign(valid_.begin(), valid_.end());
  st.streams = streams_;
  st.win_slot = win_slot_;
  st.win_id = win_id_;
  st.win_acc = win_acc_;
  if (cfg_.prioritized) {
    st.priorities.resize(static_cast<std::size_t>(cfg_.capacity));
    for (std::int64_t s = 0; s < cfg_.capacity; ++s) st.priorities[s] = tree_.get(s);
  }
  return st;
}

namespace {
void require(bool ok, const std::string& what) {
  if (!ok) throw ArgumentError("state", "state: " + what);
}
}  // namespace

// Checks sizes and every stored index, so that a corrupted state can never make
// the buffer read out of bounds. It does not prove semantic consistency.
void ReplayMemory::validate_state(const State& st, bool with_data) const {
  const auto cap = static_cast<std::size_t>(cfg_.capacity);
  const auto envs = static_cast<std::size_t>(cfg_.num_envs);
  const auto win = envs * static_cast<std::size_t>(cfg_.n_step);
  require(st.slots.size() == cap, "slot arrays do not match capacity");
  if (with_data) {
    require(st.frames.size() == cap * frame_bytes_, "frames do not match capacity and obs_shape");
    require(st.actions.size() == cap * cfg_.action_bytes, "actions do not match capacity and action_shape");
  }
  require(st.heads.size() == envs * cfg_.obs_bytes, "heads do not match num_envs and obs_shape");
  require(side_.entry_bytes() == 0 || st.side_data.size() % side_.entry_bytes() == 0, "side store size");
  require(starts_.entry_bytes() == 0 ? st.start_data.empty() : st.start_data.size() % starts_.entry_bytes() == 0,
          "start store size");
  const auto n_side = static_cast<std::int64_t>(side_.entry_bytes() ? st.side_data.size() / side_.entry_bytes() : 0);
  const auto n_start =
      static_cast<std::int64_t>(starts_.entry_bytes() ? st.start_data.size() / starts_.entry_bytes() : 0);
  require(st.streams.size() == envs && st.win_slot.size() == win && st.win_id.size() == win &&
              st.win_acc.size() == win,
          "per-env arrays do not match num_envs and n_step");
  require(st.valid.size() <= cap, "too many sampleable slots");
  require(!cfg_.prioritized || st.priorities.size() == cap, "priorities do not match capacity");
  require(std::isfinite(st.max_priority) && st.max_priority > 0, "max_priority");
  for (std::int32_t id : st.side_free) require(id >= 0 && id < n_side, "side free list");
  for (std::int32_t id : st.start_free) require(id >= 0 && id < n_start, "start free list");
  auto in = [](std::int64_t v, std::int64_t hi) { return v >= 0 && v < hi; };
  const auto icap = static_cast<std::int64_t>(cap);
  for (std::size_t s = 0; s < cap; ++s) {
    const Slot& m = st.slots[s];
    if (m.id == kEmpty) continue;
    require(m.id < st.write_count && m.id % cap == s, "slot ids");
    require(in(m.env, cfg_.num_envs), "slot env");
    require(m.frame_pred == -1 || in(m.frame_pred, icap), "frame links");
    require(m.frame_succ == -1 || in(m.frame_succ, icap), "frame links");
    if (cfg_.frame_stack > 1) require(m.frame_pred >= 0 || in(m.start_ref, n_start), "segment starts");
    require(m.start_ref == -1 || in(m.start_ref, n_start), "segment starts");
    switch (m.next_kind) {
      case kNextSlot: require(in(m.next_ref, icap), "next links"); break;
      case kNextSide: require(in(m.next_ref, n_side), "next links"); break;
      case kNextHead: require(in(m.next_ref, cfg_.num_envs), "next links"); break;
      default: require(false, "next kinds");
    }
    if (m.valid_pos >= 0) {
      require(static_cast<std::size_t>(m.valid_pos) < st.valid.size() &&
                  st.valid[m.valid_pos] == static_cast<std::int32_t>(s),
              "sampleable list");
      require(in(m.boot, icap) && st.slots[m.boot].id != kEmpty, "bootstrap links");
      if (cfg_.prioritized) require(st.priorities[s] > 0 && std::isfinite(st.priorities[s]), "priorities");
    }
  }
  for (std::int32_t s : st.valid) require(in(s, icap) && st.slots[s].valid_pos >= 0, "sampleable list");
  for (std::size_t e = 0; e < envs; ++e) {
    const Stream& str = st.streams[e];
    require(str.last_slot == -1 || in(str.last_slot, icap), "stream links");
    require(str.win_len >= 0 && str.win_len < cfg_.n_step + 1, "window lengths");
    for (std::int32_t j = 0; j < str.win_len; ++j)
      require(in(st.win_slot[e * cfg_.n_step + j], icap), "window slots");
  }
  if (cfg_.prioritized)
    for (double p : st.priorities) require(std::isfinite(p) && p >= 0, "priorities");
}

void ReplayMemory::set_state(State st) {
  std::lock_guard<std::mutex> lock(mutex_);
  validate_state(st);
  install_state(st, true);
}

void ReplayMemory::install_state(State& st, bool with_data) {
  write_count_ = st.write_count;
  max_leaf_ = 0.0;
  set_max_priority(st.max_priority);
  rng_.set_state(st.rng);
  spec_m_ = 0;
  for (std::size_t s = 0; s < st.slots.size(); ++s) {
    const auto i = static_cast<std::int32_t>(s);
    const Slot& slot = st.slots[s];
    meta(i) = SlotMeta{slot.id, slot.reward, slot.discount, slot.boot, slot.next_ref, slot.valid_pos, slot.next_kind};
    links_[s] = SlotLinks{slot.env, slot.frame_pred, slot.frame_succ, slot.start_ref};
    if (with_data) {
      std::memcpy(frame_at(i), st.frames.data() + s * frame_bytes_, frame_bytes_);
      std::memcpy(action_at(i), st.actions.data() + s * cfg_.action_bytes, cfg_.action_bytes);
    }
  }
  heads_ = std::move(st.heads);
  side_.restore(std::move(st.side_data), std::move(st.side_free));
  starts_.restore(std::move(st.start_data), std::move(st.start_free));
  valid_.assign(st.valid.begin(), st.valid.end());
  streams_ = std::move(st.streams);
  win_slot_ = std::move(st.win_slot);
  win_id_ = std::move(st.win_id);
  win_acc_ = std::move(st.win_acc);
  if (cfg_.prioritized) {
    tree_ = SumTree(cfg_.capacity);
    std::vector<std::uint8_t> present(static_cast<std::size_t>(cfg_.capacity));
    for (std::size_t s = 0; s < present.size(); ++s) present[s] = meta(static_cast<std::int32_t>(s)).valid_pos >= 0;
    tree_.assign(st.priorities, present);
  }
}

void ReplayMemory::clear_locked() {
  State st;
  st.write_count = 0;
  st.max_priority = 1.0;
  st.rng = rng_.state();
  st.slots.resize(static_cast<std::size_t>(cfg_.capacity));
  st.heads.assign(static_cast<std::size_t>(cfg_.num_envs) * cfg_.obs_bytes, 0);
  st.streams.resize(static_cast<std::size_t>(cfg_.num_envs));
  const auto win = static_cast<std::size_t>(cfg_.num_envs * cfg_.n_step);
  st.win_slot.assign(win, -1);
  st.win_id.assign(win, kEmpty);
  st.win_acc.assign(win, 0.0);
  if (cfg_.prioritized) st.priorities.assign(static_cast<std::size_t>(cfg_.capacity), 0.0);
  install_state(st, false);
}

// ---- streamed state ---------------------------------------------------------

namespace {

template <typename T>
const char* dtype_str();
template <> const char* dtype_str<std::uint64_t>() { return "<u8"; }
template <> const char* dtype_str<std::int32_t>() { return "<i4"; }
template <> const char* dtype_str<float>() { return "<f4"; }
template <> const char* dtype_str<double>() { return "<f8"; }
template <> const char* dtype_str<std::uint8_t>() { return "|u1"; }

template <typename T>
ArraySpec spec(const char* name, std::vector<std::int64_t> shape) {
  std::size_t n = sizeof(T);
  for (std::int64_t d : shape) n *= static_cast<std::size_t>(d);
  return ArraySpec{name, dtype_str<T>(), std::move(shape), n};
}

// Slots are streamed in runs of this many, through a buffer of one run of one field.
constexpr std::size_t kRun = 1 << 16;
// Frames and actions go through a buffer of about this many bytes.
constexpr std::size_t kDataChunk = std::size_t{8} << 20;

// The per-slot fields, in stream order: name, type and member.
template <typename F>
void for_each_slot_field(F&& f) {
  f(spec<std::uint64_t>("slot_id", {}), &Slot::id);
  f(spec<float>("slot_reward", {}), &Slot::reward);
  f(spec<float>("slot_discount", {}), &Slot::discount);
  f(spec<std::int32_t>("slot_boot", {}), &Slot::boot);
  f(spec<std::int32_t>("slot_env", {}), &Slot::env);
  f(spec<std::int32_t>("slot_next_ref", {}), &Slot::next_ref);
  f(spec<std::int32_t>("slot_frame_pred", {}), &Slot::frame_pred);
  f(spec<std::int32_t>("slot_frame_succ", {}), &Slot::frame_succ);
  f(spec<std::int32_t>("slot_start_ref", {}), &Slot::start_ref);
  f(spec<std::int32_t>("slot_valid_pos", {}), &Slot::valid_pos);
  f(spec<std::uint8_t>("slot_next_kind", {}), &Slot::next_kind);
}

// Walks the stored data of `held` slots, frames first and then actions, in runs of about kDataChunk bytes:
// fn(frames, width, first slot, slots in the run, a buffer of that many rows of `width` bytes).
template <typename F>
void for_each_data_chunk(std::uint64_t held, std::size_t frame_bytes, std::size_t action_bytes, F&& fn) {
  for (const bool frames : {true, false}) {
    const std::size_t width = frames ? frame_bytes : action_bytes;
    if (width == 0 || held == 0) continue;
    const std::uint64_t per = std::min<std::uint64_t>(std::max<std::size_t>(1, kDataChunk / width), held);
    std::vector<std::uint8_t> chunk(static_cast<std::size_t>(per) * width);
    for (std::uint64_t s0 = 0; s0 < held; s0 += per) fn(frames, width, s0, std::min(per, held - s0), chunk.data());
  }
}

template <typename T>
void write_vec(ByteSink& sink, const std::vector<T>& v) {
  if (!v.empty()) sink.write(v.data(), v.size() * sizeof(T));
}

template <typename T>
void read_vec(ByteSource& src, std::vector<T>& v, std::size_t n) {
  v.resize(n);
  if (n) src.read(v.data(), n * sizeof(T));
}

}  // namespace

std::uint64_t ReplayMemory::held_bytes(std::uint64_t held) const {
  return held * (sizeof(Slot) + frame_bytes_ + cfg_.action_bytes + (cfg_.prioritized ? sizeof(double) : 0));
}

std::vector<ArraySpec> ReplayMemory::stream_layout(std::uint64_t held, std::int64_t side_entries,
                                                   std::int64_t start_entries, std::int64_t valid_count) const {
  const auto h = static_cast<std::int64_t>(held);
  const auto envs = cfg_.num_envs;
  const auto win = envs * cfg_.n_step;
  std::vector<ArraySpec> out;
  for_each_slot_field([&](ArraySpec a, auto) {
    a.shape = {h};
    a.bytes *= static_cast<std::size_t>(h);
    out.push_back(std::move(a));
  });
  out.push_back(spec<std::uint8_t>("heads", {envs * static_cast<std::int64_t>(cfg_.obs_bytes)}));
  out.push_back(spec<std::uint8_t>("side_data", {side_entries * static_cast<std::int64_t>(side_.entry_bytes())}));
  out.push_back(spec<std::int32_t>("side_free", {0}));  // lengths of the free lists: see the caller
  out.push_back(spec<std::uint8_t>("start_data", {start_entries * static_cast<std::int64_t>(starts_.entry_bytes())}));
  out.push_back(spec<std::int32_t>("start_free", {0}));
  out.push_back(spec<std::int32_t>("valid", {valid_count}));
  out.push_back(spec<std::int32_t>("stream_last_slot", {envs}));
  out.push_back(spec<std::uint8_t>("stream_open", {envs}));
  out.push_back(spec<std::int32_t>("stream_win_len", {envs}));
  out.push_back(spec<std::int32_t>("win_slot", {win}));
  out.push_back(spec<std::uint64_t>("win_id", {win}));
  out.push_back(spec<double>("win_acc", {win}));
  if (cfg_.prioritized) out.push_back(spec<double>("priorities", {h}));
  out.push_back(spec<std::uint8_t>("frames", {h, static_cast<std::int64_t>(frame_bytes_)}));
  out.push_back(spec<std::uint8_t>("actions", {h, static_cast<std::int64_t>(cfg_.action_bytes)}));
  return out;
}

namespace {
void set_len(std::vector<ArraySpec>& layout, const char* name, std::int64_t n) {
  for (ArraySpec& a : layout)
    if (a.name == name) {
      a.shape = {n};
      a.bytes = static_cast<std::size_t>(n) * sizeof(std::int32_t);
    }
}
}  // namespace

void ReplayMemory::save_stream(const std::function<void(const StreamHeader&)>& begin, ByteSink& sink) const {
  std::lock_guard<std::mutex> lock(mutex_);
  const auto cap = static_cast<std::uint64_t>(cfg_.capacity);
  const std::uint64_t held = std::min(write_count_, cap);  // slots are written in order 0, 1, ...
  StreamHeader header;
  header.write_count = write_count_;
  header.max_priority = max_priority_;
  header.rng = rng_.state();
  header.arrays =
      stream_layout(held, side_.num_entries(), starts_.num_entries(), static_cast<std::int64_t>(valid_.size()));
  set_len(header.arrays, "side_free", side_.num_free());
  set_len(header.arrays, "start_free", starts_.num_free());
  begin(header);

  std::vector<std::uint8_t> run(kRun * sizeof(std::uint64_t));
  for_each_slot_field([&](const ArraySpec&, auto member) {
    using T = std::remove_reference_t<decltype(Slot{}.*member)>;
    for (std::uint64_t s0 = 0; s0 < held; s0 += kRun) {
      const std::uint64_t n = std::min<std::uint64_t>(kRun, held - s0);
      auto* out = reinterpret_cast<T*>(run.data());
      for (std::uint64_t j = 0; j < n; ++j) {
        const auto i = static_cast<std::int32_t>(s0 + j);
        const SlotMeta& m = meta(i);
        const SlotLinks& link = links_[static_cast<std::size_t>(i)];
        const Slot slot{m.id,           m.reward,        m.discount,      m.boot,      link.env,   m.next_ref,
                        link.frame_pred, link.frame_succ, link.start_ref, m.valid_pos, m.next_kind};
        out[j] = slot.*member;
      }
      sink.write(out, n * sizeof(T));
    }
  });
  write_vec(sink, heads_);
  write_vec(sink, side_.data());
  write_vec(sink, side_.free_list());
  write_vec(sink, starts_.data());
  write_vec(sink, starts_.free_list());
  if (!valid_.empty()) sink.write(valid_.data(), valid_.size() * sizeof(std::int32_t));
  std::vector<std::int32_t> last(streams_.size()), len(streams_.size());
  std::vector<std::uint8_t> open(streams_.size());
  for (std::size_t e = 0; e < streams_.size(); ++e) {
    last[e] = streams_[e].last_slot;
    open[e] = streams_[e].open;
    len[e] = streams_[e].win_len;
  }
  write_vec(sink, last);
  write_vec(sink, open);
  write_vec(sink, len);
  write_vec(sink, win_slot_);
  write_vec(sink, win_id_);
  write_vec(sink, win_acc_);
  if (cfg_.prioritized) {
    auto* out = reinterpret_cast<double*>(run.data());
    for (std::uint64_t s0 = 0; s0 < held; s0 += kRun) {
      const std::uint64_t n = std::min<std::uint64_t>(kRun, held - s0);
      for (std::uint64_t j = 0; j < n; ++j) out[j] = tree_.get(static_cast<std::int64_t>(s0 + j));
      sink.write(out, n * sizeof(double));
    }
  }
  // Frames, then actions: gathered from the ring rows a chunk at a time.
  for_each_data_chunk(held, frame_bytes_, cfg_.action_bytes,
                      [&](bool frames, std::size_t width, std::uint64_t s0, std::uint64_t n, std::uint8_t* chunk) {
                        for (std::uint64_t j = 0; j < n; ++j) {
                          const auto i = static_cast<std::int32_t>(s0 + j);
                          std::memcpy(chunk + j * width, frames ? frame_at(i) : action_at(i), width);
                        }
                        sink.write(chunk, static_cast<std::size_t>(n) * width);
                      });
}

void ReplayMemory::load_stream(const StreamHeader& header, ByteSource& source) {
  std::lock_guard<std::mutex> lock(mutex_);
  const auto cap = static_cast<std::uint64_t>(cfg_.capacity);
  const std::uint64_t held = std::min(header.write_count, cap);
  // The layout this config gives for the header's counts must be the header's, array for array.
  auto count_of = [&](const char* name, std::size_t entry) -> std::int64_t {
    for (const ArraySpec& a : header.arrays)
      if (a.name == name && a.shape.size() == 1 && a.shape[0] >= 0)
        return entry ? a.shape[0] / static_cast<std::int64_t>(entry) : a.shape[0];
    throw ArgumentError("state", std::string("state: missing array '") + name + "'");
  };
  std::vector<ArraySpec> expected = stream_layout(held, count_of("side_data", side_.entry_bytes()),
                                                  count_of("start_data", starts_.entry_bytes()), count_of("valid", 0));
  set_len(expected, "side_free", count_of("side_free", 0));
  set_len(expected, "start_free", count_of("start_free", 0));
  require(expected.size() == header.arrays.size(), "the arrays do not match this buffer's configuration");
  for (std::size_t a = 0; a < expected.size(); ++a) {
    const ArraySpec &x = expected[a], &y = header.arrays[a];
    require(x.name == y.name && x.dtype == y.dtype && x.shape == y.shape,
            "array '" + y.name + "' does not match this buffer's configuration (expected '" + x.name + "' " +
                x.dtype + ")");
  }

  // Metadata and the small arrays first, into a State; nothing of the buffer changes until it validates.
  State st;
  st.write_count = header.write_count;
  st.max_priority = header.max_priority;
  st.rng = header.rng;
  st.slots.resize(static_cast<std::size_t>(cap));
  std::vector<std::uint8_t> run(kRun * sizeof(std::uint64_t));
  for_each_slot_field([&](const ArraySpec&, auto member) {
    using T = std::remove_reference_t<decltype(Slot{}.*member)>;
    for (std::uint64_t s0 = 0; s0 < held; s0 += kRun) {
      const std::uint64_t n = std::min<std::uint64_t>(kRun, held - s0);
      auto* in = reinterpret_cast<T*>(run.data());
      source.read(in, n * sizeof(T));
      for (std::uint64_t j = 0; j < n; ++j) st.slots[s0 + j].*member = in[j];
    }
  });
  auto len = [&](const char* name) {
    for (const ArraySpec& a : expected)
      if (a.name == name) return static_cast<std::size_t>(a.shape[0]);
    return std::size_t{0};
  };
  read_vec(source, st.heads, len("heads"));
  read_vec(source, st.side_data, len("side_data"));
  read_vec(source, st.side_free, len("side_free"));
  read_vec(source, st.start_data, len("start_data"));
  read_vec(source, st.start_free, len("start_free"));
  read_vec(source, st.valid, len("valid"));
  const auto envs = static_cast<std::size_t>(cfg_.num_envs);
  std::vector<std::int32_t> last, wlen;
  std::vector<std::uint8_t> open;
  read_vec(source, last, envs);
  read_vec(source, open, envs);
  read_vec(source, wlen, envs);
  st.streams.resize(envs);
  for (std::size_t e = 0; e < envs; ++e) st.streams[e] = Stream{last[e], open[e], wlen[e]};
  const auto win = envs * static_cast<std::size_t>(cfg_.n_step);
  read_vec(source, st.win_slot, win);
  read_vec(source, st.win_id, win);
  read_vec(source, st.win_acc, win);
  if (cfg_.prioritized) {
    st.priorities.assign(static_cast<std::size_t>(cap), 0.0);
    if (held) source.read(st.priorities.data(), static_cast<std::size_t>(held) * sizeof(double));
  }
  validate_state(st, false);

  // The stored data streams straight into the ring rows; from here a failure empties the buffer.
  try {
    for_each_data_chunk(held, frame_bytes_, cfg_.action_bytes,
                        [&](bool frames, std::size_t width, std::uint64_t s0, std::uint64_t n, std::uint8_t* chunk) {
                          source.read(chunk, static_cast<std::size_t>(n) * width);
                          for (std::uint64_t j = 0; j < n; ++j) {
                            const auto i = static_cast<std::int32_t>(s0 + j);
                            std::memcpy(frames ? frame_at(i) : action_at(i), chunk + j * width, width);
                          }
                        });
    source.finish();
  } catch (...) {
    clear_locked();
    throw;
  }
  install_state(st, false);
}

}  // namespace fastrl::replay}  // namespace fastrl::replay
