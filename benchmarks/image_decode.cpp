// Image decode (+ resize to 224 x 224): 2,000 JPEGs of ImageNet-like sizes (300-640 x 250-500,
// quality 90), generated deterministically at start-up; one thread per core.
// Baselines in the same run: libjpeg-turbo's plain full-size decode and stb_image's.
#include <spdl/io.hpp>
#include <spdl/pipeline.hpp>

#include <benchmark/benchmark.h>

#include "cpu_time.hpp"
#include "on_threads.hpp"
#include <stb_image.h>
#include <stb_image_write.h>
#include <turbojpeg.h>

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <random>
#include <string>
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

// Runs `work(i)` for i in [0, count) on one thread per core; reports items/s.
void on_all_cores(benchmark::State& state, std::size_t count,
                  const std::function<void(std::size_t)>& work) {
  const spdl::bench::cpu_per_item cpu;
  for (auto _ : state) spdl::bench::on_threads(std::thread::hardware_concurrency(), count, work);
  state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(count));
  cpu.report(state, static_cast<std::int64_t>(count));
}

// Runs `decode(file)` over the corpus on one thread per core.
void on_all_cores(benchmark::State& state, const std::function<void(const bytes&)>& decode) {
  const auto& files = corpus();
  on_all_cores(state, files.size(), [&](std::size_t i) { decode(files[i]); });
}

// Reads a pipeline of batches to its end.
template <class Pipeline>
void drain(Pipeline& p) {
  std::size_t n = 0;
  for (auto& b : p) n += static_cast<std::size_t>(b.shape()[0]);
  benchmark::DoNotOptimize(n);
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

void spdl_decode_resize_224_stb(benchmark::State& state) {
  on_all_cores(state, [](const bytes& f) {
    benchmark::DoNotOptimize(spdl::io::decode_image(
        f, {.width = 224, .height = 224, .backend = spdl::io::image_backend::stb}));
  });
}

void spdl_decode_ffmpeg(benchmark::State& state) {
  on_all_cores(state, [](const bytes& f) {
    benchmark::DoNotOptimize(spdl::io::decode_image(f, {.backend = spdl::io::image_backend::ffmpeg}));
  });
}

void spdl_decode_resize_224_ffmpeg(benchmark::State& state) {
  on_all_cores(state, [](const bytes& f) {
    benchmark::DoNotOptimize(spdl::io::decode_image(
        f, {.width = 224, .height = 224, .backend = spdl::io::image_backend::ffmpeg}));
  });
}

// The split of decode + resize 224 (automatic backend), each half alone, on all cores: the
// decode as decode_image does it before resizing (DCT scaling where it applies, replicated
// chroma), and the resize of images already so decoded (the first 200 files, 10 times over).
namespace split {
namespace d = spdl::io::detail;

struct decoded {
  std::vector<std::byte> pixels;
  int width, height;
};

d::image_info info_of(const bytes& f) { return d::probe(f, "<memory>", std::uint64_t{1} << 28); }

tjscalingfactor scale_of(const d::image_info& info) {
  return d::dct_scaling_for(std::max(224.0 / info.width, 224.0 / info.height));
}

void decode(const bytes& f, std::vector<std::byte>& out, int& w, int& h) {
  const auto info = info_of(f);
  const auto scale = scale_of(info);
  w = TJSCALED(info.width, scale);
  h = TJSCALED(info.height, scale);
  out.resize(std::size_t(w) * h * 3);
  d::decode_turbojpeg(f, info, out, d::channel_order::rgb, "<memory>", scale, 224 < w && 224 < h);
}

const std::vector<decoded>& sources() {
  static const std::vector<decoded> all = [] {
    std::vector<decoded> out;
    for (std::size_t i = 0; i < 200; ++i) {
      decoded img;
      decode(corpus()[i], img.pixels, img.width, img.height);
      out.push_back(std::move(img));
    }
    return out;
  }();
  return all;
}

void resize(benchmark::State& state, bool simd) {
  const auto& images = sources();
  on_all_cores(state, 2000, [&](std::size_t i) {
    thread_local std::vector<std::uint8_t> out(224 * 224 * 3);
    const decoded& img = images[i % images.size()];
    d::resample({reinterpret_cast<const std::uint8_t*>(img.pixels.data()), img.width, img.height,
                 std::ptrdiff_t(img.width) * 3},
                3, 0, 0, img.width, img.height, {out.data(), 224, 224, 224 * 3}, simd);
    benchmark::DoNotOptimize(out.data());
  });
}
}  // namespace split

void spdl_split_decode_part(benchmark::State& state) {
  on_all_cores(state, [](const bytes& f) {
    thread_local std::vector<std::byte> out;
    int w = 0, h = 0;
    split::decode(f, out, w, h);
    benchmark::DoNotOptimize(out.data());
  });
}

void spdl_split_resize_part(benchmark::State& state) { split::resize(state, true); }
void spdl_split_resize_part_portable(benchmark::State& state) { split::resize(state, false); }

// The same work as a pipeline: decode + resize on the pool, batches of 32 into one buffer.
void spdl_pipeline_decode_resize_224(benchmark::State& state) {
  const auto& files = corpus();
  const spdl::bench::cpu_per_item cpu;
  const unsigned cores = std::thread::hardware_concurrency();
  for (auto _ : state) {
    auto p = spdl::pipeline_builder()
                 .add_source(std::views::iota(std::size_t{0}, files.size()))
                 .pipe(
                     [&](std::size_t i) {
                       return spdl::io::decode_image(files[i], {.width = 224, .height = 224});
                     },
                     {.concurrency = 2 * cores})
                 .aggregate(32)
                 .pipe([](std::vector<spdl::io::buffer> batch) { return spdl::io::stack(batch); })
                 .add_sink(4)
                 .build({.num_threads = cores});
    drain(p);
  }
  state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(files.size()));
  cpu.report(state, static_cast<std::int64_t>(files.size()));
}

