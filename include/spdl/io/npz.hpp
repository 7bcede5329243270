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
#include <spdl/io/limits.hpp>
#include <spdl/io/npy.hpp>

#include <zlib.h>

#include <algorithm>
#include <climits>
#include <cstring>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <map>
#include <new>
#include <span>
#include <string>
#include <vector>

namespace spdl::io {

/// Options of load_npz.
struct npz_options {
  /// Bytes of one member's array; a member that needs more is refused (io_error) before any of
  /// it is allocated. See spdl/io/limits.hpp.
  std::uint64_t max_bytes = default_max_bytes;
};

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

// Where a member's data starts, after its local header; its `compressed` bytes checked present.
inline std::span<const std::byte> zip_raw(std::span<const std::byte> zip, const zip_member& m,
                                          const std::string& source) {
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
  return {zip.data() + start, static_cast<std::size_t>(m.compressed)};
}

inline std::uint32_t crc32_of(std::uint32_t crc, const std::byte* p, std::size_t n) {
  for (std::size_t at = 0; at < n;) {
    const auto piece = static_cast<uInt>(std::min<std::size_t>(n - at, UINT_MAX));
    crc = static_cast<std::uint32_t>(crc32(crc, reinterpret_cast<const Bytef*>(p + at), piece));
    at += piece;
  }
  return crc;
}

// A deflated member, inflated piece by piece straight to where its bytes belong (no scratch),
// its CRC-32 kept on the way.
class inflater {
 public:
  inflater(std::span<const std::byte> raw, const std::string& source) : raw_(raw), source_(source) {
    if (inflateInit2(&z_, -MAX_WBITS) != Z_OK) throw std::bad_alloc();
  }
  inflater(const inflater&) = delete;
  inflater& operator=(const inflater&) = delete;
  ~inflater() { inflateEnd(&z_); }

  // Inflates up to `n` bytes into `out`; fewer only at the end of the stream.
  std::size_t read(std::byte* out, std::size_t n) {
    std::size_t done = 0;
    while (done < n && rc_ == Z_OK) {
      z_.next_in = reinterpret_cast<Bytef*>(const_cast<std::byte*>(raw_.data() + in_at_));
      z_.avail_in = static_cast<uInt>(std::min<std::size_t>(raw_.size() - in_at_, UINT_MAX));
      z_.next_out = reinterpret_cast<Bytef*>(out + done);
      z_.avail_out = static_cast<uInt>(std::min<std::size_t>(n - done, UINT_MAX));
      const uInt in_before = z_.avail_in, out_before = z_.avail_out;
      rc_ = inflate(&z_, Z_NO_FLUSH);
      in_at_ += in_before - z_.avail_in;
      done += out_before - z_.avail_out;
      if (rc_ == Z_OK && in_before == z_.avail_in && out_before == z_.avail_out) rc_ = Z_BUF_ERROR;
    }
    if (rc_ != Z_OK && rc_ != Z_STREAM_END)
      throw io_error(describe("load_npz", source_,
                              "corrupt deflate data" + std::string(z_.msg ? std::string(": ") + z_.msg : "")));
    crc_ = crc32_of(crc_, out, done);
    total_ += done;
    return done;
  }

  // Checks that the stream ends exactly after `size` bytes (what follows the array, if anything,
  // is inflated and dropped: at most 1032 times the member's deflated size).
  void finish(std::uint64_t size) {
    std::byte rest[4096];
    while (rc_ == Z_OK && total_ <= size) read(rest, sizeof rest);
    if (rc_ != Z_STREAM_END || total_ != size)
      throw io_error(describe("load_npz", source_,
                              "corrupt deflate data: " + std::to_string(total_) + " bytes inflated, " +
                                  "the directory says " + std::to_string(size)));
  }

  [[nodiscard]] std::uint32_t crc() const noexcept { return crc_; }

