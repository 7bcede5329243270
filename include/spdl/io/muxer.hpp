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
#include <spdl/io/encoder.hpp>
#include <spdl/io/error.hpp>
#include <spdl/io/image.hpp>
#include <spdl/io/packets.hpp>

#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace spdl::io {

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

  /// Whether the container wants codec headers in the codec parameters (MP4, Matroska): an
  /// encoder made for `add_stream(const encoder&)` must then be made with `global_header`.
  [[nodiscard]] bool needs_global_header() const noexcept {
    return context_->oformat->flags & AVFMT_GLOBALHEADER;
  }

  /// Adds a video stream encoded from buffers (`write_video`); returns its index. An empty
  /// codec takes the container's default encoder.
  int add_video_stream(video_encode_config c) {
    if (c.codec.empty()) c.codec = default_encoder(AVMEDIA_TYPE_VIDEO);
    return add_encoded(encoder(c, needs_global_header(), source_));
  }

  /// Adds an audio stream encoded from buffers (`write_audio`); returns its index.
  int add_audio_stream(audio_encode_config c) {
    if (c.codec.empty()) c.codec = default_encoder(AVMEDIA_TYPE_AUDIO);
    return add_encoded(encoder(c, needs_global_header(), source_));
  }

  /// Adds a stream for the packets of an encoder the caller keeps (`write_packets` them).
  int add_stream(const encoder& e) {
    if (needs_global_header() && !(e.context().flags & AV_CODEC_FLAG_GLOBAL_HEADER))
      throw std::invalid_argument(detail::describe(
          "muxer", source_, "this container needs an encoder made with global_header = true"));
    return add_stream(e.type() == media_type::video ? AVMEDIA_TYPE_VIDEO : AVMEDIA_TYPE_AUDIO,
                      e.codec_parameters(), e.time_base(),
                      e.type() == media_type::video ? e.context().framerate : AVRational{0, 1});
  }

  /// Adds a stream that takes packets as they are (remuxing); returns its index.
  int add_stream(const packets& like) {
    return add_stream(like.type() == media_type::video ? AVMEDIA_TYPE_VIDEO : AVMEDIA_TYPE_AUDIO,
                      like.codec_parameters(), like.time_base(), like.frame_rate());
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
    require_open();
    write(stream, encoding(stream).encode_video(pixels, format));
  }

  /// Encodes audio samples: {T, C} interleaved float32 (f32) or int16 (s16), at the stream's
  /// rate and channel count, following the samples written before.
  void write_audio(int stream, const buffer& samples, sample_format format = sample_format::f32) {
    require_open();
    write(stream, encoding(stream).encode_audio(samples, format));
  }

  /// Writes packets to a stream added with `add_stream` (their data is shared, not copied).
  void write_packets(int stream, const packets& p) {
    if (state(stream).encoder)
      throw std::invalid_argument(detail::describe(
          "write_packets", source_,
          "stream " + std::to_string(stream) + " encodes buffers; add one with add_stream for packets"));
    require_open();
    write(stream, p);
  }

  /// Flushes the encoders and writes the container's trailer.
  void close() {
    require_open();
    closed_ = true;
    for (std::size_t i = 0; i < streams_.size(); ++i)
      if (streams_[i]->encoder) write(static_cast<int>(i), streams_[i]->encoder->flush());
    if (const int rc = av_write_trailer(context_.get()); rc < 0)
      throw io_error(detail::describe("muxer", source_, "cannot write the trailer: " + detail::av_error_text(rc)));
    if (context_->pb && !(context_->oformat->flags & AVFMT_NOFILE)) avio_closep(&context_->pb);
  }

  [[nodiscard]] const std::string& source() const noexcept { return source_; }

 private:
  struct stream_state {
    AVStream* stream = nullptr;           // owned by the format context
    std::optional<io::encoder> encoder;  // none for a stream that takes packets
  };

  std::string default_encoder(AVMediaType type) const {
    const AVCodecID id = av_guess_codec(context_->oformat, nullptr, source_.c_str(), nullptr, type);
    const AVCodec* codec = id == AV_CODEC_ID_NONE ? nullptr : avcodec_find_encoder(id);
    if (!codec)
      throw unsupported_error(detail::describe("muxer", source_,
                                               std::string("the container has no default ") +
                                                   (type == AVMEDIA_TYPE_VIDEO ? "video" : "audio") + " encoder"));
    return codec->name;
  }

  int add_stream(AVMediaType type, const AVCodecParameters& params, AVRational time_base,
                 AVRational frame_rate) {
    if (opened_) throw std::logic_error(detail::describe("muxer", source_, "streams must be added before open()"));
    AVStream* st = avformat_new_stream(context_.get(), nullptr);
    if (!st) throw std::bad_alloc();
    if (avcodec_parameters_copy(st->codecpar, &params) < 0) throw std::bad_alloc();
    st->codecpar->codec_tag = 0;  // the container picks its own tag
    st->time_base = time_base;
    if (type == AVMEDIA_TYPE_VIDEO) st->avg_frame_rate = frame_rate;
    auto s = std::make_unique<stream_state>();
    s->stream = st;
    streams_.push_back(std::move(s));
    return st->index;
  }

  int add_encoded(encoder e) {
    const int index = add_stream(e);
    streams_.back()->encoder.emplace(std::move(e));
    return index;
  }

  stream_state& state(int stream) {
    if (stream < 0 || static_cast<std::size_t>(stream) >= streams_.size())
      throw std::out_of_range(detail::describe("muxer", source_, "no stream " + std::to_string(stream)));
    return *streams_[static_cast<std::size_t>(stream)];
  }

  io::encoder& encoding(int stream) {
    auto& s = state(stream);
    if (!s.encoder)
      throw std::invalid_argument(detail::describe(
          "muxer", source_, "stream " + std::to_string(stream) + " takes packets, not buffers"));
    return *s.encoder;
  }

  void require_open() const {
    if (!opened_ || closed_)
      throw std::logic_error(detail::describe("muxer", source_, opened_ ? "already closed" : "open() first"));
  }

  void write(int stream, const packets& p) {
    AVStream* st = state(stream).stream;
    for (std::size_t i = 0; i < p.size(); ++i) {
      detail::packet_ptr copy = detail::ref_packet(&p[i]);
      av_packet_rescale_ts(copy.get(), p.time_base(), st->time_base);
      copy->stream_index = stream;
      copy->pos = -1;
      if (const int rc = av_interleaved_write_frame(context_.get(), copy.get()); rc < 0)
        throw io_error(detail::describe("muxer", source_, "cannot write a packet: " + detail::av_error_text(rc)));
    }
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
