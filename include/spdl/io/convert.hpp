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
#include <new>
#include <cstring>
#include <optional>
#include <span>
#include <stdexcept>
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

// The layout of frames like `first`; for audio, the shape holds the frame's own sample count.
inline frame_shape shape_of(const AVFrame& first, media_type type, const std::string& source) {
  if (type == media_type::audio) {
    const auto fmt = static_cast<AVSampleFormat>(first.format);
    const auto dt = sample_dtype(fmt);
    const std::int64_t c = first.ch_layout.nb_channels, t = first.nb_samples;
    if (av_sample_fmt_is_planar(fmt)) return {frame_layout::audio_planar, {c, t}, dt};
    return {frame_layout::audio_packed, {t, c}, dt};
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
        throw unsupported_error(describe("convert_frames", source,
                                         "4:2:0 frames of odd size " + std::to_string(w) + "x" +
                                             std::to_string(h) + " have no {H + H/2, W} layout"));
      return {first.format == AV_PIX_FMT_NV12 ? frame_layout::nv12 : frame_layout::yuv420p,
              {1, h + h / 2, w}, io::dtype::uint8};
    case AV_PIX_FMT_YUV444P:
    case AV_PIX_FMT_YUVJ444P: return {frame_layout::yuv444p, {3, h, w}, io::dtype::uint8};
    default: break;
  }
  const char* name = av_get_pix_fmt_name(static_cast<AVPixelFormat>(first.format));
  throw unsupported_error(describe("convert_frames", source,
                                   std::string("pixel format ") + (name ? name : "?") +
                                       " has no buffer layout; convert it with a format filter "
                                       "(rgb24, rgba, gray8, yuv420p, nv12, yuv444p)"));
}

inline void copy_plane(std::byte* dst, int dst_stride, const AVFrame& src, int plane, int bytes,
                       int rows) {
  av_image_copy_plane(reinterpret_cast<std::uint8_t*>(dst), dst_stride, src.data[plane],
                      src.linesize[plane], bytes, rows);
}

