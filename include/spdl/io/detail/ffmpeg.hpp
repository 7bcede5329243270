#pragma once
// FFmpeg's objects behind std::unique_ptr, and its error codes as text. Every libav* object spdl
// makes is owned by one of these handles; nothing is freed outside a deleter.

extern "C" {
#include <libavcodec/avcodec.h>
#include <libavutil/error.h>
#include <libavutil/frame.h>
#include <libswscale/swscale.h>
}

#include <memory>
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

using codec_context_ptr = std::unique_ptr<AVCodecContext, codec_context_deleter>;
using frame_ptr = std::unique_ptr<AVFrame, frame_deleter>;
using packet_ptr = std::unique_ptr<AVPacket, packet_deleter>;
using sws_ptr = std::unique_ptr<SwsContext, sws_deleter>;

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
