#pragma once
/// \file
/// spdl::io::demuxer: opens a container (a path, a URL FFmpeg can read, or bytes in memory) and
/// splits it into the packets of its video or audio stream, whole, in a time window, or in
/// chunks.

#include <spdl/io/detail/ffmpeg.hpp>
#include <spdl/io/detail/riff_check.hpp>
#include <spdl/io/error.hpp>
#include <spdl/io/packets.hpp>

#include <algorithm>
#include <climits>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <system_error>

namespace spdl::io {

/// Options of a demuxer.
struct demux_options {
  std::string format;                                ///< force a container format ("" probes)
  std::map<std::string, std::string> format_options;  ///< the demuxer's own options
  std::size_t io_buffer_size = 64 * 1024;            ///< read size for bytes in memory
};

/// Splits a container into packets. One demuxer is used by one thread at a time; any number of
/// demuxers may work at once on any threads.
///
///     spdl::io::demuxer d("clip.mkv");
///     if (d.has_audio()) { spdl::io::packets a = d.demux_audio(); ... }
///     spdl::io::packets v = d.demux_video({{.start = 1.0, .end = 2.0}});
class demuxer {
 public:
  /// Opens a file (or a URL FFmpeg can read). Throws io_error naming it when it cannot.
  explicit demuxer(const std::filesystem::path& path, const demux_options& options = {})
      : state_(std::make_unique<state>(path.string())) {
    open(path.string().c_str(), options);
  }

  /// Reads from memory. The bytes are not copied: they must outlive the demuxer and every
  /// packets object taken from it is independent of them (packets own their data).
  explicit demuxer(std::span<const std::byte> data, const demux_options& options = {})
      : state_(std::make_unique<state>("<memory>")) {
    if (data.empty()) throw io_error(detail::describe("demux", state_->source, "no data (0 bytes)"));
    state_->data = data;
    const std::size_t size = std::clamp<std::size_t>(options.io_buffer_size, 4096, 1 << 24);
    auto* io_buffer = static_cast<unsigned char*>(av_malloc(size));
    if (!io_buffer) throw std::bad_alloc();
    AVIOContext* io = avio_alloc_context(io_buffer, static_cast<int>(size), 0, state_.get(),
                                         &state::read, nullptr, &state::seek);
    if (!io) {
      av_free(io_buffer);
      throw std::bad_alloc();
    }
    state_->io.reset(io);
    open(nullptr, options);
  }

  demuxer(demuxer&&) noexcept = default;
  demuxer& operator=(demuxer&&) noexcept = default;

  /// The path or "<memory>".
  [[nodiscard]] const std::string& source() const noexcept { return state_->source; }
  /// FFmpeg's name of the container format ("mov,mp4,m4a,3gp,3g2,mj2", "matroska,webm", ...).
  [[nodiscard]] std::string format_name() const { return state_->context->iformat->name; }
  /// The container's duration in seconds (NaN when it does not say).
  [[nodiscard]] double duration() const noexcept {
    const auto d = state_->context->duration;
    return d == AV_NOPTS_VALUE ? std::numeric_limits<double>::quiet_NaN()
                               : static_cast<double>(d) / AV_TIME_BASE;
  }
  /// The index of the best stream of `type`, or -1 when there is none.
  [[nodiscard]] int stream_index(media_type type) const noexcept {
    const int i = av_find_best_stream(state_->context.get(), av_type(type), -1, -1, nullptr, 0);
    return i < 0 ? -1 : i;
  }
  [[nodiscard]] bool has_video() const noexcept { return stream_index(media_type::video) >= 0; }
  [[nodiscard]] bool has_audio() const noexcept { return stream_index(media_type::audio) >= 0; }
  /// The stream itself (codec parameters, time base, frame rate, duration).
  [[nodiscard]] const AVStream& stream(media_type type) const {
    return *state_->context->streams[checked_index(type)];
  }

  /// The video stream's packets whose frames may fall in `window` (all, without one): decoding
  /// them and keeping the frames in the window gives exactly the window's frames. Throws
  /// io_error when the container has no video stream, or when the packets would hold more than
  /// `max_bytes` (a few bytes of some formats demux into hundreds of megabytes: a tracker
  /// module that libopenmpt renders into samples).
  [[nodiscard]] packets demux_video(
      std::optional<time_window> window = {},
      std::uint64_t max_bytes = std::numeric_limits<std::uint64_t>::max()) {
    return demux(media_type::video, window, max_bytes);
  }
  /// The same for the audio stream.
  [[nodiscard]] packets demux_audio(
      std::optional<time_window> window = {},
      std::uint64_t max_bytes = std::numeric_limits<std::uint64_t>::max()) {
    return demux(media_type::audio, window, max_bytes);
  }
  /// The first packet of the video stream: the picture of an image file (or a video's first).
  [[nodiscard]] packets demux_image() {
    packets out(media_type::video, stream(media_type::video), source());
    rewind(media_type::video, 0);
    read_until(out, checked_index(media_type::video), std::numeric_limits<double>::infinity(), 1);
    if (out.empty()) throw io_error(detail::describe("demux_image", source(), "no packet"));
    return out;
  }

