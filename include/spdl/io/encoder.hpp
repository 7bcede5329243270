#pragma once
/// \file
/// spdl::io::encoder: buffers in (video frames {N, H, W, C}, audio samples {T, C}), compressed
/// packets out, with any FFmpeg encoder. A muxer writes them to a file; they can also be kept,
/// sent, or decoded again.
///
///     spdl::io::encoder enc(spdl::io::video_encode_config{
///         .width = 320, .height = 240, .frame_rate = 25, .codec = "libx264"});
///     spdl::io::packets p = enc.encode_video(frames);   // {N, 240, 320, 3} rgb24
///     p.append(enc.flush());

#include <spdl/io/audio.hpp>
#include <spdl/io/buffer.hpp>
#include <spdl/io/detail/ffmpeg.hpp>
#include <spdl/io/error.hpp>
#include <spdl/io/filter_graph.hpp>
#include <spdl/io/frames.hpp>
#include <spdl/io/image.hpp>
#include <spdl/io/packets.hpp>

extern "C" {
#include <libavutil/channel_layout.h>
#include <libavutil/imgutils.h>
#include <libavutil/pixdesc.h>
#include <libavutil/samplefmt.h>
}

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>

namespace spdl::io {

/// A video stream to encode.
struct video_encode_config {
  int width = 0, height = 0;                  ///< required
  double frame_rate = 30;                     ///< frames per second (30000.0 / 1001 works)
  std::string codec;                          ///< an encoder by name ("libx264", "ffv1"); a muxer fills in its container's default for ""
  std::string pix_fmt;                        ///< the encoder's pixel format ("yuv420p"); "" takes the encoder's first
  std::int64_t bit_rate = 0;                  ///< bits/s; 0 leaves the encoder's default
  int gop_size = -1, max_b_frames = -1;       ///< -1 leaves the encoder's default
  std::map<std::string, std::string> options;  ///< the encoder's own ("crf", "preset", ...)
};

/// An audio stream to encode.
struct audio_encode_config {
  int sample_rate = 44100, num_channels = 2;
  std::string codec;       ///< "flac", "libmp3lame", "aac", "libopus", "pcm_s16le", ...; a muxer fills in its container's default for ""
  std::string sample_fmt;  ///< the encoder's sample format ("fltp"); "" takes the encoder's first
  std::int64_t bit_rate = 0;
  std::map<std::string, std::string> options;
};

/// Encodes one stream. Frames follow each other one frame period apart (samples, one sample
/// period), from time 0. Used by one thread at a time.
class encoder {
 public:
  /// A video encoder. `global_header`: codec headers go in the codec parameters' extradata
  /// rather than in the first packet (what MP4 and Matroska need; `muxer::needs_global_header`).
  explicit encoder(const video_encode_config& c, bool global_header = false, std::string source = "<encoder>")
      : source_(std::move(source)) {
    if (c.width <= 0 || c.height <= 0)
      throw std::invalid_argument(detail::describe("encoder", source_, "video width and height are required"));
    if (!(c.frame_rate > 0)) throw std::invalid_argument(detail::describe("encoder", source_, "frame_rate must be > 0"));
    AVCodecContext* ctx = make(c.codec, AVMEDIA_TYPE_VIDEO, global_header);
    ctx->width = c.width;
    ctx->height = c.height;
    ctx->framerate = av_d2q(c.frame_rate, 1 << 20);
    ctx->time_base = av_inv_q(ctx->framerate);
    ctx->sample_aspect_ratio = {1, 1};
    if (c.bit_rate > 0) ctx->bit_rate = c.bit_rate;
    if (c.gop_size >= 0) ctx->gop_size = c.gop_size;
    if (c.max_b_frames >= 0) ctx->max_b_frames = c.max_b_frames;
    if (!c.pix_fmt.empty()) {
      ctx->pix_fmt = av_get_pix_fmt(c.pix_fmt.c_str());
      if (ctx->pix_fmt == AV_PIX_FMT_NONE)
        throw std::invalid_argument(detail::describe("encoder", source_, "no pixel format named '" + c.pix_fmt + "'"));
    } else {
      ctx->pix_fmt = ctx->codec->pix_fmts ? ctx->codec->pix_fmts[0] : AV_PIX_FMT_YUV420P;
    }
    open(c.options);
  }

