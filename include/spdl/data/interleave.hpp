#pragma once
/// \file
/// Mixing several sources into one stream: round-robin, or a weighted random choice of source
/// at each item (deterministic from a seed, on every machine), with a choice of when to stop.
///
///     std::vector<spdl::random_sampler> shards{spdl::random_sampler(n_web, {.seed = 1}),
///                                              spdl::random_sampler(n_books, {.seed = 2})};
///     auto mixed = spdl::interleave(std::move(shards), {.weights = {0.8, 0.2}, .seed = 3,
///                                   .stop_after = spdl::interleave_stop::first_exhausted()});
///     for (std::size_t epoch = 0; epoch < num_epochs; ++epoch) {
///       mixed.set_epoch(epoch);                    // new orders and a new mix
///       for (std::size_t i : mixed) use(i);
///     }

#include <spdl/data/detail/cursor_iterator.hpp>
#include <spdl/data/detail/random.hpp>

#include <concepts>
#include <cstddef>
#include <cstdint>
#include <ranges>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace spdl::data {

/// When an interleaved stream ends.
class interleave_stop {
 public:
  enum class rule {
    all_exhausted,    ///< when every source is exhausted; exhausted ones are skipped until then
    first_exhausted,  ///< as soon as the source chosen next is exhausted
    after,            ///< after count() items, or earlier when every source is exhausted
  };

  /// The default: every item of every source is yielded.
  constexpr interleave_stop() noexcept = default;

  [[nodiscard]] static constexpr interleave_stop all_exhausted() noexcept {
    return interleave_stop{rule::all_exhausted, 0};
  }
  /// Keeps the mix as asked: no source's share grows once another has run out.
  [[nodiscard]] static constexpr interleave_stop first_exhausted() noexcept {
    return interleave_stop{rule::first_exhausted, 0};
  }
  /// `n` items in total (fewer if the sources run out first; exhausted ones are skipped).
  [[nodiscard]] static constexpr interleave_stop after(std::size_t n) noexcept {
    return interleave_stop{rule::after, n};
  }

  [[nodiscard]] constexpr rule which() const noexcept { return rule_; }
  /// The item count of `after(n)`; 0 for the other rules.
  [[nodiscard]] constexpr std::size_t count() const noexcept { return count_; }

  friend constexpr bool operator==(const interleave_stop&, const interleave_stop&) = default;

 private:
  constexpr interleave_stop(rule r, std::size_t n) noexcept : rule_(r), count_(n) {}

  rule rule_ = rule::all_exhausted;
  std::size_t count_ = 0;
};

/// Options of interleave.
struct interleave_options {
  /// Empty: round-robin. Otherwise one weight per source (finite, >= 0, not all zero): each item
  /// comes from a source drawn with probability proportional to its weight among the sources
  /// not yet exhausted. A zero-weight source is never drawn, and so never exhausted.
  std::vector<double> weights;
  /// With the epoch, determines the weighted draws.
  std::uint64_t seed = 0;
  interleave_stop stop_after = interleave_stop::all_exhausted();
};

/// The range interleave returns: an input range that owns its sources and yields their items
/// (as the sources' references: `int&` for a std::vector<int> source), each source in its own
/// order. Every begin() starts over from the beginning of each source (with the same draws for
/// the same epoch), so it can be iterated once per epoch; a begin() or set_epoch() ends the
/// iteration before it. A copy or a move starts afresh too.
template <std::ranges::input_range R>
  requires std::movable<R>
class interleaved {
 public:
  using value_type = std::ranges::range_value_t<R>;
  using reference = std::ranges::range_reference_t<R>;
  using iterator = detail::cursor_iterator<interleaved>;

  /// Throws std::invalid_argument when weights are given but not one per source, or when they
  /// are negative, not finite or all zero.
  interleaved(std::vector<R> ranges, interleave_options options)
      : ranges_(std::move(ranges)), options_(std::move(options)) {
    if (!options_.weights.empty()) {
      if (options_.weights.size() != ranges_.size())
        throw std::invalid_argument(
            "spdl::interleave: weights must have one entry per range, got " +
            std::to_string(options_.weights.size()) + " weights for " +
            std::to_string(ranges_.size()) + " ranges");
      detail::check_weights(options_.weights, "spdl::interleave");
    }
  }

