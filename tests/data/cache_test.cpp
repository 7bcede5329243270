// cache_iterator: the source's first items, then the kept ones cyclically; where it stops; how
// many copies it makes.

#include <spdl/data/cache.hpp>

#include <catch2/catch.hpp>

#include <cstddef>
#include <ranges>
#include <stdexcept>
#include <type_traits>
#include <vector>

namespace {

using ints = std::vector<int>;

ints one_to(int n) {
  ints v;
  for (int i = 1; i <= n; ++i) v.push_back(i);
  return v;
}

// At most `limit` items (the stream may be endless).
template <class Range>
ints take(Range& r, std::size_t limit) {
  ints out;
  for (auto it = r.begin(); it != r.end() && out.size() < limit; ++it) out.push_back(*it);
  return out;
}

struct counted {
  static inline int copies = 0;
  int value = 0;
  explicit counted(int v) : value(v) {}
  counted(const counted& o) : value(o.value) { ++copies; }
  counted(counted&&) = default;
  counted& operator=(const counted& o) {
    value = o.value;
    ++copies;
    return *this;
  }
  counted& operator=(counted&&) = default;
  ~counted() = default;
};

}  // namespace

static_assert(std::ranges::input_range<spdl::cached<ints>>);
static_assert(std::is_same_v<std::ranges::range_reference_t<spdl::cached<ints>>, const int&>);
static_assert(std::is_same_v<spdl::cached<ints>, spdl::data::cached<ints>>);

TEST_CASE("cache_iterator: the first items, then the kept ones, forever") {
  auto c = spdl::cache_iterator(one_to(10), 3);
  CHECK(c.num_caches() == 3);
  CHECK(take(c, 12) == ints{1, 2, 3, 1, 2, 3, 1, 2, 3, 1, 2, 3});
  CHECK(take(c, 5) == ints{1, 2, 3, 1, 2});  // again: from the start
}

TEST_CASE("cache_iterator: return_caches_after and stop_after") {
  auto later = spdl::cache_iterator(one_to(10), 3, {.return_caches_after = 5, .stop_after = 11});
  CHECK(take(later, 100) == ints{1, 2, 3, 4, 5, 1, 2, 3, 1, 2, 3});

  auto early = spdl::cache_iterator(one_to(10), 3, {.stop_after = 2});
  CHECK(take(early, 100) == ints{1, 2});
  auto zero = spdl::cache_iterator(one_to(10), 3, {.stop_after = 0});
  CHECK(take(zero, 100).empty());

  auto all = spdl::cache_iterator(one_to(4), 4, {.return_caches_after = 4, .stop_after = 6});
  CHECK(ints(all.begin(), all.end()) == ints{1, 2, 3, 4, 1, 2});
}

TEST_CASE("cache_iterator: a source exhausted before return_caches_after") {
  auto shorter = spdl::cache_iterator(one_to(2), 3, {.return_caches_after = 10, .stop_after = 7});
  CHECK(take(shorter, 100) == ints{1, 2, 1, 2, 1, 2, 1});
  auto fuller = spdl::cache_iterator(one_to(5), 3, {.return_caches_after = 8, .stop_after = 9});
  CHECK(take(fuller, 100) == ints{1, 2, 3, 4, 5, 1, 2, 3, 1});
  auto empty = spdl::cache_iterator(ints{}, 3);
  CHECK(take(empty, 100).empty());
}

TEST_CASE("cache_iterator: the source is not touched once replaying") {
  // An endless source: it must stop reading it after return_caches_after items.
  auto c = spdl::cache_iterator(std::views::iota(0), 2, {.return_caches_after = 3,
                                                         .stop_after = 7});
  CHECK(take(c, 100) == ints{0, 1, 2, 0, 1, 0, 1});
}

TEST_CASE("cache_iterator: copies only what it keeps") {
  std::vector<counted> source;
  for (int i = 0; i < 10; ++i) source.emplace_back(i);
  auto c = spdl::cache_iterator(std::move(source), 2, {.return_caches_after = 6, .stop_after = 10});
  counted::copies = 0;
  ints values;
  for (const counted& x : c) values.push_back(x.value);
  CHECK(values == ints{0, 1, 2, 3, 4, 5, 0, 1, 0, 1});
  CHECK(counted::copies == 2);

  // A source of values: each is moved, never copied.
  auto made = spdl::cache_iterator(
      std::views::iota(0, 5) | std::views::transform([](int i) { return counted(i); }), 2);
  counted::copies = 0;
  values.clear();
  for (auto it = made.begin(); values.size() < 4; ++it) values.push_back(it->value);
  CHECK(values == ints{0, 1, 0, 1});
  CHECK(counted::copies == 0);
}

TEST_CASE("cache_iterator: bad arguments throw std::invalid_argument") {
  using Catch::Matchers::Contains;
  CHECK_THROWS_AS(spdl::cache_iterator(one_to(3), 0), std::invalid_argument);
  CHECK_THROWS_WITH(spdl::cache_iterator(one_to(3), 0), Contains("num_caches"));
  CHECK_THROWS_AS(spdl::cache_iterator(one_to(3), 4, {.return_caches_after = 3}),
                  std::invalid_argument);
  CHECK_THROWS_WITH(spdl::cache_iterator(one_to(3), 4, {.return_caches_after = 3}),
                  Contains("return_caches_after"));
}
