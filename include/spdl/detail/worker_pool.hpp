#pragma once
// The threads that run plain (blocking) stage functions.

#include <spdl/detail/clock.hpp>
#include <spdl/detail/spin.hpp>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <mutex>
#include <functional>
#include <thread>
#include <vector>

namespace spdl::detail {

/// The worker pool: `n` threads that run blocking stage functions. A job is two words (a function
/// and its argument, which lives in the waiting coroutine's frame): posting allocates nothing.
/// The queue is guarded by a spin lock (its critical sections are a few instructions).
///
/// Idle threads do not all spin: after short jobs one thread spins for the next, the others
/// sleep (a thread between long jobs spins for the next as before: it rarely does). Several
/// spinners would only burn the cores that the loop, the consumer and the user's own threads
/// need (the scheduler of Go keeps one spinner for the same reason). A thread is *available*
/// while it spins, or while it runs a job after one that took under `short_job`: it will look at
/// the queue again within microseconds. A posted job wakes a sleeper only when no thread is
/// available: waking one for a job that an available thread takes a microsecond later costs the
/// poster a system call. Where the guess is wrong (a job after short ones proves long), the
/// loop thread, when it has nothing else to do, wakes a sleeper for jobs that have waited
/// (`watch`; a loop thread that dozes while pool threads do its work looks at least every
/// 20 ms: scheduler.hpp); a thread that takes a job and sees more queued behind it wakes one
/// too, unless its own jobs are short. So long jobs still run in parallel, and short ones never
/// pay a wake-up.
class worker_pool {
 public:
  struct job {
    void (*run)(void*);
    void* arg;
  };

  /// `on_start(i)`, when given, runs first on thread i (to name it in a trace). `yield_to_others`:
  /// an idle thread does not spin for a while after a yield of its own proved long (another
  /// program holds its core: contended_core); set where the loop thread alone does the loop's
  /// work (scheduler.hpp), so that every job comes through a hand-off anyway.
  explicit worker_pool(std::size_t n, const std::function<void(std::size_t)>& on_start = {},
                       bool yield_to_others = false)
      : jobs_(64), yield_to_others_(yield_to_others) {
    threads_.reserve(n);
    for (std::size_t i = 0; i < n; ++i)
      threads_.emplace_back([this, i, on_start] {
        if (on_start) on_start(i);
        work();
      });
  }
  worker_pool(const worker_pool&) = delete;
  worker_pool& operator=(const worker_pool&) = delete;
  ~worker_pool() { join(); }

  /// Runs `j.run(j.arg)` on one of the threads.
  void post(job j) {
    lock_.lock();
    if (size_ == jobs_.size()) grow();
    jobs_[(head_ + size_) % jobs_.size()] = j;
    ++size_;
    lock_.unlock();
    queued_.fetch_add(1, std::memory_order_seq_cst);
    if (available_.load(std::memory_order_seq_cst) == 0) wake_one();
  }

  /// What `watch` remembers between calls (the caller's, one per watching thread).
  struct watch_state {
    std::size_t pops = 0;
    clock::time_point since{};
  };

  /// Called by the loop thread when it is idle: wakes a sleeping thread when jobs have been
  /// queued for `stall` with no thread taking any (the available one is in a long job); or,
  /// when `now_or_never` (the loop is about to sleep and will not look again), a sleeper for
  /// each job queued at once.
  void watch(watch_state& w, bool now_or_never = false) {
    const std::size_t queued = queued_.load(std::memory_order_seq_cst);
    if (queued == 0) return;
    if (now_or_never) {
      // No sleeper: nothing to wake. A thread on its way to sleep looks at the queue under the
      // sleep mutex first, and so takes these jobs itself.
      if (sleepers_.load(std::memory_order_seq_cst) == 0) return;
      std::lock_guard guard(sleep_mutex_);
      for (std::size_t i = 0; i < queued; ++i) wake_.notify_one();
      return;
    }
    if (spinners_.load(std::memory_order_relaxed) > 0 ||
        sleepers_.load(std::memory_order_relaxed) == 0)
      return;
    const auto pops = pops_.load(std::memory_order_relaxed);
    const auto now = clock::now();
    if (pops != w.pops || now - w.since < stall) {
      if (pops != w.pops) w.since = now;
      w.pops = pops;
      return;
    }
    w.since = now;
    wake_one();
  }

  /// On a pool thread, inside a job: the thread goes to do something else for a while (the
  /// loop's work, which may block: a source that reads a file), so it stops counting as
  /// available. Jobs posted meanwhile then wake a sleeper instead of waiting for it, and one is
  /// woken for the jobs queued already. Elsewhere: nothing.
  static void step_out() {
    thread_state* self = current();
    if (self == nullptr) return;
    worker_pool& pool = *self->pool;
    pool.set_available(*self, false);
    if (pool.queued_.load(std::memory_order_seq_cst) > 0 &&
        pool.available_.load(std::memory_order_seq_cst) == 0)
      pool.wake_one();
  }

  /// On a pool thread: whether jobs wait for a thread. Elsewhere: false.
  [[nodiscard]] static bool jobs_waiting() noexcept {
    const thread_state* self = current();
    return self != nullptr && self->pool->queued_.load(std::memory_order_relaxed) > 0;
  }

