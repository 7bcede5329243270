#pragma once
/// \file
/// A stream that replays its first items, after SPDL's CacheDataLoader: to measure the rest of
/// a training loop without the cost of loading, or to check that the loop can go faster than
/// the data arrives. The first items come from the real source (warming everything up); then
/// the kept copies are replayed cyclically.
///
///     auto fast = spdl::cache_iterator(std::move(loader), 16, {.return_caches_after = 100,
///                                                               .stop_after = 10'000});
///     for (const auto& batch : fast) step(batch);   // 100 real batches, then the 16 kept ones

#include <spdl/data/detail/cursor_iterator.hpp>

#include <concepts>
#include <cstddef>
#include <memory>
#include <optional>
#include <ranges>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

namespace spdl::data {

/// Options of cache_iterator.
struct cache_options {
  /// How many items to take from the source before replaying the kept ones (>= num_caches;
  /// default: num_caches). The source is left alone from then on.
  std::optional<std::size_t> return_caches_after;
  /// The total number of items to yield (source and replays together); default: no end.
  std::optional<std::size_t> stop_after;
};

/// The range cache_iterator returns: an input range that owns its source, keeps copies of its
/// first `num_caches` items and yields `const value_type&`. Each begin() starts over from the
/// source's beginning with an empty cache, ending the iteration before it; a copy or a move
/// starts afresh too.
template <std::ranges::input_range R>
  requires std::movable<R> && std::copy_constructible<std::ranges::range_value_t<R>> &&
           std::constructible_from<std::ranges::range_value_t<R>, std::ranges::range_reference_t<R>>
class cached {
 public:
  using value_type = std::ranges::range_value_t<R>;
  using reference = const value_type&;
  using iterator = detail::cursor_iterator<cached>;

  /// Throws std::invalid_argument when num_caches == 0 or return_caches_after < num_caches.
  cached(R range, std::size_t num_caches, cache_options options = {})
      : range_(std::move(range)),
        num_caches_(num_caches),
        return_after_(options.return_caches_after.value_or(num_caches)),
        stop_after_(options.stop_after) {
    if (num_caches_ == 0)
      throw std::invalid_argument("spdl::cache_iterator: num_caches must be >= 1");
    if (return_after_ < num_caches_)
      throw std::invalid_argument(
          "spdl::cache_iterator: return_caches_after must be >= num_caches, got " +
          std::to_string(return_after_) + " < " + std::to_string(num_caches_) +
          " (the cache would never fill)");
  }

  /// Starts an iteration from the beginning of the source, with an empty cache.
  iterator begin() {
    auto& s = state_.value;
    s = state{};
    s.it.emplace(std::ranges::begin(range_));
    s.end.emplace(std::ranges::end(range_));
    s.done = false;
    prepare();
    return iterator{this};
  }
  iterator end() noexcept { return iterator{}; }

  [[nodiscard]] std::size_t num_caches() const noexcept { return num_caches_; }

 private:
  friend iterator;

  struct state {
    std::optional<std::ranges::iterator_t<R>> it;  // optional: need not be default-constructible
    std::optional<std::ranges::sentinel_t<R>> end;
    std::vector<value_type> cache;
    std::optional<value_type> passing;  // a source item not kept, when the source makes values
    const value_type* item = nullptr;
    bool replaying = false;
    std::size_t taken = 0;     // from the source
    std::size_t yielded = 0;   // in total
    std::size_t next_cached = 0;
    bool done = true;
  };

  reference current() const noexcept { return *state_.value.item; }
  void advance() {
    auto& s = state_.value;
    if (!s.replaying) {
      ++*s.it;
      ++s.taken;
    }
    ++s.yielded;
    prepare();
  }
  [[nodiscard]] bool done() const noexcept { return state_.value.done; }

  /// Makes `item` the next item to yield, or ends the iteration.
  void prepare() {
    auto& s = state_.value;
    if (stop_after_ && s.yielded >= *stop_after_) {
      s.done = true;
      return;
    }
    if (!s.replaying) {
      if (s.taken < return_after_ && *s.it != *s.end) {
        take(s);
        return;
      }
      s.replaying = true;
      s.passing.reset();
    }
    if (s.cache.empty()) {  // the source was empty: nothing to replay
      s.done = true;
      return;
    }
    s.item = &s.cache[s.next_cached];
    s.next_cached = (s.next_cached + 1) % s.cache.size();
  }

  void take(state& s) {
    using source_reference = std::ranges::range_reference_t<R>;
    if (s.cache.size() < num_caches_) {
      s.cache.emplace_back(**s.it);
      s.item = &s.cache.back();
    } else if constexpr (std::is_lvalue_reference_v<source_reference> &&
                         std::same_as<std::remove_cvref_t<source_reference>, value_type>) {
      s.item = std::addressof(**s.it);  // valid until the source iterator moves on, as ours
    } else {
      s.item = &s.passing.emplace(**s.it);
    }
  }

  R range_;
  std::size_t num_caches_;
  std::size_t return_after_;
  std::optional<std::size_t> stop_after_;
  detail::reset_on_copy<state> state_;
};

/// Yields the items of `range` while keeping copies of the first `num_caches`; once
/// `return_caches_after` items (default: num_caches) have come from it, or it ran out before,
/// yields the kept copies cyclically: forever, or until `stop_after` items in total.
/// An empty range gives an empty stream.
template <std::ranges::input_range R>
  requires std::movable<R> && std::copy_constructible<std::ranges::range_value_t<R>> &&
           std::constructible_from<std::ranges::range_value_t<R>, std::ranges::range_reference_t<R>>
[[nodiscard]] cached<R> cache_iterator(R range, std::size_t num_caches,
                                       cache_options options = {}) {
  return cached<R>(std::move(range), num_caches, options);
}

}  // namespace spdl::data

namespace spdl {
using data::cache_iterator;
using data::cache_options;
using data::cached;
}  // namespace spdl
