#pragma once
/// \file
/// Image decoding into spdl::io::buffer: {H, W, C} uint8, from memory or a file, with resizing
/// (stretch, pad, crop). Every function is re-entrant and safe to call from many threads at once.
///
/// Backends, and what `automatic` picks:
/// | format                      | automatic    | also readable with |
/// |-----------------------------|--------------|--------------------|
/// | JPEG (baseline, progressive, gray, CMYK/YCCK) | turbojpeg | ffmpeg (stb: read by turbojpeg) |
/// | PNG (8/16-bit, palette, gray, alpha), GIF (first frame) | ffmpeg from 32768 (GIF: 4096) pixels up, stb below | both |
/// | BMP                         | stb          | ffmpeg             |
/// | WebP, TIFF                  | ffmpeg       | —                  |
///
/// A JPEG that shrinks to half its size or less is decoded smaller in the first place
/// (libjpeg-turbo's DCT-domain scaling), then resampled the rest of the way.
///
/// EXIF orientation is not applied: pixels come in the order they are stored, as every backend
/// decodes them. (A JPEG from a camera held upright may come out on its side; rotate after
/// decoding where that matters.) 16-bit images are reduced to 8 bits; CMYK JPEGs are taken as
/// Adobe writes them (inverted) and converted with R = C * K / 255.

#include <spdl/io/buffer.hpp>
#include <spdl/io/detail/image_backends.hpp>
#include <spdl/io/detail/image_probe.hpp>
#include <spdl/io/detail/input_file.hpp>
#include <spdl/io/detail/resample.hpp>
#include <spdl/io/error.hpp>
#include <spdl/io/limits.hpp>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <span>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace spdl::io {

/// Channel layout of decoded pixels.
enum class pixel_format { rgb24, bgr24, rgba, gray8 };
/// Which decoder: `automatic` picks the fastest correct one per format.
enum class image_backend { automatic, stb, ffmpeg, turbojpeg };
/// How a resize fits the target: stretch, pad (fit, centred, black) or crop (cover, centre).
enum class resize_mode { stretch, pad, crop };

/// Options of decode_image / load_image / decode_image_into.
struct image_options {
  int width = 0, height = 0;  ///< the output size; 0 keeps the source's (per dimension)
  pixel_format format = pixel_format::rgb24;
  resize_mode mode = resize_mode::stretch;
  image_backend backend = image_backend::automatic;
  /// Images whose header claims more pixels are refused before anything is allocated (and
  /// FFmpeg's decoder is held to the same limit). See spdl/io/limits.hpp for the default.
  std::uint64_t max_pixels = default_max_pixels;
};

