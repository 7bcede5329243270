#pragma once
// Little- and big-endian integers from unaligned bytes, as file headers store them.

#include <cstdint>

namespace spdl::io::detail {

inline std::uint16_t read_le16(const unsigned char* p) noexcept {
  return static_cast<std::uint16_t>(p[0] | p[1] << 8);
}

inline std::uint32_t read_le32(const unsigned char* p) noexcept {
  return std::uint32_t(p[0]) | std::uint32_t(p[1]) << 8 | std::uint32_t(p[2]) << 16 |
         std::uint32_t(p[3]) << 24;
}

inline std::uint64_t read_le64(const unsigned char* p) noexcept {
  return std::uint64_t(read_le32(p)) | std::uint64_t(read_le32(p + 4)) << 32;
}

inline std::uint32_t read_be32(const unsigned char* p) noexcept {
  return std::uint32_t(p[0]) << 24 | std::uint32_t(p[1]) << 16 | std::uint32_t(p[2]) << 8 |
         std::uint32_t(p[3]);
}

}  // namespace spdl::io::detail
