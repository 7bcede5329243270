// spdl::merge: several pipelines read as the source of another — every item, failures named
// after their input, epochs of continuous inputs, stop and destruction, statistics.

#include <spdl/pipeline.hpp>

#include "../support/counted.hpp"

#include "../support/stress.hpp"

#include "../support/threads.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <exception>
#include <future>
#include <memory>
#include <numeric>
#include <optional>
#include <ranges>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

using namespace std::chrono_literals;

namespace {

void quiet(const spdl::stage_failure&) {}

using spdl::test::within;

struct read_result {
  std::vector<int> items;
  std::optional<spdl::pipeline_failure> failure;
};

// Reads until the end of stream (or of the epoch) or a pipeline_failure.
template <class T>
read_result read_all(spdl::pipeline<T>& p) {
  read_result r;
  try {
    while (auto x = p.get_item()) r.items.push_back(std::move(*x));
  } catch (const spdl::pipeline_failure& e) {
    r.failure = e;
  }
  return r;
}

template <class E>
bool holds(const spdl::stage_failure& f) {
  try {
    std::rethrow_exception(f.exception);
  } catch (const E&) {
    return true;
  } catch (...) {
  }
  return false;
}

// Input k: the items k * 100000 + i for i in [0, n), through a pool stage.
spdl::pipeline<int> numbers(int k, int n, std::size_t threads = 2) {
  return spdl::pipeline_builder()
      .add_source(std::views::iota(0, n))
      .pipe([k](int i) { return k * 100000 + i; }, {.concurrency = 3, .name = "number"})
      .add_sink(2)
      .build({.num_threads = threads});
}

std::vector<int> numbers_expected(int k, int n) {
  std::vector<int> v(static_cast<std::size_t>(n));
  for (int i = 0; i < n; ++i) v[static_cast<std::size_t>(i)] = k * 100000 + i;
  return v;
}

std::vector<int> sorted(std::vector<int> v) {
  std::sort(v.begin(), v.end());
  return v;
}

struct bad_item : std::runtime_error {
  using std::runtime_error::runtime_error;
};

}  // namespace

TEST_CASE("merge: every item of every input arrives", "[pipeline][merge]") {
  for (int trial = 0; trial < 5; ++trial) {
    const std::vector<int> lengths{500, 1200 + trial, 37};
    std::vector<spdl::pipeline<int>> inputs;
    std::vector<int> expected;
    for (int k = 0; k < 3; ++k) {
      inputs.push_back(numbers(k, lengths[static_cast<std::size_t>(k)],
                               1 + static_cast<std::size_t>(k)));
      auto e = numbers_expected(k, lengths[static_cast<std::size_t>(k)]);
      expected.insert(expected.end(), e.begin(), e.end());
    }
    auto p = spdl::pipeline_builder()
                 .add_source(spdl::merge(std::move(inputs)))
                 .pipe([](int x) { return x; }, {.concurrency = 4})
                 .add_sink(1 + static_cast<std::size_t>(trial % 3))
                 .build({.num_threads = 2});
    auto r = read_all(p);
    CHECK_FALSE(r.failure);
    CHECK(sorted(r.items) == sorted(expected));
  }
}

TEST_CASE("merge: items of an input come in that input's order", "[pipeline][merge]") {
  // Plain sources: a completion-order stage would reorder an input's items itself.
  std::vector<spdl::pipeline<int>> inputs;
  for (int k = 0; k < 3; ++k) {
    std::vector<int> v = numbers_expected(k, 300 + k);
    inputs.push_back(spdl::pipeline_builder().add_source(std::move(v)).add_sink(2).build(
        {.num_threads = 1}));
  }
  auto p = spdl::pipeline_builder().add_source(spdl::merge(std::move(inputs))).add_sink(3).build(
      {.num_threads = 1});
  auto r = read_all(p);
  REQUIRE_FALSE(r.failure);
  std::vector<std::vector<int>> by_input(3);
  for (int x : r.items) by_input[static_cast<std::size_t>(x / 100000)].push_back(x);
  for (int k = 0; k < 3; ++k) CHECK(by_input[static_cast<std::size_t>(k)] == numbers_expected(k, 300 + k));
}

