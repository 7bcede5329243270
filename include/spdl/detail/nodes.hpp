#pragma once
// The stage nodes: long-lived coroutines on the loop thread, one per unit of concurrency, each
// looping receive -> work -> send. No coroutine frame and no allocation per item beyond the
// item itself, except the hand-off to the worker pool for plain functions.

#include <spdl/async/channel.hpp>
#include <spdl/detail/asio.hpp>
#include <spdl/detail/clock.hpp>
#include <spdl/detail/runtime.hpp>
#include <spdl/detail/sink_queue.hpp>
#include <spdl/detail/worker_pool.hpp>
#include <spdl/detail/traits.hpp>
#include <spdl/pipeline/options.hpp>

#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
#include <iterator>
#include <optional>
#include <ranges>
#include <type_traits>
#include <utility>
#include <vector>

namespace spdl::detail {

/// Each node's output: the queue the next node reads.
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

// ---- source ----------------------------------------------------------------------------------

/// Pulls items out of a range the pipeline owns, one pass per epoch. Elements of an owned
/// container are moved out when it is read once; a view's elements, and those of a range read
/// again each epoch, are copied.
template <class R>
class range_reader {
 public:
  using value_type = std::ranges::range_value_t<R>;

  range_reader(R range, bool continuous) : range_(std::move(range)), continuous_(continuous) {}

  /// Starts pass `epoch`: the range's own set_epoch first, when it has one.
  void set_epoch(std::size_t epoch) {
    if constexpr (has_set_epoch<R>) range_.set_epoch(epoch);
    it_.reset();
  }

  std::optional<value_type> operator()() {
    if (!it_) it_.emplace(std::ranges::begin(range_));
    if (*it_ == std::ranges::end(range_)) return std::nullopt;
    std::optional<value_type> v;
    if constexpr (std::ranges::view<R>) {
      v.emplace(**it_);
    } else if constexpr (copies_elements) {
      if (continuous_)
        v.emplace(**it_);
      else
        v.emplace(std::ranges::iter_move(*it_));
    } else {
      v.emplace(std::ranges::iter_move(*it_));  // never continuous (add_source checks)
    }
    ++*it_;
    return v;
  }

  /// Whether the elements can be copied out (what a continuous source needs).
  static constexpr bool copies_elements =
      std::is_constructible_v<value_type, std::ranges::range_reference_t<R>>;

 private:
  R range_;
  bool continuous_;
  std::optional<std::ranges::iterator_t<R>> it_;
};

template <class T, class Next>  // Next: () -> std::optional<T>
class source_node final : public producer_node<T> {
 public:
  source_node(Next next, source_options options)
      : next_(std::move(next)), options_(options) {
    this->counters.name = "source";
  }

  void spawn(runtime& rt) override { rt.spawn(run(rt)); }

 private:
  asio::awaitable<void> run(runtime& rt) {
    // One clock read per item: an item's end is the next one's start, unless the source waited
    // for room in between (then the clock is read again).
    auto t0 = clock::now();
    for (std::size_t epoch = 0;; ++epoch) {
      std::exception_ptr error;
      if constexpr (has_set_epoch<Next>) {
        try {
          next_.set_epoch(epoch);
        } catch (...) {
          error = std::current_exception();
        }
      }
      bool open = !error;
      while (open) {
        std::optional<T> item;
        try {
          item = next_();
        } catch (...) {
          error = std::current_exception();
        }
        if (error || !item) break;
        const auto t1 = clock::now();
        this->counters.record(t1 - t0);
        if (tracer* trace = rt.trace()) trace->slice(this->counters.name, produced_, t0, t1);
        ++produced_;
        t0 = t1;
        bool must_wait;
        if (this->fast_send(this->out_, *item, must_wait)) continue;
        open = must_wait;
        if (open) open = co_await this->out_.async_send(std::move(*item));
        t0 = clock::now();
      }
      if (error) {
        rt.fail(*this, error);
        break;
      }
      if (!open || !options_.continuous || rt.stopping()) break;
      if (tracer* trace = rt.trace()) trace->instant("epoch " + std::to_string(epoch) + " ends", clock::now());
      if (!co_await this->send_boundary()) break;
      t0 = clock::now();
    }
    this->out_.close();
  }

