// A pipeline that reads another from its own stages: from a source callable or from a loop
// (awaitable) stage, both on the outer pipeline's loop. Each pipeline's coroutines must
// keep running on their own loop, whoever wakes them.

#include <spdl/pipeline.hpp>

#include "../support/threads.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <chrono>
#include <exception>
#include <future>
#include <memory>
#include <mutex>
#include <numeric>
#include <optional>
#include <ranges>
#include <set>
#include <thread>
#include <utility>
#include <vector>

using namespace std::chrono_literals;

namespace {

using spdl::test::within;

// The threads B's loop stage ran on: its loop thread, and only that.
struct thread_log {
  std::mutex mutex;
  std::set<std::thread::id> ids;
  void record() {
    std::lock_guard lock(mutex);
    ids.insert(std::this_thread::get_id());
  }
};

constexpr int inner_items = 2000;

spdl::pipeline<int> make_inner(thread_log& log) {
  return spdl::pipeline_builder()
      .add_source(std::views::iota(0, inner_items))
      .pipe([](int x) { return x * 3; }, {.concurrency = 4, .name = "triple"})
      .pipe(
          [&log](int x) -> asio::awaitable<int> {
            log.record();
            co_return x;
          },
          {.concurrency = 2, .name = "log"})
      .add_sink(1)
      .build({.num_threads = 2});
}

std::vector<int> expected_items() {
  std::vector<int> v(inner_items);
  for (int i = 0; i < inner_items; ++i) v[static_cast<std::size_t>(i)] = i * 3 + 1;
  return v;
}

struct outcome {
  std::vector<int> items;
  std::size_t inner_threads = 0;
};

}  // namespace

TEST_CASE("a source callable reads another pipeline without deadlock", "[pipeline][nested]") {
  for (int trial = 0; trial < 3; ++trial) {
    auto result = within<outcome>(20s, [] {
      thread_log log;
      auto b = make_inner(log);
      auto a = spdl::pipeline_builder()
                   .add_source([&b]() { return b.get_item(); })
                   .pipe([](int x) { return x + 1; }, {.concurrency = 3})
                   .add_sink(2)
                   .build({.num_threads = 2});
      outcome out;
      while (auto x = a.get_item()) out.items.push_back(*x);
      a.stop();
      b.stop();
      out.inner_threads = log.ids.size();
      return out;
    });
    if (!result) FAIL("deadlock: the outer pipeline made no progress within 20 s");
    std::sort(result->items.begin(), result->items.end());
    CHECK(result->items == expected_items());
    CHECK(result->inner_threads == 1);  // B's loop stage ran on B's loop thread only
  }
}

TEST_CASE("a loop stage reads another pipeline without deadlock", "[pipeline][nested]") {
  for (int trial = 0; trial < 3; ++trial) {
    auto result = within<outcome>(20s, [] {
      thread_log log;
      auto b = make_inner(log);
      // Blocking the loop in get_item() briefly is the user's choice here.
      auto a = spdl::pipeline_builder()
                   .add_source(std::views::iota(0, inner_items + 10))
                   .pipe(
                       [&b](int) -> asio::awaitable<std::optional<int>> {
                         co_return b.get_item();
                       },
                       {.concurrency = 2, .name = "read b"})
                   .pipe([](int x) { return x + 1; }, {.concurrency = 3})
                   .add_sink(2)
                   .build({.num_threads = 2});
      outcome out;
      while (auto x = a.get_item()) out.items.push_back(*x);
      a.stop();
      b.stop();
      out.inner_threads = log.ids.size();
      return out;
    });
    if (!result) FAIL("deadlock: the outer pipeline made no progress within 20 s");
    std::sort(result->items.begin(), result->items.end());
    CHECK(result->items == expected_items());
    CHECK(result->inner_threads == 1);
  }
}
