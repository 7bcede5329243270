// The pipeline's stages: aggregate / disaggregate, output order, concurrency, accounting of every
// item, move-only and copy-counted payloads, and which thread runs what.

#include <spdl/detail/scheduler.hpp>
#include <spdl/pipeline.hpp>

#include "../support/counted.hpp"
#include "../support/stress.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <future>
#include <memory>
#include <mutex>
#include <numeric>
#include <optional>
#include <ranges>
#include <set>
#include <stdexcept>
#include <thread>
#include <vector>

using namespace std::chrono_literals;

namespace {

template <class T>
std::vector<T> drain(spdl::pipeline<T>& p) {
  std::vector<T> out;
  for (auto& x : p) out.push_back(std::move(x));
  return out;
}

std::vector<int> iota_vec(int n) {
  std::vector<int> v(static_cast<std::size_t>(n));
  std::iota(v.begin(), v.end(), 0);
  return v;
}

// Keeps the "failed item" log quiet: the tests count failures through stats.
void quiet(const spdl::stage_failure&) {}

asio::awaitable<void> sleep_for(std::chrono::milliseconds d) {
  asio::steady_timer t(co_await asio::this_coro::executor, d);
  co_await t.async_wait(asio::use_awaitable);
}

// Tracks how many calls are in flight at once.
struct in_flight {
  std::atomic<int> now{0};
  std::atomic<int> peak{0};
  void enter() {
    int n = now.fetch_add(1) + 1;
    int p = peak.load();
    while (n > p && !peak.compare_exchange_weak(p, n)) {
    }
  }
  void leave() { now.fetch_sub(1); }
};

}  // namespace

TEST_CASE("aggregate batches, flushes the partial batch, and disaggregate flattens",
          "[pipeline][aggregate]") {
  auto batches = [](bool drop_last) {
    auto p = spdl::pipeline_builder()
                 .add_source(std::views::iota(0, 13))
                 .aggregate(4, {.drop_last = drop_last})
                 .add_sink(2)
                 .build({.num_threads = 1});
    return drain(p);
  };
  using batch = std::vector<int>;
  CHECK(batches(false) ==
        std::vector<batch>{{0, 1, 2, 3}, {4, 5, 6, 7}, {8, 9, 10, 11}, {12}});
  CHECK(batches(true) == std::vector<batch>{{0, 1, 2, 3}, {4, 5, 6, 7}, {8, 9, 10, 11}});

  auto flat = spdl::pipeline_builder()
                  .add_source(std::views::iota(0, 13))
                  .aggregate(4)
                  .disaggregate()
                  .add_sink(3)
                  .build({.num_threads = 1});
  CHECK(drain(flat) == iota_vec(13));
}

TEST_CASE("output order: completion yields finishing order, input yields source order",
          "[pipeline][order]") {
  constexpr int n = 20;
  // Calls finish 20 ms apart: 5 ms proved too little under ASan on 2 busy cores (a call that
  // started later by the scheduler's whim finished first once in a CI run).
  auto delay = [](int i) { return std::chrono::milliseconds(20 * (n - i)); };
  std::vector<int> reversed = iota_vec(n);
  std::reverse(reversed.begin(), reversed.end());

  for (auto order : {spdl::output_order::completion, spdl::output_order::input}) {
    const auto& expected = order == spdl::output_order::input ? iota_vec(n) : reversed;
    SECTION(std::string("pool function, order ") +
            (order == spdl::output_order::input ? "input" : "completion")) {
      // The order the calls finished in, as they saw it: on 2 busy cores under a sanitizer, a
      // call can start 20 ms after the next one (a CI run had 4 and 5 swapped) and then finish
      // after it too; completion order is the order they finished in, whatever it was.
      std::mutex m;
      std::vector<int> finished;
      auto p = spdl::pipeline_builder()
                   .add_source(std::views::iota(0, n))
                   .pipe(
                       [&](int i) {
                         std::this_thread::sleep_for(delay(i));
                         std::lock_guard lock(m);
                         finished.push_back(i);
                         return i;
                       },
                       {.concurrency = n, .order = order})
                   .add_sink(n)
                   .build({.num_threads = n});
      const std::vector<int> got = drain(p);
      if (order == spdl::output_order::input) {
        CHECK(got == expected);
      } else {
        std::lock_guard lock(m);
        CHECK(got == finished);
        CHECK(got != iota_vec(n));  // not input order: the calls did finish out of it
      }
    }
    SECTION(std::string("awaitable function, order ") +
            (order == spdl::output_order::input ? "input" : "completion")) {
      auto p = spdl::pipeline_builder()
                   .add_source(std::views::iota(0, n))
                   .pipe(
                       [&](int i) -> asio::awaitable<int> {
                         co_await sleep_for(delay(i));
                         co_return i;
                       },
                       {.concurrency = n, .order = order})
                   .add_sink(n)
                   .build({.num_threads = 1});
      CHECK(drain(p) == expected);
    }
  }
}

TEST_CASE("an ordered stage skips dropped and failed items without breaking the order",
          "[pipeline][order]") {
  // Drops multiples of 3, fails on i % 5 == 1, and finishes in a scrambled order.
  auto f = [](int i) -> std::optional<int> {
    std::this_thread::sleep_for(std::chrono::microseconds((i * 7919) % 13 * 300));
    if (i % 5 == 1) throw std::runtime_error("odd one out");
    if (i % 3 == 0) return std::nullopt;
    return i;
  };
  std::vector<int> expected;
  for (int i = 0; i < 60; ++i)
    if (i % 5 != 1 && i % 3 != 0) expected.push_back(i);

  auto p = spdl::pipeline_builder()
               .add_source(std::views::iota(0, 60))
               .pipe(f, {.concurrency = 6, .order = spdl::output_order::input})
               .add_sink(4)
               .build({.num_threads = 6, .on_failure = quiet});
  CHECK(drain(p) == expected);
  CHECK(p.stats().stages[1].num_failures == 12);
}