  /// Whether the calling thread is one of this pool's.
  [[nodiscard]] bool owns_calling_thread() const noexcept {
    const thread_state* self = current();
    return self != nullptr && self->pool == this;
  }

  /// Lets the threads finish the jobs already posted, then joins them.
  void join() {
    {
      std::lock_guard guard(sleep_mutex_);
      stopping_.store(true, std::memory_order_seq_cst);
    }
    wake_.notify_all();
    for (auto& t : threads_)
      if (t.joinable()) t.join();
  }

 private:
  void grow() {  // under the spin lock; rare: the queue holds at most the jobs in flight
    std::vector<job> bigger(jobs_.size() * 2);
    for (std::size_t i = 0; i < size_; ++i) bigger[i] = jobs_[(head_ + i) % jobs_.size()];
    jobs_.swap(bigger);
    head_ = 0;
  }

  void wake_one() {
    if (sleepers_.load(std::memory_order_seq_cst) == 0) return;
    std::lock_guard guard(sleep_mutex_);
    wake_.notify_one();
  }

  bool try_pop(job& out) noexcept {
    if (queued_.load(std::memory_order_acquire) == 0) return false;
    lock_.lock();
    const bool got = size_ > 0;
    if (got) {
      out = jobs_[head_];
      head_ = (head_ + 1) % jobs_.size();
      --size_;
    }
    lock_.unlock();
    if (got) {
      queued_.fetch_sub(1, std::memory_order_relaxed);
      pops_.fetch_add(1, std::memory_order_relaxed);
    }
    return got;
  }

  // A job shorter than this is over before a sleeping thread, woken for the next, could start.
  static constexpr std::chrono::microseconds short_job{10};
  // Queued jobs that no thread has touched for this long get a sleeper woken (see watch).
  static constexpr std::chrono::microseconds stall{20};

  // A pool thread's own: whether it is counted in available_.
  struct thread_state {
    worker_pool* pool;
    bool available = false;
  };
  static thread_state*& current() noexcept {
    static thread_local thread_state* self = nullptr;
    return self;
  }
  void set_available(thread_state& self, bool a) {
    if (a == self.available) return;
    self.available = a;
    if (a)
      available_.fetch_add(1, std::memory_order_seq_cst);
    else
      available_.fetch_sub(1, std::memory_order_seq_cst);
  }

  void work() {
    thread_state self{this};
    current() = &self;
    auto set_available = [&](bool a) { this->set_available(self, a); };
    job j{};
    bool short_jobs = false;  // the last job this thread ran was short
    auto has_job = [this] {
      return queued_.load(std::memory_order_seq_cst) > 0 ||
             stopping_.load(std::memory_order_seq_cst);
    };
    for (;;) {
      if (try_pop(j)) {
        set_available(short_jobs);
        // More queued behind it: they need a thread of their own, unless this thread's jobs are
        // so short that it will have run them before a woken thread could start.
        if (!short_jobs && queued_.load(std::memory_order_seq_cst) > 0 &&
            available_.load(std::memory_order_seq_cst) == 0)
          wake_one();
        const auto t0 = clock::now();
        j.run(j.arg);
        short_jobs = clock::now() - t0 < short_job;
        continue;
      }
      // Stopping, and nothing left: the end. Only then: a job this thread saw queued may have
      // been taken by another since, which is no reason for this one to leave the pool.
      if (stopping_.load(std::memory_order_seq_cst) &&
          queued_.load(std::memory_order_seq_cst) == 0) {
        set_available(false);
        return;
      }
      // One spinner among threads of short jobs; a thread between long jobs spins anyway (it
      // spins rarely, and the next long job is better started without a wake-up).
      if (yield_to_others_ && contended_core::recently()) {
        // Another program holds this core: block at once (contended_core).
      } else if (spinners_.fetch_add(1, std::memory_order_seq_cst) == 0 || !short_jobs) {
        set_available(true);
        const bool found = spin_until(has_job);
        spinners_.fetch_sub(1, std::memory_order_seq_cst);
        if (found) continue;
      } else {
        spinners_.fetch_sub(1, std::memory_order_seq_cst);
      }
      // A thread that stops being available looks at the queue again under the sleep mutex
      // before it waits (seq_cst here and in post), so no job is left with every thread asleep.
      set_available(false);
      std::unique_lock guard(sleep_mutex_);
      sleepers_.fetch_add(1, std::memory_order_seq_cst);
      wake_.wait(guard, has_job);
      sleepers_.fetch_sub(1, std::memory_order_relaxed);
    }
  }

  spin_lock lock_;
  std::vector<job> jobs_;  // a ring, guarded by lock_
  std::size_t head_ = 0;
  std::size_t size_ = 0;
  alignas(64) std::atomic<std::size_t> queued_{0};
  std::atomic<int> sleepers_{0};
  std::atomic<int> spinners_{0};   // idle threads spinning (at most one stays)
  std::atomic<int> available_{0};  // threads that will look at the queue within microseconds
  std::atomic<std::size_t> pops_{0};  // jobs taken, ever (for watch)
  std::atomic<bool> stopping_{false};
  std::mutex sleep_mutex_;
  std::condition_variable wake_;
  std::vector<std::thread> threads_;
  const bool yield_to_others_;
};

}  // namespace spdl::detail
