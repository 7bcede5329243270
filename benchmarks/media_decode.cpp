// Video and audio decoding against FFmpeg's own command-line tool, and the WAV / NPY readers
// against reading the files' bytes.
//
// - Video: 16 H.264 files, 640x360, 30 fps, 10 s (made once with libx264, kept in the temp
//   directory), decoded to rgb24. Baseline: `ffmpeg -threads 1 ... -f rawvideo -pix_fmt rgb24`
//   to /dev/null, two processes at a time. spdl: a pipeline of concurrency 2, one decoder thread
//   per file, and the same with two plain threads. Items are frames.
// - Audio: 100 ten-second stereo files (WAV s16, FLAC, MP3, a third each) → float32. Baseline:
//   `ffmpeg -threads 1 ... -f f32le` to /dev/null, two at a time. Items are seconds of audio.
// - Readers: 200 one-second clips (16 kHz mono; WAV int16 and NPY float32). Baseline: reading
//   each file's bytes into memory (no parsing). Items are files.
#include <spdl/io.hpp>
#include <spdl/pipeline.hpp>

#include <benchmark/benchmark.h>

#include "on_threads.hpp"

#include <atomic>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <random>
#include <ranges>
#include <string>
#include <thread>
#include <vector>

namespace {

namespace fs = std::filesystem;
namespace io = spdl::io;

constexpr int video_files = 16, video_frames = 300;
constexpr int audio_files = 100, audio_seconds = 10, audio_rate = 44100;
constexpr int clip_files = 200, clip_rate = 16000;

fs::path corpus_dir() {
  static const fs::path dir = [] {
    auto d = fs::temp_directory_path() / "spdl-bench-media-v1";
    fs::create_directories(d);
    return d;
  }();
  return dir;
}

// Made once per machine; a file is rewritten only when it is missing.
template <class Make>
fs::path cached(const std::string& name, Make&& make) {
  const auto path = corpus_dir() / name;
  if (!fs::exists(path)) {
    const auto part = corpus_dir() / (name + ".part" + std::string(fs::path(name).extension()));
    make(part);
    fs::rename(part, path);
  }
  return path;
}

const std::vector<fs::path>& videos() {
  static const std::vector<fs::path> files = [] {
    io::set_ffmpeg_log_level(io::ffmpeg_log_level::error);
    std::vector<fs::path> out;
    for (int f = 0; f < video_files; ++f)
      out.push_back(cached("video" + std::to_string(f) + ".mp4", [f](const fs::path& path) {
        io::muxer m(path);
        const int s = m.add_video_stream({.width = 640, .height = 360, .frame_rate = 30, .codec = "libx264",
                                          .options = {{"preset", "veryfast"}, {"crf", "23"}}});
        m.open();
        std::mt19937 rng(static_cast<unsigned>(f));
        io::buffer frame({1, 360, 640, 3}, io::dtype::uint8);
        auto* p = reinterpret_cast<std::uint8_t*>(frame.data());
        for (int i = 0; i < video_frames; ++i) {
          // Moving shapes over gradients, a little noise: camera-like work for the decoder.
          for (int y = 0; y < 360; ++y)
            for (int x = 0; x < 640; ++x)
              for (int c = 0; c < 3; ++c)
                p[(y * 640 + x) * 3 + c] = static_cast<std::uint8_t>(
                    ((x + 2 * i) * (c + 1) / 3 + (y + i) * (3 - c) / 2 +
                     (((x + 3 * i) / 40 + (y + f) / 30) % 4) * 30 + (rng() & 7)) & 255);
          m.write_video(s, frame);
        }
        m.close();
      }));
    return out;
  }();
  return files;
}

const std::vector<fs::path>& audios() {
  static const std::vector<fs::path> files = [] {
    io::set_ffmpeg_log_level(io::ffmpeg_log_level::error);
    const char* kinds[][2] = {{".wav", "pcm_s16le"}, {".flac", "flac"}, {".mp3", "libmp3lame"}};
    std::vector<fs::path> out;
    for (int f = 0; f < audio_files; ++f) {
      const auto& k = kinds[f % 3];
      out.push_back(cached("audio" + std::to_string(f) + k[0], [&](const fs::path& path) {
        io::buffer s({std::int64_t{audio_seconds} * audio_rate, 2}, io::dtype::int16);
        auto* p = reinterpret_cast<std::int16_t*>(s.data());
        std::mt19937 rng(static_cast<unsigned>(f));
        for (std::int64_t i = 0; i < s.shape()[0]; ++i)
          for (int c = 0; c < 2; ++c)
            p[2 * i + c] = static_cast<std::int16_t>(
                9000 * std::sin(2 * M_PI * (200 + 50 * f % 7 + 100 * c) * i / audio_rate) + (rng() & 255) - 128);
        io::muxer m(path);
        const int st = m.add_audio_stream({.sample_rate = audio_rate, .num_channels = 2, .codec = k[1]});
        m.open();
        m.write_audio(st, s, io::sample_format::s16);
        m.close();
      }));
    }
    return out;
  }();
  return files;
}

void put(std::ofstream& out, const void* p, std::size_t n) {
  out.write(static_cast<const char*>(p), static_cast<std::streamsize>(n));
}

// 1 s clips: WAV int16 (as written by any recorder) and NPY float32 (as numpy.save writes).
const std::vector<fs::path>& clips(bool npy) {
  static const auto make = [](bool as_npy) {
    std::vector<fs::path> out;
    for (int f = 0; f < clip_files; ++f)
      out.push_back(cached("clip" + std::to_string(f) + (as_npy ? ".npy" : ".wav"), [&](const fs::path& path) {
        std::ofstream o(path, std::ios::binary);
        if (as_npy) {
          std::string header = "{'descr': '<f4', 'fortran_order': False, 'shape': (" +
                               std::to_string(clip_rate) + ",), }";
          while ((10 + header.size() + 1) % 64) header += ' ';
          header += '\n';
          const std::uint16_t len = static_cast<std::uint16_t>(header.size());
          put(o, "\x93NUMPY\x01\x00", 8);
          put(o, &len, 2);
          put(o, header.data(), header.size());
          for (int i = 0; i < clip_rate; ++i) {
            const float v = static_cast<float>(std::sin(i * 0.01 * (f + 1)));
            put(o, &v, 4);
          }
        } else {
          const std::uint32_t data = clip_rate * 2, riff = 36 + data, fmt_len = 16, rate = clip_rate,
                              byte_rate = clip_rate * 2;
          const std::uint16_t pcm = 1, channels = 1, align = 2, bits = 16;
          put(o, "RIFF", 4); put(o, &riff, 4); put(o, "WAVEfmt ", 8); put(o, &fmt_len, 4);
          put(o, &pcm, 2); put(o, &channels, 2); put(o, &rate, 4); put(o, &byte_rate, 4);
          put(o, &align, 2); put(o, &bits, 2); put(o, "data", 4); put(o, &data, 4);
          for (int i = 0; i < clip_rate; ++i) {
            const auto v = static_cast<std::int16_t>(8000 * std::sin(i * 0.01 * (f + 1)));
            put(o, &v, 2);
          }
        }
      }));
    return out;
  };
  static const std::vector<fs::path> wav = make(false), np = make(true);
  return npy ? np : wav;
}

using spdl::bench::on_threads;

// FFmpeg's command-line tool on each file, two processes at a time.
void ffmpeg_cli(benchmark::State& state, const std::vector<fs::path>& files, const std::string& output,
                std::int64_t items_per_file) {
  for (auto _ : state)
    on_threads(2, files.size(), [&](std::size_t i) {
      const std::string cmd = "ffmpeg -nostdin -hide_banner -loglevel error -threads 1 -i '" +
                              files[i].string() + "' " + output + " -y /dev/null";
      if (std::system(cmd.c_str()) != 0) std::abort();
    });
  state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(files.size()) * items_per_file);
}

