#pragma once
// The running part of a pipeline that does not depend on item types: the loop thread, the worker
// pool, the stage nodes, failure accounting, shutdown and statistics.
//
// Threads: the loop thread runs every node's coroutines and owns all node state; the worker pool
// runs plain stage functions; the consumer talks to the loop only through the sink queue, posts
// and `mutex_` below.

#include <spdl/detail/asio.hpp>
#include <spdl/detail/clock.hpp>
#include <spdl/detail/scheduler.hpp>
#include <spdl/detail/worker_pool.hpp>
#include <spdl/detail/stage_counters.hpp>
#include <spdl/detail/trace.hpp>
#include <spdl/error.hpp>
#include <spdl/pipeline/failure_budget.hpp>
#include <spdl/pipeline/options.hpp>
#include <spdl/pipeline/stats.hpp>

#include <condition_variable>
#include <deque>
#include <cstdio>
#include <exception>
#include <future>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <utility>
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
  /// Starts the node's coroutines (on the loop thread).
  virtual void spawn(runtime& rt) = 0;
  /// Shutdown or upstream cancellation: drop the output queue's items and wake its waiters.
  virtual void cancel_output() = 0;
  /// The stage failed: wake whatever of it waits for anything but its queues.
  virtual void on_failed() {}
  virtual queue_stats output_stats(std::chrono::nanoseconds elapsed, clock::time_point now) const = 0;
  /// Items in the output queue now (on the loop thread).
  [[nodiscard]] virtual std::size_t queued() const noexcept = 0;

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

class runtime {
 public:
  /// `sink`: the last of `nodes`.
  runtime(std::vector<std::unique_ptr<node>> nodes, sink_control& sink, build_options options)
      : options_(std::move(options)), nodes_(std::move(nodes)), sink_(sink) {
    shared_budget_.budget = options_.max_failures;
    for (std::size_t i = 0; i < nodes_.size(); ++i) {
      node& n = *nodes_[i];
      n.index = i;
      if (n.own_budget) {
        own_budgets_.push_back(std::make_unique<failure_counter>());
        own_budgets_.back()->budget = *n.own_budget;
        n.budget = own_budgets_.back().get();
      } else {
        n.budget = &shared_budget_;
      }
    }
    if (!options_.trace.empty()) {
      trace_ = std::make_unique<tracer>(options_.trace);
      for (auto& n : nodes_) queue_names_.push_back("queue " + n->counters.name);
    }
  }

  runtime(const runtime&) = delete;
  runtime& operator=(const runtime&) = delete;

  ~runtime() {
    try {
      stop();
    } catch (...) {
    }
    join();
  }

  // ---- consumer side -------------------------------------------------------------------------

  [[nodiscard]] bool started() const {
    std::lock_guard lock(mutex_);
    return started_;
  }

  [[nodiscard]] bool stop_requested() const {
    std::lock_guard lock(mutex_);
    return stop_requested_;
  }

  void start() {
    // All of it under the lock: a stop() on another thread that sees the pipeline started then
    // finds its threads made and its launch queued (its cancellation comes after the launch).
    std::lock_guard lock(mutex_);
    if (started_) throw error("spdl::pipeline::start: the pipeline was already started");
    if (stop_requested_) throw error("spdl::pipeline::start: the pipeline was stopped");
    started_ = true;
    asio::post(loop_, [this] { launch(); });
    if (trace_)
      pool_.emplace(options_.num_threads, [t = trace_.get()](std::size_t i) { t->name_thread("worker " + std::to_string(i)); });
    else
      pool_.emplace(options_.num_threads);
    started_at_ = clock::now();
    guard_.emplace(loop_.get_executor());
    loop_thread_ = std::thread([this] {
      if (trace_) trace_->name_thread("loop");
      ready_queue::scope local(ready_);
      run_loop(loop_, inbox_, [this] { sink_.flush_sink(); });
    });
  }

  /// Cancels every stage and waits for them to finish (without a deadline when `timeout` is
  /// empty). Items already in the sink stay readable.
  void stop(std::optional<std::chrono::nanoseconds> timeout = std::nullopt) {
    if (!request_stop()) return;
    std::unique_lock lock(mutex_);
    if (!timeout) {
      finished_cv_.wait(lock, [this] { return finished_; });
    } else if (!finished_cv_.wait_for(lock, *timeout, [this] { return finished_; })) {
      throw timeout_error("spdl::pipeline::stop: stages still running after " +
                          std::to_string(timeout->count() / 1000000) + " ms");
    }
    lock.unlock();
    join();
  }

