#pragma once
/// \file
/// TAR archives in memory (WebDataset shards, say): the regular files, in order, as views of
/// the archive's bytes (nothing is copied). ustar, GNU (long names, base-256 sizes) and PAX
/// (path and size records) headers are read.
///
///     auto shard = read_file("shard-000.tar");
///     spdl::io::tar_reader tar(shard);
///     while (auto e = tar.next()) decode_image(e->data);   // e->name: "000123.jpg"

#include <spdl/io/error.hpp>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace spdl::io {

/// A regular file of a TAR archive: its path and a view of its bytes inside the archive.
struct tar_entry {
  std::string name;
  std::span<const std::byte> data;
};

/// Walks a TAR archive's regular files. The bytes must outlive the reader and its entries.
/// Directories, links and devices are passed over. Throws io_error naming the source and the
/// entry for a corrupt header (checksum), a size that is not a number, or data cut short.
class tar_reader {
 public:
  explicit tar_reader(std::span<const std::byte> archive, std::string source = "<memory>")
      : archive_(archive), source_(std::move(source)) {}

  /// The next regular file, or nothing at the end of the archive.
  std::optional<tar_entry> next() {
    std::optional<std::string> long_name;  // from a GNU 'L' entry or a PAX 'path'
    std::optional<std::uint64_t> pax_size;
    for (;;) {
      if (at_ >= archive_.size()) return std::nullopt;  // no end marker: the bytes ran out evenly
      if (archive_.size() - at_ < block)
        throw fail("truncated: " + std::to_string(archive_.size() - at_) + " bytes where a 512-byte header belongs");
      const std::byte* h = archive_.data() + at_;
      if (all_zero(h)) {  // the end marker
        at_ = archive_.size();
        return std::nullopt;
      }
      check_sum(h);
      const char type = static_cast<char>(h[156]);
      std::uint64_t size = number(h + 124, 12, "size");
      if (pax_size && type != 'x' && type != 'g' && type != 'L') size = *pax_size;
      std::string name = long_name ? *long_name : header_name(h);
      const std::uint64_t data_at = at_ + block;
      if (size > archive_.size() - data_at)
        throw fail("truncated: " + detail::quoted(name) + " needs " + std::to_string(size) + " bytes, " +
                   std::to_string(archive_.size() - data_at) + " are present");
      std::span<const std::byte> data(archive_.data() + data_at, static_cast<std::size_t>(size));
      at_ = data_at + (size + block - 1) / block * block;
      if (at_ > archive_.size()) at_ = archive_.size();
      switch (type) {
        case 'L':  // GNU: the next entry's name
          long_name = std::string(reinterpret_cast<const char*>(data.data()), strnlen(data));
          continue;
        case 'x':  // PAX: records for the next entry
          read_pax(data, long_name, pax_size);
          continue;
        case '0':
        case '\0':
        case '7':
          return tar_entry{std::move(name), data};
        default:  // 'g' global PAX, 'K' long link, directories, links, devices, FIFOs
          long_name.reset();
          pax_size.reset();
          continue;
      }
    }
  }

  /// Every remaining regular file.
  std::vector<tar_entry> entries() {
    std::vector<tar_entry> out;
    while (auto e = next()) out.push_back(std::move(*e));
    return out;
  }

 private:
  static constexpr std::size_t block = 512;

  io_error fail(const std::string& why) const {
    return io_error(detail::describe("tar", source_, why + " (at byte " + std::to_string(at_) + ")"));
  }

  static bool all_zero(const std::byte* h) {
    for (std::size_t i = 0; i < block; ++i)
      if (h[i] != std::byte{0}) return false;
    return true;
  }

  static std::size_t strnlen(std::span<const std::byte> s) {
    std::size_t n = 0;
    while (n < s.size() && s[n] != std::byte{0}) ++n;
    return n;
  }

  static std::string field(const std::byte* p, std::size_t n) {
    return std::string(reinterpret_cast<const char*>(p), strnlen({p, n}));
  }

