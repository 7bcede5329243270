#pragma once
// The running part of a pipeline that does not depend on item types: its lifecycle (start, the
// loop thread and the worker pool, stop, join) and the nodes it runs. Failure accounting is the
// failure_ledger's, statistics the stats_reporter's; the runtime owns both.
//
// Threads: the loop's role (held by the loop thread, or for a while by a pool thread: see
// scheduler.hpp) runs every node's coroutines and owns all node state; the worker pool runs plain
// stage functions; the consumer talks to the loop only through the sink queue, posts and
// `mutex_` below.

#include <spdl/detail/asio.hpp>
#include <spdl/detail/clock.hpp>
#include <spdl/detail/failure_ledger.hpp>
#include <spdl/detail/node.hpp>
#include <spdl/detail/scheduler.hpp>
#include <spdl/detail/stats_reporter.hpp>
#include <spdl/detail/trace.hpp>
#include <spdl/detail/worker_pool.hpp>
#include <spdl/error.hpp>
#include <spdl/pipeline/options.hpp>
#include <spdl/pipeline/stats.hpp>

#include <condition_variable>
#include <deque>
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

class runtime {
 public:
  /// `sink`: the last of `nodes`.
  runtime(std::vector<std::unique_ptr<node>> nodes, sink_control& sink, build_options options)
      : options_(std::move(options)),
        nodes_(std::move(nodes)),
        sink_(sink),
        ledger_(nodes_, options_.max_failures, options_.on_failure, inbox_),
        trace_(options_.trace.empty() ? nullptr : std::make_unique<tracer>(options_.trace)),
        reporter_(nodes_, options_, trace_.get(), inbox_) {
    for (std::size_t i = 0; i < nodes_.size(); ++i) {
      nodes_[i]->index = i;
      nodes_[i]->set_queue_capacity(options_.queue_capacity);
    }
    // Pool threads may run the loop's work (scheduler.hpp) unless a stage was promised the loop
    // thread: an awaitable stage's function. The on_stats and on_failure hooks were promised it
    // too: where others may hold the role, their calls wait for the loop thread
    // (loop_inbox::on_loop_thread), and the end of the stream waits for them.
    bool loop_thread_only = false;
    for (const auto& n : nodes_) loop_thread_only = loop_thread_only || n->needs_loop_thread();
    inbox_.allow_drivers(!loop_thread_only, [this] { sink_.flush_sink(); });
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
    std::function<void(std::size_t)> on_start;
    if (trace_)
      on_start = [t = trace_.get()](std::size_t i) { t->name_thread("worker " + std::to_string(i)); };
    pool_.emplace(options_.num_threads, on_start, !inbox_.drivers_allowed());
    reporter_.started();
    guard_.emplace(loop_.get_executor());
    loop_thread_ = std::thread([this] {
      if (trace_) trace_->name_thread("loop");
      ready_queue::scope local(ready_);
      loop_inbox::loop_thread_here() = true;
      worker_pool::watch_state watch;
      run_loop(
          loop_, inbox_, [&] { pool_->watch(watch); },
          [&] {
            sink_.flush_sink();
            pool_->watch(watch, /*now_or_never=*/true);
            if (trace_) reporter_.trace_settled();
          });
      // A hook's last calls (the last statistics), queued by a thread that held the role as
      // the loop ran out: theirs is this thread.
      while (!inbox_.try_take_role()) std::this_thread::yield();
      inbox_.run_loop_thread_calls();
      inbox_.release_role();
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
      inbox_.post([this] { cancel_all(); });
    }
    return true;
  }

  /// A snapshot of every stage and queue.
  [[nodiscard]] pipeline_stats stats() {
    {
      std::unique_lock lock(mutex_);
      // On the loop, the snapshot is taken at once; but a pool thread running a call with the
      // role lent (loop_inbox::role_lent) is on the loop without holding its state.
      // A hook's call queued for the loop thread runs holding the role, outside a handler.
      if (started_ && !joined_ && !loop_inbox::making_calls_here() &&
          (!loop_.get_executor().running_in_this_thread() || loop_inbox::lending_here())) {
        lock.unlock();
        std::promise<pipeline_stats> result;
        auto future = result.get_future();
        inbox_.post([this, &result] { result.set_value(reporter_.snapshot()); });
        return future.get();
      }
    }
    return reporter_.snapshot();
  }

  [[nodiscard]] const build_options& options() const noexcept { return options_; }

  // ---- loop side (called on the loop only: by the thread that holds its role) -------------------

  [[nodiscard]] asio::io_context& loop() noexcept { return loop_; }
  [[nodiscard]] worker_pool& pool() noexcept { return *pool_; }
  /// The trace to record into; null when build_options::trace is empty.
  [[nodiscard]] tracer* trace() noexcept { return trace_.get(); }

  /// With the trace on, on the loop: an item moved at about `now` (stats_reporter::trace_queues).
  void trace_queues(clock::time_point now) {
    if (trace_) reporter_.trace_queues(now);
  }
  [[nodiscard]] loop_inbox& inbox() noexcept { return inbox_; }
  [[nodiscard]] bool stopping() const noexcept { return stopping_; }
  [[nodiscard]] const std::vector<stage_failure>& failures() const noexcept {
    return ledger_.failures();
  }

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
                     if (e) ledger_.add({"spdl engine", e});  // a bug of ours; never silent
                     if (--live_ == 0) finish();
                   }));
  }

  /// Counts one call of node `n`'s function.
  void count_call(node& n) noexcept { failure_ledger::count_call(n); }

  /// Counts a failed call of node `n`. Returns true when it exceeds the budget: the stage has
  /// failed, its upstream is cancelled, and the stage must stop (closing, not cancelling, its
  /// output so that downstream drains).
  bool count_failure(node& n, std::exception_ptr e) {
    if (!ledger_.count_failure(n, e)) return false;
    fail(n, std::move(e));
    return true;
  }

  /// Node `n` failed as a whole (a throwing source, an exceeded budget).
  void fail(node& n, std::exception_ptr e) {
    if (n.failed) return;
    n.failed = true;
    ledger_.add({n.counters.name, std::move(e)});
    n.on_failed();
    for (std::size_t i = 0; i < n.index; ++i) nodes_[i]->cancel_output();
  }

  /// Node `n` failed on behalf of the stages it stands for (a merge source's input pipelines),
  /// each reported under its own name. Every call adds its failures; the node fails once.
  void fail(node& n, std::vector<stage_failure> failures) {
    for (auto& f : failures) ledger_.add(std::move(f));
    if (n.failed) return;
    n.failed = true;
    n.on_failed();
    for (std::size_t i = 0; i < n.index; ++i) nodes_[i]->cancel_output();
  }

 private:
  void launch() {
    for (auto& n : nodes_) n->spawn(*this);
    reporter_.launch(loop_);
  }

  static asio::awaitable<void> cancellable(asio::awaitable<void> work) {
    co_await asio::this_coro::throw_if_cancelled(false);
    co_await std::move(work);
  }

  void cancel_all() {
    stopping_ = true;
    for (auto& s : stop_signals_) s.emit(asio::cancellation_type::terminal);
    for (auto& n : nodes_) n->cancel_output();
    // After every failure reported to the hook (on the loop thread, which may be behind).
    inbox_.after_loop_thread_calls([this] { sink_.close_sink(ledger_.failures()); });
    reporter_.stop();
  }

  void finish() {
    reporter_.finish();
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
      inbox_.wake();
      if (loop_thread_.joinable()) loop_thread_.join();
      if (pool_) pool_->join();
    } else if (!stop_requested()) {
      return;  // not started and not ending: nothing to join yet
    }
    if (trace_) trace_->write();  // every thread that recorded has joined
    std::lock_guard state(mutex_);
    joined_ = true;
  }

  build_options options_;
  // Declared before the loop and pool, so destroyed after them: abandoned handlers and
  // coroutine frames may still refer to nodes while the loop is torn down.
  std::vector<std::unique_ptr<node>> nodes_;
  sink_control& sink_;                // the last node
  failure_ledger ledger_;             // the loop
  std::unique_ptr<tracer> trace_;     // (its events name the nodes' stages)
  std::size_t live_ = 0;              // the loop
  bool stopping_ = false;             // the loop

  // Before the loop: the slots of abandoned coroutines may be touched while it is torn down.
  std::deque<asio::cancellation_signal> stop_signals_;  // the loop; one per spawned coroutine
  asio::io_context loop_{1};
  ready_queue ready_{loop_};
  loop_inbox inbox_{loop_, ready_};
  stats_reporter reporter_;  // after the loop: its timers go first
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> guard_;
  std::optional<worker_pool> pool_;
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
