#pragma once
// A pipeline's statistics over time: snapshots of every stage and queue, the periodic report
// (build_options::report_stats_interval, to on_stats or stderr) and the last one at the end, and
// the queues' occupancy sampled into the trace as items move (at most once a millisecond).
//
// Threads: launch(), stop(), finish() and the trace's sampling (trace_queues, trace_settled) run
// on the loop (scheduler.hpp: the role's holder: the loop thread, a pool thread doing its work,
// or the consumer helping), which owns the timers, `finished_at_` and the sampling's state;
// snapshot() runs there too, or on any thread once the loop has joined.

#include <spdl/detail/asio.hpp>
#include <spdl/detail/clock.hpp>
#include <spdl/detail/node.hpp>
#include <spdl/detail/scheduler.hpp>
#include <spdl/detail/trace.hpp>
#include <spdl/pipeline/options.hpp>
#include <spdl/pipeline/stats.hpp>

#include <chrono>
#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <system_error>
#include <vector>

namespace spdl::detail {

class stats_reporter {
 public:
  /// `nodes` (the last is the sink writer), `options`, `trace` (null: none) and `inbox` (through
  /// which on_stats is called on the loop thread) outlive it.
  stats_reporter(const std::vector<std::unique_ptr<node>>& nodes, const build_options& options,
                 tracer* trace, loop_inbox& inbox)
      : nodes_(nodes), options_(options), trace_(trace), inbox_(inbox) {
    if (trace_)
      for (const auto& n : nodes_) queue_names_.push_back("queue " + n->counters.name);
  }

  /// The pipeline starts now (before its loop thread does).
  void started() { started_at_ = clock::now(); }

  /// On the loop, once the nodes are spawned: the periodic report, and a sample of the trace's
  /// queue counters.
  void launch(asio::io_context& loop) {
    if (options_.report_stats_interval.count() > 0) {
      stats_timer_.emplace(loop);
      asio::co_spawn(loop, report_periodically(), asio::detached);
    }
    if (trace_) trace_queues(clock::now(), true);
  }

  /// With the trace on, on the loop as items move (a stage's call or a source's item has just
  /// ended: pipe_node.hpp, source_node.hpp): each queue's occupancy into the trace, unless the
  /// last sample is less than `trace_every` old (`now` is then too), or `always`. Not on a
  /// timer: one that fires every millisecond wakes the loop thread a thousand times a second,
  /// and on cores that decode, each wake takes one from a pool thread (the image workload in
  /// benchmarks/image_decode.cpp ran 3-8% slower with the trace on; sampled here, 0-1%). A
  /// counter shows the last sample: a change within a millisecond of it, or one made where no
  /// call ends (the consumer's gets, a batch closing), shows at the next, which a sample put off
  /// here makes sure of when the loop runs out of work (trace_settled). Samples come after the
  /// call, before its result is sent on.
  void trace_queues(clock::time_point now, bool always = false) {
    if (!always && now - last_trace_ < trace_every) {
      trace_put_off_ = true;
      return;
    }
    trace_put_off_ = false;
    last_trace_ = now;
    for (std::size_t i = 0; i < nodes_.size(); ++i)
      trace_->counter(queue_names_[i], nodes_[i]->queued(), now);
  }

  /// With the trace on, on the loop about to sleep or doze: the sample that trace_queues put
  /// off, if any, so that the trace shows where the queues stand while nothing moves.
  void trace_settled() {
    if (trace_put_off_) trace_queues(clock::now(), true);
  }

  /// stop() began: no more reports (the stages are being cancelled).
  void stop() {
    stopping_ = true;
    if (stats_timer_) stats_timer_->cancel();
  }

  /// Every node has finished: the clock stops, the trace's queue counters are sampled a last
  /// time, and the periodic report is made one last time.
  void finish() {
    finished_at_ = clock::now();
    if (trace_) trace_queues(*finished_at_, true);
    if (stats_timer_) {
      stats_timer_->cancel();
      report();
    }
  }

  /// Every stage and queue now (or as they ended).
  [[nodiscard]] pipeline_stats snapshot() const {
    const auto now = clock::now();
    const auto end = finished_at_ ? *finished_at_ : now;
    const auto elapsed = started_at_ ? std::chrono::duration_cast<std::chrono::nanoseconds>(
                                           end - *started_at_)
                                     : std::chrono::nanoseconds{0};
    pipeline_stats s;
    for (std::size_t i = 0; i < nodes_.size(); ++i) {
      // The last node is the sink writer: a queue, not a stage.
      if (i + 1 < nodes_.size()) s.stages.push_back(nodes_[i]->counters.snapshot());
      s.queues.push_back(nodes_[i]->output_stats(elapsed, now));
    }
    return s;
  }

 private:
  [[nodiscard]] bool running() const noexcept { return !finished_at_ && !stopping_; }

  asio::awaitable<void> report_periodically() {
    while (running()) {
      stats_timer_->expires_after(options_.report_stats_interval);
      try {
        co_await stats_timer_->async_wait(asio::use_awaitable);
      } catch (const std::system_error&) {
        co_return;  // cancelled: finish() reports the last time
      }
      if (!running()) co_return;
      report();
    }
  }

  // The snapshot now, where the loop's state is; the hook's call on the loop thread.
  void report() const {
    try {
      auto s = snapshot();
      if (!options_.on_stats) {
        print_stats(s);
        return;
      }
      inbox_.on_loop_thread([&hook = options_.on_stats, s = std::move(s)] {
        try {
          hook(s);
        } catch (...) {
          // A hook that throws must not take the pipeline down.
        }
      });
    } catch (...) {
      // A hook that throws must not take the pipeline down (nor a snapshot that cannot be made).
    }
  }

  const std::vector<std::unique_ptr<node>>& nodes_;
  const build_options& options_;
  tracer* trace_;
  loop_inbox& inbox_;
  std::vector<std::string> queue_names_;  // the trace's counters
  std::optional<clock::time_point> started_at_;
  std::optional<clock::time_point> finished_at_;  // the loop (read after join)
  bool stopping_ = false;                         // the loop
  std::optional<asio::steady_timer> stats_timer_;
  static constexpr std::chrono::milliseconds trace_every{1};
  clock::time_point last_trace_{};  // the loop's
  bool trace_put_off_ = false;       // the loop's: trace_queues skipped a sample since the last
};

}  // namespace spdl::detail
