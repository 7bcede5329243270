#pragma once
/// \file
/// convert_frames: decoded frames → one contiguous buffer, in SPDL's layouts.
///
/// | frames                                   | buffer                         |
/// |------------------------------------------|--------------------------------|
/// | rgb24, bgr24 / rgba, bgra, argb, abgr / gray8 | {N, H, W, 3 / 4 / 1} uint8 |
/// | yuv420p (yuvj420p), nv12                 | {N, 1, H + H/2, W} uint8: the Y plane, then for yuv420p each row of U followed by the same row of V, for nv12 the interleaved UV plane |
/// | yuv444p (yuvj444p)                       | {N, 3, H, W} uint8 (planes Y, U, V) |
/// | audio, packed (s16, flt, s32, dbl, u8)   | {T, C} (int16, float32, int32, float64, uint8) |
/// | audio, planar (s16p, fltp, s32p, dblp, u8p) | {C, T} |
///
/// A span of frame sets (a batch, each set alike) gets a leading dimension B.

#include <spdl/io/buffer.hpp>
#include <spdl/io/error.hpp>
#include <spdl/io/frames.hpp>

extern "C" {
#include <libavutil/imgutils.h>
#include <libavutil/pixdesc.h>
#include <libavutil/samplefmt.h>
}

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <vector>

