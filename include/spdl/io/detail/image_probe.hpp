#pragma once
// What an encoded image is (from its first bytes) and how large it claims to be, before a byte
// of pixels is allocated.

#include <spdl/io/detail/bytes.hpp>
#include <spdl/io/error.hpp>

#include <turbojpeg.h>

#include <cstddef>
#include <climits>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <algorithm>
#include <span>
#include <string>

namespace spdl::io::detail {

enum class image_format { jpeg, png, bmp, gif, webp, tiff };

inline const char* format_name(image_format f) noexcept {
  switch (f) {
    case image_format::jpeg: return "JPEG";
    case image_format::png: return "PNG";
    case image_format::bmp: return "BMP";
    case image_format::gif: return "GIF";
    case image_format::webp: return "WebP";
    case image_format::tiff: return "TIFF";
  }
  return "?";
}

struct image_info {
  image_format format;
  int width = 0;
  int height = 0;
};


inline image_format sniff(std::span<const std::byte> data, const std::string& source) {
  const auto* p = reinterpret_cast<const unsigned char*>(data.data());
  const std::size_t n = data.size();
  auto starts = [&](std::initializer_list<unsigned char> magic, std::size_t at = 0) {
    if (n < at + magic.size()) return false;
    std::size_t i = at;
    for (unsigned char m : magic)
      if (p[i++] != m) return false;
    return true;
  };
  if (starts({0xFF, 0xD8, 0xFF})) return image_format::jpeg;
  if (starts({0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'})) return image_format::png;
  if (starts({'B', 'M'})) return image_format::bmp;
  if (starts({'G', 'I', 'F', '8'})) return image_format::gif;
  if (starts({'R', 'I', 'F', 'F'}) && starts({'W', 'E', 'B', 'P'}, 8)) return image_format::webp;
  if (starts({'I', 'I', 42, 0}) || starts({'M', 'M', 0, 42})) return image_format::tiff;
  char magic[16];
  std::snprintf(magic, sizeof magic, "0x%02x%02x", n > 0 ? p[0] : 0, n > 1 ? p[1] : 0);
  throw unsupported_error(describe("decode_image", source,
                                   std::string("not a JPEG, PNG, BMP, GIF, WebP or TIFF image: "
                                               "bad magic ") + magic));
}

// WebP: the canvas size from the first chunk (lossy "VP8 ", lossless "VP8L" or extended "VP8X").
inline bool webp_size(const unsigned char* p, std::size_t n, image_info& info) noexcept {
  if (n < 30) return false;
  if (std::memcmp(p + 12, "VP8 ", 4) == 0) {
    if (p[23] != 0x9d || p[24] != 0x01 || p[25] != 0x2a) return false;
    info.width = read_le16(p + 26) & 0x3FFF;
    info.height = read_le16(p + 28) & 0x3FFF;
  } else if (std::memcmp(p + 12, "VP8L", 4) == 0) {
    if (p[20] != 0x2f) return false;
    const std::uint32_t bits = read_le32(p + 21);
    info.width = static_cast<int>(bits & 0x3FFF) + 1;
    info.height = static_cast<int>((bits >> 14) & 0x3FFF) + 1;
  } else if (std::memcmp(p + 12, "VP8X", 4) == 0) {
    info.width = static_cast<int>(p[24] | p[25] << 8 | p[26] << 16) + 1;
    info.height = static_cast<int>(p[27] | p[28] << 8 | p[29] << 16) + 1;
  } else {
    return false;
  }
  return true;
}

// TIFF: ImageWidth (256) and ImageLength (257) from the first IFD.
inline bool tiff_size(const unsigned char* p, std::size_t n, image_info& info) noexcept {
  if (n < 8) return false;
  const bool le = p[0] == 'I';
  auto u16 = [&](std::size_t at) -> std::uint32_t {
    return le ? read_le16(p + at) : static_cast<std::uint32_t>(p[at] << 8 | p[at + 1]);
  };
  auto u32 = [&](std::size_t at) { return le ? read_le32(p + at) : read_be32(p + at); };
  const std::size_t ifd = u32(4);
  if (ifd > n || n - ifd < 2) return false;
  const std::size_t entries = u16(ifd);
  if ((n - ifd - 2) / 12 < entries) return false;
  for (std::size_t i = 0; i < entries; ++i) {
    const std::size_t e = ifd + 2 + i * 12;
    const std::uint32_t tag = u16(e), type = u16(e + 2);
    if (tag != 256 && tag != 257) continue;
    const std::uint32_t value = type == 3 ? u16(e + 8) : type == 4 ? u32(e + 8) : 0;
    (tag == 256 ? info.width : info.height) =
        static_cast<int>(std::min<std::uint32_t>(value, INT_MAX));
  }
  return info.width > 0 && info.height > 0;
}

// stb_image zero-fills the rest of a truncated BMP and reports success: check the length the
// header promises for uncompressed pixel data.
inline void check_bmp_length(std::span<const std::byte> data, const image_info& info,
                             const std::string& source) {
  const auto* p = reinterpret_cast<const unsigned char*>(data.data());
  if (data.size() < 30) throw io_error(describe("decode_image", source, "truncated BMP header"));
  const std::uint32_t offset = read_le32(p + 10);
  const unsigned bits = p[28] | unsigned(p[29]) << 8;
  const std::uint32_t compression = data.size() >= 34 ? read_le32(p + 30) : 0;
  if (compression != 0 && compression != 3) return;  // RLE: stb checks as it decodes
  const std::uint64_t row = (std::uint64_t(info.width) * bits + 31) / 32 * 4;
  const std::uint64_t needed = offset + row * std::uint64_t(info.height);
  if (data.size() < needed)
    throw io_error(describe("decode_image", source,
                            "truncated BMP: " + std::to_string(data.size()) + " bytes, the header "
                            "needs " + std::to_string(needed)));
}

// The JPEG's start-of-frame marker (0xC0 baseline, 0xC2 progressive, 0xC9-0xCB arithmetic
// coding, ...), found by walking the segments before it; 0 when there is none.
inline unsigned jpeg_frame_marker(const unsigned char* p, std::size_t n) noexcept {
  for (std::size_t at = 2; at + 4 <= n;) {
    if (p[at] != 0xFF) return 0;
    const unsigned marker = p[at + 1];
    if (marker == 0xFF) {  // a fill byte
      ++at;
      continue;
    }
    if (marker >= 0xC0 && marker <= 0xCF && marker != 0xC4 && marker != 0xC8 && marker != 0xCC)
      return marker;
    if (marker == 0xDA || marker == 0xD9) return 0;  // a scan, or the end, before any frame
    at += 2 + (std::size_t(p[at + 2]) << 8 | p[at + 3]);
  }
  return 0;
}

// How many pixels each byte of a file can hold at most, where the format's coding bounds it:
// - Huffman-coded JPEG: every 8x8 block codes its DC difference in at least one bit, so 64
//   pixels per bit (arithmetic coding has no such bound);
// - PNG: deflate expands at most 1032:1 and a row of 1-bit pixels takes a filter byte and one
//   byte per 8 pixels, so 8 · 1032 pixels per byte;
// - GIF: an LZW code has at least 3 bits and stands for at most 4096 pixels.
// 0: no bound (WebP and TIFF code pixels in less than a bit each; max_pixels alone holds them).
inline std::uint64_t max_pixels_per_byte(image_format f, const unsigned char* p, std::size_t n) noexcept {
  switch (f) {
    case image_format::jpeg: {
      const unsigned sof = jpeg_frame_marker(p, n);
      return sof >= 0xC0 && sof <= 0xC7 ? 64 * 8 : 0;
    }
    case image_format::png: return 8 * 1032;
    case image_format::gif: return 4096 * 8 / 3;
    default: return 0;
  }
}

/// Format and dimensions, with the pixel limit enforced.
inline image_info probe(std::span<const std::byte> data, const std::string& source,
                        std::uint64_t max_pixels) {
  if (data.empty()) throw io_error(describe("decode_image", source, "empty input"));
  image_info info{sniff(data, source)};
  const auto* bytes = reinterpret_cast<const unsigned char*>(data.data());
  if (info.format == image_format::jpeg) {
    tjhandle h = tjInitDecompress();
    int subsamp = 0, colorspace = 0;
    const int rc = tjDecompressHeader3(h, bytes, static_cast<unsigned long>(data.size()),
                                       &info.width, &info.height, &subsamp, &colorspace);
    std::string why = rc != 0 ? tjGetErrorStr2(h) : "";
    tjDestroy(h);
    if (rc != 0) throw io_error(describe("decode_image", source, "corrupt JPEG header: " + why));
  } else if (info.format == image_format::png || info.format == image_format::bmp ||
             info.format == image_format::gif) {
    // Read the dimensions here rather than through stb_image, which refuses large ones with a
    // reason that does not say so ("unknown image type").
    const std::size_t need = info.format == image_format::png   ? 24
                             : info.format == image_format::bmp ? 26
                                                                : 10;
    if (data.size() < need)
      throw io_error(describe("decode_image", source,
                              std::string("truncated ") + format_name(info.format) + " header"));
    if (info.format == image_format::png) {
      info.width = static_cast<int>(read_be32(bytes + 16) & 0x7FFFFFFF);
      info.height = static_cast<int>(read_be32(bytes + 20) & 0x7FFFFFFF);
    } else if (info.format == image_format::bmp) {
      info.width = static_cast<int>(read_le32(bytes + 18));
      const auto h = static_cast<std::int32_t>(read_le32(bytes + 22));  // < 0: top-down rows
      info.height = h == INT32_MIN ? 0 : (h < 0 ? -h : h);
    } else {
      info.width = bytes[6] | bytes[7] << 8;
      info.height = bytes[8] | bytes[9] << 8;
    }
  } else if (!(info.format == image_format::webp ? webp_size(bytes, data.size(), info)
                                                   : tiff_size(bytes, data.size(), info))) {
    throw io_error(describe("decode_image", source,
                            std::string("truncated or corrupt ") + format_name(info.format) +
                                " header"));
  }
  if (info.width <= 0 || info.height <= 0)
    throw io_error(describe("decode_image", source, "the header claims an empty image"));
  const std::uint64_t pixels = std::uint64_t(info.width) * std::uint64_t(info.height);
  if (pixels > max_pixels)
    throw io_error(describe("decode_image", source,
                            "the header claims " + std::to_string(info.width) + "x" +
                                std::to_string(info.height) + " pixels, over the limit of " +
                                std::to_string(max_pixels) + " (image_options::max_pixels)"));
  // A small file that claims a large image (a truncated or hostile one) is refused before its
  // pixels are allocated, where the format bounds what a byte can hold.
  if (const std::uint64_t per_byte = max_pixels_per_byte(info.format, bytes, data.size());
      per_byte > 0 && pixels / per_byte > data.size())
    throw io_error(describe("decode_image", source,
                            "the header claims " + std::to_string(info.width) + "x" +
                                std::to_string(info.height) + " pixels, more than " +
                                std::to_string(data.size()) + " bytes of " + format_name(info.format) +
                                " can hold (truncated or corrupt)"));
  if (info.format == image_format::bmp) check_bmp_length(data, info, source);
  return info;
}

}  // namespace spdl::io::detail