// In input order, a worker whose call ends out of turn waits with its result, and the worker
// whose turn ends before sends it on in its stead while the output has room (pipe_node's
// finish_turn); with none, or at an epoch boundary, the waiter is woken to send it itself. Cheap
// calls (carried on where the item is) mixed with calls of 50 us (which finish out of turn),
// drops and failures, queues and sinks of 1 (the output often full) and larger, three epochs:
// each epoch whole, in order, less what was dropped or failed.
TEST_CASE("input order: results sent on by the worker in turn, whatever the output's room",
          "[pipeline][order]") {
  const std::size_t queues = GENERATE(std::size_t{1}, std::size_t{2}, std::size_t{32});
  const std::size_t sink = GENERATE(std::size_t{1}, std::size_t{8});
  CAPTURE(queues, sink);
  constexpr int n = 3000;
  auto f = [](int i) -> std::optional<int> {
    if (i % 7 == 3) std::this_thread::sleep_for(50us);
    if (i % 13 == 6) throw std::runtime_error("fails on purpose");
    if (i % 11 == 5) return std::nullopt;
    return i;
  };
  std::vector<int> expected;
  std::size_t failing = 0;  // an epoch's
  for (int i = 0; i < n; ++i) {
    if (i % 13 == 6) ++failing;
    if (i % 13 != 6 && i % 11 != 5) expected.push_back(i);
  }
  auto p = spdl::pipeline_builder()
               .add_source(iota_vec(n), {.continuous = true})
               .pipe(f, {.concurrency = 4, .order = spdl::output_order::input})
               .add_sink(sink)
               .build({.num_threads = 2,
                       .max_failures = spdl::failure_budget::unlimited(),
                       .on_failure = quiet,
                       .queue_capacity = queues});
  for (std::size_t epoch = 0; epoch < 3; ++epoch) {
    CAPTURE(epoch);
    std::vector<int> got;
    while (auto x = p.get_item()) got.push_back(*x);
    CHECK(got == expected);
    // Every failure of the epochs read is counted once its boundary has passed; the next
    // epoch's may be under way.
    const std::size_t failures = p.stats().stages.at(1).num_failures;
    CHECK(failures >= (epoch + 1) * failing);
    CHECK(failures <= (epoch + 2) * failing);
  }
}

TEST_CASE("concurrency N: exactly N calls in flight at the peak", "[pipeline][concurrency]") {
  for (std::size_t n : {1u, 3u, 6u}) {
    SECTION("pool function, N = " + std::to_string(n)) {
      in_flight counter;
      auto p = spdl::pipeline_builder()
                   .add_source(std::views::iota(0, 40))
                   .pipe(
                       [&](int i) {
                         counter.enter();
                         std::this_thread::sleep_for(3ms);
                         counter.leave();
                         return i;
                       },
                       {.concurrency = n})
                   .add_sink(2)
                   .build({.num_threads = 8});
      CHECK(drain(p).size() == 40);
      CHECK(counter.peak.load() == static_cast<int>(n));
    }
    SECTION("awaitable function, N = " + std::to_string(n)) {
      in_flight counter;
      auto p = spdl::pipeline_builder()
                   .add_source(std::views::iota(0, 40))
                   .pipe(
                       [&](int i) -> asio::awaitable<int> {
                         counter.enter();
                         co_await sleep_for(3ms);
                         counter.leave();
                         co_return i;
                       },
                       {.concurrency = n})
                   .add_sink(2)
                   .build({.num_threads = 1});
      CHECK(drain(p).size() == 40);
      CHECK(counter.peak.load() == static_cast<int>(n));
    }
  }
}

TEST_CASE("every source item is delivered, dropped or counted as failed", "[pipeline][accounting]") {
  auto p = spdl::pipeline_builder()
               .add_source(std::views::iota(0, 300))
               .pipe(
                   [](int i) -> std::optional<int> {
                     if (i % 7 == 0) throw std::runtime_error("seven");
                     if (i % 4 == 0) return std::nullopt;
                     return i;
                   },
                   {.concurrency = 3, .name = "filter"})
               .pipe(
                   [](int i) -> asio::awaitable<std::optional<int>> {
                     if (i % 11 == 0) throw std::runtime_error("eleven");
                     if (i % 5 == 0) co_return std::nullopt;
                     co_return i;
                   },
                   {.concurrency = 2, .name = "filter2"})
               .add_sink(5)
               .build({.num_threads = 2, .on_failure = quiet});
  auto items = drain(p);
  auto s = p.stats();
  REQUIRE(s.stages.size() == 3);
  const auto& src = s.stages[0];
  const auto& f1 = s.stages[1];
  const auto& f2 = s.stages[2];
  CHECK(src.name == "source");
  CHECK(src.num_tasks == 300);
  CHECK(f1.name == "filter");
  CHECK(f1.num_tasks == 300);
  CHECK(f1.num_failures == 43);  // multiples of 7 in [0, 300)
  const std::size_t dropped1 = 300 - 43 - s.queues[1].num_items;
  CHECK(f2.num_tasks == s.queues[1].num_items);
  const std::size_t dropped2 = f2.num_tasks - f2.num_failures - items.size();
  CHECK(src.num_tasks == items.size() + f1.num_failures + f2.num_failures + dropped1 + dropped2);

  std::size_t expect_dropped1 = 0, expect_failed2 = 0, expect_dropped2 = 0, expect_items = 0;
  for (int i = 0; i < 300; ++i) {
    if (i % 7 == 0) continue;
    if (i % 4 == 0) {
      ++expect_dropped1;
      continue;
    }
    if (i % 11 == 0) {
      ++expect_failed2;
      continue;
    }
    if (i % 5 == 0) {
      ++expect_dropped2;
      continue;
    }
    ++expect_items;
  }
  CHECK(dropped1 == expect_dropped1);
  CHECK(f2.num_failures == expect_failed2);
  CHECK(dropped2 == expect_dropped2);
  CHECK(items.size() == expect_items);
  CHECK(s.queues.back().name == "sink");
  CHECK(s.queues.back().num_items == items.size());
}

