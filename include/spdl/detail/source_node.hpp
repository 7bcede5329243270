#pragma once
// The source: pulls items from a range or a callable on the loop, one pass per epoch.

#include <spdl/detail/clock.hpp>
#include <spdl/detail/runtime.hpp>
#include <spdl/detail/stage_io.hpp>
#include <spdl/pipeline/options.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <iterator>
#include <optional>
#include <ranges>
#include <string>
#include <type_traits>
#include <utility>

namespace spdl::detail {

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
    std::optional<value_type> v;
    next_into(v);
    return v;
  }

  /// The next element into `v` (empty: `v` is left alone), where the caller keeps it: an
  /// optional returned by value goes through memory a field at a time, and reading it back
  /// whole then waits for those stores (a tenth of a cheap pipeline's loop thread).
  bool next_into(std::optional<value_type>& v) {
    if (!it_) it_.emplace(std::ranges::begin(range_));
    if (*it_ == std::ranges::end(range_)) return false;
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
    return true;
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

  void spawn(runtime& rt) override {
    rt_ = &rt;
    rt.spawn(run());
  }

 private:
  /// What `make` met.
  enum class made { item, end, error };

  // Makes the next item into `item_`. At most one clock read per timed item: an item's end is
  // the next one's start, unless the source waited for room in between or the item before was
  // not timed (then `t0_` is read again, if the next item is timed).
  made make() {
    tracer* const trace = rt_->trace();
    const bool timed = trace || this->counters.time_next();
    if (timed && !t0_) t0_ = clock::now();
    last_call_ = std::chrono::nanoseconds{0};  // a call that ends the pass or throws: untimed
    item_.reset();
    try {
      if constexpr (requires { next_.next_into(item_); })
        next_.next_into(item_);
      else
        item_ = next_();
    } catch (...) {
      error_ = std::current_exception();
      return made::error;
    }
    if (!item_) return made::end;
    if (timed) {
      const auto t1 = clock::now();
      last_call_ = std::chrono::duration_cast<std::chrono::nanoseconds>(t1 - *t0_);
      this->counters.record(last_call_);
      if (debt_ != 0 && last_call_ < stage_counters::cheap) --debt_;
      if (trace) {
        trace->slice(this->counters.name, produced_, *t0_, t1);
        rt_->trace_queues(t1);
      }
      t0_ = t1;
    } else {
      this->counters.count();
      t0_.reset();
    }
    ++produced_;
    return made::item;
  }

  // While the source waits for room (channel::async_send_refilled): a receiver made room and
  // took its item, so a cheap source makes the next one there and then, in the receiver's
  // handler: no resumption per item or two. On whichever thread holds the loop's role (a pool
  // thread or the consumer doing the loop's work too, where they may: scheduler.hpp; the
  // sink's takes stay on the loop thread, for reasons of their own: sink_node::take). Only a
  // source whose calls are cheap (stage_counters::cheap_calls), and not while it owes for a
  // slow refilled call (`debt_`): a source that blocks (a read, a wait for a request) should do
  // so in a handler of its own, after what the receiver's handler sent on has gone to the sink.
  // (On the loop thread only, as refills were at first, a pool stage's source never refilled:
  // its receivers run where the role is; refilled there, the pool stage of
  // benchmarks/engine_overhead.cpp went from 260-292 to 194-222 ns/item, and with a core busy
  // from 226-243 to 208-222.) Every `run_length` items the coroutine resumes instead: the loop's
  // other handlers get their turn between runs (a stage whose calls finish at once would
  // otherwise take item after item in one handler, for ever). 256 items: some 25 us of a
  // range's items with an awaitable stage, 1.3 ms at most of calls just under `cheap` (the
  // sink's takes yield after 1 ms: sink_node.hpp). Each resumption costs the stage's waiting
  // workers a suspension too: with 64, the loop stage of benchmarks/engine_overhead.cpp
  // suspended 0.08-0.12 times an item, against 0.02-0.06, and ran 10-15% slower.
  static T* refill(void* self) {
    auto& s = *static_cast<source_node*>(self);
    if (++s.refills_ == run_length || s.debt_ != 0 || !s.counters.cheap_calls())
      return nullptr;
    s.t0_.reset();  // it waited
    s.refilled_ = s.make();
    if (s.last_call_ >= stage_counters::cheap) s.debt_ += slow_debt(s.last_call_);
    return s.refilled_ == made::item ? &*s.item_ : nullptr;
  }
  static constexpr std::uint32_t run_length = 256;

  // The debt of a refilled call timed at `cheap` or more: `debt_per_cheap` timed calls for each
  // `cheap` of its length; every timed call under `cheap`, wherever it ran, pays one off. So a
  // hiccup (an interrupt, the thread preempted for some microseconds: on a 2-core VM one in
  // two runs of a million items met one) pauses the refills for some 4,000 items (calls are
  // timed one in `sample_every`), where a block of 40 ms pauses them for some 30 million: a
  // source whose blocks, however rare, outweigh its cheap calls keeps them off. (Refills used
  // to stop for good at the first slow call; then a hiccup cost the rest of the run 1.5-1.8x on
  // the loop stage of benchmarks/engine_overhead.cpp.) The price: calls are timed by sample,
  // so some 15 in 16 of a source's blocks go unseen, and once a debt is paid the refills
  // resume until the next block is seen. A source that blocks rarely thus blocks inside
  // receivers' handlers (holding the sink's unpublished run of items for the block's length)
  // now and then for as long as it runs, where the rule before capped that at some 16 blocks
  // in all. Its blocks weigh: one of 1 ms costs some 800,000 items of refills, so a source
  // that blocks a millisecond less rarely than that keeps them off nearly all the time.
  static constexpr std::uint64_t debt_per_cheap = 256;
  static std::uint64_t slow_debt(std::chrono::nanoseconds t) noexcept {
    return debt_per_cheap * static_cast<std::uint64_t>(t / stage_counters::cheap);
  }

  asio::awaitable<void> run() {
    runtime& rt = *rt_;
    for (std::size_t epoch = 0;; ++epoch) {
      if constexpr (has_set_epoch<Next>) {
        try {
          next_.set_epoch(epoch);
        } catch (...) {
          error_ = std::current_exception();
        }
      }
      bool open = !error_;
      while (open) {
        if (make() != made::item) break;
        bool must_wait;
        if (this->fast_send(this->out_, *item_, must_wait)) continue;
        open = must_wait;
        refills_ = 0;
        refilled_ = made::item;
        if (open) open = co_await this->out_.async_send_refilled(*item_, &refill, this);
        t0_.reset();
        if (refilled_ != made::item) break;  // a refill met the end of the pass, or an error
      }
      if (error_) {
        rt.fail(*this, error_);
        break;
      }
      if (!open || !options_.continuous || rt.stopping()) break;
      if (rt.trace()) rt.trace()->instant("epoch " + std::to_string(epoch) + " ends", clock::now());
      if (!co_await this->send_boundary()) break;
      t0_.reset();
    }
    this->out_.close();
  }

  Next next_;
  source_options options_;
  runtime* rt_ = nullptr;
  std::optional<T> item_;  // the item being sent
  std::optional<clock::time_point> t0_;
  std::exception_ptr error_;
  std::uint64_t produced_ = 0;   // items made: their numbers in the trace
  std::uint32_t refills_ = 0;    // in the current wait
  made refilled_ = made::item;   // what the last refill met
  std::uint64_t debt_ = 0;       // timed cheap calls owed for slow refilled ones (slow_debt)
  std::chrono::nanoseconds last_call_{0};  // the last call, if timed
};

}  // namespace spdl::detail
