// The fuzz targets (see targets.hpp). Options hold every loader to tight limits, so that what
// the fuzzer finds is a bug and not a legitimately large image, clip or array: 4 Mpixels per
// image or frame, 256 MiB per output buffer (the runner's RSS cap is 1 GiB).

#include "targets.hpp"

#include <spdl/io/audio.hpp>
#include <spdl/io/ffmpeg_log.hpp>
#include <spdl/io/image.hpp>
#include <spdl/io/npy.hpp>
#include <spdl/io/npz.hpp>
#include <spdl/io/tar.hpp>
#include <spdl/io/video.hpp>
#include <spdl/io/wav.hpp>

#include <algorithm>
#include <array>
#include <cstdint>
#include <string>

namespace spdl::fuzz {

namespace {

namespace io = spdl::io;
using bytes = std::span<const std::byte>;

constexpr std::uint64_t max_pixels = std::uint64_t{1} << 22;
constexpr std::uint64_t max_bytes = std::uint64_t{256} << 20;
// Audio's limit bounds the packets read too (audio_options::max_bytes): 3.6 kB that libopenmpt
// renders into 850 s of samples held 256 MiB of packets, which under TSan took 2.1 GB of RSS
// (the cap is 1 GB). 64 MiB is some 6 minutes of 48 kHz stereo float.
constexpr std::uint64_t audio_max_bytes = std::uint64_t{64} << 20;

// Runs one load: "" when it loaded, the message of an spdl::error (input refused, a correct
// outcome); anything else escapes.
template <class Load>
std::string refusal(Load&& load) {
  try {
    load();
    return "";
  } catch (const spdl::error& e) {
    return e.what();
  }
}

// Both loads run; the first refusal is the answer.
std::string either(const std::string& first, const std::string& second) {
  return first.empty() ? second : first;
}

// Full size, then shrunk into a small target (the resampler; JPEG's DCT-domain scaling).
std::string decode_image_with(bytes data, io::image_backend backend) {
  auto full = refusal([&] { io::decode_image(data, {.backend = backend, .max_pixels = max_pixels}); });
  auto small = refusal([&] {
    io::decode_image(data, {.width = 16, .height = 16, .format = io::pixel_format::gray8,
                            .mode = io::resize_mode::crop, .backend = backend, .max_pixels = max_pixels});
  });
  return either(full, small);
}

std::string decode_image_automatic(bytes data) { return decode_image_with(data, io::image_backend::automatic); }
std::string decode_image_stb(bytes data) { return decode_image_with(data, io::image_backend::stb); }
std::string decode_image_ffmpeg(bytes data) { return decode_image_with(data, io::image_backend::ffmpeg); }
std::string decode_image_turbojpeg(bytes data) { return decode_image_with(data, io::image_backend::turbojpeg); }

std::string load_video(bytes data) {
  return refusal([&] { io::load_video(data, {.max_pixels = max_pixels, .max_bytes = max_bytes}); });
}

// The fps filter, a resize, and room for frames reckoned from the stream's time span.
std::string load_video_fps(bytes data) {
  return refusal([&] {
    io::load_video(data, {.fps = 5, .width = 32, .height = 32, .max_pixels = max_pixels,
                          .max_bytes = max_bytes});
  });
}

// As stored, then resampled and mixed down to one int16 channel.
std::string load_audio(bytes data) {
  auto stored = refusal([&] { io::load_audio(data, {.max_bytes = audio_max_bytes}); });
  auto mixed = refusal([&] {
    io::load_audio(data, {.sample_rate = 8000, .num_channels = 1, .format = io::sample_format::s16,
                          .max_bytes = audio_max_bytes});
  });
  return either(stored, mixed);
}

std::string load_wav(bytes data) {
  return refusal([&] { io::load_wav(data); });
}

std::string load_npy(bytes data) {
  return refusal([&] { io::load_npy(data); });
}

std::string load_npz(bytes data) {
  return refusal([&] { io::load_npz(data, {.max_bytes = max_bytes}); });
}

// Every member, and every byte of it (a view that reached past the archive shows under ASan).
std::string tar_reader(bytes data) {
  return refusal([&] {
    io::tar_reader tar(data);
    std::uint8_t sum = 0;
    while (auto e = tar.next())
      for (const std::byte b : e->data) sum = static_cast<std::uint8_t>(sum + std::to_integer<std::uint8_t>(b));
    volatile std::uint8_t keep = sum;
    (void)keep;
  });
}

// FFmpeg describes every broken input on stderr: quiet, for speed and readable logs.
[[maybe_unused]] const bool quiet_ffmpeg = [] {
  io::set_ffmpeg_log_level(io::ffmpeg_log_level::quiet);
  return true;
}();

constexpr std::array all{
    target{"decode_image_automatic", &decode_image_automatic},
    target{"decode_image_stb", &decode_image_stb},
    target{"decode_image_ffmpeg", &decode_image_ffmpeg},
    target{"decode_image_turbojpeg", &decode_image_turbojpeg},
    target{"load_video", &load_video},
    target{"load_video_fps", &load_video_fps},
    target{"load_audio", &load_audio},
    target{"load_wav", &load_wav},
    target{"load_npy", &load_npy},
    target{"load_npz", &load_npz},
    target{"tar_reader", &tar_reader},
};

}  // namespace

std::span<const target> targets() { return all; }

const target* find_target(std::string_view name) {
  const auto it = std::find_if(all.begin(), all.end(), [&](const target& t) { return t.name == name; });
  return it == all.end() ? nullptr : &*it;
}

}  // namespace spdl::fuzz
