#pragma once
/// \file
/// load_audio: an audio (or video) file or bytes → {T, C} interleaved samples, float32 or
/// int16, with a sample-exact time window, sample rate and channel count; and
/// audio_filter_desc, the FFmpeg filter description it runs.
///
///     spdl::io::buffer speech = spdl::io::load_audio("talk.flac", {
///         .window = spdl::io::time_window{0.5, 1.5}, .sample_rate = 16000, .num_channels = 1});
///     // {16000, 1} float32

#include <spdl/io/buffer.hpp>
#include <spdl/io/convert.hpp>
#include <spdl/io/decoder.hpp>
#include <spdl/io/demuxer.hpp>
#include <spdl/io/error.hpp>
#include <spdl/io/limits.hpp>
#include <spdl/io/packets.hpp>

extern "C" {
#include <libavutil/channel_layout.h>
}

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>

namespace spdl::io {

/// Sample types of load_audio's output (always interleaved).
enum class sample_format { f32, s16 };

/// Options of load_audio.
struct audio_options {
  std::optional<time_window> window;     ///< samples round(start·R) up to round(end·R), R the output rate
  int sample_rate = 0, num_channels = 0;  ///< 0 keeps the source's
  sample_format format = sample_format::f32;
  int num_frames = -1;  ///< > 0: exactly this many samples (zero-pad or trim)
  /// Bytes of the output, and of the packets read for it; a waveform (or its packets) that
  /// would grow past it is refused (io_error).
  std::uint64_t max_bytes = default_max_bytes;
};

/// The filter description load_audio runs for `o` (the window is applied by decode_packets):
/// `aresample=R` when a rate is asked for, then `aformat` to the sample type (and the default
/// channel layout of the channel count asked for: FFmpeg's rematrixing mixes down or up).
inline std::string audio_filter_desc(const audio_options& o) {
  if (o.sample_rate < 0 || o.num_channels < 0)
    throw std::invalid_argument("audio_filter_desc: negative sample_rate or num_channels");
  std::string desc;
  if (o.sample_rate > 0) desc = "aresample=" + std::to_string(o.sample_rate) + ",";
  desc += std::string("aformat=sample_fmts=") + (o.format == sample_format::f32 ? "flt" : "s16");
  if (o.num_channels > 0) {
    AVChannelLayout layout{};
    av_channel_layout_default(&layout, o.num_channels);
    char text[256] = {};
    const bool named = layout.order != AV_CHANNEL_ORDER_UNSPEC &&
                       av_channel_layout_describe(&layout, text, sizeof text) >= 0;
    av_channel_layout_uninit(&layout);
    if (!named)
      throw unsupported_error("audio_filter_desc: FFmpeg has no standard layout for " +
                              std::to_string(o.num_channels) + " channels to mix into");
    desc += std::string(":channel_layouts=") + text;
  }
  return desc;
}

namespace detail {

inline buffer load_audio(demuxer& d, const audio_options& o) {
  const std::string desc = audio_filter_desc(o);
  packets p = d.demux_audio(o.window, o.max_bytes);  // the packets are held to it too
  const int rate = o.sample_rate > 0 ? o.sample_rate : p.codec_parameters().sample_rate;
  // FFmpeg's resampler filters with 32 taps per unit of the down-sampling ratio, in 1024 phases:
  // a file claiming 10^9 Hz, taken to 16 kHz, would need gigabytes of filter. Real ratios
  // (384 kHz to 8 kHz: 48) stay far below the limit.
  constexpr std::int64_t max_ratio = 64;
  if (const std::int64_t source_rate = p.codec_parameters().sample_rate;
      o.sample_rate > 0 && source_rate > max_ratio * o.sample_rate)
    throw io_error(describe("load_audio", d.source(),
                            "resampling " + std::to_string(source_rate) + " Hz to " +
                                std::to_string(o.sample_rate) + " Hz: a ratio over " +
                                std::to_string(max_ratio) + " (an absurd rate)"));
  // A first size from the packets' time span: a hint, which frame_writer caps (one timestamp
  // gap would otherwise ask for gigabytes); what is decoded is held to max_bytes.
  const double estimate = std::min(std::ceil(covered_seconds(p) * rate) + 1, 1e15);
  frame_writer out(media_type::audio, d.source(),
                   std::max<std::int64_t>(static_cast<std::int64_t>(estimate), o.num_frames), o.max_bytes,
                   "audio_options::max_bytes");
  decode_filtered(p, desc, {}, [&](AVFrame& f, AVRational) { out.append(f); });
  if (!out.empty()) return out.finish(o.num_frames > 0 ? o.num_frames : -1, false);
  // No samples: T = 0, or num_frames of silence.
  const std::int64_t channels =
      o.num_channels > 0 ? o.num_channels : p.codec_parameters().ch_layout.nb_channels;
  buffer silence({std::max(o.num_frames, 0), channels},
                 o.format == sample_format::f32 ? dtype::float32 : dtype::int16);
  std::memset(silence.data(), 0, silence.size_bytes());
  return silence;
}

}  // namespace detail

/// Decodes a file's audio → {T, C} interleaved (float32 or int16). A window with no samples in
/// it gives T = 0 (padded with zeros to num_frames when that is set). Throws io_error naming
/// the file for what cannot be read (no audio stream, corrupt data), std::invalid_argument for
/// bad options.
inline buffer load_audio(const std::filesystem::path& path, const audio_options& o = {}) {
  demuxer d(path);
  return detail::load_audio(d, o);
}

/// The same from a file's bytes in memory.
inline buffer load_audio(std::span<const std::byte> data, const audio_options& o = {}) {
  demuxer d(data);
  return detail::load_audio(d, o);
}

}  // namespace spdl::io
