#pragma once
// RIFF files (WAVE, AVI, RF64) checked before FFmpeg opens them: every chunk but the media data
// must fit in the input. FFmpeg allocates some chunks at the size they declare before reading
// them (a LIST's INFO tags, zeroed: all of it resident; a 'bext' chunk's history), bounded only
// by the enclosing LIST's declared size: a 7 KB WAV whose LIST claimed 2.7 GB made it allocate
// and zero 1.8 GB. A chunk that claims more than its file (or its LIST) holds is corrupt; the
// media data ('data', AVI's 'movi' list) may be cut short, as streamed and truncated files are,
// because FFmpeg reads it piece by piece.

#include <spdl/io/error.hpp>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>

namespace spdl::io::detail {

/// `read(offset, out, n)` reads up to `n` bytes at `offset` and returns how many it read;
/// `size` is the input's size. Throws io_error (`operation`, `source`) for a chunk that does not
/// fit.
template <class Read>
void check_riff(Read&& read, std::uint64_t size, const char* operation, const std::string& source) {
  unsigned char head[12];
  if (size < 12 || read(0, head, 12) != 12) return;
  if (std::memcmp(head, "RIFF", 4) != 0 && std::memcmp(head, "RF64", 4) != 0) return;
  auto le32 = [](const unsigned char* p) {
    return std::uint32_t(p[0]) | std::uint32_t(p[1]) << 8 | std::uint32_t(p[2]) << 16 |
           std::uint32_t(p[3]) << 24;
  };
  auto fail = [&](const char* id, std::uint64_t at, std::uint64_t claimed, std::uint64_t holds) {
    return io_error(describe(operation, source,
                             "corrupt RIFF file: chunk '" + std::string(id, 4) + "' at byte " +
                                 std::to_string(at) + " claims " + std::to_string(claimed) +
                                 " bytes, but only " + std::to_string(holds) + " follow it"));
  };
  // Walks the chunks in [begin, end) and, depth first, those of each LIST among them. A walk of
  // a hostile file is bounded: at most `max_chunks` chunks are looked at, 16 lists deep.
  constexpr int max_chunks = 10000;
  int chunks = 0;
  auto walk = [&](auto&& self, std::uint64_t begin, std::uint64_t end, int depth) -> void {
    std::uint64_t at = begin;
    while (at + 8 <= end && ++chunks <= max_chunks) {
      unsigned char h[12];
      const std::size_t got = read(at, h, 12);
      if (got < 8) return;
      const char* id = reinterpret_cast<const char*>(h);
      const std::uint64_t claimed = le32(h + 4);
      const std::uint64_t holds = end - at - 8;
      const bool list = std::memcmp(id, "LIST", 4) == 0 && got == 12 && claimed >= 4;
      const bool media = std::memcmp(id, "data", 4) == 0 ||
                         (list && std::memcmp(h + 8, "movi", 4) == 0) ||
                         claimed == 0xFFFFFFFFu;  // RF64: the size is in the ds64 chunk
      if (claimed > holds) {
        if (media) return;  // cut short: FFmpeg reads what is there
        throw fail(id, at, claimed, holds);
      }
      if (list && !media && depth < 16) self(self, at + 12, at + 8 + claimed, depth + 1);
      at += 8 + claimed + (claimed & 1);
    }
  };
  // The form's own size may be wrong (streamed files write 0 or -1): its chunks are judged
  // against the input.
  walk(walk, 12, size, 0);
}

}  // namespace spdl::io::detail
