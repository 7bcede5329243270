// Fan-out: concurrency 8, each call burns 1 ms of CPU. Items/s against what the cores allow.
#include <spdl/pipeline.hpp>

#include <benchmark/benchmark.h>

#include <chrono>
#include <ranges>
#include <thread>

namespace {

constexpr int num_items = 400;
constexpr auto burn = std::chrono::milliseconds(1);

int burn_cpu(int x) {
  const auto until = std::chrono::steady_clock::now() + burn;
  unsigned v = static_cast<unsigned>(x);
  while (std::chrono::steady_clock::now() < until) v = v * 1664525u + 1013904223u;
  benchmark::DoNotOptimize(v);
  return x;
}

// Baseline: the same calls, one plain thread per core, no engine at all.
void threads_only(benchmark::State& state) {
  const unsigned cores = std::thread::hardware_concurrency();
  for (auto _ : state) {
    std::vector<std::thread> ts;
    for (unsigned t = 0; t < cores; ++t)
      ts.emplace_back([&, t] {
        for (int i = static_cast<int>(t); i < num_items; i += static_cast<int>(cores)) burn_cpu(i);
      });
    for (auto& t : ts) t.join();
  }
  state.SetItemsProcessed(state.iterations() * num_items);
}

void spdl_fan_out(benchmark::State& state) {
  const unsigned cores = std::thread::hardware_concurrency();
  for (auto _ : state) {
    auto p = spdl::pipeline_builder()
                 .add_source(std::views::iota(0, num_items))
                 .pipe(burn_cpu, {.concurrency = 8})
                 .add_sink(8)
                 .build({.num_threads = cores});
    int n = 0;
    for (int x : p) n += x >= 0;
    benchmark::DoNotOptimize(n);
  }
  state.SetItemsProcessed(state.iterations() * num_items);
  const double ideal = cores * 1000.0;  // items/s: every core busy with 1 ms calls
  state.counters["of_ideal"] = benchmark::Counter(
      num_items / ideal, benchmark::Counter::kIsIterationInvariantRate);
}

}  // namespace

BENCHMARK(threads_only)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(spdl_fan_out)->Unit(benchmark::kMillisecond)->UseRealTime();