TEST_CASE("move-only items pass through every stage kind", "[pipeline][payload]") {
  auto p = spdl::pipeline_builder()
               .add_source(std::views::iota(0, 10))
               .pipe([](int i) { return std::make_unique<int>(i); }, {.concurrency = 2})
               .pipe(
                   [](std::unique_ptr<int> v) -> asio::awaitable<std::unique_ptr<int>> {
                     *v += 100;
                     co_return v;
                   },
                   {.concurrency = 2, .order = spdl::output_order::input})
               .aggregate(3)
               .disaggregate()
               .pipe([](std::unique_ptr<int> v) -> std::optional<std::unique_ptr<int>> {
                 if (*v == 105) return std::nullopt;
                 return v;
               })
               .add_sink(2)
               .build({.num_threads = 2});
  std::vector<int> got;
  for (auto& v : p) got.push_back(*v);
  std::sort(got.begin(), got.end());
  CHECK(got == std::vector<int>{100, 101, 102, 103, 104, 106, 107, 108, 109});
}

TEST_CASE("the engine never copies a payload", "[pipeline][payload]") {
  spdl::test::counts c;
  {
    std::vector<spdl::test::counted> source;
    for (int i = 0; i < 50; ++i) source.emplace_back(c, i);

    SECTION("an rvalue container is moved in and its elements moved out") {
      auto p = spdl::pipeline_builder()
                   .add_source(std::move(source))
                   .pipe([](spdl::test::counted x) { return x; }, {.concurrency = 3})
                   .pipe([](spdl::test::counted x) -> asio::awaitable<spdl::test::counted> {
                     co_return x;
                   })
                   .aggregate(7)
                   .disaggregate()
                   .pipe([](spdl::test::counted x) { return x; },
                         {.concurrency = 2, .order = spdl::output_order::input})
                   .add_sink(4)
                   .build({.num_threads = 2});
      std::size_t n = 0;
      for (auto& x : p) n += x.value >= 0;
      CHECK(n == 50);
      CHECK(c.copies.load() == 0);
    }
    SECTION("an lvalue container is copied once, by add_source, as documented") {
      auto p = spdl::pipeline_builder()
                   .add_source(source)
                   .pipe([](spdl::test::counted x) { return x; }, {.concurrency = 3})
                   .add_sink(4)
                   .build({.num_threads = 2});
      CHECK(drain(p).size() == 50);
      CHECK(c.copies.load() == 50);
    }
  }
  CHECK(c.live.load() == 0);
}

// Threads that spin until destroyed: cores busy with another program's work, as a trainer's are.
struct busy_cores {
  explicit busy_cores(unsigned n) {
    for (unsigned i = 0; i < n; ++i)
      threads.emplace_back([this] {
        while (!stop.load(std::memory_order_relaxed)) {
        }
      });
  }
  ~busy_cores() {
    stop = true;
    for (auto& t : threads) t.join();
  }
  std::atomic<bool> stop{false};
  std::vector<std::thread> threads;
};

TEST_CASE("awaitable stages run on the loop thread, pool stages never do", "[pipeline][threads]") {
  // On busy cores too, where the loop thread is often not running when a pool call finishes.
  busy_cores load(std::max(2u, std::thread::hardware_concurrency()));
  std::mutex m;
  std::set<std::thread::id> loop_ids, pool_ids;
  auto p = spdl::pipeline_builder()
               .add_source(std::views::iota(0, 64))
               .pipe(
                   [&](int i) -> asio::awaitable<int> {
                     std::lock_guard lock(m);
                     loop_ids.insert(std::this_thread::get_id());
                     co_return i;
                   },
                   {.concurrency = 4})
               .pipe(
                   [&](int i) {
                     std::this_thread::sleep_for(100us);
                     std::lock_guard lock(m);
                     pool_ids.insert(std::this_thread::get_id());
                     return i;
                   },
                   {.concurrency = 4})
               .add_sink(2)
               .build({.num_threads = 3});
  CHECK(drain(p).size() == 64);
  REQUIRE(loop_ids.size() == 1);
  CHECK(*loop_ids.begin() != std::this_thread::get_id());
  CHECK(pool_ids.count(*loop_ids.begin()) == 0);
  CHECK(pool_ids.count(std::this_thread::get_id()) == 0);
  CHECK(!pool_ids.empty());
  CHECK(pool_ids.size() <= 3);
}

// A source of 0 .. n-1 that records who runs the loop's work: whether two threads were ever in
// it at once, and how many of its calls ran on a thread that marked itself a pool thread.
struct probed_source {
  explicit probed_source(int count) : n(count) {}
  static bool& pool_thread() {
    static thread_local bool marked = false;
    return marked;
  }
  std::optional<int> operator()() {
    if (inside.exchange(true)) overlapped = true;
    if (pool_thread()) ++on_pool;
    std::optional<int> item;
    if (next < n) item = next++;
    inside = false;
    return item;
  }
  const int n;
  int next = 0;  // plain: touched by whichever thread holds the loop
  std::atomic<bool> inside{false};
  bool overlapped = false;
  int on_pool = 0;
};