  /// Any thread: asks every stage to stop, without waiting for them (stop() waits). Returns
  /// whether the pipeline was started (and so has stages to wait for).
  bool request_stop() {
    std::unique_lock lock(mutex_);
    if (!started_) {
      stop_requested_ = true;
      lock.unlock();
      sink_.close_sink({});
      return false;
    }
    if (!stop_requested_) {
      stop_requested_ = true;
      asio::post(loop_, [this] { cancel_all(); });
    }
    return true;
  }

  /// A snapshot of every stage and queue.
  [[nodiscard]] pipeline_stats stats() {
    {
      std::unique_lock lock(mutex_);
      if (started_ && !joined_ && !loop_.get_executor().running_in_this_thread()) {
        lock.unlock();
        std::promise<pipeline_stats> result;
        auto future = result.get_future();
        asio::post(loop_, [this, &result] { result.set_value(snapshot()); });
        return future.get();
      }
    }
    return snapshot();
  }

  [[nodiscard]] const build_options& options() const noexcept { return options_; }

  // ---- loop side (called on the loop thread only) ------------------------------------------------

  [[nodiscard]] asio::io_context& loop() noexcept { return loop_; }
  [[nodiscard]] worker_pool& pool() noexcept { return *pool_; }
  /// The trace to record into; null when build_options::trace is empty.
  [[nodiscard]] tracer* trace() noexcept { return trace_.get(); }
  [[nodiscard]] loop_inbox& inbox() noexcept { return inbox_; }
  [[nodiscard]] bool stopping() const noexcept { return stopping_; }
  [[nodiscard]] const std::vector<stage_failure>& failures() const noexcept { return failures_; }

  /// Runs a node's coroutine; the pipeline finishes when the last one returns.
  ///
  /// Each runs with a cancellation slot that stop() triggers: what an awaitable stage waits on
  /// (a timer, a socket) is cancelled and completes with operation_aborted, so stop is prompt
  /// even then. The engine's own waits ignore it (they are woken by closing their queues), and
  /// so the coroutine is told not to throw on it.
  void spawn(asio::awaitable<void> work) {
    ++live_;
    asio::cancellation_signal& stop = stop_signals_.emplace_back();
    asio::co_spawn(loop_, cancellable(std::move(work)),
                   asio::bind_cancellation_slot(stop.slot(), [this](std::exception_ptr e) {
                     if (e) failures_.push_back({"spdl engine", e});  // a bug of ours; never silent
                     if (--live_ == 0) finish();
                   }));
  }

  /// Counts one call of node `n`'s function.
  void count_call(node& n) noexcept { ++n.budget->calls; }

  /// Counts a failed call of node `n`. Returns true when it exceeds the budget: the stage has
  /// failed, its upstream is cancelled, and the stage must stop (closing, not cancelling, its
  /// output so that downstream drains).
  bool count_failure(node& n, std::exception_ptr e) {
    ++n.counters.failures;
    ++n.budget->failures;
    report_failure(n, e);
    if (!n.budget->budget.exceeded(n.budget->failures, n.budget->calls)) return false;
    fail(n, std::move(e));
    return true;
  }

  /// Node `n` failed as a whole (a throwing source, an exceeded budget).
  void fail(node& n, std::exception_ptr e) {
    if (n.failed) return;
    n.failed = true;
    failures_.push_back({n.counters.name, std::move(e)});
    n.on_failed();
    for (std::size_t i = 0; i < n.index; ++i) nodes_[i]->cancel_output();
  }

  /// Node `n` failed on behalf of the stages it stands for (a merge source's input pipelines),
  /// each reported under its own name. Every call adds its failures; the node fails once.
  void fail(node& n, std::vector<stage_failure> failures) {
    for (auto& f : failures) failures_.push_back(std::move(f));
    if (n.failed) return;
    n.failed = true;
    n.on_failed();
    for (std::size_t i = 0; i < n.index; ++i) nodes_[i]->cancel_output();
  }

 private:
  void launch() {
    for (auto& n : nodes_) n->spawn(*this);
    if (options_.report_stats_interval.count() > 0) {
      stats_timer_.emplace(loop_);
      asio::co_spawn(loop_, report_periodically(), asio::detached);
    }
    if (trace_) {
      trace_timer_.emplace(loop_);
      asio::co_spawn(loop_, trace_queues(), asio::detached);
    }
  }

  // Every millisecond while the pipeline runs: each queue's occupancy into the trace.
  asio::awaitable<void> trace_queues() {
    while (!finished_at_ && !stopping_) {
      const auto now = clock::now();
      for (std::size_t i = 0; i < nodes_.size(); ++i) trace_->counter(queue_names_[i], nodes_[i]->queued(), now);
      trace_timer_->expires_after(std::chrono::milliseconds(1));
      try {
        co_await trace_timer_->async_wait(asio::use_awaitable);
      } catch (const std::system_error&) {
        co_return;  // cancelled: the pipeline finished or is stopping
      }
    }
  }

