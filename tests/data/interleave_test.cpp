// interleave: round-robin under each stop rule, weighted mixing (proportions, each source's
// order, determinism), set_epoch forwarding, and what the options refuse.

#include <spdl/data/interleave.hpp>
#include <spdl/data/sampler.hpp>

#include <catch2/catch.hpp>

#include <cmath>
#include <cstddef>
#include <memory>
#include <ranges>
#include <stdexcept>
#include <type_traits>
#include <vector>

namespace {

using ints = std::vector<int>;

template <class Range>
auto collect(Range& r) {
  std::vector<std::remove_cvref_t<std::ranges::range_value_t<Range>>> out;
  for (auto&& x : r) out.push_back(x);
  return out;
}

std::vector<ints> three() { return {{1, 2, 3}, {10, 20}, {100, 200, 300, 400}}; }

}  // namespace

static_assert(std::ranges::input_range<spdl::interleaved<ints>>);
static_assert(std::ranges::common_range<spdl::interleaved<ints>>);
static_assert(std::is_same_v<std::ranges::range_value_t<spdl::interleaved<ints>>, int>);
static_assert(std::is_same_v<spdl::interleaved<ints>, spdl::data::interleaved<ints>>);

TEST_CASE("interleave: round-robin under each stop rule") {
  auto all = spdl::interleave(three());
  CHECK(collect(all) == ints{1, 10, 100, 2, 20, 200, 3, 300, 400});
  // Iterating again starts over.
  CHECK(collect(all) == ints{1, 10, 100, 2, 20, 200, 3, 300, 400});
  // Also an iterator-pair range.
  CHECK(ints(all.begin(), all.end()) == ints{1, 10, 100, 2, 20, 200, 3, 300, 400});

  auto first = spdl::interleave(three(), {.stop_after = spdl::interleave_stop::first_exhausted()});
  CHECK(collect(first) == ints{1, 10, 100, 2, 20, 200, 3});

  auto five = spdl::interleave(three(), {.stop_after = spdl::interleave_stop::after(5)});
  CHECK(collect(five) == ints{1, 10, 100, 2, 20});
  auto many = spdl::interleave(three(), {.stop_after = spdl::interleave_stop::after(100)});
  CHECK(collect(many) == ints{1, 10, 100, 2, 20, 200, 3, 300, 400});
  auto none = spdl::interleave(three(), {.stop_after = spdl::interleave_stop::after(0)});
  CHECK(collect(none).empty());
}

TEST_CASE("interleave: empty sources") {
  auto skip = spdl::interleave(std::vector<ints>{{}, {1, 2}, {}});
  CHECK(collect(skip) == ints{1, 2});
  auto stop = spdl::interleave(std::vector<ints>{{1, 2}, {}},
                               {.stop_after = spdl::interleave_stop::first_exhausted()});
  CHECK(collect(stop) == ints{1});
  auto nothing = spdl::interleave(std::vector<ints>{});
  CHECK(collect(nothing).empty());
}

TEST_CASE("interleave_stop: a small value type") {
  using stop = spdl::interleave_stop;
  CHECK(stop{} == stop::all_exhausted());
  CHECK(stop::after(3) == stop::after(3));
  CHECK(stop::after(3) != stop::after(4));
  CHECK(stop::after(3).count() == 3);
  CHECK(stop::first_exhausted().which() == stop::rule::first_exhausted);
  CHECK(spdl::interleave_options{}.stop_after == stop::all_exhausted());
}

namespace {

// Source i holds i * 1'000'000 + k for k in [0, length).
std::vector<std::vector<long>> numbered_sources(std::size_t count, long length) {
  std::vector<std::vector<long>> sources(count);
  for (std::size_t i = 0; i < count; ++i)
    for (long k = 0; k < length; ++k) sources[i].push_back(static_cast<long>(i) * 1'000'000 + k);
  return sources;
}

// Counts per source, checking that each source's items come in its own order.
std::vector<std::size_t> per_source_in_order(const std::vector<long>& out, std::size_t count) {
  std::vector<std::size_t> seen(count);
  std::size_t misplaced = 0;
  for (long x : out) {
    const auto i = static_cast<std::size_t>(x / 1'000'000);
    if (i >= count || x % 1'000'000 != static_cast<long>(seen[i])) {
      ++misplaced;
      continue;
    }
    ++seen[i];
  }
  CHECK(misplaced == 0);
  return seen;
}

}  // namespace

