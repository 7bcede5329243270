// Statistics: exact counts, plausible times, occupancy in [0, 1], the P² estimator against exact
// percentiles, periodic reports, and the failure budget's arithmetic.

#include <spdl/detail/p2_quantile.hpp>
#include <spdl/detail/stage_counters.hpp>
#include <spdl/pipeline.hpp>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <ranges>
#include <set>
#include <string>
#include <thread>
#include <vector>

using namespace std::chrono_literals;

namespace {
double exact_percentile(std::vector<double> v, double p) {
  std::sort(v.begin(), v.end());
  auto rank = static_cast<std::size_t>(std::ceil(p * static_cast<double>(v.size())));
  return v[rank == 0 ? 0 : rank - 1];
}
}  // namespace

TEST_CASE("the P² estimator tracks exact percentiles", "[stats][p2]") {
  std::mt19937 rng(42);
  SECTION("uniform data") {
    std::uniform_real_distribution<double> d(0.0, 1000.0);
    std::vector<double> v;
    spdl::detail::p2_quantile p90(0.9), p99(0.99);
    for (int i = 0; i < 20000; ++i) {
      double x = d(rng);
      v.push_back(x);
      p90.add(x);
      p99.add(x);
    }
    CHECK(p90.value() == Approx(exact_percentile(v, 0.9)).epsilon(0.02));
    CHECK(p99.value() == Approx(exact_percentile(v, 0.99)).epsilon(0.02));
  }
  SECTION("skewed data (exponential, as task times are)") {
    std::exponential_distribution<double> d(1.0 / 200.0);
    std::vector<double> v;
    spdl::detail::p2_quantile p90(0.9), p99(0.99);
    for (int i = 0; i < 50000; ++i) {
      double x = d(rng);
      v.push_back(x);
      p90.add(x);
      p99.add(x);
    }
    CHECK(p90.value() == Approx(exact_percentile(v, 0.9)).epsilon(0.05));
    CHECK(p99.value() == Approx(exact_percentile(v, 0.99)).epsilon(0.05));
  }
  SECTION("fewer than five values are exact") {
    spdl::detail::p2_quantile p(0.5);
    CHECK(p.value() == 0.0);
    for (double x : {30.0, 10.0, 20.0}) p.add(x);
    CHECK(p.value() == 20.0);
  }
  SECTION("a constant stream") {
    spdl::detail::p2_quantile p(0.99);
    for (int i = 0; i < 1000; ++i) p.add(7.0);
    CHECK(p.value() == 7.0);
  }
}

TEST_CASE("stage and queue statistics", "[stats]") {
  auto p = spdl::pipeline_builder()
               .add_source(std::views::iota(0, 200))
               .pipe(
                   [](int i) {
                     std::this_thread::sleep_for(i % 10 == 0 ? 2ms : 200us);
                     return i;
                   },
                   {.concurrency = 2, .name = "sleepy"})
               .aggregate(10)
               .add_sink(2)
               .build({.num_threads = 2});
  std::size_t batches = 0;
  for (auto& b : p) batches += !b.empty();
  CHECK(batches == 20);

  auto s = p.stats();
  REQUIRE(s.stages.size() == 3);
  REQUIRE(s.queues.size() == 4);
  const auto& sleepy = s.stages[1];
  CHECK(sleepy.name == "sleepy");
  CHECK(sleepy.concurrency == 2);
  CHECK(sleepy.num_tasks == 200);
  CHECK(sleepy.num_failures == 0);
  // 90% of calls sleep 200 us and 10% sleep 2 ms: mean >= 380 us; p90 and p99 sit at or above
  // the short sleep and p99 near the long one.
  CHECK(sleepy.avg_time >= 380us);
  CHECK(sleepy.avg_time < 50ms);
  CHECK(sleepy.p90_time >= 200us);
  CHECK(sleepy.p99_time >= 1500us);
  CHECK(sleepy.p99_time >= sleepy.p90_time);
  CHECK(s.stages[2].name == "aggregate(10)");
  CHECK(s.stages[2].num_tasks == 20);

  CHECK(s.queues[0].name == "source");
  CHECK(s.queues[0].num_items == 200);
  CHECK(s.queues[1].name == "sleepy");
  CHECK(s.queues[1].num_items == 200);
  CHECK(s.queues[2].num_items == 20);
  CHECK(s.queues[3].name == "sink");
  CHECK(s.queues[3].num_items == 20);
  for (const auto& q : s.queues) {
    CHECK(q.occupancy >= 0.0);
    CHECK(q.occupancy <= 1.0);
    CHECK(q.qps > 0.0);
    CHECK(q.avg_put_wait >= 0ns);
    CHECK(q.avg_get_wait >= 0ns);
  }
  // The source is far faster than the stage: its queue is nearly always full.
  CHECK(s.queues[0].occupancy > 0.5);
  // The sleepy stage's consumer (aggregate) waits for it.
  CHECK(s.queues[1].avg_get_wait > 0ns);

  auto table = spdl::format_stats(s);
  CHECK(table.find("sleepy") != std::string::npos);
  CHECK(table.find("sink") != std::string::npos);
}