  // ustar splits long paths into a prefix and a name.
  static std::string header_name(const std::byte* h) {
    std::string name = field(h, 100);
    const std::string_view magic(reinterpret_cast<const char*>(h + 257), 5);
    if (magic == "ustar") {
      const std::string prefix = field(h + 345, 155);
      if (!prefix.empty() && static_cast<char>(h[263]) == '0') name = prefix + "/" + name;
    }
    return name;
  }

  // Octal ASCII (space- or NUL-terminated), or GNU's base-256 for large values.
  std::uint64_t number(const std::byte* p, std::size_t n, const char* what) const {
    const auto first = std::to_integer<unsigned char>(p[0]);
    if (first & 0x80) {
      std::uint64_t v = first & 0x7f;
      for (std::size_t i = 1; i < n; ++i) {
        if (v >> 56) throw fail(std::string("an absurd ") + what);
        v = (v << 8) | std::to_integer<std::uint64_t>(p[i]);
      }
      return v;
    }
    std::uint64_t v = 0;
    std::size_t i = 0;
    while (i < n && static_cast<char>(p[i]) == ' ') ++i;
    const std::size_t start = i;
    for (; i < n; ++i) {
      const char c = static_cast<char>(p[i]);
      if (c == '\0' || c == ' ') break;
      if (c < '0' || c > '7') throw fail(std::string("a header whose ") + what + " is not an octal number");
      if (v >> 60) throw fail(std::string("an absurd ") + what);
      v = v * 8 + static_cast<std::uint64_t>(c - '0');
    }
    if (i == start) throw fail(std::string("a header with no ") + what);
    return v;
  }

  void check_sum(const std::byte* h) const {
    const std::uint64_t stored = number(h + 148, 8, "checksum");
    std::uint64_t unsigned_sum = 0;
    std::int64_t signed_sum = 0;  // some old writers summed signed chars
    for (std::size_t i = 0; i < block; ++i) {
      const auto b = (i >= 148 && i < 156) ? std::byte{' '} : h[i];
      unsigned_sum += std::to_integer<unsigned char>(b);
      signed_sum += static_cast<signed char>(std::to_integer<unsigned char>(b));
    }
    if (stored != unsigned_sum && static_cast<std::int64_t>(stored) != signed_sum)
      throw fail("a corrupt header (checksum " + std::to_string(stored) + ", computed " +
                 std::to_string(unsigned_sum) + ")");
  }

  // PAX records: "<length> <key>=<value>\n", the length counting the whole record.
  void read_pax(std::span<const std::byte> data, std::optional<std::string>& name,
                std::optional<std::uint64_t>& size) const {
    const std::string_view text(reinterpret_cast<const char*>(data.data()), data.size());
    for (std::size_t at = 0; at < text.size();) {
      std::size_t len = 0, i = at;
      while (i < text.size() && text[i] >= '0' && text[i] <= '9') len = len * 10 + static_cast<std::size_t>(text[i++] - '0');
      if (len == 0 || i >= text.size() || text[i] != ' ' || at + len > text.size() || text[at + len - 1] != '\n')
        throw fail("a malformed PAX record");
      const std::string_view record = text.substr(i + 1, at + len - 1 - (i + 1));
      const auto eq = record.find('=');
      if (eq == std::string_view::npos) throw fail("a malformed PAX record");
      const auto key = record.substr(0, eq), value = record.substr(eq + 1);
      if (key == "path") name = std::string(value);
      if (key == "size") {
        std::uint64_t v = 0;
        for (char c : value) {
          if (c < '0' || c > '9' || v > (UINT64_MAX - 9) / 10) throw fail("a malformed PAX size");
          v = v * 10 + static_cast<std::uint64_t>(c - '0');
        }
        size = v;
      }
      at += len;
    }
  }

  std::span<const std::byte> archive_;
  std::string source_;
  std::uint64_t at_ = 0;
};

}  // namespace spdl::io
