#pragma once
/// \file
/// NumPy's .npy arrays (format versions 1, 2 and 3) as buffers. Little-endian C-order arrays
/// are taken as stored: from a file, read straight into the buffer's storage; big-endian ones
/// are byte-swapped and Fortran-order ones reordered to C order on the way in.
///
///     spdl::io::buffer features = spdl::io::load_npy("features.npy");   // e.g. {1000, 512} float32
///
/// Element types: bool and uint8 (as uint8), uint16, int16, int32, int64, float32, float64.

#include <spdl/io/buffer.hpp>
#include <spdl/io/detail/bytes.hpp>
#include <spdl/io/detail/input_file.hpp>
#include <spdl/io/error.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <limits>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace spdl::io {

namespace detail {

struct npy_header {
  io::dtype dtype = io::dtype::uint8;
  bool big_endian = false;
  bool fortran_order = false;
  std::vector<std::int64_t> shape;
  std::size_t data_offset = 0;
  std::uint64_t data_bytes = 0;
};

// The value after 'key': in the header's Python dict literal; empty when absent.
inline std::string_view npy_field(std::string_view dict, std::string_view key) {
  for (char quote : {'\'', '"'}) {
    std::string k(1, quote);  // appended, not added up: g++ 12 warns falsely on string + string
    k.append(key);
    k.push_back(quote);
    const auto at = dict.find(k);
    if (at == std::string_view::npos) continue;
    auto rest = dict.substr(at + k.size());
    const auto colon = rest.find(':');
    if (colon == std::string_view::npos) return {};
    rest = rest.substr(colon + 1);
    while (!rest.empty() && rest.front() == ' ') rest.remove_prefix(1);
    return rest;
  }
  return {};
}

inline npy_header parse_npy(std::span<const std::byte> head, std::uint64_t size,
                            const std::string& source) {
  auto fail = [&](const std::string& why) { return io_error(describe("load_npy", source, why)); };
  const auto* p = reinterpret_cast<const unsigned char*>(head.data());
  const std::size_t n = head.size();
  if (n == 0) throw fail("empty input");
  if (n < 10 || std::memcmp(p, "\x93NUMPY", 6) != 0) throw fail("not a .npy file: bad magic");
  const int major = p[6];
  std::size_t header_len = 0, start = 0;
  if (major == 1) {
    header_len = read_le16(p + 8);
    start = 10;
  } else if (major == 2 || major == 3) {
    if (n < 12) throw fail("truncated header");
    header_len = read_le32(p + 8);
    start = 12;
  } else {
    throw unsupported_error(describe("load_npy", source, "format version " + std::to_string(major)));
  }
  if (start + header_len > n) throw fail("truncated header");
  const std::string_view dict(reinterpret_cast<const char*>(p + start), header_len);
  npy_header h;
  h.data_offset = start + header_len;

  const auto descr = npy_field(dict, "descr");
  if (descr.size() < 5 || (descr[0] != '\'' && descr[0] != '"'))
    throw fail("no descr in the header");
  const auto type = descr.substr(1, descr.find(descr[0], 1) - 1);  // e.g. <f4
  if (type.size() < 3) throw fail("bad descr " + detail::quoted(type));
  const char order = type[0];
  const std::string_view code = type.substr(1);
  h.big_endian = order == '>';
  if (code == "b1" || code == "u1") h.dtype = dtype::uint8;
  else if (code == "u2") h.dtype = dtype::uint16;
  else if (code == "i2") h.dtype = dtype::int16;
  else if (code == "i4") h.dtype = dtype::int32;
  else if (code == "i8") h.dtype = dtype::int64;
  else if (code == "f4") h.dtype = dtype::float32;
  else if (code == "f8") h.dtype = dtype::float64;
  else
    throw unsupported_error(describe("load_npy", source,
                                     "element type " + detail::quoted(type) +
                                         " (spdl reads bool, uint8, uint16, int16, int32, int64, "
                                         "float32 and float64)"));

  const auto fortran = npy_field(dict, "fortran_order");
  if (fortran.starts_with("True")) h.fortran_order = true;
  else if (!fortran.starts_with("False")) throw fail("no fortran_order in the header");

  const auto shape = npy_field(dict, "shape");
  if (shape.empty() || shape.front() != '(') throw fail("no shape in the header");
  const auto close = shape.find(')');
  if (close == std::string_view::npos) throw fail("unterminated shape");
  std::uint64_t elements = 1;
  for (std::size_t i = 1; i < close;) {
    if (shape[i] == ' ' || shape[i] == ',') {
      ++i;
      continue;
    }
    std::int64_t v = 0;
    if (shape[i] < '0' || shape[i] > '9') throw fail("bad shape " + detail::quoted(shape.substr(0, close + 1)));
    for (; i < close && shape[i] >= '0' && shape[i] <= '9'; ++i) {
      if (v > (std::numeric_limits<std::int64_t>::max() - 9) / 10) throw fail("absurd shape");
      v = v * 10 + (shape[i] - '0');
    }
    h.shape.push_back(v);
    if (v != 0 && elements > std::numeric_limits<std::uint64_t>::max() / std::uint64_t(v))
      throw fail("absurd shape");
    elements *= std::uint64_t(v);
  }
  const std::uint64_t item = dtype_size(h.dtype);
  if (elements > std::numeric_limits<std::uint64_t>::max() / item) throw fail("absurd shape");
  h.data_bytes = elements * item;
  const std::uint64_t present = size > h.data_offset ? size - h.data_offset : 0;
  if (h.data_bytes > present)
    throw fail("truncated: the shape needs " + std::to_string(h.data_bytes) + " bytes of data, " +
               std::to_string(present) + " are present");
  return h;
}

// Stored bytes -> the buffer: byte order and element order fixed where they differ from C's.
inline void place_npy(const npy_header& h, const std::byte* in, buffer& out) {
  const std::size_t item = dtype_size(h.dtype);
  const std::size_t count = out.size_bytes() / item;
  auto* o = out.data();
  if (!h.fortran_order || h.shape.size() < 2) {
    if (in != o && out.size_bytes() > 0) std::memcpy(o, in, out.size_bytes());
  } else {
    // Element (i0, ..., ik) is stored at sum(i_j * stride_j), strides growing from the first
    // axis; walk the C-order output with a running index.
    const std::size_t dims = h.shape.size();
    std::vector<std::size_t> stride(dims), index(dims, 0);
    for (std::size_t d = 0, s = 1; d < dims; ++d) {
      stride[d] = s;
      s *= static_cast<std::size_t>(h.shape[d]);
    }
    std::size_t from = 0;
    for (std::size_t i = 0; i < count; ++i) {
      std::memcpy(o + i * item, in + from * item, item);
      for (std::size_t d = dims; d-- > 0;) {  // the last axis varies fastest
        from += stride[d];
        if (++index[d] < static_cast<std::size_t>(h.shape[d])) break;
        from -= stride[d] * index[d];
        index[d] = 0;
      }
    }
  }
  if (h.big_endian && item > 1)
    for (std::size_t i = 0; i < count; ++i) std::reverse(o + i * item, o + (i + 1) * item);
}

}  // namespace detail