  /// Streaming: the next `max_packets` packets of `type`'s stream, continuing where the last
  /// call stopped (from the start on the first). Empty packets mean the end of the stream.
  [[nodiscard]] packets demux_next(media_type type, std::size_t max_packets) {
    const int index = checked_index(type);
    if (state_->streaming != index) {
      rewind(type, 0);
      state_->streaming = index;
    }
    packets out(type, stream(type), source());
    read_until(out, index, std::numeric_limits<double>::infinity(), max_packets);
    return out;
  }

 private:
  // Everything FFmpeg's callbacks point at lives here, at an address that moves never change.
  struct state {
    explicit state(std::string s) : source(std::move(s)) {}
    std::string source;
    std::span<const std::byte> data;
    std::int64_t position = 0;
    detail::io_context_ptr io;  // destroyed after context (declared before it)
    detail::format_context_ptr context;
    bool dirty = false;   // packets were read: the next demux starts with a seek
    int streaming = -1;   // the stream demux_next is walking

    static int read(void* opaque, std::uint8_t* out, int n) {
      auto* s = static_cast<state*>(opaque);
      const auto size = static_cast<std::int64_t>(s->data.size());
      const std::int64_t left = size - s->position;
      if (left <= 0) return AVERROR_EOF;
      const int count = static_cast<int>(std::min<std::int64_t>(n, left));
      std::memcpy(out, s->data.data() + s->position, static_cast<std::size_t>(count));
      s->position += count;
      return count;
    }
    static std::int64_t seek(void* opaque, std::int64_t offset, int whence) {
      auto* s = static_cast<state*>(opaque);
      const auto size = static_cast<std::int64_t>(s->data.size());
      switch (whence & ~AVSEEK_FORCE) {
        case AVSEEK_SIZE: return size;
        case SEEK_SET: break;
        case SEEK_CUR: offset += s->position; break;
        case SEEK_END: offset += size; break;
        default: return AVERROR(EINVAL);
      }
      if (offset < 0 || offset > size) return AVERROR(EINVAL);
      s->position = offset;
      return offset;
    }
  };

  static AVMediaType av_type(media_type t) noexcept {
    return t == media_type::video ? AVMEDIA_TYPE_VIDEO : AVMEDIA_TYPE_AUDIO;
  }
  static const char* name(media_type t) noexcept {
    return t == media_type::video ? "video" : "audio";
  }

  // Before FFmpeg sees the input: a RIFF file's chunks must fit in it (detail/riff_check.hpp).
  void check_input(const char* url) const {
    if (!url) {
      const auto data = state_->data;
      detail::check_riff(
          [&](std::uint64_t at, void* out, std::size_t n) -> std::size_t {
            if (at >= data.size()) return 0;
            const std::size_t k = std::min<std::uint64_t>(n, data.size() - at);
            std::memcpy(out, data.data() + at, k);
            return k;
          },
          data.size(), "demux", source());
      return;
    }
    std::error_code ec;
    const std::filesystem::path path(url);
    if (!std::filesystem::is_regular_file(path, ec)) return;  // a URL, a device: FFmpeg's business
    const auto size = std::filesystem::file_size(path, ec);
    std::ifstream in(path, std::ios::binary);
    if (ec || !in) return;  // FFmpeg reports it
    detail::check_riff(
        [&](std::uint64_t at, void* out, std::size_t n) -> std::size_t {
          in.clear();
          in.seekg(static_cast<std::streamoff>(at));
          in.read(static_cast<char*>(out), static_cast<std::streamsize>(n));
          return static_cast<std::size_t>(in.gcount());
        },
        size, "demux", source());
  }

