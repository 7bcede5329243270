#pragma once
/// \file
/// load_npz: the arrays of a .npz archive (numpy.savez / savez_compressed: a ZIP of .npy files,
/// stored or deflated, ZIP64 included), by name.
///
///     auto arrays = spdl::io::load_npz("features.npz");
///     spdl::io::buffer x = arrays.at("x");      // the member "x.npy"

#include <spdl/io/buffer.hpp>
#include <spdl/io/detail/bytes.hpp>
#include <spdl/io/detail/input_file.hpp>
#include <spdl/io/error.hpp>
#include <spdl/io/npy.hpp>

#include <zlib.h>

#include <algorithm>
#include <climits>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <map>
#include <span>
#include <string>
#include <vector>

namespace spdl::io {

namespace detail {

// ZIP's little-endian fields, at a byte of the archive.
inline std::uint64_t zip_field(const std::byte* p, int bytes) noexcept {
  const auto* u = reinterpret_cast<const unsigned char*>(p);
  return bytes == 2 ? read_le16(u) : bytes == 4 ? read_le32(u) : read_le64(u);
}

struct zip_member {
  std::string name;
  std::uint16_t method = 0, flags = 0;
  std::uint32_t crc = 0;
  std::uint64_t compressed = 0, size = 0, local_offset = 0;
};

// The central directory: where the archive says its members are.
inline std::vector<zip_member> zip_directory(std::span<const std::byte> zip, const std::string& source) {
  auto fail = [&](const std::string& why) { return io_error(describe("load_npz", source, why)); };
  const std::size_t n = zip.size();
  if (n == 0) throw fail("empty input (0 bytes)");
  if (n < 22) throw fail("not a ZIP archive (" + std::to_string(n) + " bytes)");
  // The end-of-central-directory record: 22 bytes plus a comment of up to 65535, at the end.
  std::size_t eocd = std::string::npos;
  const std::size_t lowest = n - 22 > 65535 ? n - 22 - 65535 : 0;
  for (std::size_t i = n - 22 + 1; i-- > lowest;)
    if (zip_field(zip.data() + i, 4) == 0x06054b50) {
      eocd = i;
      break;
    }
  if (eocd == std::string::npos) throw fail("not a ZIP archive (no end of central directory)");
  std::uint64_t count = zip_field(zip.data() + eocd + 10, 2);
  std::uint64_t dir_size = zip_field(zip.data() + eocd + 12, 4);
  std::uint64_t dir_offset = zip_field(zip.data() + eocd + 16, 4);
  if (count == 0xFFFF || dir_offset == 0xFFFFFFFF || dir_size == 0xFFFFFFFF) {
    // ZIP64: a locator just before the record points at the 64-bit record.
    if (eocd < 20 || zip_field(zip.data() + eocd - 20, 4) != 0x07064b50) throw fail("a ZIP64 archive without its locator");
    const std::uint64_t at = zip_field(zip.data() + eocd - 20 + 8, 8);
    if (n < 56 || at > n - 56 || zip_field(zip.data() + at, 4) != 0x06064b50) throw fail("a broken ZIP64 end record");
    count = zip_field(zip.data() + at + 32, 8);
    dir_size = zip_field(zip.data() + at + 40, 8);
    dir_offset = zip_field(zip.data() + at + 48, 8);
  }
  if (dir_offset > n || dir_size > n - dir_offset) throw fail("the central directory lies outside the file (truncated?)");
  std::vector<zip_member> members;
  std::uint64_t at = dir_offset;
  const std::uint64_t end = dir_offset + dir_size;
  for (std::uint64_t i = 0; i < count; ++i) {
    if (at + 46 > end || zip_field(zip.data() + at, 4) != 0x02014b50) throw fail("a corrupt central directory entry");
    const std::byte* e = zip.data() + at;
    zip_member m;
    m.flags = static_cast<std::uint16_t>(zip_field(e + 8, 2));
    m.method = static_cast<std::uint16_t>(zip_field(e + 10, 2));
    m.crc = static_cast<std::uint32_t>(zip_field(e + 16, 4));
    m.compressed = zip_field(e + 20, 4);
    m.size = zip_field(e + 24, 4);
    const std::uint64_t name_len = zip_field(e + 28, 2), extra_len = zip_field(e + 30, 2),
                        comment_len = zip_field(e + 32, 2);
    m.local_offset = zip_field(e + 42, 4);
    if (at + 46 + name_len + extra_len + comment_len > end) throw fail("a corrupt central directory entry");
    m.name.assign(reinterpret_cast<const char*>(e + 46), name_len);
    // ZIP64 extra field: 64-bit values, present only for the fields that overflowed.
    for (std::uint64_t x = 0; x + 4 <= extra_len;) {
      const std::byte* f = e + 46 + name_len + x;
      const std::uint64_t id = zip_field(f, 2), len = zip_field(f + 2, 2);
      if (x + 4 + len > extra_len) break;
      if (id == 0x0001) {
        std::uint64_t k = 4;
        for (std::uint64_t* v : {&m.size, &m.compressed, &m.local_offset})
          if (*v == 0xFFFFFFFF && k + 8 <= 4 + len) {
            *v = zip_field(f + k, 8);
            k += 8;
          }
      }
      x += 4 + len;
    }
    members.push_back(std::move(m));
    at += 46 + name_len + extra_len + comment_len;
  }
  return members;
}

// A member's bytes: the stored ones in place, or inflated into `scratch`. Checked against the
// directory's CRC-32.
inline std::span<const std::byte> zip_data(std::span<const std::byte> zip, const zip_member& m,
                                           std::vector<std::byte>& scratch, const std::string& source) {
  auto fail = [&](const std::string& why) { return io_error(describe("load_npz", source, why)); };
  const std::size_t n = zip.size();
  if (m.flags & 1) throw unsupported_error(describe("load_npz", source, "an encrypted member"));
  if (m.local_offset > n - std::min<std::size_t>(n, 30) || zip_field(zip.data() + m.local_offset, 4) != 0x04034b50)
    throw fail("a corrupt local header");
  const std::byte* h = zip.data() + m.local_offset;
  const std::uint64_t start = m.local_offset + 30 + zip_field(h + 26, 2) + zip_field(h + 28, 2);
  if (start > n || m.compressed > n - start)
    throw fail("truncated: the member needs " + std::to_string(m.compressed) + " bytes, " +
               std::to_string(start > n ? 0 : n - start) + " are present");
  std::span<const std::byte> raw(zip.data() + start, static_cast<std::size_t>(m.compressed));
  std::span<const std::byte> out;
  if (m.method == 0) {
    if (m.compressed != m.size) throw fail("a stored member whose sizes differ");
    out = raw;
  } else if (m.method == 8) {
    if (m.size > (std::uint64_t{1} << 40)) throw fail("an absurd uncompressed size");
    scratch.resize(static_cast<std::size_t>(m.size));
    z_stream z{};
    if (inflateInit2(&z, -MAX_WBITS) != Z_OK) throw std::bad_alloc();
    std::size_t in_at = 0, out_at = 0;
    int rc = Z_OK;
    while (rc == Z_OK) {  // in pieces: zlib counts in 32-bit units
      z.next_in = reinterpret_cast<Bytef*>(const_cast<std::byte*>(raw.data() + in_at));
      z.avail_in = static_cast<uInt>(std::min<std::size_t>(raw.size() - in_at, UINT_MAX));
      z.next_out = reinterpret_cast<Bytef*>(scratch.data() + out_at);
      z.avail_out = static_cast<uInt>(std::min<std::size_t>(scratch.size() - out_at, UINT_MAX));
      const uInt in_before = z.avail_in, out_before = z.avail_out;
      rc = inflate(&z, Z_NO_FLUSH);
      in_at += in_before - z.avail_in;
      out_at += out_before - z.avail_out;
      if (rc == Z_OK && in_before == z.avail_in && out_before == z.avail_out) rc = Z_BUF_ERROR;
    }
    inflateEnd(&z);
    if (rc != Z_STREAM_END || out_at != scratch.size())
      throw fail("corrupt deflate data" + std::string(z.msg ? std::string(": ") + z.msg : ""));
    out = scratch;
  } else {
    throw unsupported_error(describe("load_npz", source,
                                     "compression method " + std::to_string(m.method) +
                                         " (spdl reads stored and deflate)"));
  }
  uLong crc = crc32(0, nullptr, 0);
  for (std::size_t at = 0; at < out.size();) {
    const auto piece = static_cast<uInt>(std::min<std::size_t>(out.size() - at, UINT_MAX));
    crc = crc32(crc, reinterpret_cast<const Bytef*>(out.data() + at), piece);
    at += piece;
  }
  if (crc != m.crc) throw fail("CRC-32 mismatch: the data is corrupt");
  return out;
}

inline std::map<std::string, buffer> load_npz(std::span<const std::byte> zip, const std::string& source) {
  std::map<std::string, buffer> arrays;
  std::vector<std::byte> scratch;
  for (const auto& m : zip_directory(zip, source)) {
    if (m.name.empty() || m.name.back() == '/') continue;  // directories
    const std::string member = source + ": " + detail::printable(m.name);
    const auto bytes = zip_data(zip, m, scratch, member);
    const auto h = parse_npy(bytes, bytes.size(), member);
    buffer out(h.shape, h.dtype);
    place_npy(h, bytes.data() + h.data_offset, out);
    std::string name = m.name;
    if (name.size() > 4 && name.ends_with(".npy")) name.resize(name.size() - 4);
    arrays.insert_or_assign(std::move(name), std::move(out));
  }
  return arrays;
}

}  // namespace detail

/// The arrays of .npz bytes in memory, by member name without ".npy" (as numpy.load names them).
/// Throws io_error naming the source (and the member) for a malformed archive, corrupt data (CRC-32
/// is checked) or a malformed array; unsupported_error for encryption and other compression methods.
inline std::map<std::string, buffer> load_npz(std::span<const std::byte> data) {
  return detail::load_npz(data, "<memory>");
}

/// The arrays of a .npz file.
inline std::map<std::string, buffer> load_npz(const std::filesystem::path& path) {
  detail::input_file file(path, "load_npz");
  std::vector<std::byte> bytes(static_cast<std::size_t>(file.size()));
  file.read(0, bytes.data(), bytes.size());
  return detail::load_npz(bytes, file.source());
}

}  // namespace spdl::io