// The pipeline as a loader should be written: file indices batched first, each batch decoded
// by one pool task straight into its slots of one buffer (no per-image buffer, no stack copy).
// `trace`: build_options::trace.
void batch_into_224(benchmark::State& state, const std::string& trace) {
  const auto& files = corpus();
  const spdl::bench::cpu_per_item cpu;
  const unsigned cores = std::thread::hardware_concurrency();
  for (auto _ : state) {
    auto p = spdl::pipeline_builder()
                 .add_source(std::views::iota(std::size_t{0}, files.size()))
                 .aggregate(32)
                 .pipe(
                     [&](std::vector<std::size_t> indices) {
                       spdl::io::buffer batch(
                           {static_cast<std::int64_t>(indices.size()), 224, 224, 3},
                           spdl::io::dtype::uint8);
                       for (std::size_t k = 0; k < indices.size(); ++k)
                         spdl::io::decode_image_into(files[indices[k]], batch, k,
                                                     {.width = 224, .height = 224});
                       return batch;
                     },
                     {.concurrency = cores})
                 .add_sink(4)
                 .build({.num_threads = cores, .trace = trace});
    drain(p);
  }
  state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(files.size()));
  cpu.report(state, static_cast<std::int64_t>(files.size()));
}

void spdl_pipeline_batch_into_224(benchmark::State& state) { batch_into_224(state, ""); }

// The same with the trace on (written to the temporary directory at each pipeline's end).
void spdl_pipeline_batch_into_224_traced(benchmark::State& state) {
  batch_into_224(state, (std::filesystem::temp_directory_path() / "spdl-bench-trace.json").string());
}

}  // namespace

BENCHMARK(turbojpeg_full_decode)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(stb_decode)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(spdl_decode)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(spdl_decode_resize_224)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(spdl_pipeline_decode_resize_224)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(spdl_pipeline_batch_into_224)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(spdl_pipeline_batch_into_224_traced)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(spdl_decode_resize_224_stb)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(spdl_decode_ffmpeg)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(spdl_decode_resize_224_ffmpeg)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(spdl_split_decode_part)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(spdl_split_resize_part)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(spdl_split_resize_part_portable)->Unit(benchmark::kMillisecond)->UseRealTime();