void ffmpeg_cli_video(benchmark::State& state) {
  ffmpeg_cli(state, videos(), "-f rawvideo -pix_fmt rgb24", video_frames);
}
void ffmpeg_cli_audio(benchmark::State& state) {
  ffmpeg_cli(state, audios(), "-f f32le", audio_seconds);
}

void spdl_video_pipeline(benchmark::State& state) {
  const auto& files = videos();
  std::int64_t frames = 0;
  for (auto _ : state) {
    auto p = spdl::pipeline_builder()
                 .add_source(std::views::iota(std::size_t{0}, files.size()))
                 .pipe([&](std::size_t i) { return io::load_video(files[i], {.decoder_threads = 1}); },
                       {.concurrency = 2})
                 .add_sink(2)
                 .build({.num_threads = 2});
    for (auto& v : p) frames += v.shape()[0];
  }
  if (frames != state.iterations() * video_files * video_frames) state.SkipWithError("frames missing");
  state.SetItemsProcessed(frames);
}

void spdl_video_threads(benchmark::State& state) {
  const auto& files = videos();
  std::atomic<std::int64_t> frames{0};
  for (auto _ : state)
    on_threads(2, files.size(), [&](std::size_t i) {
      frames += io::load_video(files[i], {.decoder_threads = 1}).shape()[0];
    });
  state.SetItemsProcessed(frames.load());
}

