// The replay memory: a ring of transitions shared by all envs, per-env n-step
// windows, frame-stack segments and (optionally) a sum tree of priorities.
//
// Storage model (about one observation, or one frame, per transition):
// - Slot s of the ring holds transition number `id` (the global add counter;
//   slot = id % capacity), its newest frame (the whole observation when
//   frame_stack == 1), its action and, once its n-step window closed, the
//   discounted reward sum, the discount and the slot `boot` whose next
//   observation bootstraps it.
// - The next observation of a slot is found through `next_kind`: the obs of the
//   following slot of the same env (the stream continued), an entry of the side
//   pool (episode end, or the caller's next obs did not continue the stream),
//   or the env's head buffer (the env's latest transition, not yet continued).
// - With frame_stack k > 1 a slot stores only its newest frame; the k-1 older
//   ones are the newest frames of its predecessors in the same segment, and the
//   first slot of a segment keeps its k-1 older frames in the start pool. A new
//   segment starts whenever an add's obs is not the frame-shifted continuation
//   of the env's previous obs, so rebuilt stacks are exactly what was added.
// - The ring overwrites the oldest slot. Everything a live slot reads lies in
//   slots written after it (next obs, bootstrap) or is re-rooted before the
//   overwrite (a segment successor gets its own start stack), so a sample
//   never returns a stale observation.
#pragma once

#include <cstdint>
#include <functional>
#include <mutex>
#include <stdexcept>
#include <string>
#include <vector>

#include "core/rng.h"
#include "replay/big_alloc.h"
#include "replay/entry_pool.h"
#include "replay/sum_tree.h"

namespace fastrl::replay {

struct Config {
  std::int64_t capacity = 0;
  std::int64_t num_envs = 1;
  std::int64_t n_step = 1;
  double gamma = 0.99;
  std::int64_t frame_stack = 1;
  std::size_t obs_bytes = 0;     // bytes of one observation (the whole stack)
  std::size_t action_bytes = 0;  // bytes of one action
  bool prioritized = false;
  double alpha = 0.6;
  double eps = 1e-6;
  std::uint64_t seed = 0;
};

enum NextKind : std::uint8_t { kNextSlot = 0, kNextSide = 1, kNextHead = 2 };

constexpr std::uint64_t kEmpty = ~std::uint64_t{0};

// One slot's fields as saved and restored (State::slots); in memory they are
// split into SlotMeta and SlotLinks.
struct Slot {
  std::uint64_t id = kEmpty;  // transition number stored here; kEmpty when unused
  float reward = 0.0f;        // discounted n-step reward sum (once closed)
  float discount = 0.0f;      // gamma**k, or 0 when terminated within k steps
  std::int32_t boot = -1;     // slot whose next obs bootstraps this transition
  std::int32_t env = -1;
  std::int32_t next_ref = -1;    // slot / side entry / env, by next_kind
  std::int32_t frame_pred = -1;  // previous slot of the frame segment, -1 at a segment start
  std::int32_t frame_succ = -1;  // next slot of the frame segment, -1 if none
  std::int32_t start_ref = -1;   // start-pool entry at a segment start (frame_stack > 1)
  std::int32_t valid_pos = -1;   // position in the sampleable list, -1 while the window is open
  std::uint8_t next_kind = kNextHead;
};

// The fields of a slot that sample reads. They lead the slot's row in the
// ring, followed by its frame and action, so that one cache line (for small
// observations) holds everything a sampled slot needs besides its next obs.
struct SlotMeta {
  std::uint64_t id = kEmpty;
  float reward = 0.0f;
  float discount = 0.0f;
  std::int32_t boot = -1;
  std::int32_t next_ref = -1;
  std::int32_t valid_pos = -1;
  std::uint8_t next_kind = kNextHead;
};

// The fields of a slot that only add and the frame-stack walk use.
struct SlotLinks {
  std::int32_t env = -1;
  std::int32_t frame_pred = -1;
  std::int32_t frame_succ = -1;
  std::int32_t start_ref = -1;
};

// One env's stream: its latest transition and its open n-step window.
struct Stream {
  std::int32_t last_slot = -1;  // -1: nothing to continue (start, episode end, or overwritten)
  std::uint8_t open = 0;        // 1: the head buffer holds the latest transition's next obs
  std::int32_t win_len = 0;
};

// Pointers to the output arrays of one sample call (C-contiguous, batch-major).
struct BatchOut {
  std::uint8_t* obs;
  std::uint8_t* action;
  float* reward;
  std::uint8_t* next_obs;
  float* discount;
  std::int64_t* indices;
  float* weights;
};

// Full state, for state_dict / load_state_dict.
struct State {
  std::uint64_t write_count = 0;
  double max_priority = 1.0;
  Rng::State rng{};
  std::vector<Slot> slots;
  std::vector<std::uint8_t> frames, actions, heads;
  std::vector<std::uint8_t> side_data, start_data;
  std::vector<std::int32_t> side_free, start_free;
  std::vector<std::int32_t> valid;
  std::vector<Stream> streams;
  std::vector<std::int32_t> win_slot;
  std::vector<std::uint64_t> win_id;
  std::vector<double> win_acc;
  std::vector<double> priorities;  // leaf values (priority**alpha), prioritized only
};

// The streamed state (save_stream / load_stream): scalars, then arrays in a fixed order, each a flat
// run of bytes. Only the slots that hold data are written, so a file costs what the buffer holds.
struct ArraySpec {
  std::string name;
  std::string dtype;                 // numpy's dtype.str, e.g. "<f4", "|u1"
  std::vector<std::int64_t> shape;
  std::size_t bytes = 0;             // product of shape times the item size
};

struct StreamHeader {
  std::uint64_t write_count = 0;
  double max_priority = 1.0;
  Rng::State rng{};
  std::vector<ArraySpec> arrays;
};

// Where save_stream writes: consecutive bytes; write() throws on failure.
struct ByteSink {
  virtual ~ByteSink() = default;
  virtual void write(const void* data, std::size_t n) = 0;
};

// Where load_stream reads: consecutive bytes; read() throws when it cannot deliver n bytes, and finish()
// (called once every byte is read, before anything is installed) throws if the bytes were corrupted.
struct ByteSource {
  virtual ~ByteSource() = default;
  virtual void read(void* data, std::size_t n) = 0;
  virtual void finish() = 0;
};

// Raised for bad arguments that can only be checked under the lock; the
// binding turns it into a ValueError naming `argument`.
struct ArgumentError : std::invalid_argument {
  ArgumentError(std::string argument, const std::string& what)
      : std::invalid_argument(what), argument(std::move(argument)) {}
  std::string argument;
};

class ReplayMemory {
 public:
  explicit ReplayMemory(const Config& config);