// Writes one video frame in layout `s` at `out`.
inline void write_video_frame(const AVFrame& v, const frame_shape& s, std::byte* out) {
  const int w = v.width, h = v.height;
  switch (s.layout) {
    case frame_layout::packed: {
      const int row = w * static_cast<int>(s.shape[2]);
      copy_plane(out, row, v, 0, row, h);
      break;
    }
    case frame_layout::yuv420p:
      copy_plane(out, w, v, 0, w, h);
      // Each output row of width W holds a row of U, then the same row of V.
      copy_plane(out + std::size_t(w) * h, w, v, 1, w / 2, h / 2);
      copy_plane(out + std::size_t(w) * h + w / 2, w, v, 2, w / 2, h / 2);
      break;
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

/// Appends frames, as they come, to one growing buffer in their layout: {N, ...} for video,
/// {T, C} for packed audio. Each frame is copied once and can be released at once, so decoding
/// a long clip holds one frame in flight rather than all of them.
class frame_writer {
 public:
  /// `expected`: frames (video) or samples (audio) to make room for at first: a hint, taken up
  /// to `max_bytes` (storage grows by half when it falls short).
  /// `max_bytes`: the output's limit; growing past it throws io_error naming `limit_name`.
  frame_writer(media_type type, std::string source, std::int64_t expected,
               std::uint64_t max_bytes = UINT64_MAX, std::string limit_name = "")
      : type_(type),
        source_(std::move(source)),
        limit_name_(std::move(limit_name)),
        max_bytes_(max_bytes),
        capacity_(std::max<std::int64_t>(expected, 1)) {}

  void append(const AVFrame& f) {
    if (!shape_) start(f);
    const auto& first = *shape_;
    if (type_ == media_type::audio) {
      if (f.format != format_ || f.ch_layout.nb_channels != first.shape[1])
        throw io_error(describe("convert_frames", source_,
                                "an audio frame differs in format or channels from the first"));
      reserve(count_ + f.nb_samples);
      std::memcpy(storage_.data() + static_cast<std::size_t>(count_) * entry_,
                  f.extended_data[0], static_cast<std::size_t>(f.nb_samples) * entry_);
      count_ += f.nb_samples;
      return;
    }
    if (f.format != format_ || f.width != width_ || f.height != height_)
      throw io_error(describe("convert_frames", source_,
                              "frame " + std::to_string(count_) +
                                  " differs in size or pixel format from frame 0 (add a scale "
                                  "and format filter)"));
    reserve(count_ + 1);
    write_video_frame(f, first, storage_.data() + static_cast<std::size_t>(count_) * entry_);
    ++count_;
  }

  /// Frames (or samples) appended so far.
  [[nodiscard]] std::int64_t count() const noexcept { return count_; }
  [[nodiscard]] bool empty() const noexcept { return count_ == 0; }

  /// The buffer: the entries appended (room left over is not copied away). With `length`:
  /// exactly that many, trimmed, or padded in place by repeating the last entry
  /// (`repeat_last`) or with zeros.
  [[nodiscard]] buffer finish(std::int64_t length = -1, bool repeat_last = false) {
    if (!shape_) throw std::invalid_argument(describe("convert_frames", source_, "no frames"));
    if (length < 0) length = count_;
    reserve(length);
    std::byte* base = storage_.data();
    for (std::int64_t i = count_; i < length; ++i) {
      std::byte* at = base + static_cast<std::size_t>(i) * entry_;
      if (repeat_last) std::memcpy(at, at - entry_, entry_);
      else std::memset(at, 0, entry_);
    }
    return storage_.first(length);
  }

 private:
  void start(const AVFrame& f) {
    shape_ = shape_of(f, type_, source_);
    if (shape_->layout == frame_layout::audio_planar)
      throw std::logic_error("frame_writer: planar audio is laid out {C, T}; use convert_frames");
    format_ = f.format;
    width_ = f.width;
    height_ = f.height;
    entry_ = dtype_size(shape_->type);
    const auto& dims = shape_->shape;
    for (std::size_t i = type_ == media_type::audio ? 1 : 0; i < dims.size(); ++i)
      entry_ *= static_cast<std::size_t>(dims[i]);
    max_entries_ = static_cast<std::int64_t>(std::min<std::uint64_t>(max_bytes_ / entry_, INT64_MAX));
    if (max_entries_ == 0) too_large(1);
    // The expected size, within the limit, is only address space until frames are written into
    // it (pages are committed as they are touched): no copy when the container tells the truth,
    // no cost beyond the limit's address space when it lies. Where even that is refused, a
    // small start, grown by half as needed.
    capacity_ = std::clamp<std::int64_t>(capacity_, 1, max_entries_);
    try {
      storage_ = allocate(capacity_);
    } catch (const std::bad_alloc&) {
      capacity_ = std::clamp<std::int64_t>(static_cast<std::int64_t>((std::uint64_t{64} << 20) / entry_), 1, capacity_);
      storage_ = allocate(capacity_);
    }
  }

  [[noreturn]] void too_large(std::int64_t entries) const {
    throw io_error(describe("convert_frames", source_,
                            "the output would grow past " + std::to_string(max_bytes_) + " bytes (" +
                                std::to_string(entries) + (type_ == media_type::audio ? " samples" : " frames") +
                                " of " + std::to_string(entry_) + " bytes; " + limit_name_ + ")"));
  }

  buffer allocate(std::int64_t entries) const {
    std::vector<std::int64_t> shape = shape_->shape;
    if (type_ == media_type::audio) shape[0] = entries;
    else shape.insert(shape.begin(), entries);
    return buffer(std::move(shape), shape_->type);
  }

  void reserve(std::int64_t entries) {
    if (entries <= capacity_) return;
    if (entries > max_entries_) too_large(entries);
    capacity_ = std::min(std::max(entries, capacity_ + capacity_ / 2), max_entries_);
    buffer bigger = allocate(capacity_);
    std::memcpy(bigger.data(), storage_.data(), static_cast<std::size_t>(count_) * entry_);
    storage_ = std::move(bigger);
  }

  media_type type_;
  std::string source_, limit_name_;
  std::uint64_t max_bytes_;
  std::int64_t max_entries_ = INT64_MAX;
  std::optional<frame_shape> shape_;
  int format_ = -1, width_ = 0, height_ = 0;
  std::size_t entry_ = 0;  // bytes per frame (video) or per sample of all channels (audio)
  std::int64_t capacity_;
  std::int64_t count_ = 0;
  buffer storage_;
};

}  // namespace detail

/// Frames → one buffer (layouts in the table above). Throws io_error when frames differ in
/// size or format, unsupported_error for a format without a layout, and std::invalid_argument
/// for no frames (whose shape is unknown).
inline buffer convert_frames(const frames& f) {
  if (f.empty())
    throw std::invalid_argument(detail::describe("convert_frames", f.source(), "no frames"));
  const AVFrame& first = f[0];
  const auto fmt = static_cast<AVSampleFormat>(first.format);
  if (f.type() == media_type::audio && av_sample_fmt_is_planar(fmt)) {  // {C, T}
    const auto type = detail::sample_dtype(fmt);
    const std::int64_t channels = first.ch_layout.nb_channels, total = f.num_samples();
    buffer out({channels, total}, type);
    const std::size_t bytes = dtype_size(type);
    std::int64_t at = 0;
    for (std::size_t i = 0; i < f.size(); ++i) {
      const AVFrame& a = f[i];
      if (a.format != first.format || a.ch_layout.nb_channels != channels)
        throw io_error(detail::describe("convert_frames", f.source(),
                                        "audio frame " + std::to_string(i) +
                                            " differs in format or channels"));
      for (std::int64_t c = 0; c < channels; ++c)
        std::memcpy(out.data() + static_cast<std::size_t>(c * total + at) * bytes,
                    a.extended_data[c], static_cast<std::size_t>(a.nb_samples) * bytes);
      at += a.nb_samples;
    }
    return out;
  }
  detail::frame_writer w(f.type(), f.source(),
                         f.type() == media_type::video ? static_cast<std::int64_t>(f.size()) : f.num_samples());
  for (std::size_t i = 0; i < f.size(); ++i) w.append(f[i]);
  return w.finish();
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
