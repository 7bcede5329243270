#pragma once
/// \file
/// The option structs of the pipeline builder. Aggregates with defaults, meant for designated
/// initialisers: `.pipe(f, {.concurrency = 8, .order = spdl::output_order::input})`.

#include <spdl/error.hpp>
#include <spdl/pipeline/failure_budget.hpp>
#include <spdl/pipeline/stats.hpp>

#include <asio/any_io_executor.hpp>

#include <chrono>
#include <cstddef>
#include <functional>
#include <optional>
#include <string>
#include <thread>

namespace spdl {

/// The order in which a stage emits its results.
enum class output_order {
  completion,  ///< as calls finish (the default: no head-of-line blocking)
  input,       ///< in the order items arrived (dropped and failed items are skipped)
};

/// Options of `add_source(source, options)`.
struct source_options {
  /// Read the source again and again, forever, with an epoch boundary between passes: a range
  /// is iterated afresh (`std::ranges::begin` again; its elements are copied, never moved out), a
  /// callable is called again after it returned empty. A range or callable with a member
  /// `set_epoch(std::size_t)` gets 0, 1, 2, ... before each pass (a sampler reshuffles there).
  /// Each stage finishes the epoch's items before passing the boundary on; the consumer sees it
  /// as the end of the stream once (`get_item()` returns empty, range-for ends), and reading on
  /// continues with the next epoch on the same running pipeline.
  bool continuous = false;
};

/// Options of `pipe(f, options)`.
struct pipe_options {
  /// Maximum number of calls of `f` in flight at once (>= 1); the stage holds at most this
  /// many items. For calls of milliseconds, a little more than the pool's threads keeps every
  /// thread busy; for calls of microseconds, more buys nothing and costs hand-offs.
  std::size_t concurrency = 1;
  output_order order = output_order::completion;
  /// Shown in statistics and failure reports; defaults to "pipe<index>".
  std::string name;
  /// This stage's own failure budget; without it the stage shares build_options::max_failures.
  std::optional<failure_budget> max_failures;
  /// Where a plain (blocking) `f` runs; defaults to the pipeline's worker pool. Ignored for a
  /// function returning asio::awaitable, which always runs on the pipeline's loop thread.
  std::optional<asio::any_io_executor> executor;
};

/// Options of `aggregate(n, options)`.
struct aggregate_options {
  /// Drop the last, incomplete batch (at the end of the stream and of each epoch) instead of
  /// emitting it.
  bool drop_last = false;
};

namespace detail {
inline std::size_t default_num_threads() noexcept {
  auto n = std::thread::hardware_concurrency();
  return n == 0 ? 1 : n;
}
}  // namespace detail

/// Options of `build(options)`.
struct build_options {
  /// Threads of the worker pool that runs plain (blocking) stage functions.
  std::size_t num_threads = detail::default_num_threads();
  /// One budget shared by every stage that has none of its own.
  failure_budget max_failures = failure_budget::unlimited();
  /// > 0: report statistics this often, and once at the end.
  std::chrono::milliseconds report_stats_interval{0};
  /// Receives the reports (on the pipeline's loop thread, the last before the pipeline is
  /// joined); default: a table on stderr.
  std::function<void(const pipeline_stats&)> on_stats;
  /// Receives each failed item (on the loop thread, never while the engine's own work runs on
  /// another; every call before the end of the stream, or of its item's epoch, is read): the
  /// stage's name and the exception. Default: the first 10 failures of each stage are logged
  /// on stderr; all are counted (but a call that fails after a stage failure ended the
  /// stream: dropped with it, see failure_budget). Neither hook keeps the engine's work on the
  /// loop thread (README, "Threads").
  std::function<void(const stage_failure&)> on_failure;
  /// A path: write a Chrome trace-event JSON file there (open it in ui.perfetto.dev or
  /// chrome://tracing): a track per thread, a slice per call with its stage and item, queue
  /// occupancy, epoch boundaries. Opened at build (spdl::error if it cannot be), written when
  /// the pipeline's threads have finished (at the end of stop() or destruction). "" (default):
  /// no trace, no cost.
  std::string trace;
  /// Items each queue between two stages holds (a queue after aggregate(n) holds batches); at
  /// least 1. The sink holds add_sink's buffer_size. Items alive stay within the stages'
  /// concurrency plus the queues' capacities, plus one the source holds while it waits for
  /// room, what each aggregate is filling and what the consumer holds (README, "Bounded
  /// memory"); each queue's slots are allocated when the pipeline is built. The default keeps
  /// that small for items of megabytes. For cheap items (microseconds of work or less), larger
  /// queues let a stage take and pass on items in runs: on an idle 2-core machine, 1M ints
  /// through an awaitable stage took 58-94 ns per item with queues of 32 against 89-100 with
  /// queues of 2 (benchmarks/README.md, "Queues of more than 2 items between stages" and "A
  /// hiccup that ended refills for good").
  std::size_t queue_capacity = 2;
};

}  // namespace spdl
