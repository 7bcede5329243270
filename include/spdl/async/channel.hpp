#pragma once
/// \file
/// spdl::channel: the bounded queue between two pipeline stages.

#include <spdl/detail/asio.hpp>
#include <spdl/detail/clock.hpp>
#include <spdl/detail/queue_counters.hpp>
#include <spdl/detail/waiter_list.hpp>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <utility>
#include <vector>

namespace spdl {

/// A bounded FIFO between coroutines on one event-loop thread. Every member must be called on
/// that thread (it takes no lock). End of stream travels in-band: after `close()`, receivers
/// drain what is buffered and then get an empty optional. `cancel()` is for shutdown: it drops
/// what is buffered and wakes every waiter at once.
///
/// The `try_*` calls never suspend; the `async_*` calls take the same fast path and suspend only
/// when they have to. A waiting receiver gets a sent value handed over directly.
///
///     spdl::channel<int> ch{2};
///     co_await ch.async_send(1);                 // false once the channel is closed
///     std::optional<int> v = co_await ch.async_receive();   // empty at end of stream
template <class T>
class channel {
 public:
  explicit channel(std::size_t capacity) : slots_(capacity) {
    if (capacity == 0) throw std::invalid_argument("spdl::channel: capacity must be >= 1");
  }
  channel(const channel&) = delete;
  channel& operator=(const channel&) = delete;

  /// Moves `value` in when a receiver waits or there is room, and returns true. Returns false,
  /// leaving `value` alone, when the channel is full or closed (see `closed()`).
  bool try_send(T& value) {
    if (closed_) return false;
    if (receive_waiter* r = receivers_.pop_front()) {
      r->slot->emplace(std::move(value));
      if (r->index) *r->index = counters_.items;
      ++counters_.items;
      r->park.resume();
      return true;
    }
    if (size_ == slots_.size()) return false;
    push(std::move(value));
    return true;
  }

  /// Sends `value`, waiting for room. False when the channel is (or gets) closed: the value is
  /// then dropped.
  asio::awaitable<bool> async_send(T value) {
    if (try_send(value)) co_return true;
    if (closed_) co_return false;
    send_waiter w;
    w.value = &value;
    senders_.push_back(&w);
    const auto t0 = detail::coarse_now();  // waits are summed: the coarse clock is exact on average
    co_await detail::suspend(w.park);
    counters_.put_wait += detail::coarse_now() - t0;
    co_return w.ok;
  }

  /// An item if one is buffered; otherwise empty (see `finished()` for end of stream).
  /// `index`, when given, receives the item's position in the channel's output order (0, 1, ...),
  /// which is the order items left the channel, whichever receiver resumes first.
  std::optional<T> try_receive(std::uint64_t* index = nullptr) {
    if (size_ == 0) return std::nullopt;
    if (index) *index = counters_.items;
    std::optional<T> v{std::move(*slots_[head_])};
    slots_[head_].reset();
    head_ = head_ + 1 == slots_.size() ? 0 : head_ + 1;
    --size_;
    ++counters_.items;
    if (send_waiter* s = senders_.pop_front()) {  // room now: take the first waiting sender's
      push(std::move(*s->value));
      s->ok = true;
      s->park.resume();
    } else if (size_ == 0) {
      counters_.emptied();
    }
    return v;
  }

  /// The next item, waiting for one; empty at end of stream (or when cancelled). `index` as
  /// for try_receive.
  asio::awaitable<std::optional<T>> async_receive(std::uint64_t* index = nullptr) {
    std::optional<T> v = try_receive(index);
    if (v || closed_) co_return std::move(v);
    std::optional<T> slot;
    receive_waiter w;
    w.slot = &slot;
    w.index = index;
    receivers_.push_back(&w);
    const auto t0 = detail::coarse_now();
    co_await detail::suspend(w.park);
    counters_.get_wait += detail::coarse_now() - t0;
    co_return std::move(slot);
  }

  /// End of stream: sends fail from now on; receivers get what is buffered, then nothing.
  void close() {
    closed_ = true;
    while (receive_waiter* r = receivers_.pop_front()) r->park.resume();
    while (send_waiter* s = senders_.pop_front()) s->park.resume();  // ok stays false
  }

  /// Shutdown: closes, drops the buffered items and wakes every waiter.
  void cancel() {
    close();
    while (size_ > 0) {
      slots_[head_].reset();
      head_ = head_ + 1 == slots_.size() ? 0 : head_ + 1;
      --size_;
    }
    counters_.emptied();
  }

  [[nodiscard]] bool closed() const noexcept { return closed_; }
  /// Closed and drained: no item will come out any more.
  [[nodiscard]] bool finished() const noexcept { return closed_ && size_ == 0; }
  [[nodiscard]] std::size_t size() const noexcept { return size_; }
  [[nodiscard]] std::size_t capacity() const noexcept { return slots_.size(); }

  /// Items received, waits and occupancy so far.
  [[nodiscard]] const detail::queue_counters& counters() const noexcept { return counters_; }

 private:
  struct send_waiter {
    detail::parked park;
    T* value = nullptr;
    bool ok = false;
    send_waiter* next = nullptr;
  };
  struct receive_waiter {
    detail::parked park;
    std::optional<T>* slot = nullptr;
    std::uint64_t* index = nullptr;
    receive_waiter* next = nullptr;
  };

  void push(T&& value) {
    std::size_t tail = head_ + size_;
    if (tail >= slots_.size()) tail -= slots_.size();
    slots_[tail].emplace(std::move(value));
    if (size_++ == 0) counters_.filled();
  }

  std::vector<std::optional<T>> slots_;
  std::size_t head_ = 0;
  std::size_t size_ = 0;
  bool closed_ = false;
  detail::waiter_list<send_waiter> senders_;
  detail::waiter_list<receive_waiter> receivers_;
  detail::queue_counters counters_;
};

}  // namespace spdl
