#pragma once
/// \file
/// spdl::io::decoder: packets in, frames out, streaming (decode chunk after chunk, then flush);
/// and decode_packets, which decodes packets whole through an optional filter graph and keeps
/// exactly the frames of the packets' time window.

#include <spdl/io/detail/ffmpeg.hpp>
#include <spdl/io/error.hpp>
#include <spdl/io/filter_graph.hpp>
#include <spdl/io/frames.hpp>
#include <spdl/io/packets.hpp>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>

namespace spdl::io {

/// Options of a decoder.
struct decoder_options {
  std::string decoder;                        ///< a decoder by name ("h264", "libdav1d"); "" picks FFmpeg's default
  int threads = 1;                            ///< decoder threads (0 lets FFmpeg choose)
  std::map<std::string, std::string> options;  ///< the decoder's own options
  /// Packets the decoder rejects as invalid data: false throws io_error naming the packet,
  /// true skips them and counts them in `decoder::skipped_packets()`.
  bool skip_corrupt_packets = false;
  /// decode_packets stops once it has this many output frames (-1: all).
  std::int64_t max_frames = -1;
  /// > 0: video frames of more pixels are refused with io_error, by the stream's parameters
  /// before decoding and by FFmpeg as each frame is allocated (0: FFmpeg's own limit only).
  std::uint64_t max_pixels = 0;
};

/// Decodes the packets of one stream. Used by one thread at a time.
///
///     spdl::io::decoder dec(first_chunk);
///     spdl::io::frames f = dec.decode(first_chunk);  // ...more chunks...
///     spdl::io::frames rest = dec.flush();
class decoder {
 public:
  /// A decoder for the stream `like` came from.
  explicit decoder(const packets& like, const decoder_options& options = {})
      : type_(like.type()),
        time_base_(like.time_base()),
        source_(like.source()),
        skip_corrupt_(options.skip_corrupt_packets),
        max_pixels_(options.max_pixels) {
    const AVCodecParameters& par = like.codec_parameters();
    check_pixels(par.width, par.height);
    const AVCodec* codec = options.decoder.empty()
                               ? avcodec_find_decoder(par.codec_id)
                               : avcodec_find_decoder_by_name(options.decoder.c_str());
    if (!codec)
      throw unsupported_error(detail::describe(
          "decoder", source_,
          options.decoder.empty() ? "this FFmpeg has no decoder for " + like.codec_name()
                                  : "this FFmpeg has no decoder named '" + options.decoder + "'"));
    context_.reset(avcodec_alloc_context3(codec));
    if (!context_) throw std::bad_alloc();
    if (const int rc = avcodec_parameters_to_context(context_.get(), &par); rc < 0)
      throw io_error(detail::describe("decoder", source_,
                                      "bad codec parameters: " + detail::av_error_text(rc)));
    context_->pkt_timebase = time_base_;
    if (max_pixels_ > 0) context_->max_pixels = detail::ffmpeg_max_pixels(max_pixels_);
    context_->thread_count = options.threads;
    if (options.threads != 1) context_->thread_type = FF_THREAD_FRAME | FF_THREAD_SLICE;
    auto dict = detail::make_dictionary(options.options);
    AVDictionary* d = dict.release();
    const int rc = avcodec_open2(context_.get(), codec, &d);
    dict.reset(d);
    if (rc < 0)
      throw io_error(detail::describe("decoder", source_,
                                      std::string("cannot open the ") + codec->name +
                                          " decoder: " + detail::av_error_text(rc)));
    if (auto key = detail::unused_option(dict); !key.empty())
      throw std::invalid_argument(detail::describe(
          "decoder", source_, std::string("the ") + codec->name + " decoder has no option '" + key + "'"));
    frame_.reset(av_frame_alloc());
    if (!frame_) throw std::bad_alloc();
  }

  /// Decodes `chunk`; calls `on_frame(AVFrame&)` for each frame that comes out, in
  /// presentation order, with `pts` set to FFmpeg's best-effort timestamp. The frame is only
  /// lent: `av_frame_ref` or `detail::ref_frame` it to keep it.
  template <class OnFrame>
  void decode_each(const packets& chunk, OnFrame&& on_frame) {
    for (std::size_t i = 0; i < chunk.size(); ++i) {
      const AVPacket& p = chunk[i];
      int rc = avcodec_send_packet(context_.get(), &p);
      if (rc == AVERROR(EAGAIN)) {  // output must be taken first (some decoders buffer)
        receive(on_frame, &chunk, i);
        rc = avcodec_send_packet(context_.get(), &p);
      }
      if (rc < 0) {
        skip_or_throw(rc, &chunk, i);
        continue;
      }
      receive(on_frame, &chunk, i);
    }
  }

