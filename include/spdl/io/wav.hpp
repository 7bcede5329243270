#pragma once
/// \file
/// WAV (RIFF/WAVE) without FFmpeg: the header, and the samples as a {T, C} buffer of the file's
/// own sample type. Nothing is decoded, so nothing is converted: from a file, the samples are
/// read straight into the buffer's storage (one read, no intermediate copy); from memory, they
/// are copied once (a buffer owns aligned storage).
///
///     spdl::io::wav_header h = spdl::io::parse_wav_header(bytes);   // rate, channels, format
///     spdl::io::buffer pcm = spdl::io::load_wav("speech.wav");      // {T, C} int16, say

#include <spdl/io/buffer.hpp>
#include <spdl/io/detail/bytes.hpp>
#include <spdl/io/detail/input_file.hpp>
#include <spdl/io/error.hpp>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <span>
#include <string>

namespace spdl::io {

/// What a WAV file says about its samples.
struct wav_header {
  int sample_rate = 0;
  int num_channels = 0;
  int bits_per_sample = 0;  ///< as stored: 8, 16, 24, 32 or 64
  bool is_float = false;    ///< IEEE float samples (format 3), else integer PCM (format 1)
  std::int64_t num_frames = 0;  ///< samples per channel
  std::uint64_t data_offset = 0;  ///< where the samples start in the file
  /// The buffer's element type: uint8 (8-bit PCM, offset binary as stored), int16, int32
  /// (24-bit samples are widened to int32, shifted left by 8, so full scale stays full scale),
  /// float32 or float64.
  io::dtype dtype = io::dtype::int16;
};

namespace detail {

// `size`: the whole file's length, when `head` is only its beginning (a file read in part).
inline wav_header parse_wav(std::span<const std::byte> head, std::uint64_t size,
                            const std::string& source) {
  auto fail = [&](const std::string& why) { return io_error(describe("load_wav", source, why)); };
  const auto* p = reinterpret_cast<const unsigned char*>(head.data());
  const std::size_t n = head.size();
  if (n < 12 || std::memcmp(p, "RIFF", 4) != 0 || std::memcmp(p + 8, "WAVE", 4) != 0)
    throw fail(n == 0 ? "empty input" : "not a RIFF/WAVE file");
  wav_header h;
  bool have_format = false;
  std::uint16_t format = 0, block_align = 0;
  std::size_t at = 12;
  while (true) {
    if (at + 8 > n) {
      const std::string where = n < size ? " in the first " + std::to_string(n) + " bytes" : "";
      throw fail((have_format ? "no data chunk" : "no fmt chunk") + where);
    }
    const unsigned char* chunk = p + at;
    const std::uint32_t length = read_le32(chunk + 4);
    if (std::memcmp(chunk, "fmt ", 4) == 0) {
      if (length < 16 || at + 8 + length > n) throw fail("truncated fmt chunk");
      format = read_le16(chunk + 8);
      h.num_channels = read_le16(chunk + 10);
      h.sample_rate = static_cast<int>(read_le32(chunk + 12));
      block_align = read_le16(chunk + 20);
      h.bits_per_sample = read_le16(chunk + 22);
      if (format == 0xFFFE) {  // WAVE_FORMAT_EXTENSIBLE: the real format leads the sub-format GUID
        if (length < 40) throw fail("truncated WAVE_FORMAT_EXTENSIBLE fmt chunk");
        format = read_le16(chunk + 8 + 24);
      }
      have_format = true;
    } else if (std::memcmp(chunk, "data", 4) == 0) {
      if (!have_format) throw fail("data chunk before the fmt chunk");
      h.data_offset = at + 8;
      std::uint64_t bytes = length;
      const std::uint64_t present = size > h.data_offset ? size - h.data_offset : 0;
      if (length == 0xFFFFFFFFu) bytes = present;  // written while streaming: up to the end
      if (bytes > present)
        throw fail("truncated: the data chunk claims " + std::to_string(bytes) + " bytes, " +
                   std::to_string(present) + " are present");
      if (h.num_channels <= 0) throw fail("no channels");
      if (h.sample_rate <= 0) throw fail("sample rate 0");
      const bool pcm = format == 1, ieee = format == 3;
      if (!pcm && !ieee)
        throw unsupported_error(describe("load_wav", source,
                                         "sample format " + std::to_string(format) +
                                             " (only PCM and IEEE float are read without FFmpeg)"));
      h.is_float = ieee;
      const int bits = h.bits_per_sample;
      if (pcm && bits == 8) h.dtype = dtype::uint8;
      else if (pcm && bits == 16) h.dtype = dtype::int16;
      else if (pcm && (bits == 24 || bits == 32)) h.dtype = dtype::int32;
      else if (ieee && bits == 32) h.dtype = dtype::float32;
      else if (ieee && bits == 64) h.dtype = dtype::float64;
      else
        throw unsupported_error(describe("load_wav", source,
                                         std::to_string(bits) + "-bit " +
                                             (ieee ? "float" : "PCM") + " samples"));
      if (block_align != h.num_channels * (bits / 8))
        throw fail("block align " + std::to_string(block_align) + " does not match " +
                   std::to_string(h.num_channels) + " channels of " + std::to_string(bits) +
                   " bits");
      h.num_frames = static_cast<std::int64_t>(bytes / block_align);
      return h;
    }
    at += 8 + std::size_t(length) + (length & 1);  // chunks are padded to even sizes
  }
}

// Samples as stored -> the buffer's type: a copy, except 24-bit, which widens.
inline void unpack_wav(const wav_header& h, const std::byte* in, buffer& out) {
  const std::size_t samples = static_cast<std::size_t>(h.num_frames) * h.num_channels;
  if (h.bits_per_sample != 24) {
    std::memcpy(out.data(), in, out.size_bytes());
    return;
  }
  auto* o = reinterpret_cast<std::int32_t*>(out.data());
  const auto* b = reinterpret_cast<const unsigned char*>(in);
  for (std::size_t i = 0; i < samples; ++i, b += 3)
    o[i] = static_cast<std::int32_t>(std::uint32_t(b[0]) << 8 | std::uint32_t(b[1]) << 16 |
                                     std::uint32_t(b[2]) << 24);
}

inline buffer wav_buffer(const wav_header& h) {
  return buffer({h.num_frames, h.num_channels}, h.dtype);
}

}  // namespace detail

/// Reads a WAV header from the start of a file's bytes (the whole file, or enough of it to reach
/// the data chunk). Throws io_error on a malformed or truncated header, unsupported_error on a
/// sample format other than 8/16/24/32-bit PCM or 32/64-bit float.
inline wav_header parse_wav_header(std::span<const std::byte> data) {
  return detail::parse_wav(data, data.size(), "<memory>");
}

/// The samples of a WAV in memory: {T, C}, the file's own sample type (wav_header::dtype).
inline buffer load_wav(std::span<const std::byte> data) {
  const wav_header h = detail::parse_wav(data, data.size(), "<memory>");
  buffer out = detail::wav_buffer(h);
  detail::unpack_wav(h, data.data() + h.data_offset, out);
  return out;
}

/// The samples of a WAV file, read straight into the buffer (16-bit, 32-bit and float files:
/// no copy after the read).
inline buffer load_wav(const std::filesystem::path& path) {
  detail::input_file file(path, "load_wav");
  // The header is small: the data chunk starts within the first 64 KiB of any usual file.
  const auto head = file.read_prefix(0, 64 * 1024);
  const wav_header h = detail::parse_wav(head, file.size(), file.source());
  buffer out = detail::wav_buffer(h);
  const std::size_t stored = static_cast<std::size_t>(h.num_frames) * h.num_channels *
                             static_cast<std::size_t>(h.bits_per_sample / 8);
  if (h.bits_per_sample != 24) {
    file.read(h.data_offset, out.data(), stored);
    return out;
  }
  const auto raw = file.read_prefix(h.data_offset, stored);
  detail::unpack_wav(h, raw.data(), out);
  return out;
}

}  // namespace spdl::io