void spdl_audio_pipeline(benchmark::State& state) {
  const auto& files = audios();
  double seconds = 0;
  for (auto _ : state) {
    auto p = spdl::pipeline_builder()
                 .add_source(std::views::iota(std::size_t{0}, files.size()))
                 .pipe([&](std::size_t i) { return io::load_audio(files[i]); }, {.concurrency = 2})
                 .add_sink(2)
                 .build({.num_threads = 2});
    for (auto& a : p) seconds += static_cast<double>(a.shape()[0]) / audio_rate;
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(std::lround(seconds)));
}

// Reading each clip's bytes: the floor under any reader.
void read_bytes(benchmark::State& state, bool npy) {
  const auto& files = clips(npy);
  for (auto _ : state)
    for (const auto& f : files) {
      std::ifstream in(f, std::ios::binary | std::ios::ate);
      std::vector<char> bytes(static_cast<std::size_t>(in.tellg()));
      in.seekg(0);
      in.read(bytes.data(), static_cast<std::streamsize>(bytes.size()));
      benchmark::DoNotOptimize(bytes.data());
    }
  state.SetItemsProcessed(state.iterations() * clip_files);
}
void read_whole_file_wav(benchmark::State& state) { read_bytes(state, false); }
void read_whole_file_npy(benchmark::State& state) { read_bytes(state, true); }

template <class Load>
void load_clips(benchmark::State& state, bool npy, Load&& load) {
  const auto& files = clips(npy);
  for (auto _ : state)
    for (const auto& f : files) benchmark::DoNotOptimize(load(f));
  state.SetItemsProcessed(state.iterations() * clip_files);
}
void spdl_load_wav(benchmark::State& state) {
  load_clips(state, false, [](const fs::path& f) { return io::load_wav(f); });
}
void spdl_load_npy(benchmark::State& state) {
  load_clips(state, true, [](const fs::path& f) { return io::load_npy(f); });
}
void spdl_load_audio_wav(benchmark::State& state) {
  load_clips(state, false, [](const fs::path& f) {
    return io::load_audio(f, {.format = io::sample_format::s16});
  });
}

}  // namespace

// Small-file workloads first: the video runs leave the allocator and the kernel's page pool in
// a state that slows what follows them in the same process.
BENCHMARK(read_whole_file_wav)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(spdl_load_wav)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(spdl_load_audio_wav)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(read_whole_file_npy)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(spdl_load_npy)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(ffmpeg_cli_audio)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(spdl_audio_pipeline)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(ffmpeg_cli_video)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(spdl_video_pipeline)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(spdl_video_threads)->Unit(benchmark::kMillisecond)->UseRealTime();
