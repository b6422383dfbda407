// Threads for data-parallel loops, and one background thread for async work.
//
// ThreadPool::ParallelFor(n, grain, fn) splits [0, n) into contiguous chunks
// of at least `grain` items, runs fn(begin, end) on the workers *and* the
// calling thread, and returns when every chunk is done. A range smaller than
// two grains runs inline on the caller, so small batches pay no hand-off.
// Between rounds a worker spins for a short while (kSpinMicros) before it
// sleeps, and the caller spins likewise for the workers' chunks: a round is
// typically tens of microseconds, less than waking a sleeping thread can take.
// Which thread runs which chunk never changes a result as long as fn's items
// are independent. Plain C++17, no Python.
#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace fastrl {

class ThreadPool {
 public:
  using RangeFn = std::function<void(std::size_t, std::size_t)>;

  // num_threads counts the calling thread: num_threads - 1 workers are started.
  explicit ThreadPool(int num_threads) : num_threads_(std::max(1, num_threads)) {
    workers_.reserve(num_threads_ - 1);
    for (int i = 1; i < num_threads_; ++i) workers_.emplace_back([this] { WorkerLoop(); });
  }

  ~ThreadPool() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stop_.store(true, std::memory_order_release);
    }
    work_cv_.notify_all();
    for (auto& t : workers_) t.join();
  }

  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int num_threads() const { return num_threads_; }

  // Number of chunks ParallelFor(n, grain, ...) uses.
  // Up to kChunksPerThread per thread: threads take chunks as they come free,
  // so a thread that starts late or is preempted holds up only its current
  // chunk while the others take the rest.
  int NumChunks(std::size_t n, std::size_t grain) const {
    if (num_threads_ == 1) return 1;
    const std::size_t by_grain = grain == 0 ? n : n / grain;
    const std::size_t most = static_cast<std::size_t>(num_threads_) * kChunksPerThread;
    return static_cast<int>(std::max<std::size_t>(1, std::min<std::size_t>(most, by_grain)));
  }

  // Calls fn(begin, end) over contiguous chunks covering [0, n). Only one
  // thread may call ParallelFor on a pool at a time. fn must not throw.
  void ParallelFor(std::size_t n, std::size_t grain, const RangeFn& fn) {
    if (n == 0) return;
    const int chunks = NumChunks(n, grain);
    if (chunks == 1) {
      fn(0, n);
      return;
    }
    {
      std::lock_guard<std::mutex> lock(mu_);
      fn_ = &fn;
      n_ = n;
      num_tasks_ = chunks;
      next_.store(0, std::memory_order_relaxed);
      completed_.store(0, std::memory_order_relaxed);
      generation_.fetch_add(1, std::memory_order_release);
    }
    work_cv_.notify_all();  // no system call when every worker is still spinning
    RunTasks(fn, n, chunks);
    SpinUntil([&] { return Finished(chunks); });
    std::unique_lock<std::mutex> lock(mu_);
    done_cv_.wait(lock, [&] { return Finished(chunks); });
    fn_ = nullptr;
  }

 private:
  // All chunks ran and no worker is still inside this round (so the next
  // round's counters cannot be reset under a late worker).
  bool Finished(int chunks) const {
    return completed_.load(std::memory_order_acquire) == chunks && active_.load(std::memory_order_acquire) == 0;
  }

  static constexpr int kChunksPerThread = 4;
  // How long a thread spins for an event before it blocks on a condition variable.
  static constexpr int kSpinMicros = 50;

  // Spins until done() or kSpinMicros elapse; returns done()'s last value.
  // The spin yields the CPU between checks: on a machine with more runnable
  // threads than cores, a thread spinning on pause instructions would use up
  // its share of the core and be preempted in the middle of its next chunk,
  // stalling the whole round; a yielding one lets the other threads run and is
  // still back within about a microsecond on an idle core.
  template <class Done>
  static bool SpinUntil(const Done& done) {
    using Clock = std::chrono::steady_clock;
    const auto deadline = Clock::now() + std::chrono::microseconds(kSpinMicros);
    for (;;) {
      for (int i = 0; i < 4; ++i) {
        if (done()) return true;
        std::this_thread::yield();
      }
      if (Clock::now() >= deadline) return done();
    }
  }

  static std::size_t ChunkBegin(std::size_t n, int chunks, int c) {
    return n / chunks * c + std::min<std::size_t>(c, n % chunks);
  }

  void RunTasks(const RangeFn& fn, std::size_t n, int chunks) {
    int done = 0;
    for (int c = next_.fetch_add(1, std::memory_order_acq_rel); c < chunks;
         c = next_.fetch_add(1, std::memory_order_acq_rel)) {
      fn(ChunkBegin(n, chunks, c), ChunkBegin(n, chunks, c + 1));
      ++done;
    }
    if (done > 0 && completed_.fetch_add(done, std::memory_order_acq_rel) + done == chunks) {
      std::lock_guard<std::mutex> lock(mu_);
      done_cv_.notify_all();
    }
  }

  void WorkerLoop() {
    std::uint64_t seen = 0;
    for (;;) {
      const RangeFn* fn;
      std::size_t n;
      int chunks;
      // A new round usually follows within microseconds (the next batched
      // step): catch it spinning rather than through a futex wake-up.
      SpinUntil([&] {
        return stop_.load(std::memory_order_acquire) || generation_.load(std::memory_order_acquire) != seen;
      });
      {
        std::unique_lock<std::mutex> lock(mu_);
        work_cv_.wait(lock, [&] {
          return stop_.load(std::memory_order_relaxed) ||
                 (generation_.load(std::memory_order_relaxed) != seen && fn_ != nullptr);
        });
        if (stop_.load(std::memory_order_relaxed)) return;
        seen = generation_.load(std::memory_order_relaxed);
        fn = fn_;
        n = n_;
        chunks = num_tasks_;
        // Counted under the lock, so the caller (which waits for active_ == 0)
        // never starts a new round while this worker still reads this one.
        active_.fetch_add(1, std::memory_order_acq_rel);
      }
      RunTasks(*fn, n, chunks);
      if (active_.fetch_sub(1, std::memory_order_acq_rel) == 1) {
        std::lock_guard<std::mutex> lock(mu_);
        done_cv_.notify_all();
      }
    }
  }

  const int num_threads_;
  std::vector<std::thread> workers_;
  std::mutex mu_;
  std::condition_variable work_cv_;
  std::condition_variable done_cv_;
  const RangeFn* fn_ = nullptr;
  std::size_t n_ = 0;
  int num_tasks_ = 0;
  std::atomic<std::uint64_t> generation_{0};  // written under mu_, also read by spinning workers
  std::atomic<bool> stop_{false};
  std::atomic<int> next_{0};
  std::atomic<int> completed_{0};
  std::atomic<int> active_{0};
};