  const Config& config() const { return cfg_; }
  std::size_t frame_bytes() const { return frame_bytes_; }

  // Adds one step of every env whose mask is set (mask may be null). Arrays
  // are C-contiguous with a leading num_envs axis.
  void add(const std::uint8_t* obs, const std::uint8_t* action, const float* reward,
           const std::uint8_t* next_obs, const std::uint8_t* terminated, const std::uint8_t* truncated,
           const std::uint8_t* mask);

  std::int64_t size() const;  // number of sampleable transitions

  // Uniform (or prioritized with exponent beta) sample of batch_size
  // transitions into out. Throws ArgumentError("batch_size") when it cannot.
  void sample(std::int64_t batch_size, double beta, const BatchOut& out);

  // priorities are finite and >= 0 (checked by the caller); stale indices are
  // skipped; indices never handed out throw ArgumentError("indices").
  void update_priorities(const std::int64_t* indices, const double* priorities, std::int64_t n);

  State state() const;
  void set_state(State state);  // validates; throws ArgumentError("state") and keeps the old state

  // Streams the state to `sink` under the lock, without a copy of the stored data: `begin` gets the
  // header (scalars and array layout) first, then every array's bytes follow in the header's order.
  void save_stream(const std::function<void(const StreamHeader&)>& begin, ByteSink& sink) const;
  // Reads a state written by save_stream. `header` is the file's; its layout must be the one this
  // buffer's config gives for its counts (else ArgumentError("state"), nothing changed). The metadata is
  // read and validated first; a failure while the stored data streams in leaves the buffer empty.
  void load_stream(const StreamHeader& header, ByteSource& source);
  // The array layout of a streamed state with these counts (what save_stream writes and load_stream
  // expects): `held` slots, and the entry counts of the side and start stores and the sampleable list.
  std::vector<ArraySpec> stream_layout(std::uint64_t held, std::int64_t side_entries, std::int64_t start_entries,
                                       std::int64_t valid_count) const;
  // Bytes a buffer holding `held` slots streams at least (its stored data; the small arrays come on top).
  std::uint64_t held_bytes(std::uint64_t held) const;

  std::uint64_t write_count() const;