TEST_CASE("the sink's occupancy: near 1 behind a slow consumer, near 0 before a waiting one",
          "[stats]") {
  // The sink's writer keeps the count, from when it finds the queue empty and when the consumer
  // took the last item; the queue may empty and fill once per item, as in the second case.
  auto sink_occupancy = [](std::chrono::milliseconds call, std::chrono::milliseconds read) {
    auto p = spdl::pipeline_builder()
                 .add_source(std::views::iota(0, 40))
                 .pipe(
                     [call](int i) {
                       std::this_thread::sleep_for(call);
                       return i;
                     },
                     {.concurrency = 1})
                 .add_sink(4)
                 .build({.num_threads = 1});
    int n = 0;
    for (int x : p) {
      n += x >= 0;
      std::this_thread::sleep_for(read);
    }
    CHECK(n == 40);
    const auto s = p.stats();
    REQUIRE(s.queues.back().name == "sink");
    CHECK(s.queues.back().num_items == 40);
    return s.queues.back().occupancy;
  };
  SECTION("a consumer slower than the pipeline: the sink is nearly always full") {
    CHECK(sink_occupancy(0ms, 5ms) > 0.8);
  }
  SECTION("a pipeline slower than its consumer: each item is taken as it comes") {
    CHECK(sink_occupancy(5ms, 0ms) < 0.2);
  }
}

TEST_CASE("a stage times every call until its calls prove cheap, then one in 16", "[stats]") {
  using counters = spdl::detail::stage_counters;
  SECTION("cheap calls: every one of the first 1,024, then a sample") {
    counters c;
    for (std::size_t i = 0; i < counters::warm_up; ++i) {
      REQUIRE(c.time_next());
      c.record(100ns);
    }
    std::size_t timed = 0;
    for (std::size_t i = 0; i < 16 * counters::sample_every; ++i) {
      if (c.time_next()) {
        ++timed;
        c.record(300ns);
      } else {
        c.count();
      }
    }
    CHECK(timed == 16);
    CHECK(c.tasks == counters::warm_up + 16 * counters::sample_every);
    const auto s = c.snapshot();
    CHECK(s.num_tasks == c.tasks);
    // The mean is the timed calls' mean: (1,024 x 100 + 16 x 300) / 1,040 ns.
    CHECK(s.avg_time == std::chrono::nanoseconds((1024 * 100 + 16 * 300) / 1040));
  }
  SECTION("calls that average 5 us or more: every one") {
    counters c;
    for (std::size_t i = 0; i < 4 * counters::warm_up; ++i) {
      REQUIRE(c.time_next());
      c.record(counters::cheap);
    }
    CHECK(c.timed == c.tasks);
  }
  SECTION("a batch or a split counts, and is sampled alike") {
    counters c;
    for (std::size_t i = 0; i < 2 * counters::warm_up; ++i) c.record_instant();
    CHECK(c.tasks == 2 * counters::warm_up);
    CHECK(c.timed == counters::warm_up + counters::warm_up / counters::sample_every);
    CHECK(c.snapshot().avg_time == 0ns);
  }
}