TEST_CASE("interleave: weighted proportions, each source in order") {
  const std::vector<double> weights{1.0, 2.0, 7.0};
  constexpr std::size_t n = 30'000;
  auto mixed = spdl::interleave(numbered_sources(3, 100'000),
                                {.weights = weights, .seed = 17,
                                 .stop_after = spdl::interleave_stop::after(n)});
  const auto out = collect(mixed);
  REQUIRE(out.size() == n);
  const auto counts = per_source_in_order(out, 3);
  for (std::size_t i = 0; i < 3; ++i) {
    const double p = weights[i] / 10.0;
    const double sigma = std::sqrt(static_cast<double>(n) * p * (1 - p));
    CAPTURE(i, counts[i]);
    CHECK(std::abs(static_cast<double>(counts[i]) - static_cast<double>(n) * p) <= 5 * sigma);
  }
}

TEST_CASE("interleave: weighted, until all or the first are exhausted") {
  auto all = spdl::interleave(numbered_sources(3, 50), {.weights = {1.0, 1.0, 3.0}, .seed = 2});
  const auto out = collect(all);
  CHECK(per_source_in_order(out, 3) == std::vector<std::size_t>{50, 50, 50});

  auto first = spdl::interleave(numbered_sources(3, 50),
                                {.weights = {1.0, 1.0, 3.0}, .seed = 2,
                                 .stop_after = spdl::interleave_stop::first_exhausted()});
  const auto counts = per_source_in_order(collect(first), 3);
  CHECK(std::count(counts.begin(), counts.end(), 50u) == 1);  // it stopped on that one
  CHECK(counts[2] == 50);  // the heaviest runs out first (all but surely, and for this seed)

  // A zero weight is never drawn: that source is left alone, and the stream ends without it.
  auto zero = spdl::interleave(numbered_sources(2, 20), {.weights = {1.0, 0.0}, .seed = 4});
  CHECK(per_source_in_order(collect(zero), 2) == std::vector<std::size_t>{20, 0});
}

TEST_CASE("interleave: deterministic from (seed, epoch)") {
  const auto make = [](std::uint64_t seed) {
    return spdl::interleave(numbered_sources(4, 100),
                            {.weights = {1.0, 2.0, 3.0, 4.0}, .seed = seed});
  };
  auto a = make(1), b = make(1), c = make(2);
  const auto first = collect(a);
  CHECK(collect(a) == first);  // again: the same draws
  CHECK(collect(b) == first);
  CHECK(collect(c) != first);
  a.set_epoch(1);
  CHECK(a.epoch() == 1);
  const auto epoch1 = collect(a);
  CHECK(epoch1 != first);
  b.set_epoch(1);
  CHECK(collect(b) == epoch1);
  auto copy = a;
  CHECK(collect(copy) == epoch1);
}

TEST_CASE("interleave: set_epoch reaches the sources that have one") {
  std::vector<spdl::random_sampler> samplers{spdl::random_sampler(5, {.seed = 1}),
                                             spdl::random_sampler(5, {.seed = 2})};
  auto mixed = spdl::interleave(samplers);
  mixed.set_epoch(3);
  for (const auto& s : mixed.ranges()) CHECK(s.epoch() == 3);
  for (auto& s : samplers) s.set_epoch(3);
  std::vector<std::size_t> expected;
  for (std::size_t k = 0; k < 5; ++k)
    for (const auto& s : samplers) expected.push_back(s.begin()[static_cast<long>(k)]);
  CHECK(collect(mixed) == expected);
}

TEST_CASE("interleave: sources of values and of move-only items") {
  const auto square = [](int x) { return x * x; };
  using view = decltype(std::views::iota(0, 1) | std::views::transform(square));
  std::vector<view> views{std::views::iota(0, 3) | std::views::transform(square),
                          std::views::iota(5, 7) | std::views::transform(square)};
  auto mixed = spdl::interleave(std::move(views));
  CHECK(collect(mixed) == ints{0, 25, 1, 36, 4});

  std::vector<std::vector<std::unique_ptr<int>>> owners(2);
  owners[0].push_back(std::make_unique<int>(1));
  owners[1].push_back(std::make_unique<int>(2));
  owners[0].push_back(std::make_unique<int>(3));
  auto handed = spdl::interleave(std::move(owners));
  std::vector<int> got;
  for (auto& p : handed) {
    auto mine = std::move(p);  // the reference is the source's element: it can be moved from
    got.push_back(*mine);
  }
  CHECK(got == ints{1, 2, 3});
}

TEST_CASE("interleave: bad weights throw std::invalid_argument") {
  using Catch::Matchers::Contains;
  CHECK_THROWS_WITH(spdl::interleave(three(), {.weights = {1.0, 2.0}}), Contains("weights"));
  CHECK_THROWS_AS(spdl::interleave(three(), {.weights = {1.0, -2.0, 1.0}}),
                  std::invalid_argument);
  CHECK_THROWS_AS(spdl::interleave(three(), {.weights = {1.0, std::nan(""), 1.0}}),
                  std::invalid_argument);
  CHECK_THROWS_WITH(spdl::interleave(three(), {.weights = {0.0, 0.0, 0.0}}), Contains("zero"));
}
