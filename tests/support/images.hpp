#pragma once
// Images the tests make themselves: synthetic pixels, encoded with stb_image_write,
// libjpeg-turbo or FFmpeg's encoders, and ways to compare decoded pixels.

#include <spdl/io.hpp>
#include <spdl/io/detail/ffmpeg.hpp>

#include <stb_image_write.h>
#include <turbojpeg.h>

extern "C" {
#include <libavutil/dict.h>
}

#include "errors.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <functional>
#include <string>
#include <vector>

namespace spdl::test {

using bytes = std::vector<std::byte>;
using pixels = std::vector<unsigned char>;

/// Gradients (JPEG-friendly) with a little structure, and a wrap-around edge per channel.
inline pixels pattern(int w, int h, int c, int seed = 0) {
  pixels px(std::size_t(w) * h * c);
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x)
      for (int k = 0; k < c; ++k)
        px[(std::size_t(y) * w + x) * c + k] = static_cast<unsigned char>(
            (x * 255 / std::max(1, w - 1) * (k + 1) + y * 3 + seed * 17) % 256);
  return px;
}

/// Smooth content with no edges at all: what lossy codecs and resamplers keep best, so
/// differences between decoders show their implementations, not the content.
inline pixels smooth(int w, int h, int c) {
  pixels px(std::size_t(w) * h * c);
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x)
      for (int k = 0; k < c; ++k)
        px[(std::size_t(y) * w + x) * c + k] = static_cast<unsigned char>(
            40 + (k == 1 ? 150 * y / std::max(1, h - 1) : 150 * x / std::max(1, w - 1)) +
            (k == 2 ? 30 * y / std::max(1, h - 1) : 0));
  return px;
}

inline void append(void* ctx, void* data, int n) {
  auto* out = static_cast<bytes*>(ctx);
  auto* p = static_cast<std::byte*>(data);
  out->insert(out->end(), p, p + n);
}

enum class fmt { png, bmp, jpeg };

/// stb_image_write: 8-bit PNG, BMP and baseline JPEG.
inline bytes encode(fmt f, int w, int h, int c, const pixels& px, int quality = 95) {
  bytes out;
  int ok = 0;
  switch (f) {
    case fmt::png: ok = stbi_write_png_to_func(append, &out, w, h, c, px.data(), w * c); break;
    case fmt::bmp: ok = stbi_write_bmp_to_func(append, &out, w, h, c, px.data()); break;
    case fmt::jpeg: ok = stbi_write_jpg_to_func(append, &out, w, h, c, px.data(), quality); break;
  }
  REQUIRE(ok);
  return out;
}

/// libjpeg-turbo: JPEGs with a chosen subsampling (TJSAMP_*), progressive or not, from pixels in
/// `pixel_format` (TJPF_RGB, TJPF_GRAY, TJPF_CMYK).
inline bytes turbo_encode(int w, int h, const pixels& px, int pixel_format, int subsamp,
                          bool progressive = false, int quality = 95) {
  tjhandle tj = tjInitCompress();
  REQUIRE(tj);
  unsigned char* jpeg = nullptr;
  unsigned long size = 0;
  const int rc = tjCompress2(tj, px.data(), w, 0, h, pixel_format, &jpeg, &size, subsamp, quality,
                             progressive ? TJFLAG_PROGRESSIVE : 0);
  bytes out;
  if (rc == 0) out.assign(reinterpret_cast<std::byte*>(jpeg), reinterpret_cast<std::byte*>(jpeg) + size);
  tjFree(jpeg);
  tjDestroy(tj);
  REQUIRE(rc == 0);
  return out;
}

/// One picture through an FFmpeg encoder (png, gif, tiff, libwebp, ...): `fill` writes the
/// frame's planes; `options` are the encoder's, "key=value:key=value".
inline bytes ffmpeg_encode(const char* encoder, AVPixelFormat format, int w, int h,
                           const std::function<void(AVFrame&)>& fill, const char* options = "") {
  using namespace spdl::io::detail;
  const AVCodec* codec = avcodec_find_encoder_by_name(encoder);
  REQUIRE(codec);
  codec_context_ptr ctx(avcodec_alloc_context3(codec));
  ctx->width = w;
  ctx->height = h;
  ctx->pix_fmt = format;
  ctx->time_base = {1, 25};
  AVDictionary* opts = nullptr;
  REQUIRE(av_dict_parse_string(&opts, options, "=", ":", 0) >= 0);
  const int opened = avcodec_open2(ctx.get(), codec, &opts);
  av_dict_free(&opts);
  REQUIRE(opened == 0);
  frame_ptr frame(av_frame_alloc());
  frame->format = format;
  frame->width = w;
  frame->height = h;
  REQUIRE(av_frame_get_buffer(frame.get(), 0) == 0);
  fill(*frame);
  frame->pts = 0;
  REQUIRE(avcodec_send_frame(ctx.get(), frame.get()) == 0);
  REQUIRE(avcodec_send_frame(ctx.get(), nullptr) == 0);
  packet_ptr packet(av_packet_alloc());
  bytes out;
  while (avcodec_receive_packet(ctx.get(), packet.get()) == 0) {
    auto* p = reinterpret_cast<std::byte*>(packet->data);
    out.insert(out.end(), p, p + packet->size);
    av_packet_unref(packet.get());
  }
  REQUIRE(!out.empty());
  return out;
}

/// Copies packed pixels (c bytes each) into plane 0 of a frame, `bytes_per_sample` 1 or 2
/// (16-bit big-endian samples get the 8-bit value times 257, so 8 bits recover it exactly).
inline void fill_packed(AVFrame& f, const pixels& px, int c, int bytes_per_sample = 1) {
  for (int y = 0; y < f.height; ++y)
    for (int x = 0; x < f.width * c; ++x) {
      const unsigned v = px[std::size_t(y) * f.width * c + x];
      std::uint8_t* row = f.data[0] + std::ptrdiff_t(y) * f.linesize[0];
      if (bytes_per_sample == 1) {
        row[x] = static_cast<std::uint8_t>(v);
      } else {
        row[2 * x] = static_cast<std::uint8_t>(v);  // v * 257, big-endian: v, v
        row[2 * x + 1] = static_cast<std::uint8_t>(v);
      }
    }
}

inline pixels as_vector(const spdl::io::buffer& b) {
  auto* p = reinterpret_cast<const unsigned char*>(b.data());
  return {p, p + b.size_bytes()};
}

inline int max_abs_diff(const pixels& a, const pixels& b) {
  REQUIRE(a.size() == b.size());
  int m = 0;
  for (std::size_t i = 0; i < a.size(); ++i) m = std::max(m, std::abs(int(a[i]) - int(b[i])));
  return m;
}

inline double mean_abs_diff(const pixels& a, const pixels& b) {
  REQUIRE(a.size() == b.size());
  double s = 0;
  for (std::size_t i = 0; i < a.size(); ++i) s += std::abs(int(a[i]) - int(b[i]));
  return s / static_cast<double>(a.size());
}

}  // namespace spdl::test