TEST_CASE("a long run of cheap calls counts every call, and still reports its times", "[stats]") {
  constexpr int n = 50'000;
  auto p = spdl::pipeline_builder()
               .add_source(std::views::iota(0, n))
               .pipe([](int x) -> asio::awaitable<int> { co_return x + 1; }, {.name = "loop"})
               .pipe([](int x) { return x * 2; }, {.concurrency = 2, .name = "pool"})
               .aggregate(10)
               .add_sink(4)
               .build({.num_threads = 2});
  std::size_t items = 0;
  for (auto& b : p) items += b.size();
  CHECK(items == n);
  const auto s = p.stats();
  REQUIRE(s.stages.size() == 4);
  CHECK(s.stages[0].num_tasks == n);
  CHECK(s.stages[1].num_tasks == n);
  CHECK(s.stages[2].num_tasks == n);
  CHECK(s.stages[3].num_tasks == n / 10);
  for (const auto& st : s.stages) {
    CHECK(st.avg_time >= 0ns);
    CHECK(st.p99_time >= st.p90_time);
  }
  // A pool call's time is the call itself, measured on its worker: more than nothing.
  CHECK(s.stages[2].avg_time > 0ns);
}

TEST_CASE("periodic reports go to on_stats, and once more at the end", "[stats]") {
  std::atomic<int> reports{0};
  std::atomic<std::size_t> last_tasks{0};
  {
    auto p = spdl::pipeline_builder()
                 .add_source(std::views::iota(0, 40))
                 .pipe(
                     [](int i) {
                       std::this_thread::sleep_for(2ms);
                       return i;
                     },
                     {.name = "slow"})
                 .add_sink(2)
                 .build({.num_threads = 1,
                         .report_stats_interval = 10ms,
                         .on_stats =
                             [&](const spdl::pipeline_stats& s) {
                               ++reports;
                               last_tasks = s.stages[1].num_tasks;
                             }});
    std::size_t n = 0;
    for (int x : p) n += x >= 0;
    CHECK(n == 40);
    p.stop();  // the final report is out once the stages have finished
    CHECK(last_tasks.load() == 40);
  }
  CHECK(reports.load() >= 2);
}

TEST_CASE("no report is made unless asked", "[stats]") {
  std::atomic<int> reports{0};
  auto p = spdl::pipeline_builder()
               .add_source(std::views::iota(0, 10))
               .add_sink(2)
               .build({.on_stats = [&](const spdl::pipeline_stats&) { ++reports; }});
  for (int x : p) (void)x;
  p.stop();
  CHECK(reports.load() == 0);
}

TEST_CASE("failure budget arithmetic", "[stats][failures]") {
  using spdl::failure_budget;
  CHECK(!failure_budget::count(3).exceeded(3, 10));
  CHECK(failure_budget::count(3).exceeded(4, 10));
  CHECK(failure_budget::count(0).exceeded(1, 1));
  CHECK(!failure_budget::unlimited().exceeded(1000000, 1000000));
  CHECK(failure_budget::unlimited().is_unlimited());
  CHECK(!failure_budget::rate(0.1).exceeded(50, 99));  // probation
  CHECK(failure_budget::rate(0.1).exceeded(11, 100));
  CHECK(!failure_budget::rate(0.1).exceeded(10, 100));
  CHECK(!failure_budget::rate(1.0).exceeded(100, 100));
}