TEST_CASE("merge: no inputs, and empty inputs", "[pipeline][merge]") {
  SECTION("no inputs: the stream just ends") {
    auto p = spdl::pipeline_builder()
                 .add_source(spdl::merge(std::vector<spdl::pipeline<int>>{}))
                 .pipe([](int x) { return x; })
                 .add_sink(1)
                 .build({.num_threads = 1});
    auto r = read_all(p);
    CHECK_FALSE(r.failure);
    CHECK(r.items.empty());
    CHECK_FALSE(p.get_item());  // and stays ended
  }
  SECTION("an empty input among others") {
    std::vector<spdl::pipeline<int>> inputs;
    inputs.push_back(numbers(0, 0));
    inputs.push_back(numbers(1, 100));
    inputs.push_back(numbers(2, 0));
    auto p = spdl::pipeline_builder().add_source(spdl::merge(std::move(inputs))).add_sink(2).build(
        {.num_threads = 1});
    auto r = read_all(p);
    CHECK_FALSE(r.failure);
    CHECK(sorted(r.items) == numbers_expected(1, 100));
  }
  SECTION("only empty inputs") {
    std::vector<spdl::pipeline<int>> inputs;
    inputs.push_back(numbers(0, 0));
    inputs.push_back(numbers(1, 0));
    auto p = spdl::pipeline_builder().add_source(spdl::merge(std::move(inputs))).add_sink(2).build(
        {.num_threads = 1});
    auto r = read_all(p);
    CHECK_FALSE(r.failure);
    CHECK(r.items.empty());
  }
}

TEST_CASE("merge: inputs already started, merges of merges", "[pipeline][merge]") {
  std::vector<spdl::pipeline<int>> left;
  left.push_back(numbers(0, 200));
  left.push_back(numbers(1, 50));
  left.back().start();
  std::vector<spdl::pipeline<int>> right;
  right.push_back(numbers(2, 120));
  std::vector<spdl::pipeline<int>> both;
  both.push_back(spdl::pipeline_builder().add_source(spdl::merge(std::move(left))).add_sink(2).build(
      {.num_threads = 1}));
  both.push_back(spdl::pipeline_builder().add_source(spdl::merge(std::move(right))).add_sink(2).build(
      {.num_threads = 1}));
  auto p = spdl::pipeline_builder().add_source(spdl::merge(std::move(both))).add_sink(2).build(
      {.num_threads = 1});
  auto r = read_all(p);
  CHECK_FALSE(r.failure);
  std::vector<int> expected = numbers_expected(0, 200);
  for (int k : {1, 2}) {
    auto e = numbers_expected(k, k == 1 ? 50 : 120);
    expected.insert(expected.end(), e.begin(), e.end());
  }
  CHECK(sorted(r.items) == sorted(expected));
}

TEST_CASE("merge: misuse is refused where it is written", "[pipeline][merge]") {
  std::vector<spdl::pipeline<int>> inputs;
  inputs.push_back(numbers(0, 10));
  auto moved = std::move(inputs.back());
  CHECK_THROWS_AS(spdl::merge(std::move(inputs)), std::invalid_argument);

  std::vector<spdl::pipeline<int>> ok;
  ok.push_back(std::move(moved));
  CHECK_THROWS_AS(spdl::pipeline_builder().add_source(spdl::merge(std::move(ok)), {.continuous = true}),
                  std::invalid_argument);
}

