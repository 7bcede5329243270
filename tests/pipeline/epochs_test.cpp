// Continuous sources: epochs with crisp boundaries through every kind of stage, on one running
// pipeline; stop and destruction at any point of an epoch.

#include <spdl/pipeline.hpp>

#include <catch2/catch.hpp>

#include <algorithm>
#include <chrono>
#include <memory>
#include <numeric>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

using namespace std::chrono_literals;

namespace {

void quiet(const spdl::stage_failure&) {}

// A range that knows its epoch, as a sampler does: pass e yields (e, i) for i in [0, n), in an
// order that changes with the epoch.
struct epoch_range {
  int n = 0;
  std::vector<std::pair<int, int>> items;
  std::shared_ptr<std::vector<std::size_t>> epochs_seen = std::make_shared<std::vector<std::size_t>>();

  void set_epoch(std::size_t e) {
    epochs_seen->push_back(e);
    items.clear();
    for (int i = 0; i < n; ++i) items.emplace_back(static_cast<int>(e), (i * 7 + static_cast<int>(e) * 3) % n);
  }
  auto begin() const { return items.begin(); }
  auto end() const { return items.end(); }
};

// Reads one epoch (until get_item returns empty).
template <class T>
std::vector<T> read_epoch(spdl::pipeline<T>& p) {
  std::vector<T> out;
  for (auto& x : p) out.push_back(std::move(x));
  return out;
}

void busy_for(std::chrono::microseconds d) {
  const auto until = std::chrono::steady_clock::now() + d;
  while (std::chrono::steady_clock::now() < until) {
  }
}

}  // namespace

TEST_CASE("continuous source: three epochs give the same items, and none crosses a boundary",
          "[pipeline][epochs]") {
  constexpr int n = 300;  // n = 7k + 6: 7 is coprime with n, so (i * 7 + 3e) % n is a permutation
  for (auto order : {spdl::output_order::completion, spdl::output_order::input}) {
    SECTION(std::string("order ") + (order == spdl::output_order::input ? "input" : "completion")) {
      epoch_range source{n};
      auto seen = source.epochs_seen;
      auto p = spdl::pipeline_builder()
                   .add_source(source, {.continuous = true})
                   .pipe(
                       [](std::pair<int, int> x) {
                         busy_for(std::chrono::microseconds(x.second % 5 * 20));
                         return x;
                       },
                       {.concurrency = 8, .order = order})
                   .pipe([](std::pair<int, int> x) -> asio::awaitable<std::pair<int, int>> { co_return x; },
                         {.concurrency = 8, .order = order})
                   .add_sink(4)
                   .build({.num_threads = 3});
      std::vector<std::pair<int, int>> expected_first;
      for (int e = 0; e < 3; ++e) {
        auto items = read_epoch(p);
        REQUIRE(items.size() == static_cast<std::size_t>(n));
        std::set<int> values;
        for (auto [epoch, v] : items) {
          CHECK(epoch == e);  // no item crosses a boundary
          values.insert(v);
        }
        CHECK(values.size() == static_cast<std::size_t>(n));
        if (order == spdl::output_order::input) {
          for (int i = 0; i < n; ++i)
            CHECK(items[static_cast<std::size_t>(i)].second == (i * 7 + e * 3) % n);
        }
      }
      p.stop();
      REQUIRE(seen->size() >= 3);
      CHECK((*seen)[0] == 0);
      CHECK((*seen)[1] == 1);
      CHECK((*seen)[2] == 2);
    }
  }
}

TEST_CASE("continuous source: a partial batch at each boundary, or dropped", "[pipeline][epochs]") {
  for (bool drop_last : {false, true}) {
    std::vector<int> v(10);
    std::iota(v.begin(), v.end(), 0);
    auto p = spdl::pipeline_builder()
                 .add_source(v, {.continuous = true})
                 .pipe([](int x) { return x; }, {.concurrency = 8})
                 .aggregate(4, {.drop_last = drop_last})
                 .add_sink(2)
                 .build({.num_threads = 2});
    for (int e = 0; e < 3; ++e) {
      auto batches = read_epoch(p);
      std::vector<std::size_t> sizes;
      std::vector<int> all;
      for (auto& b : batches) {
        sizes.push_back(b.size());
        all.insert(all.end(), b.begin(), b.end());
      }
      std::sort(all.begin(), all.end());
      if (drop_last) {
        CHECK(sizes == std::vector<std::size_t>{4, 4});
        CHECK(all.size() == 8);
      } else {
        CHECK(sizes == std::vector<std::size_t>{4, 4, 2});
        CHECK(all == v);
      }
    }
  }
}

// A waiting aggregate takes items into its batch where the stage before sends them
// (channel::async_wait_taking), and wakes for each batch's last: past the source's warm-up,
// with a stage on the loop and on the pool, every batch is whole, in order, and ends at its
// epoch's boundary.
TEST_CASE("continuous source: batches taken where items are sent stay whole across epochs",
          "[pipeline][epochs]") {
  const std::size_t queues = GENERATE(std::size_t{1}, std::size_t{2}, std::size_t{32});
  const bool on_loop = GENERATE(false, true);
  CAPTURE(queues, on_loop);
  std::vector<int> v(3000);
  std::iota(v.begin(), v.end(), 0);
  auto source = spdl::pipeline_builder().add_source(v, {.continuous = true});
  const spdl::pipe_options stage{.concurrency = 3, .order = spdl::output_order::input};
  auto p = on_loop
               ? std::move(source)
                     .pipe([](int x) -> asio::awaitable<int> { co_return x; }, stage)
                     .aggregate(7)
                     .add_sink(4)
                     .build({.num_threads = 1, .queue_capacity = queues})
               : std::move(source)
                     .pipe([](int x) { return x; }, stage)
                     .aggregate(7)
                     .add_sink(4)
                     .build({.num_threads = 2, .queue_capacity = queues});
  for (int e = 0; e < 3; ++e) {
    CAPTURE(e);
    const auto batches = read_epoch(p);
    REQUIRE(batches.size() == 429);  // 428 of 7, and 4 at the boundary
    std::vector<int> all;
    for (std::size_t b = 0; b < batches.size(); ++b) {
      CHECK(batches[b].size() == (b + 1 < batches.size() ? 7U : 4U));
      all.insert(all.end(), batches[b].begin(), batches[b].end());
    }
    CHECK(all == v);
  }
}

