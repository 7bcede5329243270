// Consumer hand-off: ns per get_item when the sink is already full (the consumer never waits),
// against a mutex-protected std::deque pop of the same items as the baseline.
#include <spdl/pipeline.hpp>

#include <benchmark/benchmark.h>

#include <chrono>
#include <deque>
#include <mutex>
#include <ranges>
#include <thread>

namespace {

constexpr int buffer = 4096;

void mutex_deque_pop(benchmark::State& state) {
  std::mutex m;
  std::deque<int> q;
  for (auto _ : state) {
    state.PauseTiming();
    for (int i = 0; i < buffer; ++i) q.push_back(i);
    state.ResumeTiming();
    long sum = 0;
    for (int i = 0; i < buffer; ++i) {
      std::lock_guard lock(m);
      sum += q.front();
      q.pop_front();
    }
    benchmark::DoNotOptimize(sum);
  }
  state.SetItemsProcessed(state.iterations() * buffer);
}

void spdl_get_item_full_sink(benchmark::State& state) {
  for (auto _ : state) {
    state.PauseTiming();
    auto p = spdl::pipeline_builder()
                 .add_source(std::views::iota(0, buffer))
                 .add_sink(buffer)
                 .build({.num_threads = 1});
    p.start();
    while (p.stats().queues.back().num_items < static_cast<std::size_t>(buffer))
      std::this_thread::sleep_for(std::chrono::microseconds(200));
    state.ResumeTiming();
    long sum = 0;
    for (int i = 0; i < buffer; ++i) sum += *p.get_item();
    benchmark::DoNotOptimize(sum);
    state.PauseTiming();
    p.stop();
    state.ResumeTiming();
  }
  state.SetItemsProcessed(state.iterations() * buffer);
}

}  // namespace

BENCHMARK(mutex_deque_pop);
// Each iteration fills a sink untimed (a few ms): a fixed count keeps the run short, where a
// minimum of timed seconds would take thousands of iterations.
BENCHMARK(spdl_get_item_full_sink)->Iterations(200);