  Next next_;
  source_options options_;
  std::uint64_t produced_ = 0;  // items made: their numbers in the trace
};

// ---- pipe ------------------------------------------------------------------------------------

template <class In, class F>
class pipe_node final : public producer_node<typename stage_result<F, In>::type> {
  using traits = stage_result<F, In>;
  using Out = typename traits::type;

 public:
  pipe_node(F f, pipe_options options, channel<In>& in)
      : f_(std::move(f)), options_(std::move(options)), in_(in) {
    this->counters.name = options_.name;
    this->counters.concurrency = options_.concurrency;
    this->own_budget = options_.max_failures;
    if (ordered()) turn_waiters_.resize(options_.concurrency);
  }

  void spawn(runtime& rt) override {
    pool_ = &rt.pool();
    inbox_ = &rt.inbox();
    trace_ = rt.trace();
    active_ = options_.concurrency;
    epoch_waiters_.resize(options_.concurrency);
    for (std::size_t i = 0; i < options_.concurrency; ++i) rt.spawn(work(rt, i));
  }

  void on_failed() override { release_turns(); }

  void cancel_output() override {
    this->out_.cancel();
    release_turns();
  }

 private:
  struct call_result {
    std::optional<Out> value;
    std::exception_ptr error;
    std::chrono::nanoseconds elapsed{0};
  };

  // Runs on the worker pool: the call itself, timed, its exception kept.
  struct pool_call {
    pipe_node* self;
    In* item;
    call_result* result;
    std::uint64_t seq;

    void operator()() const {
      const auto t0 = clock::now();
      try {
        if constexpr (traits::may_drop)
          result->value = std::invoke(self->f_, std::move(*item));
        else
          result->value.emplace(std::invoke(self->f_, std::move(*item)));
      } catch (...) {
        result->error = std::current_exception();
      }
      const auto t1 = clock::now();
      result->elapsed = t1 - t0;
      if (self->trace_) self->trace_->slice(self->counters.name, seq, t0, t1);
    }
  };

  // A call on its way to a pool thread and back; lives in the waiting worker's frame.
  struct pool_task {
    pool_call call;
    loop_inbox* inbox;
    std::optional<resume_handler> handler;

    static void run(void* self) {
      auto* t = static_cast<pool_task*>(self);
      t->call();
      t->inbox->push(std::move(*t->handler));  // t may be gone once the worker resumes
    }
  };

  // Runs the call on the pipeline's pool (a job without allocation), or posted to the stage's
  // own executor; the worker resumes on the loop through the inbox.
  struct offload {
    worker_pool* pool;
    const std::optional<asio::any_io_executor>* executor;
    pool_task* task;

    void operator()(resume_handler h) const {
      task->handler.emplace(std::move(h));
      if (*executor)
        asio::post(**executor, [t = task] { pool_task::run(t); });
      else
        pool->post({&pool_task::run, task});
    }
  };

  [[nodiscard]] bool ordered() const noexcept { return options_.order == output_order::input; }