 private:
  void add_one(std::int32_t env, const std::uint8_t* obs, const std::uint8_t* action, float reward,
               const std::uint8_t* next_obs, bool terminated, bool truncated);
  void evict(std::int32_t s);
  void reroot(std::int32_t u);
  void frame_ptrs(std::int32_t s, const std::uint8_t** ptrs) const;
  void copy_obs(std::int32_t s, std::uint8_t* dst) const;
  void copy_next_obs(std::int32_t s, std::uint8_t* dst) const;
  // Where the next observation of `boot` lies, with frame_stack == 1.
  const std::uint8_t* next_obs_src(const SlotMeta& boot) const;
  // Draws m sampleable slots uniformly (see sample()).
  void pick_uniform(std::int32_t* picked, std::int64_t m);
  // Prefetches for the next uniform sample calls of m (see sample()).
  void prefetch_ahead(std::int64_t m);

  // Row s of the ring: its SlotMeta, then its frame, then its action.
  std::uint8_t* row(std::int32_t s) { return rows_.data() + static_cast<std::size_t>(s) * row_bytes_; }
  const std::uint8_t* row(std::int32_t s) const { return rows_.data() + static_cast<std::size_t>(s) * row_bytes_; }
  SlotMeta& meta(std::int32_t s) { return *reinterpret_cast<SlotMeta*>(row(s)); }
  const SlotMeta& meta(std::int32_t s) const { return *reinterpret_cast<const SlotMeta*>(row(s)); }
  std::uint8_t* frame_at(std::int32_t s) { return row(s) + sizeof(SlotMeta); }
  const std::uint8_t* frame_at(std::int32_t s) const { return row(s) + sizeof(SlotMeta); }
  std::uint8_t* action_at(std::int32_t s) { return frame_at(s) + frame_bytes_; }
  const std::uint8_t* action_at(std::int32_t s) const { return frame_at(s) + frame_bytes_; }
  void close_entry(std::int32_t env, std::int32_t j, std::int32_t boot, std::int64_t k, bool terminated);
  void close_all(std::int32_t env, std::int32_t boot, bool terminated);
  void pop_front(std::int32_t env, std::int32_t count);
  void make_valid(std::int32_t s);
  void remove_valid(std::int32_t s);
  std::uint8_t* head(std::int32_t env) { return heads_.data() + static_cast<std::size_t>(env) * cfg_.obs_bytes; }
  const std::uint8_t* head(std::int32_t env) const {
    return heads_.data() + static_cast<std::size_t>(env) * cfg_.obs_bytes;
  }
  void validate_state(const State& st, bool with_data = true) const;
  void install_state(State& st, bool with_data);  // after validation; with_data: frames and actions too
  void clear_locked();                             // back to an empty buffer (same config, rng kept)
  void set_max_priority(double p);

  Config cfg_;
  std::size_t frame_bytes_ = 0;
  std::size_t row_bytes_ = 0;  // sizeof(SlotMeta) + frame + action, rounded up (see constructor)
  std::vector<double> gamma_pow_;  // gamma**k for k = 0..n_step

  mutable std::mutex mutex_;
  std::uint64_t write_count_ = 0;
  double max_priority_ = 1.0;  // largest (priority + eps) seen; new transitions enter with it
  double max_leaf_ = 1.0;      // max_priority_ ** alpha, the leaf value of a new transition
  std::vector<std::int64_t> upd_leaves_;  // update_priorities scratch (guarded by mutex_)
  std::vector<double> upd_values_;
  Rng rng_;
  BigVector<std::uint8_t> rows_;       // capacity x row_bytes
  BigVector<SlotLinks> links_;         // capacity
  std::vector<std::uint8_t> heads_;    // num_envs x obs_bytes
  EntryPool side_;                     // full next observations
  EntryPool starts_;                   // k-1 older frames of a segment's first stack
  BigVector<std::int32_t> valid_;      // sampleable slots, in no particular order
  std::vector<Stream> streams_;
  std::vector<std::int32_t> win_slot_;  // num_envs x n_step, oldest first
  std::vector<std::uint64_t> win_id_;
  std::vector<double> win_acc_;
  SumTree tree_;

  // Speculative prefetch state of prefetch_ahead(): the picks predicted for
  // the next call, assuming it starts from rng state spec_state_ with the same
  // batch size and written range; spec_after_ is the rng state after them.
  std::int32_t spec_picks_[64];
  std::int64_t spec_m_ = 0;
  std::uint64_t spec_filled_ = 0;
  Rng::State spec_state_{};
  Rng::State spec_after_{};
};

// Bytes of one ring row: SlotMeta, frame and action, rounded up to 8 bytes
// (SlotMeta's alignment) and, when that is at most one cache line, to 64 so
// that no row straddles two lines.
std::size_t row_bytes(const Config& config);

// Bytes a buffer with this config allocates up front (ring + heads + tree);
// the caller compares it with the machine's memory before constructing one.
// Returns 0 on overflow.
std::uint64_t upfront_bytes(const Config& config);

}  // namespace fastrl::replay
