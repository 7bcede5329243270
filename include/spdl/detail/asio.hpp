#pragma once
// The Asio surface spdl uses (1.22: awaitable, co_spawn, use_awaitable, as_tuple), with the
// switches clang 14 needs to see coroutine support in standalone Asio.

#if defined(__clang__) && !defined(ASIO_HAS_CO_AWAIT)
#define ASIO_HAS_CO_AWAIT 1
#define ASIO_HAS_STD_COROUTINE 1
#endif

#include <asio/any_io_executor.hpp>
#include <asio/associated_executor.hpp>
#include <asio/async_result.hpp>
#include <asio/awaitable.hpp>
#include <asio/bind_cancellation_slot.hpp>
#include <asio/cancellation_signal.hpp>
#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/dispatch.hpp>
#include <asio/execution/context.hpp>
#include <asio/execution_context.hpp>
#include <asio/io_context.hpp>
#include <asio/post.hpp>
#include <asio/steady_timer.hpp>
#include <asio/this_coro.hpp>
#include <asio/thread_pool.hpp>
#include <asio/use_awaitable.hpp>

#include <optional>
#include <utility>
#include <vector>

namespace spdl::detail {

/// The completion handler of a suspended `asio::awaitable` coroutine: calling it (on the
/// coroutine's executor) resumes the coroutine.
using resume_handler =
    typename asio::async_result<asio::use_awaitable_t<>, void()>::handler_type;

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

}  // namespace spdl::detail
