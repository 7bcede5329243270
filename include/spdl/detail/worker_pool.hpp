#pragma once
// The threads that run plain (blocking) stage functions.

#include <spdl/detail/spin.hpp>

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <mutex>
#include <functional>
#include <thread>
#include <vector>

namespace spdl::detail {

/// The worker pool: `n` threads that run blocking stage functions. A job is two words (a function
/// and its argument, which lives in the waiting coroutine's frame): posting allocates nothing.
/// The queue is guarded by a spin lock (its critical sections are a few instructions); idle
/// threads spin briefly for the next job, then sleep on a condition variable.
class worker_pool {
 public:
  struct job {
    void (*run)(void*);
    void* arg;
  };

  /// `on_start(i)`, when given, runs first on thread i (to name it in a trace).
  explicit worker_pool(std::size_t n, const std::function<void(std::size_t)>& on_start = {}) : jobs_(64) {
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
    lock();
    if (size_ == jobs_.size()) grow();
    jobs_[(head_ + size_) % jobs_.size()] = j;
    ++size_;
    unlock();
    queued_.fetch_add(1, std::memory_order_seq_cst);
    if (sleepers_.load(std::memory_order_seq_cst) > 0) {
      std::lock_guard guard(sleep_mutex_);
      wake_.notify_one();
    }
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
  void lock() noexcept {
    while (locked_.exchange(true, std::memory_order_acquire))
      while (locked_.load(std::memory_order_relaxed)) cpu_relax();
  }
  void unlock() noexcept { locked_.store(false, std::memory_order_release); }

  void grow() {  // under the spin lock; rare: the queue holds at most the jobs in flight
    std::vector<job> bigger(jobs_.size() * 2);
    for (std::size_t i = 0; i < size_; ++i) bigger[i] = jobs_[(head_ + i) % jobs_.size()];
    jobs_.swap(bigger);
    head_ = 0;
  }

  bool try_pop(job& out) noexcept {
    if (queued_.load(std::memory_order_acquire) == 0) return false;
    lock();
    const bool got = size_ > 0;
    if (got) {
      out = jobs_[head_];
      head_ = (head_ + 1) % jobs_.size();
      --size_;
    }
    unlock();
    if (got) queued_.fetch_sub(1, std::memory_order_relaxed);
    return got;
  }

  void work() {
    job j{};
    for (;;) {
      if (try_pop(j)) {
        j.run(j.arg);
        continue;
      }
      auto has_job = [this] {
        return queued_.load(std::memory_order_seq_cst) > 0 ||
               stopping_.load(std::memory_order_seq_cst);
      };
      if (spin_until(has_job)) {
        if (queued_.load(std::memory_order_acquire) == 0) return;  // stopping, nothing left
        continue;
      }
      std::unique_lock guard(sleep_mutex_);
      sleepers_.fetch_add(1, std::memory_order_seq_cst);
      wake_.wait(guard, has_job);
      sleepers_.fetch_sub(1, std::memory_order_relaxed);
    }
  }

  std::atomic<bool> locked_{false};
  std::vector<job> jobs_;  // a ring, guarded by the spin lock
  std::size_t head_ = 0;
  std::size_t size_ = 0;
  alignas(64) std::atomic<std::size_t> queued_{0};
  std::atomic<int> sleepers_{0};
  std::atomic<bool> stopping_{false};
  std::mutex sleep_mutex_;
  std::condition_variable wake_;
  std::vector<std::thread> threads_;
};

}  // namespace spdl::detail