TEST_CASE("merge: a failing input fails the merged pipeline, named after it",
          "[pipeline][merge][failures]") {
  for (int trial = 0; trial < 4; ++trial) {
    const bool budget = trial % 2 == 1;
    auto result = within<read_result>(30s, [budget] {
      std::vector<spdl::pipeline<int>> inputs;
      // Input 0: continuous, never ends by itself; it must be stopped.
      inputs.push_back(spdl::pipeline_builder()
                           .add_source(std::vector<int>{1, 2, 3}, {.continuous = true})
                           .pipe([](int x) { return x; }, {.concurrency = 2, .name = "copy"})
                           .add_sink(2)
                           .build({.num_threads = 1}));
      if (budget) {
        // Input 1: a stage over its budget.
        inputs.push_back(spdl::pipeline_builder()
                             .add_source(std::views::iota(0, 1000))
                             .pipe(
                                 [](int x) {
                                   if (x >= 40) throw bad_item("bad item " + std::to_string(x));
                                   return 100000 + x;
                                 },
                                 {.concurrency = 2,
                                  .name = "decode",
                                  .max_failures = spdl::failure_budget::count(3)})
                             .add_sink(2)
                             .build({.num_threads = 2, .on_failure = quiet}));
      } else {
        // Input 1: a source that throws.
        inputs.push_back(spdl::pipeline_builder()
                             .add_source([i = 0]() mutable -> std::optional<int> {
                               if (i == 40) throw bad_item("the source broke");
                               return 100000 + i++;
                             })
                             .pipe([](int x) { return x; }, {.concurrency = 2, .name = "copy"})
                             .add_sink(2)
                             .build({.num_threads = 2}));
      }
      inputs.push_back(numbers(2, 5000));
      auto p = spdl::pipeline_builder()
                   .add_source(spdl::merge(std::move(inputs)))
                   .pipe([](int x) { return x; }, {.concurrency = 3})
                   .add_sink(2)
                   .build({.num_threads = 2});
      return read_all(p);
    });
    if (!result) FAIL("the merged pipeline hung after an input failed");
    REQUIRE(result->failure);
    const auto& failures = result->failure->failures();
    REQUIRE(failures.size() == 1);
    CHECK(failures[0].stage == (budget ? "merge[1]/decode" : "merge[1]/source"));
    CHECK(holds<bad_item>(failures[0]));
    // What arrived before the failure is genuine: input 1's items came before its failure.
    std::size_t from_failing = 0;
    for (int x : result->items) {
      if (x / 100000 == 1) {
        CHECK(x - 100000 < 40);
        ++from_failing;
      }
    }
    CHECK(from_failing <= 40);
  }
}

TEST_CASE("merge: continuous inputs give one epoch boundary per epoch, once all reach it",
          "[pipeline][merge][epochs]") {
  std::vector<int> a(100);
  std::iota(a.begin(), a.end(), 0);
  std::vector<int> b(37);
  std::iota(b.begin(), b.end(), 1000);
  std::vector<int> both = a;
  both.insert(both.end(), b.begin(), b.end());
  for (int trial = 0; trial < 4; ++trial) {
    std::vector<spdl::pipeline<int>> inputs;
    inputs.push_back(spdl::pipeline_builder()
                         .add_source(a, {.continuous = true})
                         .pipe([](int x) { return x; }, {.concurrency = 4})
                         .add_sink(1 + static_cast<std::size_t>(trial))
                         .build({.num_threads = 2}));
    inputs.push_back(spdl::pipeline_builder()
                         .add_source(b, {.continuous = true})
                         .pipe([](int x) { return x; }, {.concurrency = 2})
                         .add_sink(2)
                         .build({.num_threads = 1}));
    auto p = spdl::pipeline_builder()
                 .add_source(spdl::merge(std::move(inputs)))
                 .pipe([](int x) { return x; }, {.concurrency = 3})
                 .add_sink(2)
                 .build({.num_threads = 2});
    for (int e = 0; e < 3; ++e) {
      auto r = read_all(p);
      REQUIRE_FALSE(r.failure);
      CHECK(sorted(r.items) == both);
    }
    if (trial % 2) p.stop();
  }
}