namespace spdl::io {

namespace detail {

enum class frame_layout { packed, yuv420p, nv12, yuv444p, audio_packed, audio_planar };

struct frame_shape {
  frame_layout layout;
  std::vector<std::int64_t> shape;  // without N (video) / with T summed (audio)
  io::dtype type;
};

inline io::dtype sample_dtype(AVSampleFormat f) {
  switch (av_get_packed_sample_fmt(f)) {
    case AV_SAMPLE_FMT_U8: return io::dtype::uint8;
    case AV_SAMPLE_FMT_S16: return io::dtype::int16;
    case AV_SAMPLE_FMT_S32: return io::dtype::int32;
    case AV_SAMPLE_FMT_FLT: return io::dtype::float32;
    case AV_SAMPLE_FMT_DBL: return io::dtype::float64;
    default: break;
  }
  const char* n = av_get_sample_fmt_name(f);
  throw unsupported_error(std::string("convert_frames: sample format ") + (n ? n : "?") +
                          " has no buffer layout; convert it with an aformat filter");
}

inline frame_shape shape_of(const frames& f) {
  const AVFrame& first = f[0];
  if (f.type() == media_type::audio) {
    const auto fmt = static_cast<AVSampleFormat>(first.format);
    const auto type = sample_dtype(fmt);
    const std::int64_t c = first.ch_layout.nb_channels, t = f.num_samples();
    if (av_sample_fmt_is_planar(fmt)) return {frame_layout::audio_planar, {c, t}, type};
    return {frame_layout::audio_packed, {t, c}, type};
  }
  const std::int64_t h = first.height, w = first.width;
  switch (static_cast<AVPixelFormat>(first.format)) {
    case AV_PIX_FMT_RGB24:
    case AV_PIX_FMT_BGR24: return {frame_layout::packed, {h, w, 3}, io::dtype::uint8};
    case AV_PIX_FMT_RGBA:
    case AV_PIX_FMT_BGRA:
    case AV_PIX_FMT_ARGB:
    case AV_PIX_FMT_ABGR: return {frame_layout::packed, {h, w, 4}, io::dtype::uint8};
    case AV_PIX_FMT_GRAY8: return {frame_layout::packed, {h, w, 1}, io::dtype::uint8};
    case AV_PIX_FMT_YUV420P:
    case AV_PIX_FMT_YUVJ420P:
    case AV_PIX_FMT_NV12:
      if (h % 2 || w % 2)
        throw unsupported_error(describe("convert_frames", f.source(),
                                         "4:2:0 frames of odd size " + std::to_string(w) + "x" +
                                             std::to_string(h) + " have no {H + H/2, W} layout"));
      return {first.format == AV_PIX_FMT_NV12 ? frame_layout::nv12 : frame_layout::yuv420p,
              {1, h + h / 2, w}, io::dtype::uint8};
    case AV_PIX_FMT_YUV444P:
    case AV_PIX_FMT_YUVJ444P: return {frame_layout::yuv444p, {3, h, w}, io::dtype::uint8};
    default: break;
  }
  throw unsupported_error(describe("convert_frames", f.source(),
                                   "pixel format " + f.format_name() +
                                       " has no buffer layout; convert it with a format filter "
                                       "(rgb24, rgba, gray8, yuv420p, nv12, yuv444p)"));
}

inline void copy_plane(std::byte* dst, int dst_stride, const AVFrame& src, int plane, int bytes,
                       int rows) {
  av_image_copy_plane(reinterpret_cast<std::uint8_t*>(dst), dst_stride, src.data[plane],
                      src.linesize[plane], bytes, rows);
}

// Writes `f`'s frames in `s`'s layout at `dst` (exactly the layout's byte count).
inline void write_frames(const frames& f, const frame_shape& s, std::byte* dst) {
  const AVFrame& first = f[0];
  const std::size_t bytes = dtype_size(s.type);
  if (f.type() == media_type::audio) {
    const int channels = first.ch_layout.nb_channels;
    const std::int64_t total = f.num_samples();
    std::int64_t at = 0;
    for (std::size_t i = 0; i < f.size(); ++i) {
      const AVFrame& a = f[i];
      if (a.format != first.format || a.ch_layout.nb_channels != channels)
        throw io_error(describe("convert_frames", f.source(),
                                "audio frame " + std::to_string(i) + " differs in format or channels"));
      const auto n = static_cast<std::size_t>(a.nb_samples);
      if (s.layout == frame_layout::audio_packed) {
        std::memcpy(dst + static_cast<std::size_t>(at) * channels * bytes, a.extended_data[0],
                    n * channels * bytes);
      } else {
        for (int c = 0; c < channels; ++c)
          std::memcpy(dst + (static_cast<std::size_t>(c) * total + at) * bytes,
                      a.extended_data[c], n * bytes);
      }
      at += a.nb_samples;
    }
    return;
  }
  const int w = first.width, h = first.height;
  std::size_t per_frame = bytes;
  for (auto d : s.shape) per_frame *= static_cast<std::size_t>(d);
  for (std::size_t i = 0; i < f.size(); ++i) {
    const AVFrame& v = f[i];
    if (v.format != first.format || v.width != w || v.height != h)
      throw io_error(describe("convert_frames", f.source(),
                              "frame " + std::to_string(i) + " differs in size or pixel format "
                              "from frame 0 (add a scale and format filter)"));
    std::byte* out = dst + i * per_frame;
    switch (s.layout) {
      case frame_layout::packed:
        copy_plane(out, w * static_cast<int>(s.shape[2]), v, 0, w * static_cast<int>(s.shape[2]), h);
        break;
      case frame_layout::yuv420p: {
        copy_plane(out, w, v, 0, w, h);
        // Each output row of width W holds a row of U, then the same row of V.
        copy_plane(out + std::size_t(w) * h, w, v, 1, w / 2, h / 2);
        copy_plane(out + std::size_t(w) * h + w / 2, w, v, 2, w / 2, h / 2);
        break;
      }
      case frame_layout::nv12:
        copy_plane(out, w, v, 0, w, h);
        copy_plane(out + std::size_t(w) * h, w, v, 1, w, h / 2);
        break;
      case frame_layout::yuv444p:
        for (int p = 0; p < 3; ++p) copy_plane(out + std::size_t(p) * w * h, w, v, p, w, h);
        break;
      default: break;
    }
  }
}

/// `b` with exactly `n` entries along its first dimension: trimmed, or padded by repeating the
/// last entry (`repeat_last`) or with zeros.
inline buffer fit_length(const buffer& b, std::int64_t n, bool repeat_last) {
  const std::int64_t have = b.shape()[0];
  if (have == n) return b;
  std::vector<std::int64_t> shape(b.shape().begin(), b.shape().end());
  shape[0] = n;
  buffer out(std::move(shape), b.dtype());
  const std::size_t row = have > 0 ? b.size_bytes() / static_cast<std::size_t>(have)
                                   : out.size_bytes() / static_cast<std::size_t>(n);
  const std::size_t keep = static_cast<std::size_t>(std::min(have, n)) * row;
  std::memcpy(out.data(), b.data(), keep);
  for (std::size_t at = keep; at < out.size_bytes(); at += row) {
    if (repeat_last && have > 0) std::memcpy(out.data() + at, b.data() + keep - row, row);
    else std::memset(out.data() + at, 0, row);
  }
  return out;
}

}  // namespace detail

/// Frames → one buffer (layouts in the table above). Throws io_error when frames differ in
/// size or format, unsupported_error for a format without a layout, and std::invalid_argument
/// for no frames (whose shape is unknown).
inline buffer convert_frames(const frames& f) {
  if (f.empty())
    throw std::invalid_argument(detail::describe("convert_frames", f.source(), "no frames"));
  const auto s = detail::shape_of(f);
  std::vector<std::int64_t> shape = s.shape;
  if (f.type() == media_type::video) shape.insert(shape.begin(), static_cast<std::int64_t>(f.size()));
  buffer out(std::move(shape), s.type);
  detail::write_frames(f, s, out.data());
  return out;
}

/// A batch of frame sets, each of the same shape → {B, ...}.
inline buffer convert_frames(std::span<const frames> batch) {
  if (batch.empty()) throw std::invalid_argument("convert_frames: an empty batch");
  std::vector<buffer> parts;
  parts.reserve(batch.size());
  for (const auto& f : batch) parts.push_back(convert_frames(f));
  return stack(parts);
}

}  // namespace spdl::io