// One thread that runs submitted jobs one at a time: Submit() returns at once,
// Wait() blocks until the last submitted job finished.
class BackgroundWorker {
 public:
  BackgroundWorker() : thread_([this] { Loop(); }) {}

  ~BackgroundWorker() {
    Wait();
    {
      std::lock_guard<std::mutex> lock(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }

  BackgroundWorker(const BackgroundWorker&) = delete;
  BackgroundWorker& operator=(const BackgroundWorker&) = delete;

  // Runs job on the background thread after any earlier job. job must not throw.
  void Submit(std::function<void()> job) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      job_ = std::move(job);
      busy_ = true;
    }
    cv_.notify_all();
  }

  void Wait() {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [this] { return !busy_; });
  }

 private:
  void Loop() {
    for (;;) {
      std::function<void()> job;
      {
        std::unique_lock<std::mutex> lock(mu_);
        cv_.wait(lock, [this] { return stop_ || (busy_ && job_); });
        if (stop_) return;
        job = std::move(job_);
        job_ = nullptr;
      }
      job();
      {
        std::lock_guard<std::mutex> lock(mu_);
        busy_ = false;
      }
      cv_.notify_all();
    }
  }

  std::mutex mu_;
  std::condition_variable cv_;
  std::function<void()> job_;
  bool busy_ = false;
  bool stop_ = false;
  std::thread thread_;  // last: started after the members it uses
};

}  // namespace fastrl
