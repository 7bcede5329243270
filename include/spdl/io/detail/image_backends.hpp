#pragma once
// The decoders behind decode_image: libjpeg-turbo for JPEG, stb_image for PNG, BMP and GIF,
// FFmpeg for everything it reads (WebP and TIFF only through it). Each decodes into a
// destination the caller sized from the probe: no intermediate buffer for libjpeg-turbo; one
// conversion out of stb_image's or FFmpeg's own frame.

#include <spdl/io/detail/ffmpeg.hpp>
#include <spdl/io/detail/image_probe.hpp>
#include <spdl/io/error.hpp>

#include <stb_image.h>
#include <turbojpeg.h>

#include <algorithm>
#include <climits>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <new>
#include <memory>
#include <span>
#include <string>
#include <utility>
#include <vector>

extern "C" {
#include <libavutil/pixdesc.h>
}

namespace spdl::io::detail {

enum class channel_order { rgb, bgr, rgba, gray };

inline int channels(channel_order o) noexcept {
  return o == channel_order::rgba ? 4 : o == channel_order::gray ? 1 : 3;
}

/// One decompressor per thread, made on first use: libjpeg-turbo handles are not shareable,
/// and making one per image costs more than a small image's decode.
inline tjhandle thread_decompressor() {
  struct handle {
    tjhandle h = tjInitDecompress();
    ~handle() {
      if (h) tjDestroy(h);
    }
  };
  static thread_local handle local;
  return local.h;
}

/// The smallest DCT-domain scaling (1/8, 1/4, 3/8, 1/2) that keeps at least `needed` of the
/// source's resolution; 1 when none does. Scaling in the IDCT skips most of the decode's work.
inline tjscalingfactor dct_scaling_for(double needed) {
  tjscalingfactor best{1, 1};
  int n = 0;
  const tjscalingfactor* all = tjGetScalingFactors(&n);
  for (int i = 0; all && i < n; ++i) {
    const double f = double(all[i].num) / all[i].denom;
    if (f <= 0.5 && f >= needed && f < double(best.num) / best.denom) best = all[i];
  }
  return best;
}

/// Converts one CMYK pixel as stored by Adobe applications (and libjpeg-turbo): inverted, so
/// R = C * K / 255.
inline void cmyk_pixel(const unsigned char* cmyk, unsigned char* out, channel_order order) noexcept {
  const unsigned k = cmyk[3];
  const auto r = static_cast<unsigned char>((cmyk[0] * k + 127) / 255);
  const auto g = static_cast<unsigned char>((cmyk[1] * k + 127) / 255);
  const auto b = static_cast<unsigned char>((cmyk[2] * k + 127) / 255);
  switch (order) {
    case channel_order::rgb: out[0] = r, out[1] = g, out[2] = b; break;
    case channel_order::bgr: out[0] = b, out[1] = g, out[2] = r; break;
    case channel_order::rgba: out[0] = r, out[1] = g, out[2] = b, out[3] = 255; break;
    case channel_order::gray:
      out[0] = static_cast<unsigned char>((r * 77 + g * 150 + b * 29) >> 8);  // as stb_image
      break;
  }
}

/// A CMYK or YCCK JPEG: libjpeg-turbo decodes it to CMYK, converted here pixel by pixel.
inline void decode_cmyk(tjhandle h, std::span<const std::byte> data, int w, int hgt,
                        std::span<std::byte> dst, channel_order order, const std::string& source) {
  std::vector<unsigned char> cmyk(std::size_t(w) * std::size_t(hgt) * 4);
  if (tjDecompress2(h, reinterpret_cast<const unsigned char*>(data.data()),
                    static_cast<unsigned long>(data.size()), cmyk.data(), w, w * 4, hgt, TJPF_CMYK,
                    TJFLAG_STOPONWARNING) != 0)
    throw io_error(describe("decode_image", source,
                            std::string("truncated or corrupt JPEG: ") + tjGetErrorStr2(h)));
  auto* out = reinterpret_cast<unsigned char*>(dst.data());
  const int c = channels(order);
  for (std::size_t i = 0, n = std::size_t(w) * std::size_t(hgt); i < n; ++i)
    cmyk_pixel(&cmyk[i * 4], out + i * c, order);
}

/// Decodes at `scale` (from dct_scaling_for; {1, 1}: full size) into `dst`, which holds
/// TJSCALED(width) x TJSCALED(height) pixels. `to_be_shrunk`: the caller shrinks the result in
/// both dimensions, whose antialiasing filter averages chroma anyway, so chroma is upsampled by
/// replication rather than interpolation (4-7% less decode time).
inline void decode_turbojpeg(std::span<const std::byte> data, const image_info& info,
                             std::span<std::byte> dst, channel_order order,
                             const std::string& source, tjscalingfactor scale = {1, 1},
                             bool to_be_shrunk = false) {
  tjhandle h = thread_decompressor();
  if (!h) throw io_error(describe("decode_image", source, "libjpeg-turbo: no decompressor"));
  const auto* bytes = reinterpret_cast<const unsigned char*>(data.data());
  int w = 0, hgt = 0, subsamp = 0, colorspace = 0;
  if (tjDecompressHeader3(h, bytes, static_cast<unsigned long>(data.size()), &w, &hgt, &subsamp,
                          &colorspace) != 0)
    throw io_error(describe("decode_image", source,
                            std::string("corrupt JPEG header: ") + tjGetErrorStr2(h)));
  const int sw = TJSCALED(info.width, scale), sh = TJSCALED(info.height, scale);
  if (colorspace == TJCS_CMYK || colorspace == TJCS_YCCK) {
    decode_cmyk(h, data, sw, sh, dst, order, source);
    return;
  }
  const int pf = order == channel_order::rgb    ? TJPF_RGB
                 : order == channel_order::bgr  ? TJPF_BGR
                 : order == channel_order::rgba ? TJPF_RGBA
                                                : TJPF_GRAY;
  // A truncated JPEG is only a warning to libjpeg-turbo (it returns a half-grey image): stop on
  // warnings and report them as errors.
  if (tjDecompress2(h, bytes, static_cast<unsigned long>(data.size()),
                    reinterpret_cast<unsigned char*>(dst.data()), sw, sw * channels(order), sh, pf,
                    TJFLAG_STOPONWARNING | (to_be_shrunk ? TJFLAG_FASTUPSAMPLE : 0)) != 0)
    throw io_error(describe("decode_image", source,
                            std::string("truncated or corrupt JPEG: ") + tjGetErrorStr2(h)));
}

/// stb_image 2.27's JPEG decoder trusts its Huffman tables: a table of more than 256 codes
/// writes past an array inside the decoder, and a symbol longer than the 16 bits it masks gives
/// shifts of 32 and more (undefined behaviour, found by fuzzing). So a JPEG reaches stb only
/// after its marker segments are walked here: every segment inside the data, every Huffman
/// table of at most 256 codes whose lengths fit (Kraft), whose DC symbols are at most 11 bits and
/// whose AC symbols at most 10 (ITU T.81's limits for 8-bit JPEG, which is all stb reads), and
/// an end-of-image marker, every scan's tables defined before it.
/// libjpeg-turbo, the default for JPEG, checks all this itself.
inline void check_jpeg_for_stb(std::span<const std::byte> data, const std::string& source) {
  const auto* p = reinterpret_cast<const unsigned char*>(data.data());
  const std::size_t n = data.size();
  auto fail = [&](const std::string& why) {
    return io_error(describe("decode_image", source, "corrupt JPEG: " + why + " (checked before stb_image)"));
  };
  bool defined[2][4] = {};  // Huffman tables seen: [DC, AC][id]
  bool progressive = false;
  std::size_t at = 2;  // after SOI
  while (at < n) {
    if (p[at] != 0xFF) {  // entropy-coded data (after SOS): on to the next marker
      ++at;
      continue;
    }
    while (at < n && p[at] == 0xFF) ++at;  // fill bytes
    if (at >= n) break;
    const unsigned marker = p[at++];
    if (marker == 0x00 || (marker >= 0xD0 && marker <= 0xD7) || marker == 0x01) continue;  // stuffing, RSTn, TEM
    if (marker == 0xD9) return;                                                            // EOI
    if (marker == 0xD8) throw fail("a second start-of-image marker");
    if (n - at < 2) throw fail("truncated marker segment");
    const std::size_t length = std::size_t(p[at]) << 8 | p[at + 1];
    if (length < 2 || length > n - at) throw fail("a marker segment longer than the file");
    const std::size_t end = at + length;
    if (marker == 0xDA) {  // SOS: every table the scan decodes with must be defined by now
      if (length < 3 || length < 6 + 2 * std::size_t(p[at + 2])) throw fail("a truncated scan header");
      const std::size_t n_components = p[at + 2];
      const unsigned ss = p[at + 3 + 2 * n_components], ah = p[at + 5 + 2 * n_components] >> 4;
      for (std::size_t c = 0; c < n_components; ++c) {
        const unsigned tables = p[at + 4 + 2 * c];
        const bool dc = ss == 0 && ah == 0, ac = ss > 0 || !progressive;
        if ((dc && (tables >> 4 > 3 || !defined[0][tables >> 4])) || (ac && ((tables & 15) > 3 || !defined[1][tables & 15])))
          throw fail("a scan that uses a Huffman table not defined before it");
      }
    }
    if (marker == 0xC2 || marker == 0xC6 || marker == 0xCA || marker == 0xCE) progressive = true;
    if (marker == 0xC4) {  // DHT: one or more tables
      for (std::size_t t = at + 2; t < end;) {
        if (end - t < 17) throw fail("truncated Huffman table");
        const unsigned cls = p[t] >> 4, id = p[t] & 15;
        if (cls > 1 || id > 3) throw fail("a Huffman table of class " + std::to_string(cls) + ", id " + std::to_string(id));
        defined[cls][id] = true;
        std::size_t count = 0;
        std::uint64_t room = 1;  // codes still free at the current length (Kraft)
        for (int len = 1; len <= 16; ++len) {
          room *= 2;
          const unsigned codes = p[t + len];
          if (codes > room) throw fail("Huffman code lengths that do not fit");
          room -= codes;
          count += codes;
        }
        if (count > 256) throw fail("a Huffman table of " + std::to_string(count) + " codes (256 at most)");
        if (end - t - 17 < count) throw fail("truncated Huffman table");
        for (std::size_t k = 0; k < count; ++k) {
          const unsigned symbol = p[t + 17 + k];
          if (cls == 0 ? symbol > 11 : (symbol & 15) > 10)
            throw fail("a Huffman symbol out of range (" + std::to_string(symbol) + ")");
        }
        t += 17 + count;
      }
    }
    at = end;
  }
  // stb_image fills what is missing with grey and reports success; libjpeg-turbo, as spdl runs
  // it, refuses a JPEG that ends early. The same here.
  throw fail("truncated (no end-of-image marker)");
}

/// stb_image 2.27's PNG reader sizes its buffer from each chunk's claimed length before
/// reading it (a 40-byte file claiming 1.8 GB of IDAT), and decodes an empty IDAT from a null
/// pointer (undefined behaviour; both found by fuzzing). So a PNG reaches stb only with every
/// chunk inside the file, some image data (the first chunk of it not empty) and its end chunk.
inline void check_png_for_stb(std::span<const std::byte> data, const std::string& source) {
  const auto* p = reinterpret_cast<const unsigned char*>(data.data());
  const std::size_t n = data.size();
  auto fail = [&](const std::string& why) {
    return io_error(describe("decode_image", source, "corrupt PNG: " + why + " (checked before stb_image)"));
  };
  std::uint64_t image_data = 0;
  for (std::size_t at = 8; at < n;) {
    if (n - at < 12) throw fail("a truncated chunk");
    const std::uint64_t length = read_be32(p + at);
    if (length > n - at - 12) throw fail("a chunk of " + std::to_string(length) + " bytes, longer than the file");
    if (std::memcmp(p + at + 4, "IDAT", 4) == 0) {
      if (image_data == 0 && length == 0)  // legal, but stb_image decodes it from a null pointer
        throw unsupported_error(describe("decode_image", source,
                                         "image_backend::stb cannot read a PNG whose first image data chunk "
                                         "is empty (image_backend::ffmpeg and automatic can)"));
      image_data += length;
    }
    if (std::memcmp(p + at + 4, "IEND", 4) == 0) {
      if (image_data == 0) throw fail("no image data");
      return;
    }
    at += 12 + static_cast<std::size_t>(length);
  }
  throw fail("truncated (no end chunk)");
}

/// Whether a PNG's first image data chunk is empty (legal; stb_image mishandles it).
inline bool png_first_image_chunk_empty(std::span<const std::byte> data) noexcept {
  const auto* p = reinterpret_cast<const unsigned char*>(data.data());
  for (std::size_t at = 8; at + 12 <= data.size();) {
    const std::uint64_t length = read_be32(p + at);
    if (std::memcmp(p + at + 4, "IDAT", 4) == 0) return length == 0;
    if (length > data.size() - at - 12) return false;
    at += 12 + static_cast<std::size_t>(length);
  }
  return false;
}

inline void decode_stb(std::span<const std::byte> data, const image_info& info,
                       std::span<std::byte> dst, channel_order order, const std::string& source) {
  if (info.format == image_format::png) check_png_for_stb(data, source);
  const int want = order == channel_order::bgr ? 3 : channels(order);
  int w = 0, h = 0, comp = 0;
  std::unique_ptr<stbi_uc, void (*)(void*)> pixels(
      stbi_load_from_memory(reinterpret_cast<const stbi_uc*>(data.data()),
                            static_cast<int>(data.size()), &w, &h, &comp, want),
      &stbi_image_free);
  if (!pixels)
    throw io_error(describe("decode_image", source,
                            std::string("corrupt ") + format_name(info.format) + ": " +
                                stbi_failure_reason()));
  if (w != info.width || h != info.height)
    throw io_error(describe("decode_image", source, "decoded size differs from the header's"));
  const std::size_t n = std::size_t(w) * std::size_t(h) * std::size_t(want);
  std::memcpy(dst.data(), pixels.get(), n);
  if (order == channel_order::bgr) {
    auto* p = reinterpret_cast<unsigned char*>(dst.data());
    for (std::size_t i = 0; i < n; i += 3) std::swap(p[i], p[i + 2]);
  }
}

inline AVCodecID ffmpeg_codec_of(image_format f) noexcept {
  switch (f) {
    case image_format::jpeg: return AV_CODEC_ID_MJPEG;
    case image_format::png: return AV_CODEC_ID_PNG;
    case image_format::bmp: return AV_CODEC_ID_BMP;
    case image_format::gif: return AV_CODEC_ID_GIF;
    case image_format::webp: return AV_CODEC_ID_WEBP;
    case image_format::tiff: return AV_CODEC_ID_TIFF;
  }
  return AV_CODEC_ID_NONE;
}

/// FFmpeg's full-range ("J") YUV formats are deprecated in swscale: the plain format, with the
/// range said separately.
inline AVPixelFormat plain_range_format(AVPixelFormat f, bool& full_range) noexcept {
  switch (f) {
    case AV_PIX_FMT_YUVJ420P: full_range = true; return AV_PIX_FMT_YUV420P;
    case AV_PIX_FMT_YUVJ422P: full_range = true; return AV_PIX_FMT_YUV422P;
    case AV_PIX_FMT_YUVJ444P: full_range = true; return AV_PIX_FMT_YUV444P;
    case AV_PIX_FMT_YUVJ440P: full_range = true; return AV_PIX_FMT_YUV440P;
    case AV_PIX_FMT_YUVJ411P: full_range = true; return AV_PIX_FMT_YUV411P;
    default: return f;
  }
}

/// Decodes the whole file as one packet with FFmpeg's image decoder for the format (single
/// threaded: the caller's threads are the parallelism), then converts to `order` with swscale at
/// the source size (exact for 8-bit RGB sources; a rounding of 16-bit ones).
inline void decode_ffmpeg(std::span<const std::byte> data, const image_info& info,
                          std::span<std::byte> dst, channel_order order, const std::string& source,
                          std::uint64_t max_pixels) {
  const char* name = format_name(info.format);
  auto fail = [&](const std::string& what, int code) {
    return io_error(describe("decode_image", source,
                             std::string(what) + " " + name + ": " + av_error_text(code)));
  };
  // FFmpeg refuses pictures of (width+128)·(height+128) ≥ 2³¹/8 whatever max_pixels says (about
  // 16,256²), with a bare "Invalid data": say so instead.
  if (!ffmpeg_can_allocate(info.width, info.height))
    throw unsupported_error(describe("decode_image", source,
                                     std::to_string(info.width) + "x" + std::to_string(info.height) +
                                         " pixels, over FFmpeg's own size limit for " + name +
                                         " (about 16256x16256)"));
  const AVCodec* codec = avcodec_find_decoder(ffmpeg_codec_of(info.format));
  if (!codec)
    throw unsupported_error(describe("decode_image", source,
                                     std::string("this FFmpeg has no ") + name + " decoder"));
  codec_context_ptr ctx(avcodec_alloc_context3(codec));
  if (!ctx) throw std::bad_alloc();
  ctx->thread_count = 1;
  ctx->max_pixels = ffmpeg_max_pixels(max_pixels);  // probe() has checked the exact size
  // Fail on damage rather than conceal it; TIFF's decoder would also fail on any tag it does not
  // know, which FFmpeg's own TIFF encoder writes.
  if (info.format != image_format::tiff) ctx->err_recognition |= AV_EF_EXPLODE;
  if (const int rc = avcodec_open2(ctx.get(), codec, nullptr); rc < 0)
    throw fail("cannot open the decoder for", rc);
  packet_ptr packet(av_packet_alloc());
  frame_ptr frame(av_frame_alloc());
  if (!packet || !frame) throw std::bad_alloc();
  // A packet that owns no buffer: FFmpeg copies the bytes into a padded one of its own, which
  // its decoders need (they read a little past the end).
  packet->data = const_cast<std::uint8_t*>(reinterpret_cast<const std::uint8_t*>(data.data()));
  packet->size = static_cast<int>(data.size());
  if (data.size() > static_cast<std::size_t>(INT_MAX))
    throw io_error(describe("decode_image", source, "over 2 GiB of encoded data"));
  if (const int rc = avcodec_send_packet(ctx.get(), packet.get()); rc < 0)
    throw fail("corrupt", rc);
  int rc = avcodec_receive_frame(ctx.get(), frame.get());
  if (rc == AVERROR(EAGAIN)) {  // the decoder holds the frame back until it is told no more come
    avcodec_send_packet(ctx.get(), nullptr);
    rc = avcodec_receive_frame(ctx.get(), frame.get());
  }
  if (rc == AVERROR_EOF) throw io_error(describe("decode_image", source,
                                                 std::string("truncated ") + name + ": no picture"));
  if (rc < 0) throw fail("corrupt", rc);
  if (frame->width != info.width || frame->height != info.height)
    throw io_error(describe("decode_image", source,
                            "decoded size " + std::to_string(frame->width) + "x" +
                                std::to_string(frame->height) + " differs from the header's " +
                                std::to_string(info.width) + "x" + std::to_string(info.height)));
  bool full_range = frame->color_range == AVCOL_RANGE_JPEG;
  const auto src = plain_range_format(static_cast<AVPixelFormat>(frame->format), full_range);
  const AVPixFmtDescriptor* desc = av_pix_fmt_desc_get(src);
  if (!desc) throw io_error(describe("decode_image", source, "the decoder gave no pixel format"));
  const bool yuv = !(desc->flags & (AV_PIX_FMT_FLAG_RGB | AV_PIX_FMT_FLAG_PAL)) &&
                   desc->nb_components >= 3;
  // Deeper than 8 bits: converted at 16 bits, then cut to the high byte as stb_image does
  // (swscale's own 16-to-8 conversion dithers).
  const bool deep = desc->comp[0].depth > 8;
  const AVPixelFormat out =
      order == channel_order::rgb    ? (deep ? AV_PIX_FMT_RGB48LE : AV_PIX_FMT_RGB24)
      : order == channel_order::bgr  ? (deep ? AV_PIX_FMT_BGR48LE : AV_PIX_FMT_BGR24)
      : order == channel_order::rgba ? (deep ? AV_PIX_FMT_RGBA64LE : AV_PIX_FMT_RGBA)
                                     : (deep ? AV_PIX_FMT_GRAY16LE : AV_PIX_FMT_GRAY8);
  // Accurate rounding and full chroma interpolation matter for YUV; for RGB and palette sources
  // they only keep swscale off its fast unscaled converters.
  const int flags = yuv ? SWS_BILINEAR | SWS_ACCURATE_RND | SWS_FULL_CHR_H_INT : SWS_BILINEAR;
  SwsContext* sws = thread_scaler(info.width, info.height, src, info.width, info.height, out, flags);
  if (!sws)
    throw unsupported_error(describe("decode_image", source,
                                     std::string("swscale cannot convert ") + desc->name +
                                         " to the pixel format asked for"));
  // Source range: what the frame says for YUV (limited unless marked full), full for the rest.
  const int src_full = yuv ? int(full_range) : 1;
  const int* coefficients = sws_getCoefficients(SWS_CS_DEFAULT);
  sws_setColorspaceDetails(sws, coefficients, src_full, coefficients, 1, 0, 1 << 16, 1 << 16);
  const std::size_t samples = std::size_t(info.width) * std::size_t(info.height) * channels(order);
  std::vector<std::uint16_t> wide(deep ? samples : 0);
  std::uint8_t* planes[4] = {deep ? reinterpret_cast<std::uint8_t*>(wide.data())
                                  : reinterpret_cast<std::uint8_t*>(dst.data())};
  int strides[4] = {info.width * channels(order) * (deep ? 2 : 1)};
  if (sws_scale(sws, frame->data, frame->linesize, 0, info.height, planes, strides) != info.height)
    throw io_error(describe("decode_image", source,
                            std::string("swscale could not convert ") + desc->name));
  auto* out8 = reinterpret_cast<std::uint8_t*>(dst.data());
  for (std::size_t i = 0; i < wide.size(); ++i) out8[i] = static_cast<std::uint8_t>(wide[i] >> 8);
}

}  // namespace spdl::io::detail
