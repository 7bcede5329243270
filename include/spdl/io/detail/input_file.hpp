#pragma once
// A file opened for reading by a loader: its size, reads at an offset straight into the caller's
// memory, and errors that name the operation, the path and the reason.

#include <spdl/io/error.hpp>

#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <system_error>
#include <vector>

namespace spdl::io::detail {

class input_file {
 public:
  input_file(const std::filesystem::path& path, const char* operation)
      : operation_(operation), source_(path.string()), in_(path, std::ios::binary) {
    if (!in_) throw error(std::string("cannot open: ") + std::strerror(errno));
    std::error_code ec;
    size_ = std::filesystem::file_size(path, ec);
    if (ec) throw error("cannot read its size: " + ec.message());
  }

  [[nodiscard]] std::uint64_t size() const noexcept { return size_; }
  [[nodiscard]] const std::string& source() const noexcept { return source_; }

  /// Reads exactly `n` bytes at `offset` into `out`.
  void read(std::uint64_t offset, void* out, std::size_t n) {
    in_.clear();
    in_.seekg(static_cast<std::streamoff>(offset));
    if (!in_.read(static_cast<char*>(out), static_cast<std::streamsize>(n)))
      throw error("read failed");
  }

  /// Up to `n` bytes from `offset` (fewer at the end of the file).
  std::vector<std::byte> read_prefix(std::uint64_t offset, std::uint64_t n) {
    const std::uint64_t left = size_ > offset ? size_ - offset : 0;
    std::vector<std::byte> bytes(static_cast<std::size_t>(n < left ? n : left));
    read(offset, bytes.data(), bytes.size());
    return bytes;
  }

  /// An io_error naming the operation and the path.
  [[nodiscard]] io_error error(const std::string& reason) const {
    return io_error(describe(operation_, source_, reason));
  }

 private:
  const char* operation_;
  std::string source_;
  std::ifstream in_;
  std::uint64_t size_ = 0;
};

}  // namespace spdl::io::detail
