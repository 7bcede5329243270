#pragma once
// A pipe stage: `concurrency` long-lived coroutines on the loop, each looping receive -> call ->
// send. A function returning asio::awaitable runs on the loop (which then stays on the loop
// thread: scheduler.hpp); a plain one is handed to the worker pool (or the stage's executor)
// without allocation, and its worker resumes through the loop's inbox. Input or completion
// order, epoch boundaries, failure budgets.

#include <spdl/detail/channel.hpp>
#include <spdl/detail/asio.hpp>
#include <spdl/detail/clock.hpp>
#include <spdl/detail/runtime.hpp>
#include <spdl/detail/scheduler.hpp>
#include <spdl/detail/stage_io.hpp>
#include <spdl/detail/traits.hpp>
#include <spdl/detail/worker_pool.hpp>
#include <spdl/pipeline/options.hpp>

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
#include <optional>
#include <utility>
#include <vector>

namespace spdl::detail {

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

  [[nodiscard]] bool needs_loop_thread() const noexcept override { return traits::on_loop; }

  void cancel_output() override {
    this->out_.cancel();
    release_turns();
  }

 private:
  // A worker waiting for its turn (input order), in its own frame; `turn_waiters_` points to it
  // by its item's place while it waits (the worker that wakes it clears the place, so a later
  // item's worker can wait there before this one has resumed).
  struct turn_waiter {
    parked park;
    bool ready = false;  // its result waits to be sent, by the worker in turn (finish_turn)
    std::optional<Out>* result = nullptr;  // that result; none: nothing to send
    bool sent = false;   // it was sent, and the turn passed on: the worker resumes past both
  };

  struct call_result {
    std::optional<Out> value;
    std::exception_ptr error;
    std::chrono::nanoseconds elapsed{0};
    bool timed = false;  // `elapsed` was measured (stage_counters::time_next)
  };

  // Runs on the worker pool: the call itself, timed when `result->timed` says so, its exception
  // kept.
  struct pool_call {
    pipe_node* self;
    In* item;
    call_result* result;
    std::uint64_t seq;

    void operator()() const {
      const auto t0 = result->timed ? clock::now() : clock::time_point{};
      try {
        if constexpr (traits::may_drop)
          result->value = std::invoke(self->f_, std::move(*item));
        else
          result->value.emplace(std::invoke(self->f_, std::move(*item)));
      } catch (...) {
        result->error = std::current_exception();
      }
      if (!result->timed) return;
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

    // On a pool thread, which may carry the item on itself (loop_inbox::complete).
    static void run(void* self) {
      auto* t = static_cast<pool_task*>(self);
      t->call();
      t->inbox->complete(std::move(*t->handler));  // t may be gone once the worker resumes
    }
    // On the stage's own executor: the loop thread takes it from there.
    static void run_elsewhere(pool_task* t) {
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
        asio::post(**executor, [t = task] { pool_task::run_elsewhere(t); });
      else
        pool->post({&pool_task::run, task});
    }
  };

  [[nodiscard]] bool ordered() const noexcept { return options_.order == output_order::input; }

