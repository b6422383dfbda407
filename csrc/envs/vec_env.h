// The batched stepper: num_envs copies of one task stepped together.
//
// VecEnv<Env> adds to a task class (see env_common.h) what gymnasium's
// wrappers and vector env add to a single env: the time limit (TimeLimit),
// autoreset in gymnasium's three modes, and episode statistics
// (RecordEpisodeStatistics). Every env owns its Rng, so results do not depend
// on how the batch is split across the thread pool.
#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <memory>
#include <type_traits>
#include <utility>
#include <vector>

#include "core/rng.h"
#include "core/thread_pool.h"
#include "envs/env_common.h"

namespace fastrl::envs {

enum class AutoresetMode { kNextStep, kSameStep, kDisabled };

// Output slices of one batched step; every array has num_envs rows.
struct StepOutputs {
  float* obs;
  double* rewards;
  bool* terminated;
  bool* truncated;
  // Optional (all or none): each env's episode statistics written by the step
  // itself, RecordEpisodeStatistics style (return, length, seconds where the
  // episode ended, zeros elsewhere). For large batches this spreads over the
  // threads what would otherwise be a serial pass after the step.
  double* episode_r = nullptr;
  std::int64_t* episode_l = nullptr;
  double* episode_t = nullptr;
  bool* episode_mask = nullptr;
};

// Whether Env has the optional static StepBatch(envs, actions, count, obs,
// rewards, terminated): Step() of count <= kMaxBatchCount envs in one
// batched pass, writing observations, rewards and terminations straight into
// the output slices; then it replaces Step in the batched stepper.
template <class Env, class = void>
struct HasStepBatch : std::false_type {};
template <class Env>
struct HasStepBatch<Env, std::void_t<decltype(Env::StepBatch(std::declval<Env*>(),
                                                             std::declval<const typename Env::Action*>(), std::size_t{},
                                                             std::declval<float*>(), std::declval<double*>(),
                                                             std::declval<bool*>()))>> : std::true_type {};

template <class Env>
class VecEnv {
 public:
  using Action = typename Env::Action;
  using Config = typename Env::Config;
  using ResetOptions = typename Env::ResetOptions;
  static constexpr int kObsDim = Env::kObsDim;
  static constexpr int kStateDim = Env::kStateDim;

  VecEnv(int num_envs, int num_threads, const Config& config, std::int64_t max_episode_steps, AutoresetMode mode)
      : num_envs_(num_envs),
        max_episode_steps_(max_episode_steps),
        mode_(mode),
        envs_(num_envs, Env(config)),
        rngs_(num_envs),
        elapsed_(num_envs, 0),
        needs_reset_(num_envs, 0),
        done_(num_envs, 0),
        episode_return_(num_envs, 0.0),
        episode_start_(num_envs, 0.0),
        final_return_(num_envs, 0.0),
        final_length_(num_envs, 0),
        final_time_(num_envs, 0.0),
        final_obs_(mode == AutoresetMode::kSameStep ? static_cast<std::size_t>(num_envs) * kObsDim : 0),
        pool_(num_threads) {}

  int num_envs() const { return num_envs_; }
  int num_threads() const { return pool_.num_threads(); }
  AutoresetMode mode() const { return mode_; }
  std::int64_t max_episode_steps() const { return max_episode_steps_; }
  // Batches below this size are stepped inline on the calling thread.
  static constexpr int grain() { return Env::kGrain; }

  // Resets the envs whose mask entry is set (all when mask is null), reseeding
  // env i with seeds[i] first when seeds is non-null, and writes every env's
  // current observation into obs (num_envs x kObsDim).
  void Reset(const std::uint64_t* seeds, const std::uint8_t* mask, const ResetOptions& options, float* obs) {
    const double now = Now();
    pool_.ParallelFor(num_envs_, Env::kGrain, [&](std::size_t begin, std::size_t end) {
      for (std::size_t i = begin; i < end; ++i) {
        if (mask == nullptr || mask[i]) {
          if (seeds != nullptr) rngs_[i].reseed(seeds[i]);
          ResetOne(i, options, now);
        }
        envs_[i].WriteObs(obs + i * kObsDim);
      }
    });
  }

