#pragma once
// Video and audio files the tests make themselves with FFmpeg's encoders (through spdl's muxer),
// from synthetic frames and tones.

#include <spdl/io.hpp>

#include <unistd.h>

#include "errors.hpp"

#include <catch2/catch.hpp>

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

namespace spdl::test {

/// Encoders and decoders speak only of errors while the tests run.
inline const bool quiet_ffmpeg = [] {
  io::set_ffmpeg_log_level(io::ffmpeg_log_level::error);
  return true;
}();

/// A directory of this process's own (ctest runs test cases as parallel processes).
inline std::filesystem::path scratch_dir() {
  static const auto dir = [] {
    auto d = std::filesystem::temp_directory_path() /
             ("spdl-media-" + std::to_string(::getpid()));
    std::filesystem::create_directories(d);
    return d;
  }();
  return dir;
}

inline std::vector<std::byte> read_bytes(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::vector<char> c((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::vector<std::byte> out(c.size());
  std::memcpy(out.data(), c.data(), c.size());
  return out;
}

inline void write_bytes(const std::filesystem::path& p, std::span<const std::byte> b) {
  std::ofstream out(p, std::ios::binary);
  out.write(reinterpret_cast<const char*>(b.data()), static_cast<std::streamsize>(b.size()));
}

/// {n, h, w, 3} rgb24: smooth gradients that move from frame to frame (each frame differs), plus
/// a bright square whose position encodes the frame index.
inline io::buffer moving_frames(int n, int w, int h, int seed = 0) {
  io::buffer b({n, h, w, 3}, io::dtype::uint8);
  auto* p = reinterpret_cast<std::uint8_t*>(b.data());
  for (int i = 0; i < n; ++i)
    for (int y = 0; y < h; ++y)
      for (int x = 0; x < w; ++x) {
        const bool mark = (x / 8) == (i % std::max(1, w / 8)) && y < 8;
        for (int k = 0; k < 3; ++k)
          *p++ = static_cast<std::uint8_t>(
              mark ? 235 : 30 + (k == 0 ? (x + 3 * i + seed) * 150 / (w + 3 * n)
                                        : k == 1 ? y * 150 / h : (x + y + 5 * i) * 100 / (w + h + 5 * n)));
      }
  return b;
}

/// {t, c} float32: a sine per channel (each its own frequency), amplitude 0.5.
inline io::buffer tones(std::int64_t t, int c, int rate) {
  io::buffer b({t, c}, io::dtype::float32);
  auto* p = reinterpret_cast<float*>(b.data());
  for (std::int64_t i = 0; i < t; ++i)
    for (int k = 0; k < c; ++k)
      p[i * c + k] = static_cast<float>(0.5 * std::sin(2 * M_PI * (220.0 + 110.0 * k) * i / rate));
  return b;
}

/// The same tones as int16.
inline io::buffer to_s16(const io::buffer& f32) {
  io::buffer b(std::vector<std::int64_t>(f32.shape().begin(), f32.shape().end()), io::dtype::int16);
  const auto* in = reinterpret_cast<const float*>(f32.data());
  auto* out = reinterpret_cast<std::int16_t*>(b.data());
  for (std::size_t i = 0; i < f32.num_elements(); ++i)
    out[i] = static_cast<std::int16_t>(std::lround(in[i] * 32767.0f));
  return b;
}

/// Encodes rgb24 frames into a new file.
inline std::filesystem::path make_video(const std::string& name, const io::buffer& frames,
                                        io::video_encode_config config) {
  const auto path = scratch_dir() / name;
  config.height = static_cast<int>(frames.shape()[1]);
  config.width = static_cast<int>(frames.shape()[2]);
  io::muxer out(path);
  const int s = out.add_video_stream(config);
  out.open();
  out.write_video(s, frames);
  out.close();
  return path;
}

/// A file made by the ffmpeg command-line tool: `ffmpeg -v error -y <args> <scratch_dir()/name>`
/// (for what spdl's muxer will not write: timestamp gaps, odd rates).
inline std::filesystem::path ffmpeg_cli(const std::string& args, const std::string& name) {
  const auto path = scratch_dir() / name;
  const std::string command = "ffmpeg -nostdin -v error -y " + args + " '" + path.string() + "'";
  INFO(command);
  REQUIRE(std::system(command.c_str()) == 0);
  return path;
}

/// Encodes float32 or int16 samples into a new file.
inline std::filesystem::path make_audio(const std::string& name, const io::buffer& samples,
                                        io::audio_encode_config config) {
  const auto path = scratch_dir() / name;
  config.num_channels = static_cast<int>(samples.shape()[1]);
  io::muxer out(path);
  const int s = out.add_audio_stream(config);
  out.open();
  out.write_audio(s, samples,
                  samples.dtype() == io::dtype::int16 ? io::sample_format::s16 : io::sample_format::f32);
  out.close();
  return path;
}

template <class T>
std::vector<T> values(const io::buffer& b) {
  std::vector<T> v(b.num_elements());
  std::memcpy(v.data(), b.data(), b.size_bytes());
  return v;
}

inline std::vector<std::uint8_t> frame_bytes(const io::buffer& b, std::int64_t first, std::int64_t count) {
  const std::size_t per = b.size_bytes() / static_cast<std::size_t>(b.shape()[0]);
  const auto* p = reinterpret_cast<const std::uint8_t*>(b.data());
  return {p + first * per, p + (first + count) * per};
}

inline double mean_abs(const std::vector<std::uint8_t>& a, const std::vector<std::uint8_t>& b) {
  REQUIRE(a.size() == b.size());
  double s = 0;
  for (std::size_t i = 0; i < a.size(); ++i) s += std::abs(int(a[i]) - int(b[i]));
  return a.empty() ? 0 : s / static_cast<double>(a.size());
}

}  // namespace spdl::test