TEST_CASE("on busy cores pool threads may do the loop's work, one thread at a time",
          "[pipeline][threads]") {
  // Every core spins for another program, so the loop thread is often not running when a call
  // finishes; where no stage needs the loop thread itself, a pool thread then does the loop's
  // work (the source's reads among it). What must hold: that work never runs on two threads at
  // once (the source's plain `next` is touched by whichever thread holds the loop, so a missing
  // hand-over shows under TSan), and items come out whole and in order. Where a stage needs the
  // loop thread itself (an awaitable one), the loop's work stays there: the source never runs
  // on a pool thread.
  busy_cores load(std::max(2u, std::thread::hardware_concurrency()));
  const int n = std::max(2'000, 20'000 / spdl::test::stress_divisor);
  struct outcome {
    bool whole_and_in_order = true;
    bool overlapped = false;
    int source_on_pool = 0;
  };
  auto run = [n](bool loop_stage) {
    outcome o;
    probed_source source(n);
    int expected = 0;
    {
      auto stages = spdl::pipeline_builder()
                        .add_source([&] { return source(); })
                        .pipe(
                            [](int x) {
                              probed_source::pool_thread() = true;
                              return x;
                            },
                            {.concurrency = 8, .order = spdl::output_order::input});
      auto p = loop_stage ? std::move(stages)
                                .pipe([](int x) -> asio::awaitable<int> { co_return x; })
                                .aggregate(16)
                                .add_sink(4)
                                .build({.num_threads = 2})
                          : std::move(stages).aggregate(16).add_sink(4).build({.num_threads = 2});
      for (auto& batch : p)
        for (int x : batch) o.whole_and_in_order = o.whole_and_in_order && x == expected++;
    }  // joined: what the source wrote is ours to read
    o.overlapped = source.overlapped;
    o.source_on_pool = source.on_pool;
    o.whole_and_in_order = o.whole_and_in_order && expected == n;
    return o;
  };
  SECTION("plain stages: pool threads take the loop's work when the loop thread lags") {
    int rounds_with_drivers = 0;
    for (int round = 0; round < 20 && rounds_with_drivers == 0; ++round) {
      const outcome o = run(false);
      CHECK(o.whole_and_in_order);
      CHECK(!o.overlapped);
      if (o.source_on_pool > 0) ++rounds_with_drivers;
    }
    CHECK(rounds_with_drivers > 0);
  }
  SECTION("an awaitable stage: the loop's work stays on the loop thread") {
    for (int round = 0; round < 3; ++round) {
      const outcome o = run(true);
      CHECK(o.whole_and_in_order);
      CHECK(!o.overlapped);
      CHECK(o.source_on_pool == 0);
    }
  }
}

TEST_CASE("hooks are called on the loop thread, while pool threads do the loop's work",
          "[pipeline][threads]") {
  // on_failure and on_stats were promised the loop thread; they no longer keep the loop's work
  // there. Where another thread holds the loop's role, their calls wait for the loop thread
  // (loop_inbox::on_loop_thread), which makes them holding the role: never on a pool thread or
  // the consumer's, never while the loop's work runs elsewhere (the source's probe), every
  // failure's before the end of the stream is read, the last statistics before the pipeline
  // is joined. Every core spins for another program, so that pool threads take the loop's work.
  busy_cores load(std::max(2u, std::thread::hardware_concurrency()));
  const int n = std::max(2'000, 20'000 / spdl::test::stress_divisor);
  const auto consumer = std::this_thread::get_id();
  std::vector<int> expected_failed;
  for (int x = 0; x < n; ++x)
    if (x % 50 == 7) expected_failed.push_back(x);
  int rounds_with_drivers = 0;  // and with calls that waited for the loop thread
  for (int round = 0; round < 20 && rounds_with_drivers == 0; ++round) {
    probed_source::pool_thread() = false;  // this thread's mark, should it have carried a call
    probed_source source(n);
    std::atomic<int> queued{0};  // calls made from the loop thread's queue (on_loop_thread)
    std::atomic<bool> misplaced{false};  // a hook on a pool thread or the consumer's
    std::atomic<bool> overlapped{false};  // a hook while the source ran
    std::set<std::thread::id> hook_threads;  // the hooks' (one thread: the loop thread)
    std::vector<int> failed;                 // on_failure's; read once the end is read
    std::atomic<int> reports{0};
    auto where = [&] {
      if (probed_source::pool_thread() || std::this_thread::get_id() == consumer)
        misplaced = true;
      if (source.inside.load()) overlapped = true;
      if (spdl::detail::loop_inbox::making_calls_here()) ++queued;
      hook_threads.insert(std::this_thread::get_id());
    };
    spdl::build_options options{
        .num_threads = 2,
        .report_stats_interval = 1ms,
        .on_stats = [&](const spdl::pipeline_stats&) {
          where();
          ++reports;
        },
        .on_failure = [&](const spdl::stage_failure& f) {
          where();
          try {
            std::rethrow_exception(f.exception);
          } catch (const std::runtime_error& e) {
            failed.push_back(std::stoi(e.what()));
          }
        }};
    int expected = 0;
    {
      auto p = spdl::pipeline_builder()
                   .add_source([&] { return source(); })
                   .pipe(
                       [](int x) {
                         probed_source::pool_thread() = true;
                         if (x % 50 == 7) throw std::runtime_error(std::to_string(x));
                         return x;
                       },
                       {.concurrency = 8, .order = spdl::output_order::input})
                   .add_sink(4)
                   .build(std::move(options));
      bool in_order = true;
      for (int x : p) {
        if (expected % 50 == 7) ++expected;  // failed: dropped
        in_order = in_order && x == expected++;
      }
      if (expected % 50 == 7) ++expected;
      CHECK(in_order);
      CHECK(expected == n);
      std::sort(failed.begin(), failed.end());
      CHECK(failed == expected_failed);  // each reported before the end
    }  // joined: the last report made, and what the hooks wrote ours to read
    CHECK(!misplaced);
    CHECK(!overlapped);
    CHECK(!source.overlapped);
    CHECK(hook_threads.size() == 1);
    CHECK(reports.load() >= 1);
    if (source.on_pool > 0 && queued.load() > 0) ++rounds_with_drivers;
  }
  CHECK(rounds_with_drivers > 0);
}