  // Index of the first env that ended an episode and was not reset yet, or -1.
  // Stepping such an env is an error in the disabled autoreset mode.
  int FirstEnvNeedingReset() const {
    for (int i = 0; i < num_envs_; ++i) {
      if (needs_reset_[i]) return i;
    }
    return -1;
  }

  // Steps every env with actions[i]; returns whether any episode ended (then
  // WriteEpisodeStats() and, in same-step mode, final_obs() describe them).
  bool Step(const Action* actions, const StepOutputs& out) {
    std::atomic<bool> any_done{false};
    pool_.ParallelFor(num_envs_, Env::kGrain, [&](std::size_t begin, std::size_t end) {
      // Pointers and settings held in locals: every bool/uint8_t store below may
      // alias anything, so members read through `this` would be reloaded after
      // each of them.
      const std::int64_t max_steps = max_episode_steps_;
      const StepOutputs o = out;
      Env* const envs = envs_.data();
      std::int64_t* const elapsed = elapsed_.data();
      std::uint8_t* const needs_reset = needs_reset_.data();
      std::uint8_t* const done = done_.data();
      double* const episode_return = episode_return_.data();
      bool chunk_done = false;
      LazyClock now;  // read only when an episode ends or starts in this chunk
      for (std::size_t block = begin; block < end; block += kBatchBlock) {
        const std::size_t block_end = std::min(block + kBatchBlock, end);
        // Envs that are autoreset in this step get stepped too, needlessly but
        // harmlessly: ResetStep() overwrites their state and outputs.
        if constexpr (kHasStepBatch) {
          Env::StepBatch(envs + block, actions + block, block_end - block, o.obs + block * kObsDim, o.rewards + block,
                         o.terminated + block);
        }
        for (std::size_t i = block; i < block_end; ++i) {
          float* obs = o.obs + i * kObsDim;
          if (needs_reset[i]) {
            ResetStep(i, o, now);
            continue;
          }
          StepResult result;
          if constexpr (kHasStepBatch) {
            result = {o.rewards[i], o.terminated[i]};
          } else {
            result = envs[i].Step(actions[i], obs);
            o.rewards[i] = result.reward;
            o.terminated[i] = result.terminated;
          }
          const bool truncated = ++elapsed[i] >= max_steps;
          o.truncated[i] = truncated;
          episode_return[i] += result.reward;
          const bool ended = result.terminated || truncated;
          done[i] = ended;
          if (ended) {
            EndEpisode(i, obs, now);
            chunk_done = true;
          }
          if (o.episode_mask != nullptr) WriteEpisodeStats(i, o);
        }
      }
      if (chunk_done) any_done.store(true, std::memory_order_relaxed);
    });
    return any_done.load(std::memory_order_relaxed);
  }

  // Env i's episode statistics of the last step, RecordEpisodeStatistics style:
  // return, length and seconds where its episode ended, zeros elsewhere.
  void WriteEpisodeStats(std::size_t i, double* r, std::int64_t* l, double* t, bool* mask) const {
    const bool d = done_[i] != 0;
    mask[i] = d;
    r[i] = d ? final_return_[i] : 0.0;
    l[i] = d ? final_length_[i] : 0;
    t[i] = d ? final_time_[i] : 0.0;
  }

  // Same-step mode: the last observation of the episodes that ended in the last step.
  const std::vector<float>& final_obs() const { return final_obs_; }

  void GetState(double* out) const {
    for (int i = 0; i < num_envs_; ++i) envs_[i].GetState(out + static_cast<std::size_t>(i) * kStateDim);
  }
  // Replaces the physical state of every env; time-limit counters, pending
  // autoresets and episode statistics are left as they are.
  void SetState(const double* in) {
    for (int i = 0; i < num_envs_; ++i) envs_[i].SetState(in + static_cast<std::size_t>(i) * kStateDim);
  }

