#pragma once
/// \file
/// load_video: a video file or bytes → {N, H, W, C} uint8 frames, with a time window, frame
/// rate, size and pixel format; and video_filter_desc, the FFmpeg filter description it runs
/// (use it with decode_packets to compose the same thing by parts).
///
///     spdl::io::buffer clip = spdl::io::load_video("clip.mp4", {
///         .window = spdl::io::time_window{2.0, 4.0}, .fps = 8, .width = 224, .height = 224});
///     // {16, 224, 224, 3}

#include <spdl/io/buffer.hpp>
#include <spdl/io/convert.hpp>
#include <spdl/io/decoder.hpp>
#include <spdl/io/demuxer.hpp>
#include <spdl/io/error.hpp>
#include <spdl/io/image.hpp>
#include <spdl/io/limits.hpp>
#include <spdl/io/packets.hpp>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>

namespace spdl::io {

/// Options of load_video.
struct video_options {
  std::optional<time_window> window;  ///< frames whose timestamps lie in [start, end)
  double fps = 0;                     ///< 0 keeps the source rate (FFmpeg's fps filter otherwise)
  int width = 0, height = 0;          ///< 0 keeps the source size (pad and crop need both)
  resize_mode mode = resize_mode::stretch;
  pixel_format format = pixel_format::rgb24;
  int num_frames = -1;  ///< > 0: exactly this many (pad by repeating the last frame, or trim)
  int decoder_threads = 1;
  /// Pixels per decoded frame (before any resize); larger frames are refused (io_error).
  std::uint64_t max_pixels = default_max_pixels;
  /// Bytes of the output, and of the packets read for it; a clip (or its packets) that would
  /// grow past it is refused (io_error).
  std::uint64_t max_bytes = default_max_bytes;
};

/// The filter description load_video runs for `o` (the window is applied by decode_packets):
/// `fps=R`, then `scale` (bilinear; stretch, or keeping the aspect ratio with `pad` to the size,
/// centred and black, or `crop` of the centre), then `format`. "" when `o` changes nothing.
inline std::string video_filter_desc(const video_options& o) {
  if (o.fps < 0 || !std::isfinite(o.fps)) throw std::invalid_argument("video_filter_desc: bad fps");
  if (o.width < 0 || o.height < 0)
    throw std::invalid_argument("video_filter_desc: negative width or height");
  std::string desc;
  auto add = [&](const std::string& f) { desc += (desc.empty() ? "" : ",") + f; };
  if (o.fps > 0) {
    char text[64];
    std::snprintf(text, sizeof text, "fps=%.9g", o.fps);
    add(text);
  }
  if (o.width > 0 || o.height > 0) {
    const std::string w = o.width > 0 ? std::to_string(o.width) : "iw";
    const std::string h = o.height > 0 ? std::to_string(o.height) : "ih";
    if (o.mode != resize_mode::stretch && (o.width == 0 || o.height == 0))
      throw std::invalid_argument("video_filter_desc: resize_mode pad and crop need both width and height");
    switch (o.mode) {
      case resize_mode::stretch: add("scale=" + w + ":" + h + ":flags=bilinear"); break;
      case resize_mode::pad:
        add("scale=" + w + ":" + h + ":force_original_aspect_ratio=decrease:flags=bilinear");
        add("pad=" + w + ":" + h + ":(ow-iw)/2:(oh-ih)/2");
        break;
      case resize_mode::crop:
        add("scale=" + w + ":" + h + ":force_original_aspect_ratio=increase:flags=bilinear");
        add("crop=" + w + ":" + h);
        break;
    }
  }
  switch (o.format) {
    case pixel_format::rgb24: add("format=pix_fmts=rgb24"); break;
    case pixel_format::bgr24: add("format=pix_fmts=bgr24"); break;
    case pixel_format::rgba: add("format=pix_fmts=rgba"); break;
    case pixel_format::gray8: add("format=pix_fmts=gray"); break;
  }
  return desc;
}

namespace detail {

inline buffer load_video(demuxer& d, const video_options& o) {
  if (o.decoder_threads < 0)
    throw std::invalid_argument(describe("load_video", d.source(), "negative decoder_threads"));
  const std::string desc = video_filter_desc(o);
  packets p = d.demux_video(o.window, o.max_bytes);  // the packets are held to it too
  decoder_options dopt;
  dopt.threads = o.decoder_threads;
  dopt.max_pixels = o.max_pixels;
  if (o.num_frames > 0) dopt.max_frames = o.num_frames;
  // Room for the frames expected at first (num_frames exactly, or one per packet, or the
  // window's length at the fps asked for): a hint from the container, which frame_writer caps;
  // what the decoder really produces is held to max_bytes.
  double expected = static_cast<double>(p.size());
  if (o.fps > 0) expected = std::ceil(covered_seconds(p) * o.fps) + 1;
  if (o.num_frames > 0) expected = o.num_frames;
  frame_writer out(media_type::video, d.source(), static_cast<std::int64_t>(std::min(expected, 1e15)),
                   o.max_bytes, "video_options::max_bytes");
  decode_filtered(p, desc, dopt, [&](AVFrame& f, AVRational) { out.append(f); });
  if (out.empty()) {
    if (o.num_frames > 0)
      throw io_error(describe("load_video", d.source(),
                              "no frames in the window to make " + std::to_string(o.num_frames) +
                                  " from"));
    // A documented empty result: no frames, in the shape the frames would have had.
    const auto& par = p.codec_parameters();
    const std::int64_t w = o.width > 0 ? o.width : par.width;
    const std::int64_t h = o.height > 0 ? o.height : par.height;
    return buffer({0, h, w, static_cast<std::int64_t>(channels(order_of(o.format)))}, dtype::uint8);
  }
  return out.finish(o.num_frames > 0 ? o.num_frames : -1, true);
}

}  // namespace detail

/// Decodes a video file's frames → {N, H, W, C} uint8 (C = 3 for rgb24/bgr24, 4 for rgba, 1 for
/// gray8). A window with no frames in it gives N = 0 (unless num_frames asks for some: then
/// io_error). Throws io_error naming the file for what cannot be read (no video stream,
/// corrupt data), std::invalid_argument for bad options.
inline buffer load_video(const std::filesystem::path& path, const video_options& o = {}) {
  demuxer d(path);
  return detail::load_video(d, o);
}

/// The same from a file's bytes in memory.
inline buffer load_video(std::span<const std::byte> data, const video_options& o = {}) {
  demuxer d(data);
  return detail::load_video(d, o);
}

}  // namespace spdl::io
