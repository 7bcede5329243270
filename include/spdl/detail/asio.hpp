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
#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/dispatch.hpp>
#include <asio/io_context.hpp>
#include <asio/post.hpp>
#include <asio/steady_timer.hpp>
#include <asio/this_coro.hpp>
#include <asio/thread_pool.hpp>
#include <asio/use_awaitable.hpp>

#include <optional>
#include <utility>

namespace spdl::detail {

/// The completion handler of a suspended `asio::awaitable` coroutine: calling it (on the
/// coroutine's executor) resumes the coroutine.
using resume_handler =
    typename asio::async_result<asio::use_awaitable_t<>, void()>::handler_type;

/// A slot for one suspended coroutine. `suspend(slot)` parks the calling coroutine in it;
/// `resume(slot)` schedules it to continue on its own executor (never inline, so a waker never
/// runs the woken coroutine on its own stack). Thread-safety is the owner's business.
struct parked {
  std::optional<resume_handler> handler;

  [[nodiscard]] bool waiting() const noexcept { return handler.has_value(); }

  void resume() {
    auto h = std::move(*handler);
    handler.reset();
    asio::post(std::move(h));
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