TEST_CASE("a hook's calls come before the end of their epoch, and may ask for the statistics",
          "[pipeline][threads]") {
  // Epochs of a continuous source, read while every core is busy (pool threads then do the
  // loop's work, and a hook's calls wait for the loop thread): each epoch's failures are
  // reported by the time its end is read, and a hook that asks the pipeline for its statistics
  // gets them, queued or not (the loop thread answers it itself).
  busy_cores load(std::max(2u, std::thread::hardware_concurrency()));
  constexpr int per_epoch = 2'000;
  constexpr int failing = per_epoch / 50;  // x % 50 == 7
  spdl::pipeline<int>* pipeline = nullptr;
  // on_failure's count, read at each end of an epoch: the hook's calls for that epoch have come
  // by then, while those for the next may be under way on the loop thread (hence atomic).
  std::atomic<int> failed{0};
  std::atomic<int> reports{0};
  std::atomic<bool> stats_seen{true};
  spdl::build_options options{
      .num_threads = 2,
      .report_stats_interval = 1ms,
      .on_stats =
          [&](const spdl::pipeline_stats&) {
            const auto s = pipeline->stats();  // from the hook: answered, not waited for
            if (s.stages.empty()) stats_seen = false;
            ++reports;
          },
      .on_failure = [&](const spdl::stage_failure&) {
        ++failed;
        if (pipeline->stats().stages.empty()) stats_seen = false;
      }};
  auto p = spdl::pipeline_builder()
               .add_source(std::views::iota(0, per_epoch), {.continuous = true})
               .pipe(
                   [](int x) {
                     if (x % 50 == 7) throw std::runtime_error("bad item");
                     return x;
                   },
                   {.concurrency = 8})
               .add_sink(4)
               .build(std::move(options));
  pipeline = &p;
  p.start();
  for (int epoch = 0; epoch < 5; ++epoch) {
    std::size_t got = 0;
    for (int x : p) {
      (void)x;
      ++got;
    }
    CHECK(got == per_epoch - failing);
    // This epoch's all; of the next, what the pipeline has run ahead (under an epoch's worth).
    CHECK(failed.load() >= (epoch + 1) * failing);
    CHECK(failed.load() <= (epoch + 2) * failing);
  }
  p.stop();
  CHECK(stats_seen);
  CHECK(reports.load() >= 1);
}

TEST_CASE("a yield that proves long keeps the waits that ask from spinning, for a while",
          "[pipeline][threads]") {
  // Another program on the thread's core, as its yields tell (contended_core): a yield of
  // long_yield or more, whether the wait then times out or finds what it waited for. Noted per
  // thread; forgotten after back_off. A yield is made long here by sleeping in it.
  using spdl::detail::contended_core;
  auto long_yield = [] { std::this_thread::sleep_for(contended_core::long_yield + 100us); };
  std::thread([&] {
    CHECK(!contended_core::recently());  // a new thread: nothing seen yet
    CHECK(!spdl::detail::spin_until([] { return false; }, 1ms, long_yield));
    CHECK(contended_core::recently());
    std::thread([] { CHECK(!contended_core::recently()); }).join();  // this thread's alone
    std::this_thread::sleep_for(contended_core::back_off + 20ms);
    CHECK(!contended_core::recently());
    bool there = false;
    CHECK(spdl::detail::spin_until([&] { return there; }, 10s, [&] {
      long_yield();
      there = true;
    }));
    CHECK(contended_core::recently());
  }).join();
}

TEST_CASE("a loop thread with nothing to do lets pool threads carry the items", "[pipeline][threads]") {
  // Calls of 2 ms: between two completions the loop thread has nothing to do. Where no stage
  // needs it, it dozes without the loop's role rather than be woken for each completion, and
  // the pool thread that finishes a call runs the loop's work itself (the source's reads among
  // it). A consumer slower than the pipeline keeps the sink full, so the writer waits for room
  // and the consumer wakes it each time through the dozing loop. Every item comes out, in order.
  const int n = 40;
  probed_source source(n);
  std::vector<int> out;
  {
    auto p = spdl::pipeline_builder()
                 .add_source([&] { return source(); })
                 .pipe(
                     [](int x) {
                       probed_source::pool_thread() = true;
                       std::this_thread::sleep_for(2ms);
                       return x;
                     },
                     {.concurrency = 2, .order = spdl::output_order::input})
                 .add_sink(1)
                 .build({.num_threads = 2});
    for (int x : p) {
      out.push_back(x);
      if (x % 4 == 0) std::this_thread::sleep_for(5ms);  // now and then slower than the pool
    }
  }  // joined: what the source wrote is ours to read
  std::vector<int> expected(n);
  std::iota(expected.begin(), expected.end(), 0);
  CHECK(out == expected);
  CHECK(!source.overlapped);
  INFO("source calls on pool threads: " << source.on_pool);
  CHECK(source.on_pool > 0);
}