  asio::awaitable<void> work(runtime& rt, std::size_t worker) {
    // Loop stages read the clock once per call where they can: a call's end is the next call's
    // start when the worker did not wait in between (its own hand-off, tens of ns, then counts
    // as call time).
    std::optional<clock::time_point> last_end;
    for (;;) {
      // seq: the item's place in the input order, fixed when it left the channel (not when this
      // coroutine resumes: a receiver handed an item may run after one that took a later one);
      // epoch: the epoch boundaries that left before it, fixed the same way.
      std::uint64_t seq = 0;
      std::uint64_t epoch = 0;
      std::optional<In> item;
      taken got = take_next(in_, item, &seq, &epoch);
      if (got == taken::nothing_yet) {
        got = co_await receive_next(in_, item, &seq, &epoch);
        last_end.reset();
      }
      if (got == taken::end) break;
      if (this->failed || rt.stopping()) {
        finish_turn(seq);
        break;
      }
      if (got == taken::boundary) {
        const bool open = co_await pass_boundary(seq, epoch, worker);
        last_end.reset();
        if (!open) break;
        continue;
      }

      call_result r;
      rt.count_call(*this);
      if constexpr (traits::on_loop) {
        const auto t0 = last_end ? *last_end : clock::now();
        try {
          auto pending = std::invoke(f_, std::move(*item));
          typename traits::produced v = co_await std::move(pending);
          if constexpr (traits::may_drop)
            r.value = std::move(v);
          else
            r.value.emplace(std::move(v));
        } catch (...) {
          r.error = std::current_exception();
        }
        last_end = clock::now();
        r.elapsed = *last_end - t0;
        if (trace_) trace_->async_slice(this->counters.name, seq, t0, *last_end);
      } else {
        pool_task task{pool_call{this, &*item, &r, seq}, inbox_, std::nullopt};
        co_await suspend_with(offload{pool_, &options_.executor, &task});
      }
      item.reset();
      this->counters.record(r.elapsed);

      bool deliver = !this->failed && !rt.stopping();
      // A call that ends in an error once stop() has begun is dropped with the rest, not counted:
      // stop cancels what awaitable calls wait on, and they end with operation_aborted.
      if (r.error && !rt.stopping()) {
        deliver = false;
        if (rt.count_failure(*this, r.error)) {
          finish_turn(seq);
          release_item(epoch);
          break;
        }
      }
      if (ordered()) {
        while (turn_ != seq && !released_) {
          co_await suspend(turn_waiters_[seq % turn_waiters_.size()]);
          last_end.reset();
        }
      } else {
        // Completion order within an epoch, never across: an item of the next epoch waits
        // until this stage has passed the boundary on.
        while (epoch_out_ != epoch && !released_) {
          co_await suspend(epoch_waiters_[worker]);
          last_end.reset();
        }
      }
      bool open = true;
      if (deliver && r.value) {
        bool must_wait;
        if (!this->fast_send(this->out_, *r.value, must_wait)) {
          open = must_wait;
          if (open) {
            open = co_await this->out_.async_send(std::move(*r.value));
            last_end.reset();
          }
        }
      }
      finish_turn(seq);
      release_item(epoch);
      if (!open || this->failed) break;
    }
    if (--active_ == 0) this->out_.close();
  }

  // An epoch boundary, taken by this worker: it passes on once every item before it is done —
  // in input order, when its turn comes; in completion order, once the previous boundary has
  // passed and every item of the epoch it ends is done. Those items are counted from the
  // boundary's place in the input (`seq` counts items and boundaries alike), never from the
  // workers holding them: a worker handed an item before the boundary left the channel may not
  // have resumed yet, and the boundary must not overtake it. False: the output is closed.
  asio::awaitable<bool> pass_boundary(std::uint64_t seq, std::uint64_t epoch, std::size_t worker) {
    if (ordered()) {
      while (turn_ != seq && !released_) co_await suspend(turn_waiters_[seq % turn_waiters_.size()]);
    } else {
      while (epoch_out_ != epoch && !released_) co_await suspend(epoch_waiters_[worker]);
      // Every earlier epoch has passed: the items before this boundary, less the boundaries and
      // the earlier epochs' items, are this epoch's.
      if (!released_) epoch_items_ = seq - epoch - items_before_;
      while (done_in_epoch_ < epoch_items_ && !released_) co_await suspend(epoch_waiters_[worker]);
      items_before_ += done_in_epoch_;
      done_in_epoch_ = 0;
      epoch_items_ = no_boundary;
    }
    bool open = false;
    if (!released_) open = co_await this->send_boundary();
    ++epoch_out_;
    finish_turn(seq);
    wake_epoch_waiters();
    co_return open;
  }

  // An item is done. In completion order only items of the epoch being passed on get here
  // (the others wait for their epoch first), unless the stage is released, when nothing waits.
  void release_item(std::uint64_t) {
    if (ordered()) return;
    if (++done_in_epoch_ == epoch_items_) wake_epoch_waiters();
  }

  void wake_epoch_waiters() {
    for (auto& p : epoch_waiters_)
      if (p.waiting()) p.resume();
  }

  // Failure or shutdown: nobody waits for a turn or an epoch any more (the order no longer
  // matters).
  void release_turns() {
    released_ = true;
    for (auto& p : turn_waiters_)
      if (p.waiting()) p.resume();
    wake_epoch_waiters();
  }

  void finish_turn(std::uint64_t seq) {
    if (!ordered() || seq != turn_) return;
    ++turn_;
    auto& next = turn_waiters_[turn_ % turn_waiters_.size()];
    if (next.waiting()) next.resume();
  }

