#pragma once
// The bounded queue between two pipeline stages.

#include <spdl/detail/scheduler.hpp>
#include <spdl/detail/clock.hpp>
#include <spdl/detail/queue_counters.hpp>
#include <spdl/detail/waiter_list.hpp>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <utility>
#include <vector>

namespace spdl::detail {

// spdl::channel (see <spdl/async/channel.hpp>, which documents it for users): a bounded FIFO
// between coroutines of one loop (run by one thread at a time), with end of stream, cancellation
// and epoch boundaries in-band.
template <class T>
class channel {
 public:
  explicit channel(std::size_t capacity) : slots_(capacity) {
    if (capacity == 0) throw std::invalid_argument("spdl::channel: capacity must be >= 1");
  }
  channel(const channel&) = delete;
  channel& operator=(const channel&) = delete;

  /// Holds `capacity` items from now on. Only while it is empty and nobody waits on it (a
  /// pipeline sets its queues so before it starts): std::logic_error otherwise.
  void set_capacity(std::size_t capacity) {
    if (capacity == 0) throw std::invalid_argument("spdl::channel: capacity must be >= 1");
    if (size_ != 0 || !senders_.empty() || !receivers_.empty())
      throw std::logic_error("spdl::channel::set_capacity: the channel is in use");
    if (capacity == slots_.size()) return;
    slots_ = std::vector<std::optional<T>>(capacity);
    head_ = 0;
  }

  /// Moves `value` in when a receiver waits or there is room, and returns true. Returns false,
  /// leaving `value` alone, when the channel is full or closed (see `closed()`).
  bool try_send(T& value) {
    if (closed_) return false;
    // Receivers wait only on an empty queue; with a boundary queued, the value goes behind it.
    if (size_ == 0) {
      if (receive_waiter* r = receivers_.front()) {
        if (r->take != nullptr) {  // a receiver that takes items where they are sent
          if (r->take(r->context, value)) {
            stamp(nullptr, nullptr);
            ++counters_.items;
            return true;  // and it waits on
          }
          receivers_.pop_front();  // refused: queued, and the receiver woken to look
          push(std::move(value));
          r->park.resume();
          return true;
        }
        receivers_.pop_front();
        r->slot->emplace(std::move(value));
        stamp(r->index, r->epoch);
        ++counters_.items;
        r->park.resume();
        return true;
      }
    }
    if (size_ == slots_.size()) return false;
    push(std::move(value));
    return true;
  }

  /// Queues an epoch boundary when there is room (true); false when full or closed. A waiting
  /// receiver is woken to take it.
  bool try_send_boundary() {
    if (closed_ || size_ == slots_.size()) return false;
    push_boundary();
    return true;
  }

