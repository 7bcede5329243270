#pragma once
// FFmpeg's objects behind std::unique_ptr, and its error codes as text. Every libav* object spdl
// makes is owned by one of these handles; nothing is freed outside a deleter.

extern "C" {
#include <libavcodec/avcodec.h>
#include <libavfilter/avfilter.h>
#include <libavformat/avformat.h>
#include <libavutil/dict.h>
#include <libavutil/error.h>
#include <libavutil/frame.h>
#include <libswscale/swscale.h>
}

#include <algorithm>
#include <climits>
#include <cstdint>
#include <map>
#include <memory>
#include <new>
#include <string>

namespace spdl::io::detail {

struct codec_context_deleter {
  void operator()(AVCodecContext* p) const noexcept { avcodec_free_context(&p); }
};
struct frame_deleter {
  void operator()(AVFrame* p) const noexcept { av_frame_free(&p); }
};
struct packet_deleter {
  void operator()(AVPacket* p) const noexcept { av_packet_free(&p); }
};
struct sws_deleter {
  void operator()(SwsContext* p) const noexcept { sws_freeContext(p); }
};

struct format_context_deleter {  // an input's context (avformat_open_input)
  void operator()(AVFormatContext* p) const noexcept { avformat_close_input(&p); }
};
struct output_context_deleter {  // an output's context (avformat_alloc_output_context2)
  void operator()(AVFormatContext* p) const noexcept {
    if (p->pb && !(p->oformat->flags & AVFMT_NOFILE)) avio_closep(&p->pb);
    avformat_free_context(p);
  }
};
struct io_context_deleter {  // a custom AVIOContext; its buffer may have been replaced by FFmpeg
  void operator()(AVIOContext* p) const noexcept {
    av_freep(&p->buffer);
    avio_context_free(&p);
  }
};
struct filter_graph_deleter {
  void operator()(AVFilterGraph* p) const noexcept { avfilter_graph_free(&p); }
};
struct filter_inout_deleter {
  void operator()(AVFilterInOut* p) const noexcept { avfilter_inout_free(&p); }
};
struct dictionary_deleter {
  void operator()(AVDictionary* p) const noexcept { av_dict_free(&p); }
};
struct codec_parameters_deleter {
  void operator()(AVCodecParameters* p) const noexcept { avcodec_parameters_free(&p); }
};

using codec_context_ptr = std::unique_ptr<AVCodecContext, codec_context_deleter>;
using frame_ptr = std::unique_ptr<AVFrame, frame_deleter>;
using packet_ptr = std::unique_ptr<AVPacket, packet_deleter>;
using sws_ptr = std::unique_ptr<SwsContext, sws_deleter>;
using format_context_ptr = std::unique_ptr<AVFormatContext, format_context_deleter>;
using output_context_ptr = std::unique_ptr<AVFormatContext, output_context_deleter>;
using io_context_ptr = std::unique_ptr<AVIOContext, io_context_deleter>;
using filter_graph_ptr = std::unique_ptr<AVFilterGraph, filter_graph_deleter>;
using filter_inout_ptr = std::unique_ptr<AVFilterInOut, filter_inout_deleter>;
using dictionary_ptr = std::unique_ptr<AVDictionary, dictionary_deleter>;
using codec_parameters_ptr = std::unique_ptr<AVCodecParameters, codec_parameters_deleter>;

/// Options as FFmpeg's dictionary (what av*_open functions take and partly consume).
inline dictionary_ptr make_dictionary(const std::map<std::string, std::string>& options) {
  AVDictionary* d = nullptr;
  for (const auto& [key, value] : options) av_dict_set(&d, key.c_str(), value.c_str(), 0);
  return dictionary_ptr(d);
}

/// The first option FFmpeg did not consume, or "" (a misspelt option is an error, not a no-op).
inline std::string unused_option(const dictionary_ptr& left) {
  const AVDictionaryEntry* e = av_dict_get(left.get(), "", nullptr, AV_DICT_IGNORE_SUFFIX);
  return e ? e->key : "";
}

/// A fresh reference to a frame's data (no pixel or sample is copied).
inline frame_ptr ref_frame(const AVFrame* src) {
  frame_ptr f(av_frame_alloc());
  if (!f) throw std::bad_alloc();
  if (const int rc = av_frame_ref(f.get(), src); rc < 0) throw std::bad_alloc();
  return f;
}

/// A fresh reference to a packet's data.
inline packet_ptr ref_packet(const AVPacket* src) {
  packet_ptr p(av_packet_alloc());
  if (!p) throw std::bad_alloc();
  if (const int rc = av_packet_ref(p.get(), src); rc < 0) throw std::bad_alloc();
  return p;
}

/// The max_pixels to give an FFmpeg decoder for spdl's limit: FFmpeg checks the picture it
/// allocates, whose sides are padded for alignment (a 96x64 H.264 frame is checked as 128x64),
/// so it gets room for that; spdl checks the exact size itself.
inline std::int64_t ffmpeg_max_pixels(std::uint64_t limit) noexcept {
  constexpr std::uint64_t most = std::uint64_t{INT64_MAX} / 4;
  return static_cast<std::int64_t>(std::min(limit, most) * 2 + (std::uint64_t{1} << 20));
}

/// Whether FFmpeg can allocate a picture of w x h at all: av_image_check_size's rule,
/// (w + 128) · (h + 128) < 2³¹ / 8, asked without its log line.
inline bool ffmpeg_can_allocate(int w, int h) noexcept {
  return w > 0 && h > 0 && (std::uint64_t(w) + 128) * (std::uint64_t(h) + 128) < std::uint64_t{INT_MAX} / 8;
}

/// FFmpeg's description of an AVERROR code.
inline std::string av_error_text(int code) {
  char text[AV_ERROR_MAX_STRING_SIZE] = {};
  if (av_strerror(code, text, sizeof text) < 0) return "FFmpeg error " + std::to_string(code);
  return text;
}

/// This thread's scaler, rebuilt only when the conversion it is asked for changes (building one
/// costs milliseconds; converting a frame, far less).
inline SwsContext* thread_scaler(int src_w, int src_h, AVPixelFormat src, int dst_w, int dst_h,
                                 AVPixelFormat dst, int flags) {
  static thread_local sws_ptr local;
  SwsContext* next = sws_getCachedContext(local.get(), src_w, src_h, src, dst_w, dst_h, dst, flags,
                                          nullptr, nullptr, nullptr);
  // sws_getCachedContext frees the old context itself when it makes a new one (or fails).
  (void)local.release();
  local.reset(next);
  return next;
}

}  // namespace spdl::io::detail