  F f_;
  pipe_options options_;
  channel<In>& in_;
  worker_pool* pool_ = nullptr;
  loop_inbox* inbox_ = nullptr;
  tracer* trace_ = nullptr;  // build_options::trace, or none
  std::size_t active_ = 0;
  std::uint64_t turn_ = 0;
  bool released_ = false;
  std::vector<parked> turn_waiters_;
  static constexpr std::uint64_t no_boundary = ~std::uint64_t{0};
  std::uint64_t epoch_out_ = 0;        // boundaries passed on
  std::uint64_t items_before_ = 0;     // items of the epochs passed on
  std::uint64_t done_in_epoch_ = 0;    // items of epoch epoch_out_ done (completion order)
  std::uint64_t epoch_items_ = no_boundary;  // its item count, once its boundary waits for them
  std::vector<parked> epoch_waiters_;  // one per worker
};

// ---- aggregate / disaggregate ------------------------------------------------------------------

template <class T>
class aggregate_node final : public producer_node<std::vector<T>> {
 public:
  aggregate_node(std::size_t size, aggregate_options options, channel<T>& in)
      : size_(size), options_(options), in_(in) {
    this->counters.name = "aggregate(" + std::to_string(size) + ")";
  }

  void spawn(runtime& rt) override { rt.spawn(run(rt)); }

 private:
  asio::awaitable<void> run(runtime& rt) {
    std::vector<T> batch;
    batch.reserve(size_);
    for (;;) {
      std::optional<T> item;
      taken got = take_next(in_, item);
      if (got == taken::nothing_yet) got = co_await receive_next(in_, item);
      if (got == taken::end) break;
      if (got == taken::boundary) {
        // The partial batch belongs to the epoch that ends here.
        if (!co_await flush(batch, rt)) break;
        if (!co_await this->send_boundary()) break;
        continue;
      }
      batch.push_back(std::move(*item));
      if (batch.size() < size_) continue;
      if (!co_await emit(batch)) break;
    }
    co_await flush(batch, rt);
    this->out_.close();
  }

  // The partial batch at the end of an epoch or stream: emitted, or dropped with drop_last.
  asio::awaitable<bool> flush(std::vector<T>& batch, runtime& rt) {
    if (batch.empty()) co_return true;
    if (options_.drop_last || rt.stopping()) {
      batch.clear();
      co_return true;
    }
    co_return co_await emit(batch);
  }

  asio::awaitable<bool> emit(std::vector<T>& batch) {
    this->counters.record(std::chrono::nanoseconds{0});
    std::vector<T> full = std::move(batch);
    batch = std::vector<T>();
    batch.reserve(size_);
    bool must_wait;
    if (this->fast_send(this->out_, full, must_wait)) co_return true;
    if (!must_wait) co_return false;
    co_return co_await this->out_.async_send(std::move(full));
  }

  std::size_t size_;
  aggregate_options options_;
  channel<T>& in_;
};

template <class R>
class disaggregate_node final : public producer_node<std::ranges::range_value_t<R>> {
  using Out = std::ranges::range_value_t<R>;

 public:
  explicit disaggregate_node(channel<R>& in) : in_(in) { this->counters.name = "disaggregate"; }

  void spawn(runtime& rt) override { rt.spawn(run(rt)); }

 private:
  asio::awaitable<void> run(runtime& rt) {
    bool open = true;
    while (open) {
      std::optional<R> group;
      taken got = take_next(in_, group);
      if (got == taken::nothing_yet) got = co_await receive_next(in_, group);
      if (got == taken::end) break;
      if (got == taken::boundary) {
        open = co_await this->send_boundary();
        continue;
      }
      this->counters.record(std::chrono::nanoseconds{0});
      for (auto it = std::ranges::begin(*group); it != std::ranges::end(*group); ++it) {
        Out v = std::ranges::iter_move(it);
        bool must_wait;
        if (this->fast_send(this->out_, v, must_wait)) continue;
        open = must_wait;
        if (open) open = co_await this->out_.async_send(std::move(v));
        if (!open || rt.stopping()) break;
      }
    }
    this->out_.close();
  }

  channel<R>& in_;
};

// ---- sink ------------------------------------------------------------------------------------

/// Moves items from the last stage's queue into the consumer's sink queue.
template <class T>
class sink_node final : public node {
 public:
  sink_node(std::size_t buffer_size, channel<T>& in) : queue_(buffer_size), in_(in) {
    this->counters.name = "sink";
  }

  sink_queue<T>& queue() noexcept { return queue_; }
  void spawn(runtime& rt) override { rt.spawn(run(rt)); }
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