  /// Drains the frames the decoder holds back (B-frames, threads); the decoder can then take
  /// packets again.
  template <class OnFrame>
  void flush_each(OnFrame&& on_frame) {
    if (const int rc = avcodec_send_packet(context_.get(), nullptr); rc < 0 && rc != AVERROR_EOF)
      throw io_error(detail::describe("decode", source_, "cannot flush: " + detail::av_error_text(rc)));
    receive(on_frame, nullptr, 0);
    avcodec_flush_buffers(context_.get());
  }

  /// Decodes `chunk` into frames.
  [[nodiscard]] frames decode(const packets& chunk) {
    frames out(type_, time_base_, source_);
    decode_each(chunk, [&](AVFrame& f) { out.push_back(detail::ref_frame(&f)); });
    return out;
  }
  /// The frames held back.
  [[nodiscard]] frames flush() {
    frames out(type_, time_base_, source_);
    flush_each([&](AVFrame& f) { out.push_back(detail::ref_frame(&f)); });
    return out;
  }

  /// Packets skipped as corrupt (with `skip_corrupt_packets`).
  [[nodiscard]] std::size_t skipped_packets() const noexcept { return skipped_; }
  [[nodiscard]] media_type type() const noexcept { return type_; }
  [[nodiscard]] AVRational time_base() const noexcept { return time_base_; }
  [[nodiscard]] const std::string& source() const noexcept { return source_; }
  /// The open codec context (its size, pixel format, sample rate, ...).
  [[nodiscard]] const AVCodecContext& context() const noexcept { return *context_; }

 private:
  // Counts a rejected packet when corrupt ones are skipped; throws naming it otherwise.
  void skip_or_throw(int rc, const packets* chunk, std::size_t i) {
    // FFmpeg refuses a frame over its max_pixels with a plain EINVAL: say which limit it was.
    check_pixels(context_->width, context_->height);
    if (rc == AVERROR_INVALIDDATA && skip_corrupt_) {
      ++skipped_;
      return;
    }
    std::string where = "a packet";
    if (chunk) {
      char t[64];
      std::snprintf(t, sizeof t, "packet %zu (t=%.3f s)", i, chunk->timestamp(i));
      where = t;
    }
    throw io_error(detail::describe("decode", source_,
                                    "the decoder rejects " + where + ": " + detail::av_error_text(rc)));
  }

  void check_pixels(int width, int height) const {
    if (max_pixels_ == 0 || type_ != media_type::video || width <= 0 || height <= 0) return;
    if (std::uint64_t(width) * std::uint64_t(height) > max_pixels_)
      throw io_error(detail::describe("decode", source_,
                                      "frames of " + std::to_string(width) + "x" + std::to_string(height) +
                                          " pixels, over the limit of " + std::to_string(max_pixels_) +
                                          " (max_pixels)"));
  }

  template <class OnFrame>
  void receive(OnFrame& on_frame, const packets* chunk, std::size_t i) {
    for (;;) {
      const int rc = avcodec_receive_frame(context_.get(), frame_.get());
      if (rc == AVERROR(EAGAIN) || rc == AVERROR_EOF) return;
      if (rc < 0) {
        skip_or_throw(rc, chunk, i);
        continue;
      }
      check_pixels(frame_->width, frame_->height);
      frame_->pts = frame_->best_effort_timestamp;
      on_frame(*frame_);
      av_frame_unref(frame_.get());
    }
  }

