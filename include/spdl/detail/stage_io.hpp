#pragma once
// What every stage node shares: taking the next item (or epoch boundary) from its input without
// a coroutine frame when one is there, waiting for one when not; and its output queue, with the
// sends that take the same fast path.

#include <spdl/detail/channel.hpp>
#include <spdl/detail/asio.hpp>
#include <spdl/detail/clock.hpp>
#include <spdl/detail/runtime.hpp>
#include <spdl/pipeline/stats.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>

namespace spdl::detail {

/// Each node's output: the queue the next node reads (build_options::queue_capacity sets it
/// before the start; this is the default's value).
inline constexpr std::size_t channel_capacity = 2;

/// What a node took from its input.
enum class taken { item, boundary, end, nothing_yet };

/// Takes the next item or epoch boundary without waiting. `index` / `epoch` as for
/// channel::try_receive.
template <class T>
taken take_next(channel<T>& in, std::optional<T>& item, std::uint64_t* index = nullptr,
                std::uint64_t* epoch = nullptr) {
  item = in.try_receive(index, epoch);
  if (item) return taken::item;
  if (in.try_take_boundary(index, epoch)) return taken::boundary;
  if (in.finished()) return taken::end;
  return taken::nothing_yet;
}

// A class template's member rather than a function template: a coroutine frame typed by a
// user's local types must not get external linkage (GCC's -Wsubobject-linkage).
template <class T>
struct receiver {
  static asio::awaitable<taken> wait(channel<T>& in, std::optional<T>& item, std::uint64_t* index,
                                     std::uint64_t* epoch) {
    for (;;) {
      item = co_await in.async_receive(index, epoch);
      if (item) co_return taken::item;
      // Woken without an item: the end, a boundary, or a boundary another receiver took first.
      const taken t = take_next(in, item, index, epoch);
      if (t != taken::nothing_yet) co_return t;
    }
  }
};

/// As take_next, waiting until there is something (the slow path: a coroutine frame).
template <class T>
asio::awaitable<taken> receive_next(channel<T>& in, std::optional<T>& item,
                                    std::uint64_t* index = nullptr,
                                    std::uint64_t* epoch = nullptr) {
  return receiver<T>::wait(in, item, index, epoch);
}

/// The bound on what a receiver takes in one wait (channel::async_wait_taking: the sink's
/// writer, an aggregate): a sender that never has to wait would otherwise hand it item after
/// item in one handler, for as long as it has items, while timers, stop requests and the rest
/// of the loop wait (a source that keeps ahead, straight into the sink: 1 periodic report in
/// 500 ms instead of 50, a stop() that took 354 ms; into an aggregate of 2,000, a stop() of
/// 546 ms). Takes for `limit` a wait, looked at every `run` items by the coarse clock (whose
/// tick of 1-4 ms it may then be); bounded by items instead, 64 a wait, it cost 1M ints
/// through an awaitable stage into the sink some 10%.
class take_bound {
 public:
  static constexpr std::size_t run = 64;
  static constexpr std::chrono::milliseconds limit{1};

  /// A wait begins.
  void start() noexcept {
    taken_ = 0;
    refusing_ = false;
    since_ = coarse_now();
  }
  /// Whether the wait has taken its share: refuse from now on.
  [[nodiscard]] bool refusing() const noexcept { return refusing_; }
  /// One item taken.
  void took() noexcept {
    if (++taken_ % run == 0 && coarse_since(since_) >= limit) refusing_ = true;
  }

 private:
  std::size_t taken_ = 0;
  bool refusing_ = false;
  clock::time_point since_{};
};

/// Whether a source or stage object takes part in epochs (`x.set_epoch(n)`).
template <class X>
concept has_set_epoch = requires(X& x, std::size_t e) { x.set_epoch(e); };

template <class Out>
class producer_node : public node {
 public:
  channel<Out>& output() noexcept { return out_; }
  void cancel_output() override { out_.cancel(); }
  queue_stats output_stats(std::chrono::nanoseconds elapsed, clock::time_point now) const override {
    return out_.counters().snapshot(counters.name, elapsed, now);
  }
  [[nodiscard]] std::size_t queued() const noexcept override { return out_.size(); }
  void set_queue_capacity(std::size_t capacity) override { out_.set_capacity(capacity); }

 protected:
  // Sends one value; false when the output is closed (shutdown, or downstream gone).
  static bool fast_send(channel<Out>& ch, Out& value, bool& must_wait) {
    must_wait = false;
    if (ch.try_send(value)) return true;
    must_wait = !ch.closed();
    return false;
  }

  // Passes an epoch boundary on; false when the output is closed.
  asio::awaitable<bool> send_boundary() {
    if (out_.try_send_boundary()) co_return true;
    if (out_.closed()) co_return false;
    co_return co_await out_.async_send_boundary();
  }

  channel<Out> out_{channel_capacity};
};

}  // namespace spdl::detail