 private:
  std::span<const std::byte> raw_;
  const std::string& source_;
  z_stream z_{};
  int rc_ = Z_OK;
  std::size_t in_at_ = 0;
  std::uint64_t total_ = 0;
  std::uint32_t crc_ = 0;
};

// Deflate expands at most 1032:1 (zlib's documented maximum); a claim beyond that is a lie.
inline constexpr std::uint64_t deflate_max_ratio = 1032;

inline void check_member_limit(const npy_header& h, std::uint64_t max_bytes, const std::string& source) {
  if (h.data_bytes > max_bytes)
    throw io_error(describe("load_npz", source,
                            "the array needs " + std::to_string(h.data_bytes) +
                                " bytes, over the limit of " + std::to_string(max_bytes) +
                                " (npz_options::max_bytes)"));
}

// One member's array: a stored member parsed in place, a deflated one inflated into the buffer
// (a Fortran-order one into a scratch copy first, which its transposition needs).
inline buffer zip_array(std::span<const std::byte> zip, const zip_member& m, std::uint64_t max_bytes,
                        const std::string& source) {
  auto fail = [&](const std::string& why) { return io_error(describe("load_npz", source, why)); };
  const auto raw = zip_raw(zip, m, source);
  if (m.method == 0) {
    if (m.compressed != m.size) throw fail("a stored member whose sizes differ");
    if (crc32_of(0, raw.data(), raw.size()) != m.crc) throw fail("CRC-32 mismatch: the data is corrupt");
    const auto h = parse_npy(raw, raw.size(), source);
    check_member_limit(h, max_bytes, source);
    buffer out(h.shape, h.dtype);
    place_npy(h, raw.data() + h.data_offset, out);
    return out;
  }
  if (m.method != 8)
    throw unsupported_error(describe("load_npz", source,
                                     "compression method " + std::to_string(m.method) +
                                         " (spdl reads stored and deflate)"));
  if (m.size / deflate_max_ratio > m.compressed)
    throw fail("the directory claims " + std::to_string(m.size) + " bytes from " +
               std::to_string(m.compressed) + " deflated ones, more than deflate can expand to");
  inflater in(raw, source);
  // The .npy header first: 10 or 12 bytes say how long it is.
  std::vector<std::byte> head(static_cast<std::size_t>(std::min<std::uint64_t>(m.size, 12)));
  head.resize(in.read(head.data(), head.size()));
  if (head.size() == 12) {
    const auto* p = reinterpret_cast<const unsigned char*>(head.data());
    const std::uint64_t header_end = p[6] == 1 ? 10 + std::uint64_t(read_le16(p + 8)) : 12 + std::uint64_t(read_le32(p + 8));
    const auto want = static_cast<std::size_t>(std::min<std::uint64_t>(header_end, m.size));
    if (want > 12) {
      head.resize(want);
      head.resize(12 + in.read(head.data() + 12, want - 12));
    }
  }
  const auto h = parse_npy(head, m.size, source);
  check_member_limit(h, max_bytes, source);
  buffer out(h.shape, h.dtype);
  const auto bytes = static_cast<std::size_t>(h.data_bytes);
  const std::size_t early = std::min(head.size() - h.data_offset, bytes);  // read with the header
  const bool in_place = !h.fortran_order || h.shape.size() < 2;
  std::vector<std::byte> scratch(in_place ? 0 : bytes);
  std::byte* dst = in_place ? out.data() : scratch.data();
  if (bytes > 0) {  // (an empty array has no storage: dst may be null)
    std::memcpy(dst, head.data() + h.data_offset, early);
    if (in.read(dst + early, bytes - early) != bytes - early)
      throw fail("corrupt deflate data: the stream ends before the array does");
  }
  in.finish(m.size);
  if (in.crc() != m.crc) throw fail("CRC-32 mismatch: the data is corrupt");
  place_npy(h, dst, out);
  return out;
}

inline std::map<std::string, buffer> load_npz(std::span<const std::byte> zip, const npz_options& o,
                                              const std::string& source) {
  std::map<std::string, buffer> arrays;
  for (const auto& m : zip_directory(zip, source)) {
    if (m.name.empty() || m.name.back() == '/') continue;  // directories
    buffer out = zip_array(zip, m, o.max_bytes, source + ": " + detail::printable(m.name));
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
inline std::map<std::string, buffer> load_npz(std::span<const std::byte> data, const npz_options& o = {}) {
  return detail::load_npz(data, o, "<memory>");
}

/// The arrays of a .npz file.
inline std::map<std::string, buffer> load_npz(const std::filesystem::path& path, const npz_options& o = {}) {
  detail::input_file file(path, "load_npz");
  std::vector<std::byte> bytes(static_cast<std::size_t>(file.size()));
  file.read(0, bytes.data(), bytes.size());
  return detail::load_npz(bytes, o, file.source());
}

}  // namespace spdl::io