  /// An audio encoder.
  explicit encoder(const audio_encode_config& c, bool global_header = false, std::string source = "<encoder>")
      : source_(std::move(source)) {
    if (c.sample_rate <= 0 || c.num_channels <= 0)
      throw std::invalid_argument(detail::describe("encoder", source_, "sample_rate and num_channels must be > 0"));
    AVCodecContext* ctx = make(c.codec, AVMEDIA_TYPE_AUDIO, global_header);
    ctx->sample_rate = c.sample_rate;
    ctx->time_base = {1, c.sample_rate};
    av_channel_layout_default(&ctx->ch_layout, c.num_channels);
    if (c.bit_rate > 0) ctx->bit_rate = c.bit_rate;
    if (!c.sample_fmt.empty()) {
      ctx->sample_fmt = av_get_sample_fmt(c.sample_fmt.c_str());
      if (ctx->sample_fmt == AV_SAMPLE_FMT_NONE)
        throw std::invalid_argument(detail::describe("encoder", source_, "no sample format named '" + c.sample_fmt + "'"));
    } else {
      ctx->sample_fmt = ctx->codec->sample_fmts ? ctx->codec->sample_fmts[0] : AV_SAMPLE_FMT_FLTP;
    }
    open(c.options);
  }

  encoder(encoder&&) noexcept = default;
  encoder& operator=(encoder&&) noexcept = default;

  [[nodiscard]] media_type type() const noexcept {
    return context_->codec_type == AVMEDIA_TYPE_VIDEO ? media_type::video : media_type::audio;
  }
  /// The open codec context (size, pixel or sample format, frame size, ...).
  [[nodiscard]] const AVCodecContext& context() const noexcept { return *context_; }
  /// What a decoder or a muxer needs to read the packets.
  [[nodiscard]] const AVCodecParameters& codec_parameters() const noexcept { return *params_; }
  /// The unit of the packets' timestamps (1 / frame rate; 1 / sample rate).
  [[nodiscard]] AVRational time_base() const noexcept { return context_->time_base; }

  /// Encodes frames: {N, H, W, C} (or one {H, W, C}) uint8 in `format`, at the encoder's size.
  /// Returns the packets the encoder has ready (encoders hold some back until `flush`).
  [[nodiscard]] packets encode_video(const buffer& pixels, pixel_format format = pixel_format::rgb24) {
    require(AVMEDIA_TYPE_VIDEO);
    const auto shape = pixels.shape();
    const int c = static_cast<int>(detail::channels(detail::order_of(format)));
    const int w = context_->width, h = context_->height;
    if ((shape.size() != 3 && shape.size() != 4) || pixels.dtype() != dtype::uint8 ||
        shape[shape.size() - 3] != h || shape[shape.size() - 2] != w || shape.back() != c)
      throw std::invalid_argument(detail::describe(
          "encode_video", source_,
          "frames must be {N, " + std::to_string(h) + ", " + std::to_string(w) + ", " + std::to_string(c) + "} uint8"));
    const std::int64_t n = shape.size() == 3 ? 1 : shape[0];
    const std::size_t row = std::size_t(w) * c, frame_bytes = row * h;
    packets out = empty_packets();
    for (std::int64_t i = 0; i < n; ++i) {
      detail::frame_ptr f(av_frame_alloc());
      if (!f) throw std::bad_alloc();
      f->format = pix_fmt_of(format);
      f->width = w;
      f->height = h;
      f->sample_aspect_ratio = {1, 1};
      if (av_frame_get_buffer(f.get(), 0) < 0) throw std::bad_alloc();
      av_image_copy_plane(f->data[0], f->linesize[0],
                          reinterpret_cast<const std::uint8_t*>(pixels.data()) + i * frame_bytes,
                          static_cast<int>(row), static_cast<int>(row), h);
      f->pts = next_pts_++;
      convert_and_send(f.get(), out);
    }
    return out;
  }

