#pragma once
/// \file
/// Media I/O errors: each names the source (a path, or "<memory>") and the reason.

#include <spdl/error.hpp>

#include <string>

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
}  // namespace detail

}  // namespace spdl::io