  /// Starts an iteration from the beginning of every source.
  iterator begin() {
    auto& s = state_.value;
    s = state{};
    s.current.reserve(ranges_.size());
    s.ends.reserve(ranges_.size());
    for (auto& r : ranges_) {
      s.current.push_back(std::ranges::begin(r));
      s.ends.push_back(std::ranges::end(r));
    }
    if (!options_.weights.empty()) {
      s.live_weights = options_.weights;
      s.choice.reset(s.live_weights);
      s.gen = detail::splitmix64::for_stream(options_.seed, epoch_);
    }
    s.done = false;
    select();
    return iterator{this};
  }
  iterator end() noexcept { return iterator{}; }

  /// Forwards the epoch to every source that has set_epoch, and draws the next iteration's
  /// weighted choices from (seed, epoch). Ends the current iteration.
  void set_epoch(std::size_t epoch) {
    state_.value = state{};
    epoch_ = epoch;
    for (auto& r : ranges_)
      if constexpr (requires { r.set_epoch(epoch); }) r.set_epoch(epoch);
  }
  [[nodiscard]] std::size_t epoch() const noexcept { return epoch_; }

  /// The sources, in the order given.
  [[nodiscard]] const std::vector<R>& ranges() const noexcept { return ranges_; }
  [[nodiscard]] const interleave_options& options() const noexcept { return options_; }

 private:
  friend iterator;

  struct state {
    std::vector<std::ranges::iterator_t<R>> current;
    std::vector<std::ranges::sentinel_t<R>> ends;
    std::vector<double> live_weights;  // the weights, zeroed for sources found exhausted
    detail::weighted_choice choice;
    detail::splitmix64 gen{0};
    std::size_t next = 0;    // round-robin: the source to try next
    std::size_t source = 0;  // the source of the current item
    std::size_t taken = 0;
    bool done = true;
  };

  reference current() { return *state_.value.current[state_.value.source]; }
  void advance() {
    auto& s = state_.value;
    ++s.current[s.source];
    ++s.taken;
    select();
  }
  [[nodiscard]] bool done() const noexcept { return state_.value.done; }

  /// Chooses the source of the next item, or ends the iteration.
  void select() {
    auto& s = state_.value;
    const auto rule = options_.stop_after.which();
    if (rule == interleave_stop::rule::after && s.taken >= options_.stop_after.count()) {
      s.done = true;
      return;
    }
    const bool stop_at_first = rule == interleave_stop::rule::first_exhausted;
    if (options_.weights.empty()) {
      for (std::size_t tried = 0; tried < ranges_.size(); ++tried) {
        const std::size_t k = s.next;
        s.next = (s.next + 1) % ranges_.size();
        if (s.current[k] != s.ends[k]) {
          s.source = k;
          return;
        }
        if (stop_at_first) break;
      }
    } else {
      while (!s.choice.empty()) {
        const std::size_t k = s.choice(s.gen);
        if (s.current[k] != s.ends[k]) {
          s.source = k;
          return;
        }
        if (stop_at_first) break;
        s.live_weights[k] = 0.0;  // draw again among the sources left
        s.choice.reset(s.live_weights);
      }
    }
    s.done = true;
  }

  std::vector<R> ranges_;
  interleave_options options_;
  std::size_t epoch_ = 0;
  detail::reset_on_copy<state> state_;
};

/// Mixes `ranges` into one stream, which owns them: round-robin by default, or a weighted
/// random choice of source per item (options.weights, options.seed); it ends as
/// options.stop_after says. Each source keeps its own order.
///
///     std::vector<std::vector<int>> parts{{1, 2, 3}, {10, 20}};
///     for (int x : spdl::interleave(std::move(parts))) ...   // 1 10 2 20 3
template <std::ranges::input_range R>
  requires std::movable<R>
[[nodiscard]] interleaved<R> interleave(std::vector<R> ranges, interleave_options options = {}) {
  return interleaved<R>(std::move(ranges), std::move(options));
}

}  // namespace spdl::data

namespace spdl {
using data::interleave;
using data::interleave_options;
using data::interleave_stop;
using data::interleaved;
}  // namespace spdl
