// Image decode (+ resize to 224 x 224): 2,000 JPEGs of ImageNet-like sizes (300-640 x 250-500,
// quality 90), generated deterministically at start-up; one thread per core.
// Baselines in the same run: libjpeg-turbo's plain full-size decode and stb_image's.
#include <spdl/io.hpp>
#include <spdl/pipeline.hpp>

#include <benchmark/benchmark.h>
#include <stb_image.h>
#include <stb_image_write.h>
#include <turbojpeg.h>

#include <atomic>
#include <cstdint>
#include <functional>
#include <random>
#include <thread>
#include <vector>

namespace {

using bytes = std::vector<std::byte>;

const std::vector<bytes>& corpus() {
  static const std::vector<bytes> files = [] {
    std::vector<bytes> out;
    std::mt19937 rng(2024);
    std::uniform_int_distribution<int> wd(300, 640), hd(250, 500);
    for (int i = 0; i < 2000; ++i) {
      const int w = wd(rng), h = hd(rng);
      std::vector<unsigned char> px(std::size_t(w) * h * 3);
      // Smooth shapes plus a little noise: photo-like entropy for the encoder.
      for (int y = 0; y < h; ++y)
        for (int x = 0; x < w; ++x)
          for (int c = 0; c < 3; ++c)
            px[(std::size_t(y) * w + x) * 3 + c] = static_cast<unsigned char>(
                (x * (c + 1) + y * (3 - c) + ((x / 37 + y / 23 + i) % 5) * 40 + (rng() & 15)) & 255);
      bytes jpeg;
      stbi_write_jpg_to_func(
          [](void* ctx, void* d, int n) {
            auto* v = static_cast<bytes*>(ctx);
            v->insert(v->end(), static_cast<std::byte*>(d), static_cast<std::byte*>(d) + n);
          },
          &jpeg, w, h, 3, px.data(), 90);
      out.push_back(std::move(jpeg));
    }
    return out;
  }();
  return files;
}

// Runs `decode(file)` over the corpus on one thread per core; reports images/s.
void on_all_cores(benchmark::State& state, const std::function<void(const bytes&)>& decode) {
  const auto& files = corpus();
  const unsigned cores = std::thread::hardware_concurrency();
  for (auto _ : state) {
    std::atomic<std::size_t> next{0};
    std::vector<std::thread> threads;
    for (unsigned t = 0; t < cores; ++t)
      threads.emplace_back([&] {
        for (std::size_t i; (i = next.fetch_add(1)) < files.size();) decode(files[i]);
      });
    for (auto& t : threads) t.join();
  }
  state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(files.size()));
}

void turbojpeg_full_decode(benchmark::State& state) {
  on_all_cores(state, [](const bytes& f) {
    thread_local tjhandle h = tjInitDecompress();
    thread_local std::vector<unsigned char> out;
    int w, hh, ss, cs;
    auto* p = reinterpret_cast<const unsigned char*>(f.data());
    tjDecompressHeader3(h, p, f.size(), &w, &hh, &ss, &cs);
    out.resize(std::size_t(w) * hh * 3);
    tjDecompress2(h, p, f.size(), out.data(), w, w * 3, hh, TJPF_RGB, 0);
    benchmark::DoNotOptimize(out.data());
  });
}

void stb_decode(benchmark::State& state) {
  on_all_cores(state, [](const bytes& f) {
    int w, h, c;
    auto* px = stbi_load_from_memory(reinterpret_cast<const stbi_uc*>(f.data()),
                                     static_cast<int>(f.size()), &w, &h, &c, 3);
    benchmark::DoNotOptimize(px);
    stbi_image_free(px);
  });
}

void spdl_decode(benchmark::State& state) {
  on_all_cores(state, [](const bytes& f) { benchmark::DoNotOptimize(spdl::io::decode_image(f)); });
}

void spdl_decode_resize_224(benchmark::State& state) {
  on_all_cores(state, [](const bytes& f) {
    benchmark::DoNotOptimize(spdl::io::decode_image(f, {.width = 224, .height = 224}));
  });
}

// The same work as a pipeline: decode + resize on the pool, batches of 32 into one buffer.
void spdl_pipeline_decode_resize_224(benchmark::State& state) {
  const auto& files = corpus();
  const unsigned cores = std::thread::hardware_concurrency();
  for (auto _ : state) {
    auto p = spdl::pipeline_builder()
                 .add_source(std::views::iota(std::size_t{0}, files.size()))
                 .pipe(
                     [&](std::size_t i) {
                       return spdl::io::decode_image(files[i], {.width = 224, .height = 224});
                     },
                     {.concurrency = cores})
                 .aggregate(32)
                 .pipe([](std::vector<spdl::io::buffer> batch) { return spdl::io::stack(batch); })
                 .add_sink(4)
                 .build({.num_threads = cores});
    std::size_t n = 0;
    for (auto& b : p) n += static_cast<std::size_t>(b.shape()[0]);
    benchmark::DoNotOptimize(n);
  }
  state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(files.size()));
}

}  // namespace

BENCHMARK(turbojpeg_full_decode)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(stb_decode)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(spdl_decode)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(spdl_decode_resize_224)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(spdl_pipeline_decode_resize_224)->Unit(benchmark::kMillisecond)->UseRealTime();