  void open(const char* url, const demux_options& options) {
    check_input(url);
    AVFormatContext* raw = avformat_alloc_context();
    if (!raw) throw std::bad_alloc();
    if (state_->io) {
      raw->pb = state_->io.get();
      raw->flags |= AVFMT_FLAG_CUSTOM_IO;
    }
    const AVInputFormat* format = nullptr;
    if (!options.format.empty()) {
      format = av_find_input_format(options.format.c_str());
      if (!format) {
        avformat_free_context(raw);
        throw unsupported_error(detail::describe("demux", source(),
                                                 "no container format named '" + options.format + "'"));
      }
    }
    auto dict = detail::make_dictionary(options.format_options);
    AVDictionary* d = dict.release();
    const int rc = avformat_open_input(&raw, url ? url : "", format, &d);  // frees raw on failure
    dict.reset(d);
    if (rc < 0) throw io_error(detail::describe("demux", source(), detail::av_error_text(rc)));
    state_->context.reset(raw);
    if (auto key = detail::unused_option(dict); !key.empty())
      throw std::invalid_argument(
          detail::describe("demux", source(), "the demuxer has no option '" + key + "'"));
    if (const int info = avformat_find_stream_info(raw, nullptr); info < 0)
      throw io_error(detail::describe("demux", source(),
                                      "cannot read stream info: " + detail::av_error_text(info)));
  }

  int checked_index(media_type type) const {
    const int i = stream_index(type);
    if (i < 0)
      throw io_error(detail::describe(type == media_type::video ? "demux_video" : "demux_audio",
                                      source(), std::string("no ") + name(type) + " stream"));
    return i;
  }

  packets demux(media_type type, std::optional<time_window> window,
                std::uint64_t max_bytes = std::numeric_limits<std::uint64_t>::max()) {
    const int index = checked_index(type);
    const char* op = type == media_type::video ? "demux_video" : "demux_audio";
    if (window && !(window->start < window->end))
      throw std::invalid_argument(detail::describe(
          op, source(),
          "empty time window [" + std::to_string(window->start) + ", " +
              std::to_string(window->end) + ")"));
    packets out(type, stream(type), source(), window);
    rewind(type, window ? window->start : 0);
    read_until(out, index, window ? window->end : std::numeric_limits<double>::infinity(),
               std::numeric_limits<std::size_t>::max(), max_bytes, op);
    return out;
  }

  // Positions the demuxer on the key frame at or before `start` seconds (the start of the
  // file when nothing was read yet and start is not later than the first packet).
  void rewind(media_type type, double start) {
    state_->streaming = -1;
    if (!state_->dirty && start <= 0) return;
    const int index = checked_index(type);
    const AVStream* s = state_->context->streams[index];
    const std::int64_t ts =
        std::isfinite(start) && start > 0
            ? static_cast<std::int64_t>(std::floor(start / av_q2d(s->time_base)))
            : (s->start_time != AV_NOPTS_VALUE ? s->start_time : 0);
    // A stream that cannot seek is read from where it is: on a fresh demuxer that is the start,
    // and frames before the window are dropped after decoding; after a read, data is lost.
    const int rc = av_seek_frame(state_->context.get(), index, ts, AVSEEK_FLAG_BACKWARD);
    if (rc < 0 && state_->dirty)
      throw io_error(detail::describe("demux", source(),
                                      "cannot seek back: " + detail::av_error_text(rc)));
  }

  // Appends `index`'s packets until one starts at or after `end` seconds, the stream ends, or
  // `max_packets` were taken. A packet's decoding time never exceeds its presentation time, so
  // every frame presented before `end` comes from a packet read here. More than `max_bytes` of
  // packets: io_error, naming `op`.
  void read_until(packets& out, int index, double end, std::size_t max_packets,
                  std::uint64_t max_bytes = std::numeric_limits<std::uint64_t>::max(),
                  const char* op = "demux") {
    state_->dirty = true;
    std::uint64_t bytes = 0;
    const double tb = av_q2d(state_->context->streams[index]->time_base);
    while (out.size() < max_packets) {
      detail::packet_ptr p(av_packet_alloc());
      if (!p) throw std::bad_alloc();
      const int rc = av_read_frame(state_->context.get(), p.get());
      if (rc == AVERROR_EOF) break;
      if (rc < 0)
        throw io_error(detail::describe("demux", source(),
                                        "cannot read a packet: " + detail::av_error_text(rc)));
      if (p->stream_index != index) continue;
      const std::int64_t t = p->dts != AV_NOPTS_VALUE ? p->dts : p->pts;
      if (std::isfinite(end) && t != AV_NOPTS_VALUE && static_cast<double>(t) * tb >= end) break;
      bytes += static_cast<std::uint64_t>(std::max(p->size, 0));
      if (bytes > max_bytes)
        throw io_error(detail::describe(op, source(),
                                        "more than " + std::to_string(max_bytes) +
                                            " bytes of packets (the limit)"));
      out.push_back(std::move(p));
    }
  }

  std::unique_ptr<state> state_;
};

}  // namespace spdl::io