TEST_CASE("trace: a Chrome trace-event file with a track per thread, closed slices and stage names",
          "[stats][trace]") {
  const auto path = std::filesystem::temp_directory_path() / ("spdl-trace-" + std::to_string(::getpid()) + ".json");
  {
    auto p = spdl::pipeline_builder()
                 .add_source(std::views::iota(0, 100), {.continuous = true})
                 .pipe([](int i) { return i * 2; }, {.concurrency = 2, .name = "double \"it\""})
                 .pipe([](int i) -> asio::awaitable<int> { co_return i + 1; }, {.concurrency = 3, .name = "plus one"})
                 .aggregate(8)
                 .add_sink(2)
                 .build({.num_threads = 2, .trace = path.string()});
    for (int epoch = 0; epoch < 2; ++epoch) {
      std::size_t items = 0;
      while (auto batch = p.get_item()) items += batch->size();
      CHECK(items == 100);
    }
    p.stop();
  }
  std::ifstream in(path);
  REQUIRE(in);
  const auto trace = nlohmann::json::parse(in);  // throws on invalid JSON
  std::filesystem::remove(path);
  std::map<int, std::string> threads;                 // tid -> track name
  std::map<std::string, int> slices;                  // stage -> complete slices
  std::map<std::pair<std::string, std::uint64_t>, int> open_async;  // (name, id) -> begins - ends
  std::set<std::string> counters;
  int epochs = 0, awaitable = 0;
  for (const auto& e : trace.at("traceEvents")) {
    const std::string ph = e.at("ph");
    if (ph == "M" && e.at("name") == "thread_name") {
      const int tid = e.at("tid");
      CHECK(threads.count(tid) == 0);  // one track per thread
      threads[tid] = e.at("args").at("name");
    } else if (ph == "X") {
      CHECK(e.at("dur").get<double>() >= 0);
      CHECK(e.at("args").contains("item"));
      ++slices[e.at("name")];
    } else if (ph == "b" || ph == "e") {
      auto& n = open_async[{e.at("name"), e.at("id").get<std::uint64_t>()}];
      n += ph == "b" ? 1 : -1;
      if (ph == "b") ++awaitable;
    } else if (ph == "C") {
      counters.insert(e.at("name"));
    } else if (ph == "i") {
      epochs += e.at("name").get<std::string>().starts_with("epoch") ? 1 : 0;
    }
  }
  // Tracks: the loop and the two workers, named; every slice closed.
  std::multiset<std::string> names;
  for (const auto& [tid, name] : threads) names.insert(name);
  CHECK(names == std::multiset<std::string>{"loop", "worker 0", "worker 1"});
  for (const auto& [key, n] : open_async) CHECK(n == 0);
  // Two epochs read, and what the stages made ahead of the reader before the stop.
  CHECK(slices["double \"it\""] >= 200);  // the pool stage's calls, with the name as given
  CHECK(slices["source"] >= 200);
  CHECK(awaitable >= 200);  // the awaitable stage's calls, as async slices
  CHECK(counters.count("queue plus one") == 1);
  CHECK(counters.count("queue aggregate(8)") == 1);
  CHECK(counters.count("queue sink") == 1);
  CHECK(epochs >= 1);
}

TEST_CASE("trace: a path that cannot be written fails the build", "[stats][trace]") {
  CHECK_THROWS_AS(spdl::pipeline_builder()
                      .add_source(std::views::iota(0, 3))
                      .add_sink(1)
                      .build({.trace = "/nonexistent-dir/trace.json"}),
                  spdl::error);
}

TEST_CASE("trace: a long run's trace is written whole, in pieces", "[stats][trace]") {
  // 30,000 items make some 6 MB of events: written a megabyte at a time, it must still be one
  // valid document with every call in it.
  const auto path = std::filesystem::temp_directory_path() / ("spdl-trace-long-" + std::to_string(::getpid()) + ".json");
  constexpr int n = 30'000;
  {
    auto p = spdl::pipeline_builder()
                 .add_source(std::views::iota(0, n))
                 .pipe([](int i) { return i + 1; }, {.concurrency = 2, .name = "inc"})
                 .add_sink(16)
                 .build({.num_threads = 2, .trace = path.string()});
    std::int64_t sum = 0;
    for (int x : p) sum += x;
    CHECK(sum == std::int64_t{n} * (n + 1) / 2);
  }
  REQUIRE(std::filesystem::file_size(path) > (std::uintmax_t{3} << 20));
  std::ifstream in(path);
  REQUIRE(in);
  const auto trace = nlohmann::json::parse(in);
  std::filesystem::remove(path);
  std::set<std::uint64_t> items;
  for (const auto& e : trace.at("traceEvents"))
    if (e.at("ph") == "X" && e.at("name") == "inc") items.insert(e.at("args").at("item").get<std::uint64_t>());
  CHECK(items.size() == std::size_t{n});
}
