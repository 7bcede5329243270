#pragma once
/// \file
/// Media I/O errors: each names the source (a path, or "<memory>") and the reason.

#include <spdl/error.hpp>

#include <string>
#include <string_view>

namespace spdl::io {

/// Input that cannot be read: a missing file, empty, truncated or corrupt data, absurd
/// dimensions. The message reads "operation: 'source': reason".
class io_error : public spdl::error {
 public:
  using spdl::error::error;
};

/// A format, option or backend this build cannot handle (yet).
class unsupported_error : public io_error {
 public:
  using io_error::io_error;
};

namespace detail {
inline std::string describe(const char* operation, const std::string& source,
                            const std::string& reason) {
  return std::string(operation) + ": '" + source + "': " + reason;
}

/// Bytes read from a file, made fit for a message: anything but printable ASCII (and the quote
/// and backslash) as \xNN, so that what users log cannot carry control characters or broken
/// UTF-8 from a hostile file.
inline std::string printable(std::string_view bytes) {
  static constexpr char hex[] = "0123456789abcdef";
  std::string out;
  for (const char c : bytes) {
    const auto u = static_cast<unsigned char>(c);
    if (u >= 0x20 && u < 0x7f && c != '\'' && c != '\\') {
      out += c;
    } else {
      out += "\\x";
      out += hex[u >> 4];
      out += hex[u & 15];
    }
  }
  return out;
}

/// printable(bytes), in quotes.
inline std::string quoted(std::string_view bytes) {
  std::string out(1, '\'');  // appended, not "'" + ...: GCC 12 warns falsely (-Wrestrict) there
  out += printable(bytes);
  out += '\'';
  return out;
}
}  // namespace detail

}  // namespace spdl::io
