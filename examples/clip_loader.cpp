// A video-clip loader: (video, start time) pairs -> a 1 s window decoded to 8 frames of
// 112 x 112 (and its audio at 16 kHz mono) on the worker pool -> batches of 4 clips ->
// {4, 8, 112, 112, 3} and {4, 16000, 1} buffers, as a trainer would take them.
//
// It encodes its own videos first (H.264 + AAC in MP4, into a temporary folder), one of them
// a file that is not a video at all.
#include <spdl/spdl.hpp>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <utility>
#include <vector>

namespace fs = std::filesystem;
namespace io = spdl::io;

static fs::path make_video(const fs::path& path, int seed) {
  io::muxer out(path);
  const int v = out.add_video_stream({.width = 320, .height = 240, .frame_rate = 25, .codec = "libx264"});
  const int a = out.add_audio_stream({.sample_rate = 44100, .num_channels = 2, .codec = "aac"});
  out.open();
  io::buffer frames({75, 240, 320, 3}, io::dtype::uint8);  // 3 s at 25 fps
  auto* px = reinterpret_cast<unsigned char*>(frames.data());
  for (std::size_t i = 0; i < frames.size_bytes(); ++i) px[i] = static_cast<unsigned char>(i * (seed + 3) / 1031);
  io::buffer sound({3 * 44100, 2}, io::dtype::float32);
  auto* s = reinterpret_cast<float*>(sound.data());
  for (std::int64_t i = 0; i < 3 * 44100 * 2; ++i) s[i] = 0.3f * std::sin(0.01f * static_cast<float>(i * (seed + 1)));
  out.write_video(v, frames);
  out.write_audio(a, sound);
  out.close();
  return path;
}

struct clip {
  io::buffer video, audio;
};

int main() {
  io::set_ffmpeg_log_level(io::ffmpeg_log_level::error);
  const auto dir = fs::temp_directory_path() / "spdl-clip-loader-example";
  fs::create_directories(dir);
  std::vector<std::pair<fs::path, double>> clips;
  for (int i = 0; i < 5; ++i) {
    const auto path = make_video(dir / ("video" + std::to_string(i) + ".mp4"), i);
    for (double start : {0.0, 1.0, 2.0}) clips.emplace_back(path, start);
  }
  std::ofstream(dir / "broken.mp4") << "this is not a video";
  clips.emplace_back(dir / "broken.mp4", 0.0);

  auto loader =
      spdl::pipeline_builder()
          .add_source(clips)
          .pipe(
              [](const std::pair<fs::path, double>& c) {
                const io::time_window w{c.second, c.second + 1.0};
                return clip{io::load_video(c.first, {.window = w, .fps = 8, .width = 112, .height = 112,
                                                     .mode = io::resize_mode::crop, .num_frames = 8}),
                            io::load_audio(c.first, {.window = w, .sample_rate = 16000,
                                                     .num_channels = 1, .num_frames = 16000})};
              },
              {.concurrency = 4, .name = "decode"})
          .aggregate(4)
          .pipe(
              [](std::vector<clip> batch) {
                std::vector<io::buffer> video, audio;
                for (auto& c : batch) {
                  video.push_back(std::move(c.video));
                  audio.push_back(std::move(c.audio));
                }
                return std::pair{io::stack(video), io::stack(audio)};
              },
              {.name = "collate"})
          .add_sink(2)
          .build({.on_failure = [](const spdl::stage_failure& f) {
            try {
              std::rethrow_exception(f.exception);
            } catch (const std::exception& e) {
              std::printf("skipped: %s\n", e.what());
            }
          }});

  int loaded = 0;
  for (auto& [video, audio] : loader) {
    const auto v = video.shape(), a = audio.shape();
    std::printf("batch video {%lld, %lld, %lld, %lld, %lld}, audio {%lld, %lld, %lld}\n",
                static_cast<long long>(v[0]), static_cast<long long>(v[1]), static_cast<long long>(v[2]),
                static_cast<long long>(v[3]), static_cast<long long>(v[4]), static_cast<long long>(a[0]),
                static_cast<long long>(a[1]), static_cast<long long>(a[2]));
    loaded += static_cast<int>(v[0]);
  }
  std::printf("%d clips loaded, %zu failed\n", loaded, loader.stats().stages[1].num_failures);
  fs::remove_all(dir);
}