TEST_CASE("every pool thread is still there after a long run of short calls", "[pipeline][threads]") {
  // 20,000 calls of nanoseconds (idle threads race for each, and most of them sleep), then three
  // calls that each wait until all three run at once: a thread that left the pool, or one left
  // asleep with a call queued, would leave one of them waiting. Ten rounds: both were races.
  constexpr int short_calls = 20'000;
  int rounds_all_met = 0;
  for (int round = 0; round < 10; ++round) {
    std::atomic<int> running{0};
    std::atomic<int> met{0};
    auto p = spdl::pipeline_builder()
                 .add_source(std::views::iota(0, short_calls + 3))
                 .pipe(
                     [&](int i) {
                       if (i < short_calls) return i;
                       ++running;
                       const auto until = std::chrono::steady_clock::now() + 5s;
                       while (running.load() < 3 && std::chrono::steady_clock::now() < until)
                         std::this_thread::sleep_for(100us);
                       if (running.load() >= 3) ++met;
                       return i;
                     },
                     {.concurrency = 3})
                 .add_sink(4)
                 .build({.num_threads = 3});
    CHECK(drain(p).size() == short_calls + 3);
    if (met.load() == 3) ++rounds_all_met;
  }
  CHECK(rounds_all_met == 10);
}

// Many cheap plain calls with more concurrency than the pool has threads (and calls that turn
// slow midway): order, epochs, failures and the bound on live items, with a consumer that reads.
TEST_CASE("cheap calls above the pool's threads keep order, epochs, failures and the item bound",
          "[pipeline][threads]") {
  // n counted items through one stage (concurrency 8, 2 threads, input order) whose calls take
  // 100 us for values in [slow_from, slow_to): whether they came out in order and all, and the
  // most items alive at once.
  struct outcome {
    bool in_order = true;
    int count = 0;
    long most = 0;
    long live_after = 0;
  };
  auto run = [](int n, int slow_from, int slow_to) {
    spdl::test::counts c;
    std::atomic<long> most{0};
    outcome o;
    int next = 0;
    {
      auto p = spdl::pipeline_builder()
                   .add_source([&]() -> std::optional<spdl::test::counted> {
                     if (next == n) return std::nullopt;
                     return spdl::test::counted(c, next++);
                   })
                   .pipe(
                       [&](spdl::test::counted x) {
                         if (x.value >= slow_from && x.value < slow_to)
                           std::this_thread::sleep_for(100us);
                         long seen = c.live.load();
                         long m = most.load();
                         while (seen > m && !most.compare_exchange_weak(m, seen)) {
                         }
                         return x;
                       },
                       {.concurrency = 8, .order = spdl::output_order::input})
                   .add_sink(4)
                   .build({.num_threads = 2});
      for (auto& x : p) {
        o.in_order = o.in_order && x.value == o.count;
        ++o.count;
      }
    }
    o.most = most.load();
    o.live_after = c.live.load();
    return o;
  };
  // source's item + channel + stage (8) + channel + sink (4), and the consumer's two (range-for
  // holds its item while get_item() hands over the next)
  constexpr long bound = 1 + 2 + 8 + 2 + 4 + 2;

  SECTION("input order, every item, no more items alive than the bound") {
    const outcome o = run(50'000, 0, 0);
    CHECK(o.in_order);
    CHECK(o.count == 50'000);
    CHECK(o.most <= bound);
    CHECK(o.live_after == 0);
  }

  SECTION("calls that turn slow midway: order and the bound still hold") {
    // 5,000 cheap calls, 1,500 of 100 us (the stage's average passes 10 us), 5,000 cheap again.
    const outcome o = run(11'500, 5'000, 6'500);
    CHECK(o.in_order);
    CHECK(o.count == 11'500);
    CHECK(o.most <= bound);
    CHECK(o.live_after == 0);
  }

  SECTION("completion order: each epoch whole, none mixed") {
    auto p = spdl::pipeline_builder()
                 .add_source(std::views::iota(0, 1000), {.continuous = true})
                 .pipe([](int x) { return x; }, {.concurrency = 8})
                 .add_sink(4)
                 .build({.num_threads = 2});
    for (int epoch = 0; epoch < 6; ++epoch) {
      std::vector<int> got = drain(p);
      std::sort(got.begin(), got.end());
      CHECK(got == iota_vec(1000));
    }
  }

  SECTION("failures are counted one by one, and a budget ends the stage") {
    // Pool threads carry the cheap calls on themselves (pipe_node.hpp), and with a hook its
    // calls wait for the loop thread meanwhile (loop_inbox::on_loop_thread): the count is the
    // same.
    for (const bool hook : {true, false}) {
      INFO("on_failure hook: " << hook);
      constexpr int n = 20'000;
      spdl::build_options options{.num_threads = 2};
      if (hook) options.on_failure = quiet;
      auto p = spdl::pipeline_builder()
                   .add_source(std::views::iota(0, n))
                   .pipe(
                       [](int x) {
                         if (x >= 10'000 && x % 100 == 0) throw std::runtime_error("bad item");
                         return x;
                       },
                       {.concurrency = 6, .name = "check", .max_failures = spdl::failure_budget::count(5)})
                   .add_sink(4)
                   .build(std::move(options));
      std::size_t delivered = 0;
      bool failed = false;
      try {
        for (auto& x : p) {
          (void)x;
          ++delivered;
        }
      } catch (const spdl::pipeline_failure&) {
        failed = true;
      }
      CHECK(failed);
      const auto stats = p.stats();
      const auto it = std::find_if(stats.stages.begin(), stats.stages.end(),
                                   [](const spdl::stage_stats& st) { return st.name == "check"; });
      REQUIRE(it != stats.stages.end());
      const auto& check = *it;
      CHECK(check.num_failures == 6);
      CHECK(delivered >= 10'000);
      CHECK(delivered + check.num_failures <= check.num_tasks);
    }
  }
}

TEST_CASE("a role lent for a call that proves long is taken over, and comes back after",
          "[pipeline][threads]") {
  // A pool thread that runs a cheap call itself lends the loop's role meanwhile
  // (loop_inbox::role_lent). The loop thread takes over a role lent for 50 us or more; the
  // lender, its call done, gets the role back only once the other lets it go. A role lent for
  // nanoseconds is back before anyone could take it.
  asio::io_context loop{1};
  spdl::detail::ready_queue ready(loop);
  spdl::detail::loop_inbox inbox(loop, ready);
  REQUIRE(inbox.try_take_role());  // this thread: the pool thread that holds the role

  SECTION("lent for long: taken over, and back once let go") {
    std::atomic<bool> lent{false};
    std::atomic<bool> taken{false};
    std::atomic<bool> let_go{false};
    bool back_after_let_go = false;
    std::thread loop_thread([&] {
      spdl::detail::loop_inbox::lent_watch watch;
      while (!lent) std::this_thread::yield();
      while (!inbox.take_lent_role(watch)) std::this_thread::sleep_for(10us);
      taken = true;
      std::this_thread::sleep_for(1ms);  // runs the loop's work a while
      let_go = true;
      inbox.release_role();
    });
    {
      const spdl::detail::loop_inbox::role_lent role(inbox);
      lent = true;
      while (!taken) std::this_thread::sleep_for(10us);  // the call that proves long
    }
    back_after_let_go = let_go.load();
    loop_thread.join();
    CHECK(back_after_let_go);
    CHECK(!inbox.try_take_role());  // held: by this thread again
  }

  SECTION("lent for nanoseconds: never taken over") {
    spdl::detail::loop_inbox::lent_watch watch;
    for (int i = 0; i < 1000; ++i) {
      { const spdl::detail::loop_inbox::role_lent role(inbox); }
      CHECK(!inbox.take_lent_role(watch));
    }
    std::this_thread::sleep_for(100us);
    CHECK(!inbox.take_lent_role(watch));
    CHECK(!inbox.try_take_role());  // still this thread's
  }
  inbox.release_role();
}

TEST_CASE("a consumer waiting for an item does the loop's work, and carries cheap calls on",
          "[pipeline][threads]") {
  // Where pool threads may do the loop's work, so does the consumer while it waits for an item
  // without a deadline (loop_inbox::help): the source is read and cheap calls run on its thread
  // (calls at concurrency 1 under 2 us prove short, under TSan too). Not where an awaitable
  // stage keeps the loop's work on the loop thread, not for calls of tens of microseconds, and
  // not while the consumer waits with a deadline. Every item comes out, in order.
  struct outcome {
    int reads_here = 0;  // source reads on the consumer's thread
    int calls_here = 0;  // calls on the consumer's thread
    bool whole_and_in_order = true;
  };
  auto run = [](int n, bool loop_stage, std::chrono::microseconds call, bool with_deadline) {
    outcome o;
    const auto consumer = std::this_thread::get_id();
    std::atomic<int> reads_here{0};
    std::atomic<int> calls_here{0};
    auto stages =
        spdl::pipeline_builder()
            .add_source(std::views::iota(0, n) | std::views::transform([&, consumer](int x) {
                          if (std::this_thread::get_id() == consumer)
                            reads_here.fetch_add(1, std::memory_order_relaxed);
                          return x;
                        }))
            .pipe(
                [&, consumer, call](int x) {
                  if (std::this_thread::get_id() == consumer)
                    calls_here.fetch_add(1, std::memory_order_relaxed);
                  if (call.count() > 0) std::this_thread::sleep_for(call);
                  return x;
                },
                {.concurrency = 1});
    auto p = loop_stage ? std::move(stages)
                              .pipe([](int x) -> asio::awaitable<int> { co_return x; })
                              .add_sink(8)
                              .build({.num_threads = 2})
                        : std::move(stages).add_sink(8).build({.num_threads = 2});
    int expected = 0;
    for (;;) {
      auto x = with_deadline ? p.get_item(10s) : p.get_item();
      if (!x) break;
      o.whole_and_in_order = o.whole_and_in_order && *x == expected++;
    }
    o.whole_and_in_order = o.whole_and_in_order && expected == n;
    o.reads_here = reads_here.load();
    o.calls_here = calls_here.load();
    return o;
  };
  SECTION("cheap calls: the consumer reads the source and carries calls on") {
    // Whether the consumer finds the loop's role free is up to the OS's scheduling: a few rounds.
    int reads = 0;
    int calls = 0;
    for (int round = 0; round < 10 && (reads == 0 || calls == 0); ++round) {
      const outcome o = run(20'000, false, 0us, false);
      CHECK(o.whole_and_in_order);
      reads += o.reads_here;
      calls += o.calls_here;
    }
    CHECK(reads > 0);
    CHECK(calls > 0);
  }
  SECTION("an awaitable stage: nothing on the consumer's thread") {
    const outcome o = run(20'000, true, 0us, false);
    CHECK(o.whole_and_in_order);
    CHECK(o.reads_here == 0);
    CHECK(o.calls_here == 0);
  }
  SECTION("calls of 20 us: never on the consumer's thread") {
    const outcome o = run(2'000, false, 20us, false);
    CHECK(o.whole_and_in_order);
    CHECK(o.calls_here == 0);
  }
  SECTION("a consumer with a deadline: nothing on its thread") {
    const outcome o = run(20'000, false, 0us, true);
    CHECK(o.whole_and_in_order);
    CHECK(o.reads_here == 0);
    CHECK(o.calls_here == 0);
  }
}

TEST_CASE("cheap calls are run by the thread that does the loop's work; long ones never are",
          "[pipeline][threads]") {
  // A plain stage whose calls prove short (a run of 1,024 under 250 ns, or under 2 us at
  // concurrency 1) has them run inline by
  // the pool thread that holds the loop's role, with the role lent (pipe_node.hpp); a call sees
  // that as `loop_inbox::lending_here()`. Calls of tens of microseconds, or any stage where an
  // awaitable stage keeps the loop's work on the loop thread, never are. Every item comes out,
  // in order.
  struct outcome {
    int carried = 0;
    bool whole_and_in_order = true;
  };
  // `call`: a sleep (microseconds and more) or a busy wait (less), in a stage of `concurrency`.
  auto run = [](int n, bool loop_stage, std::chrono::nanoseconds call, std::size_t concurrency = 4) {
    outcome o;
    std::atomic<int> carried{0};
    auto stages = spdl::pipeline_builder()
                 .add_source(std::views::iota(0, n))
                 .pipe(
                     [&carried, call](int x) {
                       if (spdl::detail::loop_inbox::lending_here())
                         carried.fetch_add(1, std::memory_order_relaxed);
                       if (call >= 1us) {
                         std::this_thread::sleep_for(call);
                       } else if (call.count() > 0) {
                         const auto until = std::chrono::steady_clock::now() + call;
                         while (std::chrono::steady_clock::now() < until) {
                         }
                       }
                       return x;
                     },
                     {.concurrency = concurrency, .order = spdl::output_order::input});
    auto p = loop_stage ? std::move(stages)
                              .pipe([](int x) -> asio::awaitable<int> { co_return x; })
                              .add_sink(64)
                              .build({.num_threads = 2})
                        : std::move(stages).add_sink(64).build({.num_threads = 2});
    int expected = 0;
    for (int x : p) o.whole_and_in_order = o.whole_and_in_order && x == expected++;
    o.whole_and_in_order = o.whole_and_in_order && expected == n;
    o.carried = carried.load();
    return o;
  };
  SECTION("short calls, plain stages: carried") {
    // Whether a pool thread gets to drive at all is up to the OS's scheduling: a few rounds.
    // Under TSan, whose instrumentation makes these calls take more than 250 ns, they are
    // rarely carried, rightly: there only the order is checked, and the next section shows
    // carried calls under TSan too.
    int carried = 0;
    for (int round = 0; round < 10 && carried == 0; ++round) {
      const outcome o = run(100'000, false, 0us);
      CHECK(o.whole_and_in_order);
      carried += o.carried;
    }
    if (!spdl::test::thread_sanitizer) CHECK(carried > 0);
  }
  SECTION("calls of 500 ns at concurrency 1 (a collate): carried") {
    // Under 2 us counts as short where the calls run one at a time anyway.
    int carried = 0;
    for (int round = 0; round < 10 && carried == 0; ++round) {
      const outcome o = run(20'000, false, 500ns, 1);
      CHECK(o.whole_and_in_order);
      carried += o.carried;
    }
    CHECK(carried > 0);
  }
  SECTION("calls of 500 ns at concurrency 4: never carried") {
    const outcome o = run(20'000, false, 500ns, 4);
    CHECK(o.whole_and_in_order);
    CHECK(o.carried == 0);
  }
  SECTION("short calls, an awaitable stage after: never carried") {
    const outcome o = run(20'000, true, 0us);
    CHECK(o.whole_and_in_order);
    CHECK(o.carried == 0);
  }
  SECTION("calls of 20 us: never carried") {
    const outcome o = run(2'000, false, 20us);
    CHECK(o.whole_and_in_order);
    CHECK(o.carried == 0);
  }
}

TEST_CASE("a stage may run on an executor of the user's", "[pipeline][threads]") {
  asio::thread_pool mine(1);
  std::promise<std::thread::id> where;
  asio::post(mine, [&] { where.set_value(std::this_thread::get_id()); });
  const std::thread::id mine_id = where.get_future().get();
  std::set<std::thread::id> ids;
  auto p = spdl::pipeline_builder()
               .add_source(std::views::iota(0, 16))
               .pipe(
                   [&](int i) {
                     ids.insert(std::this_thread::get_id());  // one thread: no race
                     return i;
                   },
                   {.concurrency = 2, .executor = mine.get_executor()})
               .add_sink(2)
               .build({.num_threads = 2});
  CHECK(drain(p).size() == 16);
  CHECK(ids == std::set<std::thread::id>{mine_id});
}

TEST_CASE("a callable returning std::optional is a source", "[pipeline][source]") {
  int next = 0;
  auto p = spdl::pipeline_builder()
               .add_source([&]() -> std::optional<int> {
                 if (next == 5) return std::nullopt;
                 return next++;
               })
               .add_sink(1)
               .build({.num_threads = 1});
  CHECK(drain(p) == iota_vec(5));
}

TEST_CASE("input order holds when workers resume in another order than they received",
          "[pipeline][order]") {
  // Fast calls: a worker handed an item while parked often resumes after a running worker
  // took the next one. The order must follow the channel, not the resumptions.
  for (int round = 0; round < 20; ++round) {
    auto p = spdl::pipeline_builder()
                 .add_source(std::views::iota(0, 200))
                 .pipe([](int x) { return x; },
                       {.concurrency = 4, .order = spdl::output_order::input})
                 .pipe([](int x) -> asio::awaitable<int> { co_return x; },
                       {.concurrency = 3, .order = spdl::output_order::input})
                 .add_sink(4)
                 .build({.num_threads = 2});
    REQUIRE(drain(p) == iota_vec(200));
  }
}