TEST_CASE("merge: an input that ended counts as having reached every later boundary",
          "[pipeline][merge][epochs]") {
  std::vector<int> a(50);
  std::iota(a.begin(), a.end(), 0);
  std::vector<spdl::pipeline<int>> inputs;
  inputs.push_back(spdl::pipeline_builder()
                       .add_source(a, {.continuous = true})
                       .pipe([](int x) { return x; }, {.concurrency = 2})
                       .add_sink(2)
                       .build({.num_threads = 1}));
  inputs.push_back(numbers(1, 300));  // finite: no boundary of its own, all of it in epoch 0
  auto p = spdl::pipeline_builder().add_source(spdl::merge(std::move(inputs))).add_sink(2).build(
      {.num_threads = 1});
  std::vector<int> first = a;
  auto rest = numbers_expected(1, 300);
  first.insert(first.end(), rest.begin(), rest.end());
  CHECK(sorted(read_all(p).items) == sorted(first));
  for (int e = 1; e < 4; ++e) CHECK(sorted(read_all(p).items) == a);
}

TEST_CASE("merge: stop and destruction mid-stream stop the inputs and never hang",
          "[pipeline][merge][lifecycle]") {
  for (int trial = 0; trial < 24; ++trial) {
    auto result = within<bool>(30s, [trial] {
      auto token = std::make_shared<int>(0);
      auto calls = std::make_shared<std::atomic<long>>(0);
      {
        std::vector<spdl::pipeline<int>> inputs;
        for (int k = 0; k < 1 + trial % 3; ++k) {
          if ((trial + k) % 2) {
            // Never ends by itself.
            inputs.push_back(spdl::pipeline_builder()
                                 .add_source([token, calls, k]() -> std::optional<int> {
                                   calls->fetch_add(1);
                                   return k;
                                 })
                                 .pipe([](int x) { return x; }, {.concurrency = 2})
                                 .add_sink(1)
                                 .build({.num_threads = 1}));
          } else {
            inputs.push_back(numbers(k, 100000));
          }
        }
        auto p = spdl::pipeline_builder()
                     .add_source(spdl::merge(std::move(inputs)))
                     .pipe([](int x) { return x; }, {.concurrency = 2})
                     .add_sink(1 + static_cast<std::size_t>(trial % 2))
                     .build({.num_threads = 2});
        for (int i = 0; i < trial * 7 % 50; ++i) (void)p.get_item();
        if (trial % 3 == 0) {
          p.stop();
          // The inputs are stopped and joined: their sources are called no more.
          const long seen = calls->load();
          std::this_thread::yield();
          if (calls->load() != seen) return false;
        } else if (trial % 3 == 1) {
          p.stop(10s);
        }
        // else: destroyed while running
      }
      return token.use_count() == 1;  // the inputs (and their sources) are gone with the merge
    });
    if (!result) FAIL("stop or destruction of a merged pipeline hung");
    CHECK(*result);
  }
}

TEST_CASE("merge: items are moved, never copied, and none outlives the pipeline",
          "[pipeline][merge][lifecycle]") {
  spdl::test::counts counts;
  for (int trial = 0; trial < 6; ++trial) {
    std::vector<spdl::pipeline<spdl::test::counted>> inputs;
    for (int k = 0; k < 3; ++k) {
      inputs.push_back(spdl::pipeline_builder()
                           .add_source([&counts, i = 0]() mutable -> std::optional<spdl::test::counted> {
                             if (i == 400) return std::nullopt;
                             return spdl::test::counted(counts, i++);
                           })
                           .pipe([](spdl::test::counted c) { return c; }, {.concurrency = 2})
                           .add_sink(2)
                           .build({.num_threads = 1}));
    }
    auto p = spdl::pipeline_builder()
                 .add_source(spdl::merge(std::move(inputs)))
                 .add_sink(2)
                 .build({.num_threads = 1});
    if (trial % 2 == 0) {
      std::size_t n = 0;
      while (auto x = p.get_item()) ++n;
      CHECK(n == 1200);
    } else {
      for (int i = 0; i < 100 * trial; ++i) (void)p.get_item();
    }
  }
  CHECK(counts.live.load() == 0);
  CHECK(counts.copies.load() == 0);
}

