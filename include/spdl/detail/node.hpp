#pragma once
// What the runtime knows of a node: the interface every stage node and the sink writer
// implement, and the failure budget each call is judged against.

#include <spdl/detail/clock.hpp>
#include <spdl/detail/stage_counters.hpp>
#include <spdl/error.hpp>
#include <spdl/pipeline/failure_budget.hpp>
#include <spdl/pipeline/stats.hpp>

#include <chrono>
#include <cstddef>
#include <optional>
#include <vector>

namespace spdl::detail {

class runtime;

/// One failure budget and the calls and failures judged against it.
struct failure_counter {
  failure_budget budget = failure_budget::unlimited();
  std::size_t calls = 0;
  std::size_t failures = 0;
};

/// A node of the pipeline: a stage (source, pipe, aggregate, disaggregate) or the sink writer.
/// Each owns its output queue; the next node reads from it.
class node {
 public:
  virtual ~node() = default;
  /// Starts the node's coroutines (on the loop).
  virtual void spawn(runtime& rt) = 0;
  /// Shutdown or upstream cancellation: drop the output queue's items and wake its waiters.
  virtual void cancel_output() = 0;
  /// The stage failed: wake whatever of it waits for anything but its queues.
  virtual void on_failed() {}
  virtual queue_stats output_stats(std::chrono::nanoseconds elapsed, clock::time_point now) const = 0;
  /// Items in the output queue now (on the loop).
  [[nodiscard]] virtual std::size_t queued() const noexcept = 0;
  /// Before the start: the capacity of the output queue, where it is a queue between stages
  /// (build_options::queue_capacity; the sink's is its own).
  virtual void set_queue_capacity(std::size_t) {}
  /// Whether the node runs user code that is promised the loop thread itself (an awaitable
  /// stage's function). Where none does, pool threads may take the loop's role (scheduler.hpp).
  [[nodiscard]] virtual bool needs_loop_thread() const noexcept { return false; }

  stage_counters counters;
  std::optional<failure_budget> own_budget;
  failure_counter* budget = nullptr;  // own, or the pipeline's shared one; set at start
  std::size_t index = 0;
  bool failed = false;
};

/// What the runtime asks of the sink writer (the last node) besides what every node does.
class sink_control {
 public:
  virtual ~sink_control() = default;
  /// End the stream for the consumer (keeping what it holds), with the failures that ended it.
  virtual void close_sink(std::vector<stage_failure> failures) = 0;
  /// The loop is going idle: hand the consumer what is there now.
  virtual void flush_sink() = 0;
};

}  // namespace spdl::detail