  media_type type_;
  AVRational time_base_;
  std::string source_;
  bool skip_corrupt_;
  std::uint64_t max_pixels_;
  std::size_t skipped_ = 0;
  detail::codec_context_ptr context_;
  detail::frame_ptr frame_;
};

namespace detail {
// Whether a video frame at `pts` lies in [start, end) (with a nanosecond's tolerance for
// timestamps that are exact in the stream's time base but not in binary).
inline bool in_window(std::int64_t pts, AVRational tb, const time_window& w) {
  if (pts == AV_NOPTS_VALUE) return true;
  const long double t = static_cast<long double>(pts) * tb.num / tb.den;
  return t >= w.start - 1e-9L && t < w.end - 1e-9L;
}
inline std::string seconds_text(double s) {
  char t[64];
  std::snprintf(t, sizeof t, "%.6f", s);
  return t;
}
}  // namespace detail

namespace detail {

/// Seconds from the first packet's time to the end of the last, within the packets' window
/// (for sizing output before decoding; 0 when the packets carry no timestamps).
inline double covered_seconds(const packets& p) {
  double lo = std::numeric_limits<double>::infinity(), hi = -lo;
  const double tb = av_q2d(p.time_base());
  for (std::size_t i = 0; i < p.size(); ++i) {
    const AVPacket& k = p[i];
    if (k.pts == AV_NOPTS_VALUE) continue;
    lo = std::min(lo, static_cast<double>(k.pts) * tb);
    hi = std::max(hi, static_cast<double>(k.pts + std::max<std::int64_t>(k.duration, 0)) * tb);
  }
  if (p.window()) {
    lo = std::max(lo, p.window()->start);
    hi = std::min(hi, p.window()->end);
  }
  return hi > lo ? hi - lo : 0;
}

/// decode_packets without collecting: `on_frame(AVFrame&, AVRational time_base)` gets each output
/// frame (lent, as decode_each lends) with its time base.
template <class OnFrame>
void decode_filtered(const packets& p, const std::string& filter_desc, const decoder_options& options,
                     OnFrame&& on_frame) {
  decoder dec(p, options);
  const auto& window = p.window();
  const bool video = p.type() == media_type::video;
  std::string desc = filter_desc;
  if (!video && window) {
    std::string trim = "atrim=start=" + seconds_text(window->start);
    if (std::isfinite(window->end)) trim += ":end=" + seconds_text(window->end);
    desc = desc.empty() ? trim : desc + "," + trim;
  }
  std::unique_ptr<filter_graph> graph;  // (not optional: GCC 12 warns falsely about optional here)
  frame_ptr out(av_frame_alloc());
  if (!out) throw std::bad_alloc();
  std::int64_t produced = 0;
  const auto limit = options.max_frames;
  auto drain = [&] {
    while (graph->pull(*out))
      if (limit < 0 || produced < limit) {
        on_frame(*out, graph->output_time_base());
        ++produced;
      }
  };
  auto take = [&](AVFrame& f) {
    if (limit >= 0 && produced >= limit) return;
    if (video && window && !in_window(f.pts, p.time_base(), *window)) return;
    if (graph && !graph->fits(f)) {  // the stream changed size or format: a new graph
      graph->push_end();
      drain();
      graph.reset();
    }
    if (!graph) graph = std::make_unique<filter_graph>(desc, p.type(), f, p.time_base(), p.source());
    graph->push(f);
    drain();
  };
  dec.decode_each(p, take);
  dec.flush_each(take);
  if (!graph) return;
  graph->push_end();
  drain();
}

}  // namespace detail

/// Decodes packets whole and runs the frames through `filter_desc` (an FFmpeg filter
/// description; "" for none). With a time window on the packets, the frames returned are
/// exactly the window's: video frames whose timestamps lie in [start, end), selected before the
/// filter runs; audio cut sample-exactly to [start, end) after it runs (so at the output rate:
/// samples round(start·R) up to round(end·R), timestamps taken to the microsecond). When the
/// stream changes frame size or format mid-way, the filter graph is rebuilt for the new frames
/// (filters that keep state, such as fps, start again there).
///
///     auto f = spdl::io::decode_packets(d.demux_video(), "scale=224:224,format=rgb24");
inline frames decode_packets(const packets& p, const std::string& filter_desc = "",
                             const decoder_options& options = {}) {
  std::optional<frames> out;
  detail::decode_filtered(p, filter_desc, options, [&](AVFrame& f, AVRational tb) {
    if (!out) out.emplace(p.type(), tb, p.source());
    out->push_back(detail::ref_frame(&f));
  });
  if (!out) return frames(p.type(), p.time_base(), p.source());
  return std::move(*out);
}

}  // namespace spdl::io