  /// Encodes samples: {T, C} interleaved float32 (f32) or int16 (s16), at the encoder's rate
  /// and channel count. Returns the packets ready.
  [[nodiscard]] packets encode_audio(const buffer& samples, sample_format format = sample_format::f32) {
    require(AVMEDIA_TYPE_AUDIO);
    const auto shape = samples.shape();
    const auto want = format == sample_format::f32 ? dtype::float32 : dtype::int16;
    const int channels = context_->ch_layout.nb_channels;
    if (shape.size() != 2 || shape[1] != channels || samples.dtype() != want)
      throw std::invalid_argument(detail::describe(
          "encode_audio", source_,
          "samples must be {T, " + std::to_string(channels) + "} " + (format == sample_format::f32 ? "float32" : "int16")));
    const std::size_t bytes = dtype_size(want) * static_cast<std::size_t>(channels);
    packets out = empty_packets();
    constexpr std::int64_t chunk = 4096;
    for (std::int64_t at = 0; at < shape[0]; at += chunk) {
      const int n = static_cast<int>(std::min(chunk, shape[0] - at));
      detail::frame_ptr f(av_frame_alloc());
      if (!f) throw std::bad_alloc();
      f->format = format == sample_format::f32 ? AV_SAMPLE_FMT_FLT : AV_SAMPLE_FMT_S16;
      f->sample_rate = context_->sample_rate;
      f->nb_samples = n;
      if (av_channel_layout_copy(&f->ch_layout, &context_->ch_layout) < 0) throw std::bad_alloc();
      if (av_frame_get_buffer(f.get(), 0) < 0) throw std::bad_alloc();
      std::memcpy(f->data[0], samples.data() + static_cast<std::size_t>(at) * bytes, static_cast<std::size_t>(n) * bytes);
      f->pts = next_pts_;
      next_pts_ += n;
      convert_and_send(f.get(), out);
    }
    return out;
  }

  /// Ends the stream: the packets the encoder still holds. The encoder takes no more input.
  [[nodiscard]] packets flush() {
    packets out = empty_packets();
    if (flushed_) return out;
    flushed_ = true;
    if (graph_) {
      graph_->push_end();
      drain_graph(out);
    }
    send(nullptr, out);
    return out;
  }

 private:
  static AVPixelFormat pix_fmt_of(pixel_format f) {
    switch (f) {
      case pixel_format::rgb24: return AV_PIX_FMT_RGB24;
      case pixel_format::bgr24: return AV_PIX_FMT_BGR24;
      case pixel_format::rgba: return AV_PIX_FMT_RGBA;
      case pixel_format::gray8: return AV_PIX_FMT_GRAY8;
    }
    return AV_PIX_FMT_RGB24;
  }

  AVCodecContext* make(const std::string& name, AVMediaType type, bool global_header) {
    const char* kind = type == AVMEDIA_TYPE_VIDEO ? "video" : "audio";
    if (name.empty())
      throw std::invalid_argument(detail::describe("encoder", source_, std::string("no ") + kind + " codec named"));
    const AVCodec* codec = avcodec_find_encoder_by_name(name.c_str());
    if (!codec || codec->type != type)
      throw unsupported_error(detail::describe(
          "encoder", source_, "this FFmpeg has no " + std::string(kind) + " encoder named '" + name + "'"));
    context_.reset(avcodec_alloc_context3(codec));
    if (!context_) throw std::bad_alloc();
    if (global_header) context_->flags |= AV_CODEC_FLAG_GLOBAL_HEADER;
    return context_.get();
  }