  static asio::awaitable<void> cancellable(asio::awaitable<void> work) {
    co_await asio::this_coro::throw_if_cancelled(false);
    co_await std::move(work);
  }

  void cancel_all() {
    stopping_ = true;
    for (auto& s : stop_signals_) s.emit(asio::cancellation_type::terminal);
    for (auto& n : nodes_) n->cancel_output();
    sink_.close_sink(failures_);
    if (stats_timer_) stats_timer_->cancel();
    if (trace_timer_) trace_timer_->cancel();
  }

  void finish() {
    finished_at_ = clock::now();
    if (trace_timer_) trace_timer_->cancel();
    if (stats_timer_) {
      stats_timer_->cancel();
      report();
    }
    {
      std::lock_guard lock(mutex_);
      finished_ = true;
    }
    finished_cv_.notify_all();
  }

  void join() {
    std::lock_guard lock(join_mutex_);
    bool started;
    {
      std::lock_guard state(mutex_);
      if (joined_) return;
      started = started_;
    }
    if (started) {
      guard_.reset();
      if (loop_thread_.joinable()) loop_thread_.join();
      if (pool_) pool_->join();
    } else if (!stop_requested()) {
      return;  // not started and not ending: nothing to join yet
    }
    if (trace_) trace_->write();  // every thread that recorded has joined
    std::lock_guard state(mutex_);
    joined_ = true;
  }

  asio::awaitable<void> report_periodically() {
    while (!finished_at_ && !stopping_) {
      stats_timer_->expires_after(options_.report_stats_interval);
      try {
        co_await stats_timer_->async_wait(asio::use_awaitable);
      } catch (const std::system_error&) {
        co_return;  // cancelled: finish() reports the last time
      }
      if (finished_at_ || stopping_) co_return;
      report();
    }
  }

  void report() {
    try {
      auto s = snapshot();
      if (options_.on_stats)
        options_.on_stats(s);
      else
        print_stats(s);
    } catch (...) {
      // A hook that throws must not take the pipeline down.
    }
  }

  void report_failure(node& n, const std::exception_ptr& e) {
    if (options_.on_failure) {
      try {
        options_.on_failure(stage_failure{n.counters.name, e});
      } catch (...) {
      }
      return;
    }
    constexpr std::size_t logged = 10;
    if (n.counters.failures > logged) return;
    std::string what = "non-standard exception";
    try {
      std::rethrow_exception(e);
    } catch (const std::exception& x) {
      what = x.what();
    } catch (...) {
    }
    std::fprintf(stderr, "spdl: stage '%s': an item failed: %s%s\n", n.counters.name.c_str(),
                 what.c_str(),
                 n.counters.failures == logged ? " (further failures are counted, not logged)"
                                               : "");
  }

  pipeline_stats snapshot() const {
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

  build_options options_;
  // Declared before the loop and pool, so destroyed after them: abandoned handlers and
  // coroutine frames may still refer to nodes while the loop is torn down.
  std::vector<std::unique_ptr<node>> nodes_;
  sink_control& sink_;  // the last node
  std::vector<std::unique_ptr<failure_counter>> own_budgets_;
  failure_counter shared_budget_;
  std::unique_ptr<tracer> trace_;          // (its events name the nodes' stages)
  std::vector<std::string> queue_names_;   // the trace's counters
  std::vector<stage_failure> failures_;  // loop thread
  std::size_t live_ = 0;                 // loop thread
  bool stopping_ = false;                // loop thread
  std::optional<clock::time_point> started_at_;
  std::optional<clock::time_point> finished_at_;  // loop thread (read after join)

  // Before the loop: the slots of abandoned coroutines may be touched while it is torn down.
  std::deque<asio::cancellation_signal> stop_signals_;  // loop thread; one per spawned coroutine
  asio::io_context loop_{1};
  ready_queue ready_{loop_};
  loop_inbox inbox_{loop_};
  std::optional<asio::steady_timer> stats_timer_;
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> guard_;
  std::optional<worker_pool> pool_;
  std::optional<asio::steady_timer> trace_timer_;
  std::thread loop_thread_;

  mutable std::mutex mutex_;
  std::condition_variable finished_cv_;
  bool started_ = false;         // mutex_
  bool stop_requested_ = false;  // mutex_
  bool finished_ = false;        // mutex_
  bool joined_ = false;          // mutex_
  std::mutex join_mutex_;
};

}  // namespace spdl::detail
