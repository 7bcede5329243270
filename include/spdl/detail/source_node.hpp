#pragma once
// The source: pulls items from a range or a callable on the loop, one pass per epoch.

#include <spdl/detail/clock.hpp>
#include <spdl/detail/runtime.hpp>
#include <spdl/detail/stage_io.hpp>
#include <spdl/pipeline/options.hpp>

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
    // At most one clock read per timed item: an item's end is the next one's start, unless the
    // source waited for room in between or the item before was not timed (then `t0` is read
    // again, if the next item is timed).
    std::optional<clock::time_point> t0;
    tracer* const trace = rt.trace();
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
        const bool timed = trace || this->counters.time_next();
        if (timed && !t0) t0 = clock::now();
        std::optional<T> item;
        try {
          item = next_();
        } catch (...) {
          error = std::current_exception();
        }
        if (error || !item) break;
        if (timed) {
          const auto t1 = clock::now();
          this->counters.record(t1 - *t0);
          if (trace) {
            trace->slice(this->counters.name, produced_, *t0, t1);
            rt.trace_queues(t1);
          }
          t0 = t1;
        } else {
          this->counters.count();
          t0.reset();
        }
        ++produced_;
        bool must_wait;
        if (this->fast_send(this->out_, *item, must_wait)) continue;
        open = must_wait;
        if (open) open = co_await this->out_.async_send(std::move(*item));
        t0.reset();
      }
      if (error) {
        rt.fail(*this, error);
        break;
      }
      if (!open || !options_.continuous || rt.stopping()) break;
      if (trace) trace->instant("epoch " + std::to_string(epoch) + " ends", clock::now());
      if (!co_await this->send_boundary()) break;
      t0.reset();
    }
    this->out_.close();
  }

  Next next_;
  source_options options_;
  std::uint64_t produced_ = 0;  // items made: their numbers in the trace
};

}  // namespace spdl::detail