/// An array from .npy bytes in memory (copied once into the buffer).
inline buffer load_npy(std::span<const std::byte> data) {
  const auto h = detail::parse_npy(data, data.size(), "<memory>");
  buffer out(h.shape, h.dtype);
  detail::place_npy(h, data.data() + h.data_offset, out);
  return out;
}

/// An array from a .npy file; a little-endian C-order array is read straight into the buffer.
inline buffer load_npy(const std::filesystem::path& path) {
  detail::input_file file(path, "load_npy");
  // Version 1 headers end within 10 + 65535 bytes; later versions say where theirs ends.
  auto head = file.read_prefix(0, 12);
  std::uint64_t header_end = 10 + 65535;
  if (head.size() == 12 && head[6] != std::byte{1})
    header_end = 12 + detail::read_le32(reinterpret_cast<const unsigned char*>(head.data()) + 8);
  head = file.read_prefix(0, header_end);
  const auto h = detail::parse_npy(head, file.size(), file.source());
  buffer out(h.shape, h.dtype);
  const auto bytes = static_cast<std::size_t>(h.data_bytes);
  if (!h.fortran_order || h.shape.size() < 2) {
    file.read(h.data_offset, out.data(), bytes);
    detail::place_npy(h, out.data(), out);  // in place: only the byte order, if any
    return out;
  }
  const auto raw = file.read_prefix(h.data_offset, bytes);
  detail::place_npy(h, raw.data(), out);
  return out;
}

}  // namespace spdl::io