namespace detail {

inline channel_order order_of(pixel_format f) noexcept {
  switch (f) {
    case pixel_format::rgb24: return channel_order::rgb;
    case pixel_format::bgr24: return channel_order::bgr;
    case pixel_format::rgba: return channel_order::rgba;
    case pixel_format::gray8: return channel_order::gray;
  }
  return channel_order::rgb;
}

inline image_info check_request(std::span<const std::byte> data, const image_options& o,
                                const std::string& source) {
  if (o.width < 0 || o.height < 0)
    throw std::invalid_argument(describe("decode_image", source, "negative width or height"));
  image_info info = probe(data, source, o.max_pixels);
  if (o.backend == image_backend::stb &&
      (info.format == image_format::webp || info.format == image_format::tiff))
    throw unsupported_error(describe("decode_image", source,
                                     std::string("image_backend::stb does not read ") +
                                         format_name(info.format) +
                                         " (image_backend::ffmpeg or automatic do)"));
  if (o.backend == image_backend::turbojpeg && info.format != image_format::jpeg)
    throw unsupported_error(describe("decode_image", source,
                                     std::string("image_backend::turbojpeg reads JPEG only, "
                                                 "this is ") + format_name(info.format)));
  return info;
}

// The size the caller gets.
inline std::pair<int, int> output_size(const image_info& info, const image_options& o) noexcept {
  return {o.width ? o.width : info.width, o.height ? o.height : info.height};
}

// Where `automatic` takes FFmpeg over stb_image. Measured on 480x360 images: FFmpeg decodes PNG
// 1.3x and GIF 3x faster than stb_image (BMP 4x slower); but opening its decoder costs about
// 20 us, which a 64x48 image does not earn back (stb_image: 16 us in all).
inline bool ffmpeg_is_faster(const image_info& info) noexcept {
  const std::uint64_t pixels = std::uint64_t(info.width) * std::uint64_t(info.height);
  return (info.format == image_format::png && pixels >= (1u << 15)) ||
         (info.format == image_format::gif && pixels >= (1u << 12));
}

inline void decode_full(std::span<const std::byte> data, const image_info& info,
                        std::span<std::byte> dst, const image_options& o, const std::string& source) {
  const bool ffmpeg = o.backend == image_backend::ffmpeg || info.format == image_format::webp ||
                      info.format == image_format::tiff ||
                      (o.backend == image_backend::automatic &&
                       (ffmpeg_is_faster(info) ||
                        (info.format == image_format::png && png_first_image_chunk_empty(data))));
  if (ffmpeg)
    decode_ffmpeg(data, info, dst, order_of(o.format), source, o.max_pixels);
  else if (info.format == image_format::jpeg) {
    // image_backend::stb too: stb_image 2.27's JPEG decoder has undefined behaviour on corrupt
    // entropy-coded data (shifts of 32 and more, found by fuzzing) that no check of the markers
    // can rule out. What stb would have been given is still checked, for the same errors.
    if (o.backend == image_backend::stb) check_jpeg_for_stb(data, source);
    decode_turbojpeg(data, info, dst, order_of(o.format), source);
  }
  else
    decode_stb(data, info, dst, order_of(o.format), source);
}

// Fits the decoded image into the target as `mode` says.
inline void resize_into(const image_view& src, int c, resize_mode mode, const image_target& dst) {
  const double w = src.width, h = src.height;
  const double sx = dst.width / w, sy = dst.height / h;
  switch (mode) {
    case resize_mode::stretch:
      resample(src, c, 0, 0, w, h, dst);
      return;
    case resize_mode::crop: {  // cover the target, cut the overhang evenly
      const double s = std::max(sx, sy);
      const double cw = dst.width / s, ch = dst.height / s;
      resample(src, c, (w - cw) / 2, (h - ch) / 2, cw, ch, dst);
      return;
    }
    case resize_mode::pad: {  // fit inside the target, centred on black
      const double s = std::min(sx, sy);
      const int fw = std::clamp(static_cast<int>(std::lround(w * s)), 1, dst.width);
      const int fh = std::clamp(static_cast<int>(std::lround(h * s)), 1, dst.height);
      for (int y = 0; y < dst.height; ++y)
        std::fill_n(dst.data + y * dst.stride, static_cast<std::size_t>(dst.width) * c, 0);
      const int ox = (dst.width - fw) / 2, oy = (dst.height - fh) / 2;
      resample(src, c, 0, 0, w, h,
               {dst.data + oy * dst.stride + static_cast<std::ptrdiff_t>(ox) * c, fw, fh,
                dst.stride});
      return;
    }
  }
}

// Decodes into `dst`, which holds the output size (resized when it differs from the source).
inline void decode_to(std::span<const std::byte> data, const image_info& info,
                      std::span<std::byte> dst, const image_options& o, const std::string& source) {
  const auto [ow, oh] = output_size(info, o);
  if (ow == info.width && oh == info.height) {
    decode_full(data, info, dst, o, source);
    return;
  }
  const int c = channels(order_of(o.format));
  // A JPEG shrunk to half its size or less is decoded smaller in the first place (DCT-domain
  // scaling), never below the resolution the output needs; the resampler does the rest.
  tjscalingfactor scale{1, 1};
  const bool turbojpeg = info.format == image_format::jpeg && (o.backend == image_backend::automatic ||
                                                               o.backend == image_backend::turbojpeg);
  if (turbojpeg) {
    const double rx = double(ow) / info.width, ry = double(oh) / info.height;
    scale = dct_scaling_for(o.mode == resize_mode::pad ? std::min(rx, ry) : std::max(rx, ry));
  }
  const int sw = TJSCALED(info.width, scale), sh = TJSCALED(info.height, scale);
  // The intermediate decode goes to a scratch area kept per thread, reused image after image.
  static thread_local std::vector<std::byte> scratch;
  scratch.resize(static_cast<std::size_t>(sw) * sh * c);
  if (turbojpeg)
    decode_turbojpeg(data, info, scratch, order_of(o.format), source, scale,
                     /*to_be_shrunk=*/ow < sw && oh < sh);
  else
    decode_full(data, info, scratch, o, source);
  resize_into({reinterpret_cast<const std::uint8_t*>(scratch.data()), sw, sh,
               static_cast<std::ptrdiff_t>(sw) * c},
              c, o.mode,
              {reinterpret_cast<std::uint8_t*>(dst.data()), ow, oh,
               static_cast<std::ptrdiff_t>(ow) * c});
}

inline buffer decode(std::span<const std::byte> data, const image_options& o,
                     const std::string& source) {
  const image_info info = check_request(data, o, source);
  const auto [ow, oh] = output_size(info, o);
  buffer out({oh, ow, channels(order_of(o.format))}, dtype::uint8);
  decode_to(data, info, {out.data(), out.size_bytes()}, o, source);
  return out;
}

}  // namespace detail

/// Decodes an encoded image (JPEG, PNG, BMP, GIF) from memory: {H, W, C} uint8, C from
/// `options.format` (3, 3, 4 or 1). Errors name the source "<memory>" and the reason.
///
///     std::vector<std::byte> bytes = read(...);
///     spdl::io::buffer img = spdl::io::decode_image(bytes, {.format = spdl::io::pixel_format::rgba});
inline buffer decode_image(std::span<const std::byte> data, const image_options& options = {}) {
  return detail::decode(data, options, "<memory>");
}

/// Reads and decodes an image file; errors name the path.
inline buffer load_image(const std::filesystem::path& path, const image_options& options = {}) {
  detail::input_file file(path, "load_image");
  const auto bytes = file.read_prefix(0, file.size());
  return detail::decode(bytes, options, file.source());
}

/// Decodes straight into slot `index` of a pre-allocated uint8 batch {N, H, W, C}: no copy of
/// the result. The output size (the image's, or options.width / height) must be the slot's.
inline void decode_image_into(std::span<const std::byte> data, buffer& batch, std::size_t index,
                              const image_options& options = {}) {
  const std::string source = "<memory>";
  const detail::image_info info = detail::check_request(data, options, source);
  const auto shape = batch.shape();
  const std::int64_t c = detail::channels(detail::order_of(options.format));
  const auto [ow, oh] = detail::output_size(info, options);
  if (batch.dtype() != dtype::uint8 || shape.size() != 4 || shape[1] != oh || shape[2] != ow ||
      shape[3] != c)
    throw std::invalid_argument(detail::describe(
        "decode_image_into", source,
        "the batch must be uint8 {N, " + std::to_string(oh) + ", " + std::to_string(ow) + ", " +
            std::to_string(c) + "} for this image and options"));
  detail::decode_to(data, info, batch.slice(index), options, source);
}

}  // namespace spdl::io
