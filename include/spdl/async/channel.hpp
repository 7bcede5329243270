#pragma once
/// \file
/// spdl::channel: the bounded queue between two pipeline stages.

#include <spdl/detail/channel.hpp>

namespace spdl {

/// A bounded FIFO between coroutines on one event-loop thread. Every member must be called on
/// that thread (it takes no lock). End of stream travels in-band: after `close()`, receivers
/// drain what is buffered and then get an empty optional. `cancel()` is for shutdown: it drops
/// what is buffered and wakes every waiter at once.
///
/// The `try_*` calls never suspend; the `async_*` calls take the same fast path and suspend only
/// when they have to. A waiting receiver gets a sent value handed over directly.
///
/// Epoch boundaries travel in-band too: `async_send_boundary()` queues a marker between two
/// items. A receive never passes it: `try_receive` returns empty while it is at the head (see
/// `boundary_next()`), and a receiver takes it explicitly with `try_take_boundary()`. Each item
/// that leaves is stamped with the number of boundaries that left before it (its epoch), so
/// receivers that resume in any order still know which side of a boundary their item is on.
///
/// Two waits serve a producer or consumer that runs on the same loop and keeps up:
/// `async_send_refilled` lets a sender make its next value each time a receiver makes room, and
/// `async_wait_taking` lets a receiver take values where they are sent, both without being
/// resumed per value (the pipeline's source, aggregates and sink writer use them).
///
///     spdl::channel<int> ch{2};
///     co_await ch.async_send(1);                 // false once the channel is closed
///     std::optional<int> v = co_await ch.async_receive();   // empty at end of stream
using detail::channel;

}  // namespace spdl
