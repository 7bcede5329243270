#pragma once
// Resumptions sent to the loop thread from other threads (the worker pool's completed calls).
//
// A post per completion would lock the loop's scheduler, allocate, and, when the loop sleeps,
// write its eventfd. The inbox instead collects completions under a small lock; the loop, which
// spins on an atomic count before it sleeps, drains them in batches from one handler, and only a
// sleeping loop is woken with a post.

#include <spdl/detail/asio.hpp>
#include <spdl/detail/spin.hpp>

#include <atomic>
#include <cstddef>
#include <mutex>
#include <vector>

namespace spdl::detail {

class loop_inbox {
 public:
  explicit loop_inbox(asio::io_context& loop) : loop_(loop) {}
  loop_inbox(const loop_inbox&) = delete;
  loop_inbox& operator=(const loop_inbox&) = delete;

  /// Any thread: resume `h` on the loop thread.
  ///
  /// Once `h` is in the list, the loop may resume its coroutine, the pipeline may finish and
  /// this inbox be destroyed: so the count goes up first, and the unlock is the last touch.
  void push(resume_handler h) {
    pending_.fetch_add(1, std::memory_order_seq_cst);
    std::lock_guard lock(mutex_);
    items_.push_back(std::move(h));
    if (sleeping_.load(std::memory_order_seq_cst)) schedule();
  }

  /// Whether completions wait to be drained.
  [[nodiscard]] bool pending() const noexcept {
    return pending_.load(std::memory_order_acquire) > 0;
  }

  /// Any thread: make sure a drain runs on the loop soon (one outstanding at a time).
  void schedule() {
    if (!scheduled_.exchange(true, std::memory_order_acq_rel))
      asio::post(loop_, [this] { drain(); });
  }

  /// The loop thread, around a blocking wait: a push while it sleeps posts a drain (a wake-up).
  /// Returns false (and stays awake) if something arrived meanwhile.
  bool go_to_sleep() noexcept {
    sleeping_.store(true, std::memory_order_seq_cst);
    if (pending_.load(std::memory_order_seq_cst) > 0) {
      sleeping_.store(false, std::memory_order_relaxed);
      return false;
    }
    return true;
  }
  void wake_up() noexcept { sleeping_.store(false, std::memory_order_relaxed); }

 private:
  // On the loop thread, inside a handler: resumes every completion that has arrived.
  void drain() {
    scheduled_.store(false, std::memory_order_release);
    {
      std::lock_guard lock(mutex_);
      draining_.swap(items_);
    }
    pending_.fetch_sub(draining_.size(), std::memory_order_acq_rel);
    for (auto& h : draining_) h();
    draining_.clear();
  }

  asio::io_context& loop_;
  std::mutex mutex_;
  std::vector<resume_handler> items_;     // guarded by mutex_
  std::vector<resume_handler> draining_;  // loop thread
  std::atomic<std::size_t> pending_{0};
  std::atomic<bool> scheduled_{false};
  std::atomic<bool> sleeping_{false};
};

/// Runs the loop until it stops: handlers, then the inbox, spinning briefly before it sleeps.
/// `before_sleep()` runs each time it is about to block.
template <class BeforeSleep>
void run_loop(asio::io_context& loop, loop_inbox& inbox, BeforeSleep before_sleep) {
  while (!loop.stopped()) {
    if (loop.poll() > 0) continue;
    if (inbox.pending()) {
      inbox.schedule();
      continue;
    }
    unsigned round = 0;
    const bool busy = spin_until([&] {
      // The inbox is an atomic read; the loop's own queue takes a lock, so look less often.
      return loop.stopped() || inbox.pending() || (++round % 8 == 0 && loop.poll() > 0);
    });
    if (busy) continue;
    before_sleep();
    if (!inbox.go_to_sleep()) continue;
    loop.run_one();
    inbox.wake_up();
  }
}

}  // namespace spdl::detail