  void open(const std::map<std::string, std::string>& options) {
    auto dict = detail::make_dictionary(options);
    AVDictionary* d = dict.release();
    const int rc = avcodec_open2(context_.get(), context_->codec, &d);
    dict.reset(d);
    if (rc < 0)
      throw io_error(detail::describe("encoder", source_,
                                      std::string("cannot open the ") + context_->codec->name +
                                          " encoder: " + detail::av_error_text(rc)));
    if (auto key = detail::unused_option(dict); !key.empty())
      throw std::invalid_argument(detail::describe(
          "encoder", source_, std::string("the ") + context_->codec->name + " encoder has no option '" + key + "'"));
    params_.reset(avcodec_parameters_alloc());
    if (!params_ || avcodec_parameters_from_context(params_.get(), context_.get()) < 0) throw std::bad_alloc();
  }

  void require(AVMediaType type) const {
    if (context_->codec_type != type)
      throw std::invalid_argument(detail::describe(
          "encoder", source_, std::string("a ") + (type == AVMEDIA_TYPE_VIDEO ? "audio" : "video") +
                                  " encoder cannot encode " + (type == AVMEDIA_TYPE_VIDEO ? "video" : "audio")));
    if (flushed_) throw std::logic_error(detail::describe("encoder", source_, "already flushed"));
  }

  packets empty_packets() const {
    return packets(type(), *params_, context_->time_base,
                   type() == media_type::video ? context_->framerate : AVRational{0, 1}, source_);
  }

  // Through the conversion graph (made on the first frame) to the encoder's format, then to it.
  void convert_and_send(const AVFrame* f, packets& out) {
    if (!graph_) {
      const bool video = type() == media_type::video;
      std::string desc;
      if (video) {
        desc = std::string("format=pix_fmts=") + av_get_pix_fmt_name(context_->pix_fmt);
      } else {
        desc = std::string("aformat=sample_fmts=") + av_get_sample_fmt_name(context_->sample_fmt) +
               ":sample_rates=" + std::to_string(context_->sample_rate);
        char layout[256] = {};  // a channel count with no standard layout stays as it is
        if (context_->ch_layout.order != AV_CHANNEL_ORDER_UNSPEC &&
            av_channel_layout_describe(&context_->ch_layout, layout, sizeof layout) >= 0)
          desc += std::string(":channel_layouts=") + layout;
      }
      graph_.emplace(desc, type(), *f, context_->time_base, source_);
      if (!video && context_->frame_size > 0 &&
          !(context_->codec->capabilities & AV_CODEC_CAP_VARIABLE_FRAME_SIZE))
        graph_->set_output_frame_size(context_->frame_size);
    }
    graph_->push(*f);
    drain_graph(out);
  }

  void drain_graph(packets& out) {
    if (!converted_) converted_.reset(av_frame_alloc());
    if (!converted_) throw std::bad_alloc();
    while (graph_->pull(*converted_)) send(converted_.get(), out);
    av_frame_unref(converted_.get());
  }

  // Sends a frame (null: the end) and takes every packet the encoder has ready.
  void send(const AVFrame* f, packets& out) {
    int rc = avcodec_send_frame(context_.get(), f);
    if (rc < 0 && rc != AVERROR_EOF)
      throw io_error(detail::describe("encoder", source_,
                                      std::string("the ") + context_->codec->name +
                                          " encoder rejects a frame: " + detail::av_error_text(rc)));
    for (;;) {
      detail::packet_ptr p(av_packet_alloc());
      if (!p) throw std::bad_alloc();
      rc = avcodec_receive_packet(context_.get(), p.get());
      if (rc == AVERROR(EAGAIN) || rc == AVERROR_EOF) return;
      if (rc < 0)
        throw io_error(detail::describe("encoder", source_, std::string("the ") + context_->codec->name +
                                                                " encoder fails: " + detail::av_error_text(rc)));
      out.push_back(std::move(p));
    }
  }

  std::string source_;
  detail::codec_context_ptr context_;
  detail::codec_parameters_ptr params_;
  std::optional<filter_graph> graph_;
  detail::frame_ptr converted_;  // the graph's output frame, reused
  std::int64_t next_pts_ = 0;
  bool flushed_ = false;
};

}  // namespace spdl::io
