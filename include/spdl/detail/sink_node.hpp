#pragma once
// The sink writer: moves items from the last stage's queue into the consumer's sink queue.

#include <spdl/detail/runtime.hpp>
#include <spdl/detail/sink_queue.hpp>
#include <spdl/detail/stage_io.hpp>

#include <chrono>
#include <optional>
#include <vector>

namespace spdl::detail {

/// Moves items from the last stage's queue into the consumer's sink queue.
template <class T>
class sink_node final : public node, public sink_control {
 public:
  sink_node(std::size_t buffer_size, channel<T>& in) : queue_(buffer_size), in_(in) {
    this->counters.name = "sink";
  }

  sink_queue<T>& queue() noexcept { return queue_; }
  void spawn(runtime& rt) override {
    queue_.attach(rt.inbox());
    rt.spawn(run(rt));
  }
  void cancel_output() override {}  // close_sink ends the stream, keeping what it holds
  void close_sink(std::vector<stage_failure> failures) override {
    queue_.close(std::move(failures));
  }
  void flush_sink() override { queue_.flush(); }
  queue_stats output_stats(std::chrono::nanoseconds elapsed, clock::time_point) const override {
    return queue_.snapshot(elapsed);
  }
  [[nodiscard]] std::size_t queued() const noexcept override { return queue_.size(); }

 private:
  asio::awaitable<void> run(runtime& rt) {
    using put_result = typename sink_queue<T>::put_result;
    for (;;) {
      // Room first, then the item: an item never waits outside a queue.
      if (!queue_.has_room() && !co_await queue_.async_wait_room()) break;
      std::optional<T> item;
      taken got = take_next(in_, item);
      if (got == taken::nothing_yet) got = co_await receive_next(in_, item);
      if (got == taken::end) break;
      if (got == taken::boundary) {
        if (!queue_.put_boundary()) break;  // closed: stopping
        continue;
      }
      // With it, whatever else is ready upstream, under one lock. Only this writer fills the
      // queue, and it saw room, so `full` cannot come back; were it to, the item waits for room
      // again rather than be taken for the end of the stream.
      put_result put = queue_.try_put(*item, [this] { return in_.try_receive(); });
      while (put == put_result::full) {
        if (!co_await queue_.async_wait_room()) break;
        put = queue_.try_put(*item, [this] { return in_.try_receive(); });
      }
      if (put != put_result::ok) break;  // closed: stopping (the consumer keeps what it holds)
    }
    queue_.close(rt.failures());
  }

  sink_queue<T> queue_;
  channel<T>& in_;
};

}  // namespace spdl::detail
