#pragma once
// The decoders behind decode_image: libjpeg-turbo for JPEG, stb_image for PNG, BMP and GIF.
// Each decodes into a destination the caller sized from the probe: no intermediate buffer for
// libjpeg-turbo; one copy out of stb_image's own allocation.

#include <spdl/io/detail/image_probe.hpp>
#include <spdl/io/error.hpp>

#include <stb_image.h>
#include <turbojpeg.h>

#include <algorithm>
#include <cstddef>
#include <cstring>
#include <memory>
#include <span>
#include <string>
#include <utility>

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

/// Decodes at `scale` (from dct_scaling_for; {1, 1}: full size) into `dst`, which holds
/// TJSCALED(width) x TJSCALED(height) pixels.
inline void decode_turbojpeg(std::span<const std::byte> data, const image_info& info,
                             std::span<std::byte> dst, channel_order order,
                             const std::string& source, tjscalingfactor scale = {1, 1}) {
  tjhandle h = thread_decompressor();
  if (!h) throw io_error(describe("decode_image", source, "libjpeg-turbo: no decompressor"));
  const auto* bytes = reinterpret_cast<const unsigned char*>(data.data());
  int w = 0, hgt = 0, subsamp = 0, colorspace = 0;
  if (tjDecompressHeader3(h, bytes, static_cast<unsigned long>(data.size()), &w, &hgt, &subsamp,
                          &colorspace) != 0)
    throw io_error(describe("decode_image", source,
                            std::string("corrupt JPEG header: ") + tjGetErrorStr2(h)));
  if (colorspace == TJCS_CMYK || colorspace == TJCS_YCCK)
    throw unsupported_error(describe(
        "decode_image", source,
        "CMYK JPEG: the turbojpeg backend cannot convert CMYK to RGB (try image_backend::stb)"));
  const int pf = order == channel_order::rgb    ? TJPF_RGB
                 : order == channel_order::bgr  ? TJPF_BGR
                 : order == channel_order::rgba ? TJPF_RGBA
                                                : TJPF_GRAY;
  // A truncated JPEG is only a warning to libjpeg-turbo (it returns a half-grey image): stop on
  // warnings and report them as errors.
  const int sw = TJSCALED(info.width, scale), sh = TJSCALED(info.height, scale);
  if (tjDecompress2(h, bytes, static_cast<unsigned long>(data.size()),
                    reinterpret_cast<unsigned char*>(dst.data()), sw, sw * channels(order), sh, pf,
                    TJFLAG_STOPONWARNING) != 0)
    throw io_error(describe("decode_image", source,
                            std::string("truncated or corrupt JPEG: ") + tjGetErrorStr2(h)));
}

inline void decode_stb(std::span<const std::byte> data, const image_info& info,
                       std::span<std::byte> dst, channel_order order, const std::string& source) {
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

}  // namespace spdl::io::detail
