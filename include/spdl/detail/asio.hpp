#pragma once
// The Asio surface spdl uses (1.22: awaitable, co_spawn, use_awaitable, as_tuple). Asio's
// configuration is the build's business: spdl's CMake targets (spdl::asio) turn on the coroutine
// support that Asio 1.22 does not detect with clang 14.

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

#if !defined(ASIO_HAS_CO_AWAIT)
#error "spdl needs Asio's coroutine support: with clang, compile with ASIO_HAS_CO_AWAIT=1 and ASIO_HAS_STD_COROUTINE=1 (spdl's CMake targets do)"
#endif

namespace spdl::detail {

/// The completion handler of a suspended `asio::awaitable` coroutine: calling it (on the
/// coroutine's executor) resumes the coroutine.
using resume_handler =
    typename asio::async_result<asio::use_awaitable_t<>, void()>::handler_type;

}  // namespace spdl::detail
