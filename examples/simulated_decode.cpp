// The demo: a data loader's shape with decoding simulated by CPU work on the worker pool.
//
//   file ids -> "decode" (pool, concurrency 2 per core, some files corrupt)
//            -> "augment" (loop, awaitable) -> batches of 32 -> consumer ("trainer")
//
// It prints items/s against what the cores allow, and the per-stage statistics.
#include <spdl/pipeline.hpp>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <numeric>
#include <optional>
#include <ranges>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace {

using clock_type = std::chrono::steady_clock;
constexpr auto decode_cost = std::chrono::microseconds(400);

// Busy CPU work standing in for a JPEG decode: an "image" of 32x32x3 bytes.
std::vector<std::uint8_t> decode(int file_id) {
  if (file_id % 97 == 13) throw std::runtime_error("file " + std::to_string(file_id) + ": corrupt");
  std::vector<std::uint8_t> pixels(32 * 32 * 3);
  std::uint32_t x = static_cast<std::uint32_t>(file_id) * 2654435761u;
  const auto until = clock_type::now() + decode_cost;
  while (clock_type::now() < until)
    for (auto& p : pixels) p = static_cast<std::uint8_t>(x = x * 1664525u + 1013904223u);
  return pixels;
}

// A cheap per-item step on the loop thread: drop images that are "too dark".
asio::awaitable<std::optional<std::vector<std::uint8_t>>> augment(std::vector<std::uint8_t> img) {
  const auto sum = std::accumulate(img.begin(), img.end(), std::uint64_t{0});
  if (sum < img.size() * 8) co_return std::nullopt;
  for (auto& p : img) p = static_cast<std::uint8_t>(255 - p);
  co_return img;
}

}  // namespace

int main() {
  const std::size_t cores = std::max(1u, std::thread::hardware_concurrency());
  constexpr int num_files = 4000;

  auto p = spdl::pipeline_builder()
               .add_source(std::views::iota(0, num_files))
               .pipe(decode, {.concurrency = 2 * cores, .name = "decode"})
               .pipe(augment, {.concurrency = 4, .name = "augment"})
               .aggregate(32)
               .add_sink(4)
               .build({.num_threads = cores,
                       .max_failures = spdl::failure_budget::rate(0.05),
                       .report_stats_interval = std::chrono::seconds(1),
                       .on_failure = [](const spdl::stage_failure&) {}});

  const auto t0 = clock_type::now();
  std::size_t images = 0, batches = 0;
  for (auto& batch : p) {
    images += batch.size();
    ++batches;
  }
  const double seconds = std::chrono::duration<double>(clock_type::now() - t0).count();
  p.stop();  // the final statistics report is out once the stages have finished

  const double ideal = static_cast<double>(cores) * 1e6 / static_cast<double>(decode_cost.count());
  std::printf("\n%zu images in %zu batches in %.2f s: %.0f images/s on %zu cores "
              "(ideal %.0f: %.0f%%)\n",
              images, batches, seconds, images / seconds, cores, ideal,
              100.0 * (num_files / seconds) / ideal);
  const auto s = p.stats();
  std::printf("decode: %zu calls, %zu failed (corrupt files, dropped and counted)\n",
              s.stages[1].num_tasks, s.stages[1].num_failures);
}