TEST_CASE("continuous source: disaggregate passes boundaries on", "[pipeline][epochs]") {
  std::vector<int> v(9);
  std::iota(v.begin(), v.end(), 0);
  auto p = spdl::pipeline_builder()
               .add_source(v, {.continuous = true})
               .aggregate(4)
               .disaggregate()
               .add_sink(3)
               .build({.num_threads = 1});
  for (int e = 0; e < 3; ++e) CHECK(read_epoch(p) == v);
}

TEST_CASE("continuous source: empty and one-item epochs", "[pipeline][epochs]") {
  SECTION("empty") {
    auto p = spdl::pipeline_builder()
                 .add_source(std::vector<int>{}, {.continuous = true})
                 .pipe([](int x) { return x; }, {.concurrency = 4})
                 .aggregate(3)
                 .add_sink(2)
                 .build({.num_threads = 1});
    for (int e = 0; e < 5; ++e) CHECK(read_epoch(p).empty());
  }
  SECTION("one item") {
    auto p = spdl::pipeline_builder()
                 .add_source(std::vector<int>{42}, {.continuous = true})
                 .pipe([](int x) { return x + 1; }, {.concurrency = 4})
                 .add_sink(1)
                 .build({.num_threads = 2});
    for (int e = 0; e < 5; ++e) CHECK(read_epoch(p) == std::vector<int>{43});
  }
}

TEST_CASE("continuous source: a callable is called again after it returned empty",
          "[pipeline][epochs]") {
  struct counter {
    int i = 0;
    std::optional<int> operator()() {
      if (i == 5) {
        i = 0;
        return std::nullopt;
      }
      return i++;
    }
  };
  auto p = spdl::pipeline_builder()
               .add_source(counter{}, {.continuous = true})
               .pipe([](int x) { return x * 2; }, {.concurrency = 3, .order = spdl::output_order::input})
               .add_sink(2)
               .build({.num_threads = 2});
  for (int e = 0; e < 3; ++e) CHECK(read_epoch(p) == std::vector<int>{0, 2, 4, 6, 8});
}

TEST_CASE("continuous source: failures are counted per item and the epochs go on",
          "[pipeline][epochs]") {
  std::vector<int> v(20);
  std::iota(v.begin(), v.end(), 0);
  auto p = spdl::pipeline_builder()
               .add_source(v, {.continuous = true})
               .pipe(
                   [](int x) {
                     if (x % 5 == 0) throw std::runtime_error("bad");
                     return x;
                   },
                   {.concurrency = 4, .order = spdl::output_order::input})
               .add_sink(2)
               .build({.num_threads = 2, .on_failure = quiet});
  std::vector<int> expected;
  for (int x : v)
    if (x % 5 != 0) expected.push_back(x);
  for (int e = 0; e < 3; ++e) CHECK(read_epoch(p) == expected);
  // The pipeline reads ahead into the next epoch: at least the 3 epochs' 4 failures each.
  p.stop();
  CHECK(p.stats().stages[1].num_failures >= 12);
}

TEST_CASE("continuous source: elements are copied, and move-only ones are refused",
          "[pipeline][epochs]") {
  std::vector<std::string> v{"a", "b", "c"};
  auto p = spdl::pipeline_builder().add_source(std::move(v), {.continuous = true}).add_sink(2).build(
      {.num_threads = 1});
  for (int e = 0; e < 3; ++e) CHECK(read_epoch(p) == std::vector<std::string>{"a", "b", "c"});

  std::vector<std::unique_ptr<int>> owned;
  owned.push_back(std::make_unique<int>(1));
  CHECK_THROWS_AS(spdl::pipeline_builder().add_source(std::move(owned), {.continuous = true}),
                  std::invalid_argument);
}

TEST_CASE("continuous source: stop and destruction mid-epoch and between epochs never hang",
          "[pipeline][epochs]") {
  std::vector<int> v(50);
  std::iota(v.begin(), v.end(), 0);
  for (int trial = 0; trial < 40; ++trial) {
    auto p = spdl::pipeline_builder()
                 .add_source(v, {.continuous = true})
                 .pipe([](int x) { return x; },
                       {.concurrency = 1 + static_cast<std::size_t>(trial % 8),
                        .order = trial % 2 ? spdl::output_order::input : spdl::output_order::completion})
                 .aggregate(7)
                 .add_sink(1 + static_cast<std::size_t>(trial % 3))
                 .build({.num_threads = 1 + static_cast<std::size_t>(trial % 3)});
    const int epochs = trial % 3;
    for (int e = 0; e < epochs; ++e) read_epoch(p);
    // Mid-epoch: some items of the next epoch read, then stop (or destroy).
    for (int i = 0; i < trial % 4; ++i) (void)p.get_item();
    if (trial % 2) p.stop(5s);
  }
  SUCCEED("no hang");
}