  /// Queues an epoch boundary, waiting for room. False when the channel is (or gets) closed.
  asio::awaitable<bool> async_send_boundary() {
    if (try_send_boundary()) co_return true;
    if (closed_) co_return false;
    send_waiter w;  // no value: a boundary
    senders_.push_back(&w);
    co_await detail::suspend(w.park);
    co_return w.ok;
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

  /// Sends `value` as async_send does, for a sender that can make its next value on the spot:
  /// each time a receiver makes room while it waits, the value moves in and `refill(context)`
  /// is called, on the receiver's thread (the loop's), for the next one: a pointer to it (the
  /// channel moves from it when there is room), and the sender waits on; or nullptr, and the
  /// sender resumes (true: its last value went in). So a producer that keeps ahead of its
  /// receivers is resumed once per run of values rather than once per value or two. `value`
  /// and what `refill` returns must live until the sender resumes. Meanwhile it stays first
  /// among the senders: others wait behind it. `refill` must not throw.
  asio::awaitable<bool> async_send_refilled(T& value, T* (*refill)(void*), void* context) {
    if (try_send(value)) co_return true;
    if (closed_) co_return false;
    send_waiter w;
    w.value = &value;
    w.refill = refill;
    w.context = context;
    senders_.push_back(&w);
    w.since = detail::coarse_now();
    co_await detail::suspend(w.park);
    counters_.put_wait += detail::coarse_now() - w.since;
    co_return w.ok;
  }

  /// Waits for something to look at (an item queued, an epoch boundary next, the end), taking
  /// items where they are sent in the meantime: while the channel is empty, a sent value goes to
  /// `take(context, value)` (on the sender's thread, the loop's), which moves it on and returns
  /// true, or refuses it (false): the value is then queued and the waiter resumes. Take what is
  /// there with try_receive / try_take_boundary after it returns. Only where order allows it:
  /// the values that `take` accepts pass whatever the channel queued after the waiter began.
  asio::awaitable<void> async_wait_taking(bool (*take)(void*, T&), void* context) {
    if (size_ != 0 || closed_) co_return;
    receive_waiter w;
    w.take = take;
    w.context = context;
    receivers_.push_back(&w);
    const auto t0 = detail::coarse_now();
    co_await detail::suspend(w.park);
    counters_.get_wait += detail::coarse_now() - t0;
  }

  /// An item if one is buffered; otherwise empty (see `finished()` for end of stream).
  /// `index`, when given, receives the item's position in the channel's output order (0, 1, ...),
  /// which is the order items left the channel, whichever receiver resumes first.
  /// `epoch`, when given, receives the number of boundaries that left before the item. An
  /// epoch boundary at the head is not passed: the result is then empty (see boundary_next()).
  std::optional<T> try_receive(std::uint64_t* index = nullptr, std::uint64_t* epoch = nullptr) {
    if (size_ == 0 || !slots_[head_]) return std::nullopt;
    stamp(index, epoch);
    std::optional<T> v{std::move(*slots_[head_])};
    pop();
    ++counters_.items;
    return v;
  }

  /// The next item, waiting for one; empty at end of stream (or when cancelled), and when an
  /// epoch boundary is (or was, for a moment) next: check `boundary_next()` and `finished()`,
  /// and receive again if neither. `index` and `epoch` as for try_receive.
  asio::awaitable<std::optional<T>> async_receive(std::uint64_t* index = nullptr,
                                                  std::uint64_t* epoch = nullptr) {
    std::optional<T> v = try_receive(index, epoch);
    if (v || closed_ || boundary_next()) co_return std::move(v);
    std::optional<T> slot;
    receive_waiter w;
    w.slot = &slot;
    w.index = index;
    w.epoch = epoch;
    receivers_.push_back(&w);
    const auto t0 = detail::coarse_now();
    co_await detail::suspend(w.park);
    counters_.get_wait += detail::coarse_now() - t0;
    co_return std::move(slot);
  }

  /// Whether an epoch boundary is at the head of the queue.
  [[nodiscard]] bool boundary_next() const noexcept { return size_ > 0 && !slots_[head_]; }

  /// Takes the epoch boundary at the head, if there is one. `index` receives its position in the
  /// output order (boundaries have positions too), `epoch` the epoch it ends.
  bool try_take_boundary(std::uint64_t* index = nullptr, std::uint64_t* epoch = nullptr) {
    if (!boundary_next()) return false;
    stamp(index, epoch);
    ++epoch_;
    pop();
    // Items queued behind the boundary go to receivers that waited for them.
    while (size_ > 0 && slots_[head_]) {
      receive_waiter* r = receivers_.pop_front();
      if (!r) break;
      if (r->take != nullptr) {  // it looks for itself
        r->park.resume();
        break;
      }
      stamp(r->index, r->epoch);
      r->slot->emplace(std::move(*slots_[head_]));
      pop();
      ++counters_.items;
      r->park.resume();
    }
    return true;
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

  /// Epoch boundaries taken so far.
  [[nodiscard]] std::uint64_t epoch() const noexcept { return epoch_; }
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
    T* value = nullptr;  // none: an epoch boundary
    bool ok = false;
    T* (*refill)(void*) = nullptr;  // async_send_refilled
    void* context = nullptr;
    detail::clock::time_point since{};  // refilled: since the last value went in (put_wait)
    send_waiter* next = nullptr;
  };
  struct receive_waiter {
    detail::parked park;
    std::optional<T>* slot = nullptr;  // none: it takes items through `take`, or looks
    std::uint64_t* index = nullptr;
    std::uint64_t* epoch = nullptr;
    bool (*take)(void*, T&) = nullptr;  // async_wait_taking
    void* context = nullptr;
    receive_waiter* next = nullptr;
  };

  void stamp(std::uint64_t* index, std::uint64_t* epoch) noexcept {
    if (index) *index = next_index_;
    if (epoch) *epoch = epoch_;
    ++next_index_;
  }

  [[nodiscard]] std::size_t tail() const noexcept {
    std::size_t tail = head_ + size_;
    return tail >= slots_.size() ? tail - slots_.size() : tail;
  }

  void push(T&& value) {
    slots_[tail()].emplace(std::move(value));
    if (size_++ == 0) counters_.filled();
  }

  // A boundary is an empty slot inside the queued range: no room taken from items' storage.
  void push_boundary() {
    slots_[tail()].reset();
    if (size_++ == 0) counters_.filled();
    if (receive_waiter* r = receivers_.pop_front()) r->park.resume();  // wakes it to look
  }

  // Drops the head; then room: the first waiting sender's value (or boundary) moves in.
  void pop() {
    slots_[head_].reset();
    head_ = head_ + 1 == slots_.size() ? 0 : head_ + 1;
    --size_;
    if (send_waiter* s = senders_.front()) {
      if (s->value)
        push(std::move(*s->value));
      else
        push_boundary();
      if (s->refill != nullptr) {
        // Its wait so far counts; the time it takes to make the next value does not.
        counters_.put_wait += detail::coarse_now() - s->since;
        s->value = s->refill(s->context);
        if (s->value != nullptr) {
          s->since = detail::coarse_now();
          return;  // it waits on, with its next value
        }
        s->since = detail::coarse_now();
      }
      senders_.pop_front();
      s->ok = true;
      s->park.resume();
    } else if (size_ == 0) {
      counters_.emptied();
    }
  }

  std::vector<std::optional<T>> slots_;
  std::size_t head_ = 0;
  std::size_t size_ = 0;
  bool closed_ = false;
  std::uint64_t next_index_ = 0;  // items and boundaries that left
  std::uint64_t epoch_ = 0;       // boundaries that left
  detail::waiter_list<send_waiter> senders_;
  detail::waiter_list<receive_waiter> receivers_;
  detail::queue_counters counters_;
};

}  // namespace spdl::detail
