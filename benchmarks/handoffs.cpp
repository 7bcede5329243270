// Hand-offs on busy cores: 10,000 ints through source -> x + 1 (a pool stage, concurrency 6, 3
// threads) -> a sink of 1, so that each item passes from thread to thread: with a hook given
// (on_failure, whose calls wait for the loop thread), without, and with an awaitable stage after
// the pool stage (`co_return x`: the loop thread alone then does the loop's work, and every
// completion goes through it). Baseline in the same program: plain threads doing the same, a
// source thread, 3 workers and the consumer, with a bounded queue (a mutex and two condition
// variables) between each. On an idle machine the engine's brief spins make its hand-offs far cheaper; the figure
// that matters is with every core busy (spdl_benchmarks --busy=N, N the number of cores), where
// a thread that spins takes the core from the one it waits for.
#include <spdl/pipeline.hpp>

#include "cpu_time.hpp"

#include <benchmark/benchmark.h>

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <mutex>
#include <ranges>
#include <thread>
#include <vector>

namespace {

constexpr int num_items = 10'000;
constexpr std::size_t num_threads = 3;
constexpr std::size_t concurrency = 6;

// A bounded blocking queue, as a program without a pipeline library would write it.
class blocking_queue {
 public:
  explicit blocking_queue(std::size_t capacity) : capacity_(capacity) {}
  void put(int x) {
    std::unique_lock lock(m_);
    not_full_.wait(lock, [&] { return q_.size() < capacity_; });
    q_.push_back(x);
    not_empty_.notify_one();
  }
  void close() {
    std::lock_guard lock(m_);
    closed_ = true;
    not_empty_.notify_all();
  }
  bool get(int& x) {
    std::unique_lock lock(m_);
    not_empty_.wait(lock, [&] { return !q_.empty() || closed_; });
    if (q_.empty()) return false;
    x = q_.front();
    q_.pop_front();
    not_full_.notify_one();
    return true;
  }

 private:
  std::mutex m_;
  std::condition_variable not_empty_, not_full_;
  std::deque<int> q_;
  const std::size_t capacity_;
  bool closed_ = false;
};

void finish(benchmark::State& state, std::int64_t sum, const spdl::bench::cpu_per_item& cpu) {
  benchmark::DoNotOptimize(sum);
  cpu.report(state, num_items);
  state.SetItemsProcessed(state.iterations() * num_items);
  state.counters["ns_per_item"] = benchmark::Counter(
      static_cast<double>(num_items), benchmark::Counter::kIsIterationInvariantRate |
                                          benchmark::Counter::kInvert);
}

void plain_thread_handoffs(benchmark::State& state) {
  std::int64_t sum = 0;
  const spdl::bench::cpu_per_item cpu;
  for (auto _ : state) {
    sum = 0;
    blocking_queue in(2), out(1);
    std::thread source([&] {
      for (int i = 0; i < num_items; ++i) in.put(i);
      in.close();
    });
    std::atomic<std::size_t> running{num_threads};
    std::vector<std::thread> workers;
    for (std::size_t t = 0; t < num_threads; ++t)
      workers.emplace_back([&] {
        for (int x; in.get(x);) out.put(x + 1);
        if (running.fetch_sub(1) == 1) out.close();
      });
    for (int x; out.get(x);) sum += x;
    source.join();
    for (auto& w : workers) w.join();
  }
  finish(state, sum, cpu);
}

void handoffs(benchmark::State& state, bool hook, bool loop_stage) {
  std::int64_t sum = 0;
  const spdl::bench::cpu_per_item cpu;
  for (auto _ : state) {
    sum = 0;
    spdl::build_options options{.num_threads = num_threads};
    if (hook) options.on_failure = [](const spdl::stage_failure&) {};
    auto stages = spdl::pipeline_builder()
                      .add_source(std::views::iota(0, num_items))
                      .pipe([](int x) { return x + 1; }, {.concurrency = concurrency});
    auto p = loop_stage ? std::move(stages)
                              .pipe([](int x) -> asio::awaitable<int> { co_return x; })
                              .add_sink(1)
                              .build(std::move(options))
                        : std::move(stages).add_sink(1).build(std::move(options));
    for (int x : p) sum += x;
  }
  finish(state, sum, cpu);
}

void spdl_handoffs_hook(benchmark::State& state) { handoffs(state, true, false); }
void spdl_handoffs(benchmark::State& state) { handoffs(state, false, false); }
void spdl_handoffs_loop_stage(benchmark::State& state) { handoffs(state, false, true); }

}  // namespace

BENCHMARK(plain_thread_handoffs)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(spdl_handoffs_hook)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(spdl_handoffs)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(spdl_handoffs_loop_stage)->Unit(benchmark::kMillisecond)->UseRealTime();