  // Carrying cheap calls on (TBB's model: the worker that has an item takes it through the next
  // filter). A call to another pool thread and back costs the loop's work about as much as the
  // rest of an item's way (a post, a pop, a completion from another core, a resumption: `x + 1`
  // in benchmarks/engine_overhead.cpp), and one thread at a time does the loop's work: a call
  // shorter than a few hundred ns gains nothing on another thread. So where a stage's calls
  // have been that short for long enough (`short_run_` reaches `carry_after`), a pool thread
  // that holds the loop's role (it drives: scheduler.hpp) runs the call itself, lending the
  // role meanwhile (loop_inbox::role_lent); so does the sink's consumer doing the loop's work
  // while it waits for an item (loop_inbox::help). Never on the loop thread, never with the
  // stage's own executor.
  //
  // The count: a call under `carry_below` adds one, up to `max_run`; one of `long_call` or
  // more (a read that missed a cache, a lock that waited, or a short call whose thread lost its
  // core) takes off `long_penalty`, so that a stage with more than one such call in 257 is not
  // carried on, and a few in a row take a carried stage back to the pool. (It used to set the
  // count back to zero: with five threads on two cores, one carried call in some 8,000 was
  // preempted, and each time 1,024 calls went to the pool before the stage was carried again,
  // up to 18% of the calls in benchmarks/dataloader.cpp, which then ran 1.4-1.7x slower.)
  // One in between (a call that a timer interrupt or a busy core made slower) takes off 16 when
  // it was carried, so that more than one in 17 of them keeps the stage on the pool. Between
  // the two on a pool thread it counts for nothing: a pool thread woken for the call, or on
  // another core than the item, pays cache misses there that a carried call does not (with the
  // consumer doing the loop's work, a tenth of `x + 1`'s calls on the pool took 250 ns or more,
  // and kept the stage from being carried on for good).
  //
  // A stage of concurrency 1 (a dataloader's collate) counts calls under `carry_below_serial`
  // as short: its calls run one at a time wherever they run, so carrying one costs no
  // parallelism of its own, and a call timed on another pool thread includes the cache misses
  // of moving its item there, which a carried call does not pay (the dataloader's collate of 32
  // indices: 0.9 us a call on the pool).
  static constexpr std::chrono::nanoseconds carry_below{250};
  static constexpr std::chrono::nanoseconds carry_below_serial{2'000};
  static constexpr std::chrono::nanoseconds long_call{10'000};
  static constexpr std::size_t carry_after = 1024;
  static constexpr std::size_t max_run = 2 * carry_after;
  static constexpr std::size_t long_penalty = 256;

  [[nodiscard]] bool carries_on() const noexcept {
    return short_run_ >= carry_after && !options_.executor &&
           (pool_->owns_calling_thread() || loop_inbox::helper_waits());
  }

  // Whether the next call is timed for watch_call: every call of a stage whose run of short
  // calls is not used up, so that a run is seen whole; but about one in 8, at random, of a
  // stage carried on with its run full. A clock read costs some 30 ns (a tenth of a carried
  // item's way through the engine: benchmarks/engine_overhead.cpp). At random, so that calls
  // whose cost alternates cannot keep the timed ones cheap; and the first timed call that is
  // not short takes the run below full, and every call is timed again. An untimed call that
  // keeps its lent role past loop_inbox::take_over_after counts as long (the loop thread takes
  // the role over: at once if it spins, after its doze if it dozes); an untimed one shorter
  // than that, of 10 us or more, goes unseen.
  bool watches_next(bool carried) noexcept {
    if (short_run_ == 0) return false;
    if (!carried || short_run_ < max_run) return true;
    sample_ = sample_ * 6364136223846793005ULL + 1442695040888963407ULL;  // an LCG (Knuth's MMIX)
    return sample_ >> 61 == 0;  // its top 3 bits: 1 in 8
  }

  void watch_call(std::chrono::nanoseconds t, bool carried) noexcept {
    if (t < (options_.concurrency == 1 ? carry_below_serial : carry_below))
      short_run_ = std::min(short_run_ + 1, max_run);
    else if (t >= long_call)
      short_run_ = short_run_ > long_penalty ? short_run_ - long_penalty : 0;
    else if (carried)
      short_run_ = short_run_ > 16 ? short_run_ - 16 : 0;
  }

  asio::awaitable<void> work(runtime& rt, std::size_t worker) {
    // Loop stages read the clock once per timed call where they can: a call's end is the next
    // call's start when the worker did not wait in between and timed the call before (its own
    // hand-off, tens of ns, then counts as call time).
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
      r.timed = trace_ || this->counters.time_next();
      rt.count_call(*this);
      if constexpr (traits::on_loop) {
        const auto t0 = !r.timed ? clock::time_point{} : last_end ? *last_end : clock::now();
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
        if (r.timed) {
          last_end = clock::now();
          r.elapsed = *last_end - t0;
          if (trace_) trace_->async_slice(this->counters.name, seq, t0, *last_end);
        } else {
          last_end.reset();
        }
      } else {
        // Calls are timed for carries_on as watches_next says; the stage's statistics still
        // take the sample alone.
        const bool sampled = r.timed;
        const bool carried = carries_on();
        r.timed = sampled || watches_next(carried);
        bool taken_over = false;
        if (carried) {
          // On the pool thread that does the loop's work, a call that has always been shorter
          // than a hand-off: run it here, with the loop's role lent meanwhile.
          const loop_inbox::role_lent lent(*inbox_, &taken_over);
          pool_call{this, &*item, &r, seq}();
        } else {
          pool_task task{pool_call{this, &*item, &r, seq}, inbox_, std::nullopt};
          co_await suspend_with(offload{pool_, &options_.executor, &task});
        }
        if (r.timed)
          watch_call(r.elapsed, carried);
        else if (taken_over)  // untimed, but it kept the role past loop_inbox::take_over_after
          watch_call(long_call, carried);
        r.timed = sampled;
      }
      item.reset();
      if (trace_) rt.trace_queues(clock::now());
      if (r.timed)
        this->counters.record(r.elapsed);
      else
        this->counters.count();

      bool deliver = !this->failed && !rt.stopping();
      // A call that ends in an error once stop() has begun is dropped with the rest, not counted:
      // stop cancels what awaitable calls wait on, and they end with operation_aborted. So is one
      // that ends in an error after its stage failed (a call in flight when another's failure
      // exceeded the budget) or its output was cancelled (a stage after it failed): the count
      // stops at the failure that ended the stream (release_turns).
      if (r.error && !rt.stopping() && !released_) {
        deliver = false;
        if (rt.count_failure(*this, r.error)) {
          finish_turn(seq);
          release_item(epoch);
          break;
        }
      }
      bool sent_for_us = false;  // by the worker whose turn came before (finish_turn)
      if (ordered()) {
        turn_waiter w;
        w.ready = true;
        w.result = deliver ? &r.value : nullptr;
        while (turn_ != seq && !released_ && !w.sent) {
          turn_waiters_[seq % turn_waiters_.size()] = &w;
          co_await suspend(w.park);
          last_end.reset();
        }
        sent_for_us = w.sent;
      } else {
        // Completion order within an epoch, never across: an item of the next epoch waits
        // until this stage has passed the boundary on.
        while (epoch_out_ != epoch && !released_) {
          co_await suspend(epoch_waiters_[worker]);
          last_end.reset();
        }
      }
      bool open = true;
      if (sent_for_us) {
        release_item(epoch);
        if (this->failed) break;
        continue;  // its turn is over too
      }
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
      turn_waiter w;  // not ready: it passes the boundary on itself
      while (turn_ != seq && !released_) {
        turn_waiters_[seq % turn_waiters_.size()] = &w;
        co_await suspend(w.park);
      }
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
    for (turn_waiter*& w : turn_waiters_)
      if (turn_waiter* waiting = std::exchange(w, nullptr)) waiting->park.resume();
    wake_epoch_waiters();
  }

  // The turn of `seq` is over: the next one's. In input order, a worker whose call ended out of
  // turn waits with its result ready (`turn_waiter::ready`); the worker whose turn ends before
  // sends it on in its stead, and the next one after that, while the output has room (TBB's
  // in-order filter buffers its results the same way). So a run of calls carried on (run where
  // the item is: pool threads, the consumer) goes through in order without a worker waiting for
  // every other turn: before, worker A sent item k and woke B, which held k + 1; A took k + 2
  // and waited for B; B, resumed in the next round, sent k + 1 and woke A; a suspension and a
  // round of the ready queue per item (benchmarks/dataloader.cpp, benchmarks/README.md). A
  // worker sent for resumes past its send (`sent`); one that is not (the output is full or
  // closed, or it waits to pass an epoch boundary) is woken to go on itself, as before.
  void finish_turn(std::uint64_t seq) {
    if (!ordered() || seq != turn_) return;
    for (;;) {
      ++turn_;
      turn_waiter* next = std::exchange(turn_waiters_[turn_ % turn_waiters_.size()], nullptr);
      if (next == nullptr) return;
      bool sent = false;
      try {
        sent = next->ready && !released_ && send_for(*next);
      } catch (...) {
        // The send threw (a move, a receiver's allocation): the error is this worker's, as
        // for a send of its own, and the waiter goes on by itself, as it would not resumed.
        next->park.resume();
        throw;
      }
      if (!sent) {
        next->park.resume();
        return;
      }
      next->sent = true;
      next->park.resume();
    }
  }

  // Sends a waiting worker's result in its stead (finish_turn); false, sending nothing, when the
  // output has no room for it or is closed. A result of nothing (dropped, failed, or not to be
  // delivered) goes nowhere.
  bool send_for(turn_waiter& w) {
    std::optional<Out>* result = w.result;
    if (result == nullptr || !*result) return true;
    bool must_wait;
    if (!this->fast_send(this->out_, **result, must_wait)) return false;
    result->reset();  // what the send left of it: not kept alive until the worker resumes
    return true;
  }

  F f_;
  pipe_options options_;
  channel<In>& in_;
  worker_pool* pool_ = nullptr;
  loop_inbox* inbox_ = nullptr;
  tracer* trace_ = nullptr;  // build_options::trace, or none
  std::size_t active_ = 0;
  std::size_t short_run_ = 0;  // the run of short calls (watch_call)
  std::uint64_t sample_ = 0;   // watches_next's random state
  std::uint64_t turn_ = 0;
  bool released_ = false;
  std::vector<turn_waiter*> turn_waiters_;  // by place: seq % concurrency; null: none waits
  static constexpr std::uint64_t no_boundary = ~std::uint64_t{0};
  std::uint64_t epoch_out_ = 0;        // boundaries passed on
  std::uint64_t items_before_ = 0;     // items of the epochs passed on
  std::uint64_t done_in_epoch_ = 0;    // items of epoch epoch_out_ done (completion order)
  std::uint64_t epoch_items_ = no_boundary;  // its item count, once its boundary waits for them
  std::vector<parked> epoch_waiters_;  // one per worker
};

}  // namespace spdl::detail
