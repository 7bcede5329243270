// What the dataloader and epochs cost: 1,000,000 indices from a sampler through a trivial
// function on the pool, batches of 32, one epoch.
//   - spdl_dataloader against the same pipeline built by hand (baseline): the loader's own
//     bookkeeping (positions for exact resume, the collate stage's hand-off).
//   - a continuous pipeline read as 1,000 epochs of 1,000 items against one epoch of 1,000,000
//     (baseline): what the epoch boundaries cost.
#include <spdl/data.hpp>

#include <benchmark/benchmark.h>

#include <cstddef>
#include <cstdint>
#include <thread>
#include <vector>

namespace {

constexpr std::size_t num_items = 1'000'000;

void finish(benchmark::State& state, std::int64_t sum) {
  benchmark::DoNotOptimize(sum);
  state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(num_items));
}

std::size_t threads() { return std::thread::hardware_concurrency(); }

std::size_t twice(std::size_t i) { return 2 * i; }

void hand_built_pipeline(benchmark::State& state) {
  const spdl::sequential_sampler sampler(num_items);
  std::int64_t sum = 0;
  for (auto _ : state) {
    auto p = spdl::pipeline_builder()
                 .add_source(sampler, {.continuous = true})
                 .pipe(twice, {.concurrency = threads(), .order = spdl::output_order::input})
                 .aggregate(32)
                 .pipe([](std::vector<std::size_t> b) { return b; },
                       {.concurrency = 1, .order = spdl::output_order::input})
                 .add_sink(3)
                 .build({.num_threads = threads()});
    sum = 0;
    for (auto& b : p) sum += static_cast<std::int64_t>(b.size());
  }
  finish(state, sum);
}

void spdl_dataloader(benchmark::State& state) {
  const spdl::sequential_sampler sampler(num_items);
  std::int64_t sum = 0;
  for (auto _ : state) {
    spdl::dataloader loader(sampler, twice, {.batch_size = 32, .num_threads = threads(), .concurrency = threads()});
    sum = 0;
    for (auto& b : loader) sum += static_cast<std::int64_t>(b.size());
  }
  finish(state, sum);
}

void one_epoch(benchmark::State& state) {
  const spdl::sequential_sampler sampler(num_items);
  std::int64_t sum = 0;
  for (auto _ : state) {
    auto p = spdl::pipeline_builder()
                 .add_source(sampler, {.continuous = true})
                 .pipe(twice, {.concurrency = threads()})
                 .aggregate(32)
                 .add_sink(3)
                 .build({.num_threads = threads()});
    sum = 0;
    for (auto& b : p) sum += static_cast<std::int64_t>(b.size());
  }
  finish(state, sum);
}

void spdl_1000_epochs(benchmark::State& state) {
  const spdl::sequential_sampler sampler(num_items / 1000);
  std::int64_t sum = 0;
  for (auto _ : state) {
    auto p = spdl::pipeline_builder()
                 .add_source(sampler, {.continuous = true})
                 .pipe(twice, {.concurrency = threads()})
                 .aggregate(32)
                 .add_sink(3)
                 .build({.num_threads = threads()});
    sum = 0;
    for (int epoch = 0; epoch < 1000; ++epoch)
      for (auto& b : p) sum += static_cast<std::int64_t>(b.size());
  }
  finish(state, sum);
}

}  // namespace

BENCHMARK(hand_built_pipeline)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(spdl_dataloader)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(one_epoch)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(spdl_1000_epochs)->Unit(benchmark::kMillisecond)->UseRealTime();
