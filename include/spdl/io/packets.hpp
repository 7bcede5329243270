#pragma once
/// \file
/// spdl::io::packets: the compressed packets of one stream, with what a decoder needs to read
/// them (codec parameters, time base) and the time window they were demuxed for.

#include <spdl/io/detail/ffmpeg.hpp>
#include <spdl/io/error.hpp>

#include <cmath>
#include <cstddef>
#include <limits>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace spdl::io {

/// What a stream carries.
enum class media_type { video, audio };

/// A span of presentation time in seconds, [start, end): a frame belongs to it when its
/// timestamp t satisfies start <= t < end. Timestamps are the stream's own (most files start at
/// 0; an MPEG-TS file may start anywhere).
struct time_window {
  double start = 0, end = std::numeric_limits<double>::infinity();
};

/// Packets of one stream, in decoding order. Move-only; `clone()` shares the compressed data
/// (reference-counted by FFmpeg) instead of copying it.
///
///     spdl::io::demuxer d("clip.mp4");
///     spdl::io::packets p = d.demux_video(spdl::io::time_window{2.0, 4.0});
///     spdl::io::frames f = spdl::io::decode_packets(p);
class packets {
 public:
  /// Empty packets for `stream` (its codec parameters are copied).
  packets(media_type type, const AVStream& stream, std::string source,
          std::optional<time_window> window = {})
      : packets(type, *stream.codecpar, stream.time_base, stream.avg_frame_rate, std::move(source),
                window) {}

  /// Empty packets of a stream described by `params` (copied), timed in `time_base`.
  packets(media_type type, const AVCodecParameters& params, AVRational time_base,
          AVRational frame_rate, std::string source, std::optional<time_window> window = {})
      : type_(type),
        source_(std::move(source)),
        window_(window),
        time_base_(time_base),
        frame_rate_(frame_rate) {
    detail::codec_parameters_ptr copy(avcodec_parameters_alloc());
    if (!copy || avcodec_parameters_copy(copy.get(), &params) < 0) throw std::bad_alloc();
    params_ = std::shared_ptr<const AVCodecParameters>(std::move(copy));
  }

  packets(packets&&) noexcept = default;
  packets& operator=(packets&&) noexcept = default;

  [[nodiscard]] media_type type() const noexcept { return type_; }
  /// The path or "<memory>" the packets came from (errors name it).
  [[nodiscard]] const std::string& source() const noexcept { return source_; }
  [[nodiscard]] const std::optional<time_window>& window() const noexcept { return window_; }
  [[nodiscard]] std::size_t size() const noexcept { return items_.size(); }
  [[nodiscard]] bool empty() const noexcept { return items_.empty(); }
  [[nodiscard]] const AVPacket& operator[](std::size_t i) const { return *items_.at(i); }

  /// The stream's codec parameters (codec id, size, sample rate, extradata, ...).
  [[nodiscard]] const AVCodecParameters& codec_parameters() const noexcept { return *params_; }
  /// The unit of the packets' timestamps.
  [[nodiscard]] AVRational time_base() const noexcept { return time_base_; }
  /// The stream's average frame rate (video; 0/0 or 0/1 when unknown).
  [[nodiscard]] AVRational frame_rate() const noexcept { return frame_rate_; }
  /// FFmpeg's name of the codec ("h264", "flac", ...).
  [[nodiscard]] std::string codec_name() const { return avcodec_get_name(params_->codec_id); }

  /// Packet `i`'s presentation time in seconds (NaN when it has none).
  [[nodiscard]] double timestamp(std::size_t i) const {
    const AVPacket& p = (*this)[i];
    if (p.pts == AV_NOPTS_VALUE) return std::numeric_limits<double>::quiet_NaN();
    return static_cast<double>(p.pts) * av_q2d(time_base_);
  }

  /// Appends a packet (the packets take it over).
  void push_back(detail::packet_ptr p) { items_.push_back(std::move(p)); }
  /// Appends `more`'s packets (of the same stream: same time base).
  void append(packets&& more) {
    for (auto& p : more.items_) items_.push_back(std::move(p));
    more.items_.clear();
  }

  /// New packets referring to the same compressed data.
  [[nodiscard]] packets clone() const { return clone(0, items_.size()); }
  /// New packets referring to packets [first, last) (decode order).
  [[nodiscard]] packets clone(std::size_t first, std::size_t last) const {
    if (first > last || last > items_.size())
      throw std::out_of_range("spdl::io::packets::clone: [" + std::to_string(first) + ", " +
                              std::to_string(last) + ") outside " + std::to_string(items_.size()));
    packets copy(*this, 0);
    copy.items_.reserve(last - first);
    for (std::size_t i = first; i < last; ++i) copy.items_.push_back(detail::ref_packet(items_[i].get()));
    return copy;
  }

 private:
  packets(const packets& other, int)  // everything but the packets themselves
      : type_(other.type_),
        source_(other.source_),
        window_(other.window_),
        time_base_(other.time_base_),
        frame_rate_(other.frame_rate_),
        params_(other.params_) {}

  media_type type_;
  std::string source_;
  std::optional<time_window> window_;
  AVRational time_base_;
  AVRational frame_rate_;
  std::shared_ptr<const AVCodecParameters> params_;
  std::vector<detail::packet_ptr> items_;
};

}  // namespace spdl::io
