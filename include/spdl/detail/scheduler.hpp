#pragma once
// The scheduler: how the engine's coroutines, all on the loop thread, are suspended and resumed.
// One place for the three ways back onto the loop:
//
// - the ready queue, for coroutines another coroutine of the same loop wakes (a channel's send,
//   an epoch wait, a turn): resumed together from one posted handler per round;
// - the inbox, for coroutines another thread wakes (a pool call done, a merge's reader): a
//   lock-guarded list the loop drains in batches, spinning on its count before it sleeps;
// - a plain post, for a coroutine of another loop.
//
// `run_loop` is the loop thread's body. The worker pool (`worker_pool.hpp`) runs blocking calls
// and comes back through the inbox.

#include <spdl/detail/asio.hpp>
#include <spdl/detail/spin.hpp>

#include <atomic>
#include <cstddef>
#include <mutex>
#include <optional>
#include <utility>
#include <vector>

namespace spdl::detail {

/// Coroutines made ready on a loop thread, resumed together from one posted handler instead of
/// one post (and two allocations) each. A loop thread installs one with `scope`; elsewhere a
/// resumption is a plain post.
///
/// Only the coroutines of this queue's own loop go through it (see `owns`): a loop thread may
/// wake a coroutine of another loop (a stage of one pipeline reading another pipeline's sink),
/// and that one must go back to its own loop, which may well be waiting for it.
class ready_queue {
 public:
  explicit ready_queue(asio::io_context& ctx) : ctx_(ctx) {}

  /// The queue of the loop thread calling, if it has one.
  static ready_queue*& current() noexcept {
    static thread_local ready_queue* q = nullptr;
    return q;
  }

  struct scope {
    explicit scope(ready_queue& q) noexcept : previous(current()) { current() = &q; }
    ~scope() { current() = previous; }
    scope(const scope&) = delete;
    scope& operator=(const scope&) = delete;
    ready_queue* previous;
  };

  /// Whether `h` resumes a coroutine of this queue's loop. Per resumption, so kept cheap: a
  /// copy of the handler's executor (two words) and one query.
  [[nodiscard]] bool owns(const resume_handler& h) const {
    const auto ex = asio::get_associated_executor(h);
    return &asio::query(ex, asio::execution::context) ==
           static_cast<asio::execution_context*>(&ctx_);
  }

  /// Resumes `h` (a coroutine of this loop: see `owns`) in the next round.
  void push(resume_handler h) {
    ready_.push_back(std::move(h));
    if (!scheduled_) {
      scheduled_ = true;
      asio::post(ctx_, [this] { drain(); });
    }
  }

 private:
  // Resumes the coroutines ready now; those they make ready wait for the next round, so that
  // other handlers (pool completions, timers, stop requests) get their turn in between.
  void drain() {
    running_.swap(ready_);
    for (auto& h : running_) h();
    running_.clear();
    if (ready_.empty())
      scheduled_ = false;
    else
      asio::post(ctx_, [this] { drain(); });
  }

  asio::io_context& ctx_;
  std::vector<resume_handler> ready_;
  std::vector<resume_handler> running_;
  bool scheduled_ = false;
};

/// Schedules `h` to continue on its own executor, never inline: through the calling loop
/// thread's ready queue when it is one of that loop's coroutines, else with a post.
inline void resume_later(resume_handler h) {
  ready_queue* q = ready_queue::current();
  if (q != nullptr && q->owns(h))
    q->push(std::move(h));
  else
    asio::post(std::move(h));
}

/// A slot for one suspended coroutine. `suspend(slot)` parks the calling coroutine in it;
/// `resume(slot)` schedules it to continue on its own executor (never inline, so a waker never
/// runs the woken coroutine on its own stack, and never on the waker's loop when that is not
/// its own). Thread-safety is the owner's business.
struct parked {
  std::optional<resume_handler> handler;

  [[nodiscard]] bool waiting() const noexcept { return handler.has_value(); }

  void resume() {
    auto h = std::move(*handler);
    handler.reset();
    resume_later(std::move(h));
  }
};

struct park_initiation {
  parked* slot;
  void operator()(resume_handler h) const { slot->handler.emplace(std::move(h)); }
};

/// Suspends the calling coroutine and hands its resume_handler to `init` (called once the
/// coroutine is suspended, on the same thread). `init` must be movable and must arrange for the
/// handler to be posted exactly once.
template <class Init>
asio::awaitable<void> suspend_with(Init init) {
  return asio::async_initiate<const asio::use_awaitable_t<>&, void()>(std::move(init),
                                                                       asio::use_awaitable);
}

/// Suspends the calling coroutine until `slot.resume()`. The slot must outlive the wait.
inline asio::awaitable<void> suspend(parked& slot) { return suspend_with(park_initiation{&slot}); }

// ---- resumptions from other threads -----------------------------------------------------------

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
    std::lock_guard lock(lock_);
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
      std::lock_guard lock(lock_);
      draining_.swap(items_);
    }
    pending_.fetch_sub(draining_.size(), std::memory_order_acq_rel);
    for (auto& h : draining_) h();
    draining_.clear();
  }

  asio::io_context& loop_;
  spin_lock lock_;  // a push or a swap: a few instructions (spin.hpp says why not a mutex)
  std::vector<resume_handler> items_;     // guarded by lock_
  std::vector<resume_handler> draining_;  // loop thread
  std::atomic<std::size_t> pending_{0};
  std::atomic<bool> scheduled_{false};
  std::atomic<bool> sleeping_{false};
};

/// Runs the loop until it stops: handlers, then the inbox, spinning briefly before it sleeps.
/// `idle()` runs now and then while it spins with nothing to do (and every 64 rounds of
/// handlers when it never has nothing to do); `before_sleep()` each time it is about to block.
template <class Idle, class BeforeSleep>
void run_loop(asio::io_context& loop, loop_inbox& inbox, Idle idle, BeforeSleep before_sleep) {
  unsigned busy_rounds = 0;
  while (!loop.stopped()) {
    if (loop.poll() > 0) {
      if (++busy_rounds % 64 == 0) idle();  // a loop that is never idle still looks now and then
      continue;
    }
    if (inbox.pending()) {
      inbox.schedule();
      continue;
    }
    unsigned round = 0;
    const bool busy = spin_until([&] {
      // The inbox is an atomic read; the loop's own queue takes a lock, so look less often.
      if (loop.stopped() || inbox.pending()) return true;
      if (++round % 8 != 0) return false;
      idle();
      return loop.poll() > 0;
    });
    if (busy) continue;
    before_sleep();
    if (!inbox.go_to_sleep()) continue;
    loop.run_one();
    inbox.wake_up();
  }
}

}  // namespace spdl::detail