TEST_CASE("merge: statistics count the merge's items as a source's", "[pipeline][merge][stats]") {
  std::vector<spdl::pipeline<int>> inputs;
  inputs.push_back(numbers(0, 300));
  inputs.push_back(numbers(1, 200));
  auto p = spdl::pipeline_builder()
               .add_source(spdl::merge(std::move(inputs)))
               .pipe([](int x) { return x; }, {.concurrency = 2, .name = "copy"})
               .add_sink(2)
               .build({.num_threads = 1});
  auto r = read_all(p);
  REQUIRE(r.items.size() == 500);
  auto s = p.stats();
  REQUIRE(s.stages.size() == 2);
  CHECK(s.stages[0].name == "merge");
  CHECK(s.stages[0].concurrency == 2);
  CHECK(s.stages[0].num_tasks == 500);
  CHECK(s.stages[0].num_failures == 0);
  CHECK(s.stages[1].num_tasks == 500);
  CHECK(s.queues[0].name == "merge");
  CHECK(s.queues[0].num_items == 500);
}

TEST_CASE("merge: long streams, small queues, many runs", "[pipeline][merge][stress]") {
  for (int run = 0; run < 12; ++run) {
    const int n = spdl::test::stress_items(7000);
    std::vector<spdl::pipeline<int>> inputs;
    std::vector<int> expected;
    const int width = 2 + run % 3;
    for (int k = 0; k < width; ++k) {
      inputs.push_back(spdl::pipeline_builder()
                           .add_source(std::views::iota(0, n))
                           .pipe([k](int i) { return k * 100000 + i; },
                                 {.concurrency = 1 + static_cast<std::size_t>((run + k) % 4),
                                  .order = (run + k) % 2 ? spdl::output_order::input
                                                         : spdl::output_order::completion})
                           .add_sink(1 + static_cast<std::size_t>(k % 2))
                           .build({.num_threads = 1 + static_cast<std::size_t>(k % 2)}));
      auto e = numbers_expected(k, n);
      expected.insert(expected.end(), e.begin(), e.end());
    }
    auto p = spdl::pipeline_builder()
                 .add_source(spdl::merge(std::move(inputs)))
                 .pipe([](int x) -> asio::awaitable<int> { co_return x; }, {.concurrency = 2})
                 .add_sink(1)
                 .build({.num_threads = 1});
    auto r = read_all(p);
    REQUIRE_FALSE(r.failure);
    REQUIRE(sorted(r.items) == sorted(expected));
  }
}

// A completion-order stage after a merge once let an epoch boundary overtake items handed to
// workers that had not resumed yet (it counted the items its workers held, not those that had
// left its input before the boundary): the merge sends in bursts from the inbox, which made it
// common (2% of epochs); after a plain source it was rare.
TEST_CASE("merge: no item crosses a merged epoch boundary in a completion-order stage",
          "[pipeline][merge][epochs]") {
  std::vector<int> a(100);
  std::iota(a.begin(), a.end(), 0);
  std::vector<int> b(37);
  std::iota(b.begin(), b.end(), 1000);
  std::vector<int> both = a;
  both.insert(both.end(), b.begin(), b.end());
  std::size_t bad_epochs = 0;
  for (int run = 0; run < 150; ++run) {
    std::vector<spdl::pipeline<int>> inputs;
    inputs.push_back(spdl::pipeline_builder()
                         .add_source(a, {.continuous = true})
                         .pipe([](int x) { return x; }, {.concurrency = 4})
                         .add_sink(1 + static_cast<std::size_t>(run % 4))
                         .build({.num_threads = 2}));
    inputs.push_back(spdl::pipeline_builder()
                         .add_source(b, {.continuous = true})
                         .add_sink(2)
                         .build({.num_threads = 1}));
    auto p = spdl::pipeline_builder()
                 .add_source(spdl::merge(std::move(inputs)))
                 .pipe([](int x) -> asio::awaitable<int> { co_return x; }, {.concurrency = 3})
                 .pipe([](int x) { return x; }, {.concurrency = 3})
                 .add_sink(2)
                 .build({.num_threads = 2});
    for (int e = 0; e < 4; ++e)
      if (sorted(read_all(p).items) != both) ++bad_epochs;
  }
  CHECK(bad_epochs == 0);
}
