// Every item a source yields is delivered, dropped on purpose or counted as a failure: long
// streams through small queues, over the whole matrix of threads, concurrency, order, failures,
// source kinds and stage kinds, each run checking the exact count (and the order where asked).
//
// Timing-dependent races hide in short streams and on idle machines. SPDL_STRESS_SCALE (a
// factor, default 1) lengthens the streams for a soak, e.g. next to a second copy of this test
// (see support/stress.hpp).

#include <spdl/pipeline.hpp>

#include "../support/stress.hpp"

#include <catch2/catch.hpp>

#include <optional>
#include <sstream>
#include <string>
#include <vector>

namespace {

// 8,000 items a run in Release: enough to end early often on the code before the sink writer's
// fix (76 of 512 runs); 1,000 under TSan, 2,000 under ASan.
int stream_length() { return spdl::test::stress_items(8000); }

void quiet(const spdl::stage_failure&) {}

// With failures on: every 61st item throws, every 53rd is dropped on purpose.
bool fails(int x) { return x % 61 == 7; }
bool dropped(int x) { return !fails(x) && x % 53 == 5; }

struct run_config {
  std::size_t threads = 1;
  std::size_t concurrency = 1;
  spdl::output_order order = spdl::output_order::completion;
  bool failures = false;
  bool callable_source = false;
  bool awaitable_stage = false;
  std::size_t sink_size = 1;

  [[nodiscard]] std::string describe() const {
    std::ostringstream s;
    s << "threads " << threads << ", concurrency " << concurrency << ", order "
      << (order == spdl::output_order::input ? "input" : "completion") << ", failures "
      << failures << ", " << (callable_source ? "callable" : "range") << " source, "
      << (awaitable_stage ? "pool + awaitable stage" : "pool stage") << ", sink " << sink_size;
    return s.str();
  }
};

// What one run delivered, checked against what the source yielded. Empty when all is well.
template <class P>
std::string check_run(P& p, const run_config& c, int n) {
  std::vector<char> seen(static_cast<std::size_t>(n), 0);
  std::size_t delivered = 0;
  int last = -1;
  std::ostringstream problem;
  try {
    while (auto x = p.get_item()) {
      const int v = *x;
      if (v < 0 || v >= n || seen[static_cast<std::size_t>(v)] ||
          (c.failures && (fails(v) || dropped(v)))) {
        problem << "unexpected item " << v << "; ";
        break;
      }
      if (c.order == spdl::output_order::input && v < last)
        problem << "item " << v << " after " << last << "; ";
      seen[static_cast<std::size_t>(v)] = 1;
      last = v;
      ++delivered;
    }
  } catch (const std::exception& e) {
    problem << "exception: " << e.what() << "; ";
  }
  std::size_t expected = 0;
  std::size_t expected_failures = 0;
  for (int v = 0; v < n; ++v) {
    if (c.failures && fails(v))
      ++expected_failures;
    else if (!c.failures || !dropped(v))
      ++expected;
  }
  if (delivered != expected) problem << "delivered " << delivered << " of " << expected << "; ";
  const auto stats = p.stats();
  if (stats.stages.at(1).num_failures != expected_failures)
    problem << "failures " << stats.stages.at(1).num_failures << " of " << expected_failures;
  return problem.str();
}

std::optional<int> work(bool failures, int x) {
  if (failures && fails(x)) throw std::runtime_error("failing item " + std::to_string(x));
  if (failures && dropped(x)) return std::nullopt;
  return x;
}

asio::awaitable<int> pass_on_loop(int x) { co_return x; }

template <class B>
auto finish(B&& b, const run_config& c) {
  return std::forward<B>(b)
      .pipe([f = c.failures](int x) { return work(f, x); },
            {.concurrency = c.concurrency, .order = c.order, .name = "work"})
      .add_sink(c.sink_size)
      .build({.num_threads = c.threads, .on_failure = quiet});
}

template <class B>
auto finish_with_awaitable(B&& b, const run_config& c) {
  return std::forward<B>(b)
      .pipe([f = c.failures](int x) { return work(f, x); },
            {.concurrency = c.concurrency, .order = c.order, .name = "work"})
      .pipe(pass_on_loop, {.concurrency = c.concurrency, .order = c.order, .name = "on loop"})
      .add_sink(c.sink_size)
      .build({.num_threads = c.threads, .on_failure = quiet});
}

template <class B>
std::string run_with(B&& b, const run_config& c, int n) {
  if (c.awaitable_stage) {
    auto p = finish_with_awaitable(std::forward<B>(b), c);
    return check_run(p, c, n);
  }
  auto p = finish(std::forward<B>(b), c);
  return check_run(p, c, n);
}

std::string run_once(const run_config& c, int n) {
  if (c.callable_source) {
    auto next = [i = 0, n]() mutable -> std::optional<int> {
      if (i == n) return std::nullopt;
      return i++;
    };
    return run_with(spdl::pipeline_builder().add_source(next), c, n);
  }
  std::vector<int> v(static_cast<std::size_t>(n));
  for (int i = 0; i < n; ++i) v[static_cast<std::size_t>(i)] = i;
  return run_with(spdl::pipeline_builder().add_source(std::move(v)), c, n);
}

}  // namespace

TEST_CASE("long streams: the sink delivers every item (source -> sink, small sink queues)",
          "[pipeline][stress]") {
  // The sink writer and the consumer hand the sink queue back and forth thousands of times per
  // run: a wake-up that finds the queue full again must not end the stream.
  const int n = stream_length();
  int bad_runs = 0;
  for (std::size_t threads = 1; threads <= 2; ++threads)
    for (std::size_t sink = 1; sink <= 4; ++sink)
      for (int round = 0; round < 10; ++round) {
        std::vector<int> v(static_cast<std::size_t>(n), 1);
        auto p = spdl::pipeline_builder().add_source(std::move(v)).add_sink(sink).build(
            {.num_threads = threads});
        long got = 0;
        for (int x : p) got += x;
        if (got != n) {
          ++bad_runs;
          UNSCOPED_INFO("threads " << threads << ", sink " << sink << ": " << got << " of " << n);
        }
      }
  CHECK(bad_runs == 0);
}

TEST_CASE("long streams: every item is delivered, dropped or counted, whatever the configuration",
          "[pipeline][stress]") {
  const int n = stream_length();
  int runs = 0;
  int bad_runs = 0;
  for (std::size_t threads = 1; threads <= 4; ++threads)
    for (std::size_t concurrency = 1; concurrency <= 8; ++concurrency)
      for (auto order : {spdl::output_order::completion, spdl::output_order::input})
        for (bool failures : {false, true})
          for (bool callable : {false, true})
            for (bool awaitable : {false, true}) {
              const run_config c{threads, concurrency, order, failures, callable, awaitable,
                                 1 + static_cast<std::size_t>(runs % 4)};
              ++runs;
              const std::string problem = run_once(c, n);
              if (!problem.empty()) {
                ++bad_runs;
                UNSCOPED_INFO(c.describe() << ": " << problem);
              }
            }
  INFO(bad_runs << " of " << runs << " runs of " << n << " items went wrong");
  CHECK(bad_runs == 0);
}
