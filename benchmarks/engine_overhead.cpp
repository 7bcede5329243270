// Per-item engine overhead: 1,000,000 ints through source -> x + 1 (concurrency 4) -> sink, read
// by the consumer thread. Baseline in the same program: oneTBB's parallel_pipeline (serial
// source -> parallel map -> serial sink, 4 tokens).
#include <spdl/pipeline.hpp>

#include "cpu_time.hpp"

#include <benchmark/benchmark.h>
#include <tbb/global_control.h>
#include <tbb/parallel_pipeline.h>

#include <cstdint>
#include <ranges>
#include <string>
#include <thread>

namespace {

constexpr int num_items = 1'000'000;

void finish(benchmark::State& state, std::int64_t sum, const spdl::bench::cpu_per_item& cpu) {
  benchmark::DoNotOptimize(sum);
  cpu.report(state, num_items);
  state.SetItemsProcessed(state.iterations() * num_items);
  state.counters["ns_per_item"] = benchmark::Counter(
      static_cast<double>(num_items), benchmark::Counter::kIsIterationInvariantRate |
                                          benchmark::Counter::kInvert);
}

void tbb_parallel_pipeline(benchmark::State& state) {
  tbb::global_control threads(tbb::global_control::max_allowed_parallelism,
                              std::thread::hardware_concurrency());
  std::int64_t sum = 0;
  const spdl::bench::cpu_per_item cpu;
  for (auto _ : state) {
    int next = 0;
    sum = 0;
    tbb::parallel_pipeline(
        4,
        tbb::make_filter<void, int>(tbb::filter_mode::serial_in_order,
                                    [&](tbb::flow_control& fc) {
                                      if (next == num_items) {
                                        fc.stop();
                                        return 0;
                                      }
                                      return next++;
                                    }) &
            tbb::make_filter<int, int>(tbb::filter_mode::parallel, [](int x) { return x + 1; }) &
            tbb::make_filter<int, void>(tbb::filter_mode::serial_out_of_order,
                                        [&](int x) { sum += x; }));
  }
  finish(state, sum, cpu);
}

// `trace`: build_options::trace (the trace of a million items is some 200 MB: see the image
// workload for its cost); `queues`: build_options::queue_capacity.
void pool_stage(benchmark::State& state, const std::string& trace, std::size_t queues = 2) {
  std::int64_t sum = 0;
  const spdl::bench::cpu_per_item cpu;
  for (auto _ : state) {
    auto p = spdl::pipeline_builder()
                 .add_source(std::views::iota(0, num_items))
                 .pipe([](int x) { return x + 1; }, {.concurrency = 4})
                 .add_sink(64)
                 .build({.num_threads = std::thread::hardware_concurrency(),
                         .trace = trace,
                         .queue_capacity = queues});
    sum = 0;
    while (auto x = p.get_item()) sum += *x;
  }
  finish(state, sum, cpu);
}

void spdl_pool_stage(benchmark::State& state) { pool_stage(state, ""); }
void spdl_pool_stage_queues_32(benchmark::State& state) { pool_stage(state, "", 32); }

void loop_stage(benchmark::State& state, std::size_t queues) {
  std::int64_t sum = 0;
  const spdl::bench::cpu_per_item cpu;
  for (auto _ : state) {
    auto p = spdl::pipeline_builder()
                 .add_source(std::views::iota(0, num_items))
                 .pipe([](int x) -> asio::awaitable<int> { co_return x + 1; }, {.concurrency = 4})
                 .add_sink(64)
                 .build({.num_threads = 1, .queue_capacity = queues});
    sum = 0;
    for (int x : p) sum += x;
  }
  finish(state, sum, cpu);
}

void spdl_loop_stage(benchmark::State& state) { loop_stage(state, 2); }
// The same with queues of 32 between stages (build_options::queue_capacity): items move in runs.
void spdl_loop_stage_queues_32(benchmark::State& state) { loop_stage(state, 32); }

}  // namespace

BENCHMARK(tbb_parallel_pipeline)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(spdl_loop_stage)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(spdl_pool_stage)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(spdl_loop_stage_queues_32)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(spdl_pool_stage_queues_32)->Unit(benchmark::kMillisecond)->UseRealTime();
