#pragma once
/// \file
/// spdl::io::muxer: writes a container file: streams encoded from buffers (video frames
/// {N, H, W, C}, audio samples {T, C}) or packets copied from a demuxer (remuxing, no
/// re-encoding); and save_image, one picture to an image file.
///
///     spdl::io::muxer out("clip.mkv");
///     int v = out.add_video_stream({.width = 320, .height = 240, .frame_rate = 25, .codec = "ffv1"});
///     out.open();
///     out.write_video(v, frames);   // {N, 240, 320, 3} uint8, rgb24
///     out.close();

#include <spdl/io/audio.hpp>
#include <spdl/io/buffer.hpp>
#include <spdl/io/detail/ffmpeg.hpp>
#include <spdl/io/error.hpp>
#include <spdl/io/filter_graph.hpp>
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
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace spdl::io {

/// A video stream to encode.
struct video_encode_config {
  int width = 0, height = 0;                  ///< required
  double frame_rate = 30;                     ///< frames per second (30000.0 / 1001 works)
  std::string codec;                          ///< an encoder by name ("libx264", "ffv1"); "" takes the container's default
  std::string pix_fmt;                        ///< the encoder's pixel format ("yuv420p"); "" takes the encoder's first
  std::int64_t bit_rate = 0;                  ///< bits/s; 0 leaves the encoder's default
  int gop_size = -1, max_b_frames = -1;       ///< -1 leaves the encoder's default
  std::map<std::string, std::string> options;  ///< the encoder's own ("crf", "preset", ...)
};

/// An audio stream to encode.
struct audio_encode_config {
  int sample_rate = 44100, num_channels = 2;
  std::string codec;       ///< "flac", "libmp3lame", "aac", "libopus", "pcm_s16le", ...; "" takes the container's default
  std::string sample_fmt;  ///< the encoder's sample format ("fltp"); "" takes the encoder's first
  std::int64_t bit_rate = 0;
  std::map<std::string, std::string> options;
};

/// Writes one container. Add streams, `open()`, write, `close()`. Used by one thread at a time.
/// A muxer destroyed without `close()` closes itself and drops any error it meets doing so.
class muxer {
 public:
  /// An output file (or URL); `format` forces the container ("" guesses from the name).
  explicit muxer(const std::filesystem::path& path, const std::string& format = "")
      : source_(path.string()) {
    AVFormatContext* raw = nullptr;
    const int rc = avformat_alloc_output_context2(&raw, nullptr,
                                                  format.empty() ? nullptr : format.c_str(),
                                                  source_.c_str());
    if (rc < 0 || !raw)
      throw unsupported_error(detail::describe(
          "muxer", source_, "no container format for it: " + detail::av_error_text(rc)));
    context_.reset(raw);
  }

  muxer(muxer&&) noexcept = default;
  muxer& operator=(muxer&&) noexcept = default;
  ~muxer() {
    if (!context_ || !opened_ || closed_) return;
    try {
      close();
    } catch (...) {  // a destructor cannot report it; close() explicitly to see errors
    }
  }

  /// Adds a video stream encoded from buffers; returns its index.
  int add_video_stream(const video_encode_config& c) {
    if (c.width <= 0 || c.height <= 0)
      throw std::invalid_argument(detail::describe("muxer", source_, "video width and height are required"));
    if (!(c.frame_rate > 0)) throw std::invalid_argument(detail::describe("muxer", source_, "frame_rate must be > 0"));
    auto s = std::make_unique<stream_state>();
    const AVCodec* codec = find_encoder(c.codec, AVMEDIA_TYPE_VIDEO);
    auto* ctx = new_context(*s, codec);
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
        throw std::invalid_argument(detail::describe("muxer", source_, "no pixel format named '" + c.pix_fmt + "'"));
    } else {
      ctx->pix_fmt = codec->pix_fmts ? codec->pix_fmts[0] : AV_PIX_FMT_YUV420P;
    }
    return finish_stream(std::move(s), c.options);
  }

  /// Adds an audio stream encoded from buffers; returns its index.
  int add_audio_stream(const audio_encode_config& c) {
    if (c.sample_rate <= 0 || c.num_channels <= 0)
      throw std::invalid_argument(detail::describe("muxer", source_, "sample_rate and num_channels must be > 0"));
    auto s = std::make_unique<stream_state>();
    const AVCodec* codec = find_encoder(c.codec, AVMEDIA_TYPE_AUDIO);
    auto* ctx = new_context(*s, codec);
    ctx->sample_rate = c.sample_rate;
    ctx->time_base = {1, c.sample_rate};
    av_channel_layout_default(&ctx->ch_layout, c.num_channels);
    if (c.bit_rate > 0) ctx->bit_rate = c.bit_rate;
    if (!c.sample_fmt.empty()) {
      ctx->sample_fmt = av_get_sample_fmt(c.sample_fmt.c_str());
      if (ctx->sample_fmt == AV_SAMPLE_FMT_NONE)
        throw std::invalid_argument(detail::describe("muxer", source_, "no sample format named '" + c.sample_fmt + "'"));
    } else {
      ctx->sample_fmt = codec->sample_fmts ? codec->sample_fmts[0] : AV_SAMPLE_FMT_FLTP;
    }
    return finish_stream(std::move(s), c.options);
  }

  /// Adds a stream that takes packets as they are (remuxing); returns its index.
  int add_stream(const packets& like) {
    AVStream* st = avformat_new_stream(context_.get(), nullptr);
    if (!st) throw std::bad_alloc();
    if (avcodec_parameters_copy(st->codecpar, &like.codec_parameters()) < 0) throw std::bad_alloc();
    st->codecpar->codec_tag = 0;  // the new container picks its own tag
    st->time_base = like.time_base();
    auto s = std::make_unique<stream_state>();
    s->stream = st;
    s->input_time_base = like.time_base();
    streams_.push_back(std::move(s));
    return st->index;
  }

  /// Writes the container's header (`options`: the muxer's own, such as "movflags").
  void open(const std::map<std::string, std::string>& options = {}) {
    if (opened_) throw std::logic_error(detail::describe("muxer", source_, "already open"));
    if (!(context_->oformat->flags & AVFMT_NOFILE)) {
      if (const int rc = avio_open(&context_->pb, source_.c_str(), AVIO_FLAG_WRITE); rc < 0)
        throw io_error(detail::describe("muxer", source_, "cannot open for writing: " + detail::av_error_text(rc)));
    }
    auto dict = detail::make_dictionary(options);
    AVDictionary* d = dict.release();
    const int rc = avformat_write_header(context_.get(), &d);
    dict.reset(d);
    if (rc < 0)
      throw io_error(detail::describe("muxer", source_, "cannot write the header: " + detail::av_error_text(rc)));
    opened_ = true;
    if (auto key = detail::unused_option(dict); !key.empty())
      throw std::invalid_argument(detail::describe("muxer", source_, "the muxer has no option '" + key + "'"));
  }

  /// Encodes video frames: {N, H, W, C} (or one {H, W, C}) uint8 in `format`, at the stream's
  /// size. Frames follow the ones written before, one frame period apart.
  void write_video(int stream, const buffer& pixels, pixel_format format = pixel_format::rgb24) {
    auto& s = encoding(stream, AVMEDIA_TYPE_VIDEO);
    const auto shape = pixels.shape();
    const bool single = shape.size() == 3;
    const int c = static_cast<int>(detail::channels(detail::order_of(format)));
    if ((shape.size() != 3 && shape.size() != 4) || pixels.dtype() != dtype::uint8 ||
        shape[shape.size() - 3] != s.codec->height || shape[shape.size() - 2] != s.codec->width ||
        shape.back() != c)
      throw std::invalid_argument(detail::describe(
          "write_video", source_,
          "frames must be {N, " + std::to_string(s.codec->height) + ", " +
              std::to_string(s.codec->width) + ", " + std::to_string(c) + "} uint8"));
    const std::int64_t n = single ? 1 : shape[0];
    const std::size_t row = std::size_t(s.codec->width) * c;
    const std::size_t frame_bytes = row * s.codec->height;
    for (std::int64_t i = 0; i < n; ++i) {
      detail::frame_ptr f(av_frame_alloc());
      if (!f) throw std::bad_alloc();
      f->format = pix_fmt_of(format);
      f->width = s.codec->width;
      f->height = s.codec->height;
      f->sample_aspect_ratio = {1, 1};
      if (av_frame_get_buffer(f.get(), 0) < 0) throw std::bad_alloc();
      av_image_copy_plane(f->data[0], f->linesize[0],
                          reinterpret_cast<const std::uint8_t*>(pixels.data()) + i * frame_bytes,
                          static_cast<int>(row), static_cast<int>(row), s.codec->height);
      f->pts = s.next_pts++;
      encode(s, f.get());
    }
  }

  /// Encodes audio samples: {T, C} interleaved float32 (f32) or int16 (s16), at the stream's
  /// rate and channel count, following the samples written before.
  void write_audio(int stream, const buffer& samples, sample_format format = sample_format::f32) {
    auto& s = encoding(stream, AVMEDIA_TYPE_AUDIO);
    const auto shape = samples.shape();
    const auto want = format == sample_format::f32 ? dtype::float32 : dtype::int16;
    const int channels = s.codec->ch_layout.nb_channels;
    if (shape.size() != 2 || shape[1] != channels || samples.dtype() != want)
      throw std::invalid_argument(detail::describe(
          "write_audio", source_,
          "samples must be {T, " + std::to_string(channels) + "} " +
              (format == sample_format::f32 ? "float32" : "int16")));
    const std::size_t bytes = dtype_size(want) * static_cast<std::size_t>(channels);
    constexpr std::int64_t chunk = 4096;
    for (std::int64_t at = 0; at < shape[0]; at += chunk) {
      const int n = static_cast<int>(std::min(chunk, shape[0] - at));
      detail::frame_ptr f(av_frame_alloc());
      if (!f) throw std::bad_alloc();
      f->format = format == sample_format::f32 ? AV_SAMPLE_FMT_FLT : AV_SAMPLE_FMT_S16;
      f->sample_rate = s.codec->sample_rate;
      f->nb_samples = n;
      if (av_channel_layout_copy(&f->ch_layout, &s.codec->ch_layout) < 0) throw std::bad_alloc();
      if (av_frame_get_buffer(f.get(), 0) < 0) throw std::bad_alloc();
      std::memcpy(f->data[0], samples.data() + static_cast<std::size_t>(at) * bytes,
                  static_cast<std::size_t>(n) * bytes);
      f->pts = s.next_pts;
      s.next_pts += n;
      encode(s, f.get());
    }
  }

  /// Writes packets to a stream added with `add_stream` (their data is shared, not copied).
  void write_packets(int stream, const packets& p) {
    auto& s = state(stream);
    if (s.codec) throw std::invalid_argument(detail::describe("write_packets", source_, "stream " + std::to_string(stream) + " encodes buffers; add one with add_stream for packets"));
    require_open();
    for (std::size_t i = 0; i < p.size(); ++i) {
      detail::packet_ptr copy = detail::ref_packet(&p[i]);
      av_packet_rescale_ts(copy.get(), p.time_base(), s.stream->time_base);
      copy->stream_index = stream;
      copy->pos = -1;
      write(copy.get());
    }
  }

  /// Flushes the encoders and writes the container's trailer.
  void close() {
    require_open();
    if (closed_) return;
    closed_ = true;
    for (auto& s : streams_) {
      if (!s->codec) continue;
      if (s->graph) {
        s->graph->push_end();
        drain_graph(*s);
      }
      send(*s, nullptr);
    }
    if (const int rc = av_write_trailer(context_.get()); rc < 0)
      throw io_error(detail::describe("muxer", source_, "cannot write the trailer: " + detail::av_error_text(rc)));
    if (context_->pb && !(context_->oformat->flags & AVFMT_NOFILE)) avio_closep(&context_->pb);
  }

  [[nodiscard]] const std::string& source() const noexcept { return source_; }

 private:
  struct stream_state {
    AVStream* stream = nullptr;  // owned by the format context
    detail::codec_context_ptr codec;  // null for a remuxed stream
    std::optional<filter_graph> graph;  // buffer's format → the encoder's
    std::int64_t next_pts = 0;
    AVRational input_time_base{1, 1};
  };

  static AVPixelFormat pix_fmt_of(pixel_format f) {
    switch (f) {
      case pixel_format::rgb24: return AV_PIX_FMT_RGB24;
      case pixel_format::bgr24: return AV_PIX_FMT_BGR24;
      case pixel_format::rgba: return AV_PIX_FMT_RGBA;
      case pixel_format::gray8: return AV_PIX_FMT_GRAY8;
    }
    return AV_PIX_FMT_RGB24;
  }

  const AVCodec* find_encoder(const std::string& name, AVMediaType type) {
    if (opened_) throw std::logic_error(detail::describe("muxer", source_, "streams must be added before open()"));
    const AVCodec* codec = nullptr;
    if (name.empty()) {
      const AVCodecID id = av_guess_codec(context_->oformat, nullptr, source_.c_str(), nullptr, type);
      codec = id == AV_CODEC_ID_NONE ? nullptr : avcodec_find_encoder(id);
    } else {
      codec = avcodec_find_encoder_by_name(name.c_str());
    }
    if (!codec || codec->type != type)
      throw unsupported_error(detail::describe(
          "muxer", source_,
          name.empty() ? std::string("the container has no default encoder for this stream")
                       : "this FFmpeg has no " +
                             std::string(type == AVMEDIA_TYPE_VIDEO ? "video" : "audio") +
                             " encoder named '" + name + "'"));
    return codec;
  }

  AVCodecContext* new_context(stream_state& s, const AVCodec* codec) {
    s.codec.reset(avcodec_alloc_context3(codec));
    if (!s.codec) throw std::bad_alloc();
    if (context_->oformat->flags & AVFMT_GLOBALHEADER) s.codec->flags |= AV_CODEC_FLAG_GLOBAL_HEADER;
    return s.codec.get();
  }

  int finish_stream(std::unique_ptr<stream_state> s, const std::map<std::string, std::string>& options) {
    AVCodecContext* ctx = s->codec.get();
    auto dict = detail::make_dictionary(options);
    AVDictionary* d = dict.release();
    int rc = avcodec_open2(ctx, ctx->codec, &d);
    dict.reset(d);
    if (rc < 0)
      throw io_error(detail::describe("muxer", source_,
                                      std::string("cannot open the ") + ctx->codec->name +
                                          " encoder: " + detail::av_error_text(rc)));
    if (auto key = detail::unused_option(dict); !key.empty())
      throw std::invalid_argument(detail::describe(
          "muxer", source_, std::string("the ") + ctx->codec->name + " encoder has no option '" + key + "'"));
    AVStream* st = avformat_new_stream(context_.get(), nullptr);
    if (!st) throw std::bad_alloc();
    if ((rc = avcodec_parameters_from_context(st->codecpar, ctx)) < 0) throw std::bad_alloc();
    st->time_base = ctx->time_base;
    if (ctx->codec_type == AVMEDIA_TYPE_VIDEO) st->avg_frame_rate = ctx->framerate;
    s->stream = st;
    streams_.push_back(std::move(s));
    return st->index;
  }

  stream_state& state(int stream) {
    if (stream < 0 || static_cast<std::size_t>(stream) >= streams_.size())
      throw std::out_of_range(detail::describe("muxer", source_, "no stream " + std::to_string(stream)));
    return *streams_[static_cast<std::size_t>(stream)];
  }

  stream_state& encoding(int stream, AVMediaType type) {
    auto& s = state(stream);
    if (!s.codec || s.codec->codec_type != type)
      throw std::invalid_argument(detail::describe(
          "muxer", source_, "stream " + std::to_string(stream) + " does not encode " +
                                (type == AVMEDIA_TYPE_VIDEO ? "video" : "audio")));
    require_open();
    return s;
  }

  void require_open() const {
    if (!opened_ || closed_)
      throw std::logic_error(detail::describe("muxer", source_, opened_ ? "already closed" : "open() first"));
  }

  // Sends a frame through the conversion graph (made on the first frame) to the encoder.
  void encode(stream_state& s, const AVFrame* f) {
    AVCodecContext* ctx = s.codec.get();
    if (!s.graph) {
      const bool video = ctx->codec_type == AVMEDIA_TYPE_VIDEO;
      std::string desc;
      if (video) {
        desc = std::string("format=pix_fmts=") + av_get_pix_fmt_name(ctx->pix_fmt);
      } else {
        desc = std::string("aformat=sample_fmts=") + av_get_sample_fmt_name(ctx->sample_fmt) +
               ":sample_rates=" + std::to_string(ctx->sample_rate);
        char layout[256] = {};  // a channel count with no standard layout stays as it is
        if (ctx->ch_layout.order != AV_CHANNEL_ORDER_UNSPEC &&
            av_channel_layout_describe(&ctx->ch_layout, layout, sizeof layout) >= 0)
          desc += std::string(":channel_layouts=") + layout;
      }
      s.graph.emplace(desc, video ? media_type::video : media_type::audio, *f, ctx->time_base, source_);
      if (!video && ctx->frame_size > 0 &&
          !(ctx->codec->capabilities & AV_CODEC_CAP_VARIABLE_FRAME_SIZE))
        s.graph->set_output_frame_size(ctx->frame_size);
    }
    s.graph->push(*f);
    drain_graph(s);
  }

  void drain_graph(stream_state& s) {
    frames out(s.codec->codec_type == AVMEDIA_TYPE_VIDEO ? media_type::video : media_type::audio,
               s.codec->time_base, source_);
    s.graph->pull(out);
    for (std::size_t i = 0; i < out.size(); ++i) send(s, &out[i]);
  }

  // Sends a frame (null: the end) to the encoder and writes every packet it has ready.
  void send(stream_state& s, const AVFrame* f) {
    AVCodecContext* ctx = s.codec.get();
    int rc = avcodec_send_frame(ctx, f);
    if (rc < 0 && rc != AVERROR_EOF)
      throw io_error(detail::describe("muxer", source_,
                                      std::string("the ") + ctx->codec->name +
                                          " encoder rejects a frame: " + detail::av_error_text(rc)));
    detail::packet_ptr p(av_packet_alloc());
    if (!p) throw std::bad_alloc();
    for (;;) {
      rc = avcodec_receive_packet(ctx, p.get());
      if (rc == AVERROR(EAGAIN) || rc == AVERROR_EOF) return;
      if (rc < 0)
        throw io_error(detail::describe("muxer", source_, std::string("the ") + ctx->codec->name +
                                                              " encoder fails: " + detail::av_error_text(rc)));
      av_packet_rescale_ts(p.get(), ctx->time_base, s.stream->time_base);
      p->stream_index = s.stream->index;
      write(p.get());
    }
  }

  void write(AVPacket* p) {
    if (const int rc = av_interleaved_write_frame(context_.get(), p); rc < 0)
      throw io_error(detail::describe("muxer", source_, "cannot write a packet: " + detail::av_error_text(rc)));
  }

  std::string source_;
  detail::output_context_ptr context_;
  std::vector<std::unique_ptr<stream_state>> streams_;
  bool opened_ = false, closed_ = false;
};

/// Writes one picture, {H, W, C} uint8 in `format`, to an image file. The encoder follows the
/// name's extension (.png, .jpg, .bmp, .tiff, .webp, ...); `codec` overrides it.
inline void save_image(const std::filesystem::path& path, const buffer& pixels,
                       pixel_format format = pixel_format::rgb24, const std::string& codec = "") {
  const auto shape = pixels.shape();
  if (shape.size() != 3)
    throw std::invalid_argument(detail::describe("save_image", path.string(), "pixels must be {H, W, C}"));
  muxer out(path, "image2");
  const int s = out.add_video_stream({.width = static_cast<int>(shape[1]),
                                      .height = static_cast<int>(shape[0]),
                                      .frame_rate = 1,
                                      .codec = codec});
  out.open({{"update", "1"}});
  out.write_video(s, pixels, format);
  out.close();
}

}  // namespace spdl::io
