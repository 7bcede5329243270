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
    loop_ = &rt.loop();
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
      const taken got = take_next(in_, item);
      if (got == taken::nothing_yet) {
        // Waiting, it takes items where the last stage sends them, straight into the sink
        // queue while that has room: no hand-off to this coroutine, no switch per item.
        bound_.start();
        co_await in_.async_wait_taking(&sink_node::take, this);
        continue;  // room first, again
      }
      if (got == taken::end) break;
      if (got == taken::boundary) {
        // An epoch ends for the consumer after every failure of it reported to the hook (on the
        // loop thread, which may be behind): this writer waits for the calls queued for it.
        if (rt.inbox().calls_waiting() > 0) co_await wait_for_loop_thread_calls(rt.inbox());
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
    // After every failure reported to the hook (on the loop thread, which may be behind).
    rt.inbox().after_loop_thread_calls([this, &rt] { queue_.close(rt.failures()); });
  }

  // What the waiting writer takes where it is sent (channel::async_wait_taking): in order, as
  // the channel is empty while the writer waits. The items taken so are published once the
  // handler that sent them is done (or a quarter of the queue is written: sink_queue::write):
  // a run of them costs the consumer's core one look at the queue's tail, not one per item.
  //
  // Only on the loop thread, and within `take_bound` a wait. A pool thread or the consumer that
  // holds the loop's role may lend it for a call that proves long, with the publish it posted
  // held in its own handler queue until then (Asio's concurrency hint 1); and on a machine with
  // busy cores, items taken on the way by whichever thread holds the role kept the consumer
  // from doing the loop's work itself (1M ints through a pool stage, one core busy: 2-9x
  // slower). Each refusal queues the item and wakes the writer, as a hand-off did; the bound
  // makes a sender that never has to wait (a source that keeps ahead) fill the queue and yield
  // its handler. A refusal publishes what was written: the consumer must see it to make room.
  static bool take(void* self, T& item) {
    auto& node = *static_cast<sink_node*>(self);
    if (node.bound_.refusing() || !loop_inbox::loop_thread_here() || !node.queue_.write(item)) {
      node.queue_.publish();
      return false;
    }
    node.bound_.took();
    if (!node.publish_posted_) {
      node.publish_posted_ = true;
      asio::post(*node.loop_, [&node] {
        node.publish_posted_ = false;
        node.queue_.publish();
      });
    }
    return true;
  }

  asio::awaitable<void> wait_for_loop_thread_calls(loop_inbox& inbox) {
    return suspend_with([this, &inbox](resume_handler h) {
      boundary_wait_.handler.emplace(std::move(h));
      inbox.after_loop_thread_calls([this] { boundary_wait_.resume(); });
    });
  }

  sink_queue<T> queue_;
  channel<T>& in_;
  parked boundary_wait_;  // the writer, waiting for the hook's calls before an epoch's end
  asio::io_context* loop_ = nullptr;
  bool publish_posted_ = false;
  take_bound bound_;  // the current wait's takes
};

}  // namespace spdl::detail