  // Writes every env's observation of its current state (num_envs x kObsDim).
  void WriteObs(float* obs) const {
    for (int i = 0; i < num_envs_; ++i) envs_[i].WriteObs(obs + static_cast<std::size_t>(i) * kObsDim);
  }

  Env& env(int i) { return envs_[i]; }

 private:
  static constexpr bool kHasStepBatch = HasStepBatch<Env>::value;
  // Envs per StepBatch call: the most it takes (the larger the batch, the
  // better its pass runs; 16 per call would cost CartPole 7% more cycles).
  static constexpr std::size_t kBatchBlock = kMaxBatchCount;

  // The wall clock of a step, read at most once and only if needed (most steps
  // end and start no episode, and reading the clock costs as much as a step).
  struct LazyClock {
    double value = -1.0;
    double operator()() {
      if (value < 0.0) value = Now();
      return value;
    }
  };

  static double Now() {
    using Clock = std::chrono::steady_clock;
    return std::chrono::duration<double>(Clock::now().time_since_epoch()).count();
  }

  void ResetOne(std::size_t i, const ResetOptions& options, double now) {
    envs_[i].Reset(rngs_[i], options);
    elapsed_[i] = 0;
    needs_reset_[i] = 0;
    episode_return_[i] = 0.0;
    episode_start_[i] = now;
  }

  // Next-step autoreset: this step only resets env i (reward 0, no episode
  // end), as gymnasium's vector envs do; the disabled mode never gets here.
  // Out of line, with EndEpisode, to keep the stepping loop small.
  __attribute__((noinline)) void ResetStep(std::size_t i, const StepOutputs& out, LazyClock& now) {
    ResetOne(i, Env::DefaultResetOptions(), now());
    envs_[i].WriteObs(out.obs + i * kObsDim);
    out.rewards[i] = 0.0;
    out.terminated[i] = false;
    out.truncated[i] = false;
    done_[i] = 0;
    if (out.episode_mask != nullptr) WriteEpisodeStats(i, out);
  }

  // Env i's entries of the optional episode-statistics outputs.
  void WriteEpisodeStats(std::size_t i, const StepOutputs& out) const {
    WriteEpisodeStats(i, out.episode_r, out.episode_l, out.episode_t, out.episode_mask);
  }

  // Records the statistics of env i's episode, which ended in this step, and
  // resets it now (same-step mode, keeping its last observation) or at its
  // next step.
  __attribute__((noinline)) void EndEpisode(std::size_t i, float* obs, LazyClock& now) {
    final_return_[i] = episode_return_[i];
    final_length_[i] = elapsed_[i];  // the episode's length: both restart at every reset
    // RecordEpisodeStatistics reports seconds rounded to 6 decimals.
    final_time_[i] = std::nearbyint((now() - episode_start_[i]) * 1e6) / 1e6;
    if (mode_ == AutoresetMode::kSameStep) {
      std::memcpy(&final_obs_[i * kObsDim], obs, sizeof(float) * kObsDim);
      ResetOne(i, Env::DefaultResetOptions(), now());
      envs_[i].WriteObs(obs);
    } else {
      needs_reset_[i] = 1;
    }
  }

  const int num_envs_;
  const std::int64_t max_episode_steps_;
  const AutoresetMode mode_;
  std::vector<Env> envs_;
  std::vector<Rng> rngs_;
  std::vector<std::int64_t> elapsed_;  // steps since the last reset: the time limit's count and the episode length
  std::vector<std::uint8_t> needs_reset_;
  std::vector<std::uint8_t> done_;
  std::vector<double> episode_return_;
  std::vector<double> episode_start_;
  std::vector<double> final_return_;
  std::vector<std::int64_t> final_length_;
  std::vector<double> final_time_;
  std::vector<float> final_obs_;
  ThreadPool pool_;
};

}  // namespace fastrl::envs
