#pragma once
/// \file
/// spdl::io::frames: decoded (and possibly filtered) video frames or audio frames of one stream,
/// in presentation order, with their time base.

#include <spdl/io/detail/ffmpeg.hpp>
#include <spdl/io/packets.hpp>

extern "C" {
#include <libavutil/pixdesc.h>
#include <libavutil/samplefmt.h>
}

#include <cstddef>
#include <cstdint>
#include <limits>
#include <string>
#include <utility>
#include <vector>

namespace spdl::io {

/// Decoded frames. Move-only; `clone()` shares the pixels and samples (reference-counted by
/// FFmpeg). `convert_frames` turns them into one buffer.
class frames {
 public:
  frames(media_type type, AVRational time_base, std::string source)
      : type_(type), time_base_(time_base), source_(std::move(source)) {}

  frames(frames&&) noexcept = default;
  frames& operator=(frames&&) noexcept = default;

  [[nodiscard]] media_type type() const noexcept { return type_; }
  [[nodiscard]] const std::string& source() const noexcept { return source_; }
  [[nodiscard]] AVRational time_base() const noexcept { return time_base_; }
  [[nodiscard]] std::size_t size() const noexcept { return items_.size(); }
  [[nodiscard]] bool empty() const noexcept { return items_.empty(); }
  [[nodiscard]] const AVFrame& operator[](std::size_t i) const { return *items_.at(i); }

  /// Frame `i`'s presentation time in seconds (NaN when it has none).
  [[nodiscard]] double timestamp(std::size_t i) const {
    const AVFrame& f = (*this)[i];
    if (f.pts == AV_NOPTS_VALUE) return std::numeric_limits<double>::quiet_NaN();
    return static_cast<double>(f.pts) * av_q2d(time_base_);
  }
  /// The first frame's pixel or sample format name ("rgb24", "yuv420p", "fltp", ...).
  [[nodiscard]] std::string format_name() const {
    if (empty()) return "";
    const AVFrame& f = *items_.front();
    const char* n = type_ == media_type::video
                        ? av_get_pix_fmt_name(static_cast<AVPixelFormat>(f.format))
                        : av_get_sample_fmt_name(static_cast<AVSampleFormat>(f.format));
    return n ? n : "";
  }
  /// Total samples over all frames (audio).
  [[nodiscard]] std::int64_t num_samples() const noexcept {
    std::int64_t n = 0;
    for (const auto& f : items_) n += f->nb_samples;
    return n;
  }

  /// Appends a frame (the frames take it over).
  void push_back(detail::frame_ptr f) { items_.push_back(std::move(f)); }
  /// Keeps the first `n` frames.
  void truncate(std::size_t n) {
    if (n < items_.size()) items_.resize(n);
  }

  /// New frames referring to the same data.
  [[nodiscard]] frames clone() const {
    frames copy(type_, time_base_, source_);
    copy.items_.reserve(items_.size());
    for (const auto& f : items_) copy.items_.push_back(detail::ref_frame(f.get()));
    return copy;
  }

 private:
  media_type type_;
  AVRational time_base_;
  std::string source_;
  std::vector<detail::frame_ptr> items_;
};

}  // namespace spdl::io
