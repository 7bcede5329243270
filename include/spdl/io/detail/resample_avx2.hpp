#pragma once
// AVX2 kernels of the resampler's two passes, picked at run time on CPUs that have AVX2 (the
// rest of the program needs no -mavx2). Each computes the very integer sums of the portable
// kernels in resample.hpp, so results are bit-identical whichever runs: pairs of 16-bit
// weights meet pairs of pixels in one multiply-add (vpmaddwd).

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

#if (defined(__x86_64__) || defined(__i386__)) && (defined(__GNUC__) || defined(__clang__))
#define SPDL_RESAMPLE_AVX2 1
#include <immintrin.h>
#endif

namespace spdl::io::detail {

#if SPDL_RESAMPLE_AVX2

inline bool cpu_has_avx2() noexcept {
  static const bool has = __builtin_cpu_supports("avx2");
  return has;
}

// Two weights as one 32-bit lane: the multiply-add pairs them with two samples.
[[gnu::target("avx2")]] inline __m256i weight_pair(const std::int16_t* k) noexcept {
  std::int32_t pair;
  std::memcpy(&pair, k, sizeof pair);
  return _mm256_set1_epi32(pair);
}

// (acc + 0.5) >> weight_bits, as clamp_round does before its clamp.
[[gnu::target("avx2")]] inline __m256i round_shift(__m256i acc, int bits) noexcept {
  return _mm256_srai_epi32(_mm256_add_epi32(acc, _mm256_set1_epi32(1 << (bits - 1))), bits);
}

/// Vertical pass over `bytes` bytes: out[j] = sum_t k[t] * row(first + t)[j], `n` taps. Rows are
/// taken in pairs (an odd last tap pairs with a zero weight). Returns how many bytes it did (a
/// multiple of 32; none for over 64 taps, a shrink beyond 32x); the caller finishes the rest.
template <class Row>
[[gnu::target("avx2")]] std::size_t vertical_avx2(Row row, int first, const std::int16_t* k, int n,
                                                  std::uint8_t* out, std::size_t bytes,
                                                  int bits) noexcept {
  const __m256i zero = _mm256_setzero_si256();
  // The rows and weight pairs, once for the whole row of output.
  constexpr int most = 64;
  const std::uint8_t* rows[most];
  __m256i weights[most / 2];
  if (n > most) return 0;
  for (int t = 0; t < n; t += 2) {
    const bool pair = t + 1 < n;
    rows[t] = row(first + t);
    rows[t + 1] = pair ? row(first + t + 1) : rows[t];  // an odd last tap: weight 0
    const std::int16_t two[2] = {k[t], pair ? k[t + 1] : std::int16_t{0}};
    weights[t / 2] = weight_pair(two);
  }
  std::size_t j = 0;
  for (; j + 32 <= bytes; j += 32) {
    __m256i acc0 = zero, acc1 = zero, acc2 = zero, acc3 = zero;
    for (int t = 0; t < n; t += 2) {
      const __m256i a = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(rows[t] + j));
      const __m256i b = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(rows[t + 1] + j));
      const __m256i w = weights[t / 2];
      const __m256i lo = _mm256_unpacklo_epi8(a, b);  // a0 b0 a1 b1 ... per 128-bit lane
      const __m256i hi = _mm256_unpackhi_epi8(a, b);
      acc0 = _mm256_add_epi32(acc0, _mm256_madd_epi16(_mm256_unpacklo_epi8(lo, zero), w));
      acc1 = _mm256_add_epi32(acc1, _mm256_madd_epi16(_mm256_unpackhi_epi8(lo, zero), w));
      acc2 = _mm256_add_epi32(acc2, _mm256_madd_epi16(_mm256_unpacklo_epi8(hi, zero), w));
      acc3 = _mm256_add_epi32(acc3, _mm256_madd_epi16(_mm256_unpackhi_epi8(hi, zero), w));
    }
    // The packs undo the unpacks lane by lane, so bytes come back in order.
    const __m256i s01 = _mm256_packs_epi32(round_shift(acc0, bits), round_shift(acc1, bits));
    const __m256i s23 = _mm256_packs_epi32(round_shift(acc2, bits), round_shift(acc3, bits));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + j), _mm256_packus_epi16(s01, s23));
  }
  return j;
}

/// The horizontal kernel's weights, laid out for it: for each pair of outputs (x, x + 1) and
/// each pair of taps (t, t + 1), 32 bytes: (k[x][t], k[x][t + 1]) four times, then
/// (k[x + 1][t], k[x + 1][t + 1]) four times. Made once per resample, loaded with one read.
inline void spread_weights(const std::int16_t* weights, int taps, int outputs,
                           std::vector<std::int16_t>& out) {
  out.resize(static_cast<std::size_t>(outputs / 2) * static_cast<std::size_t>(taps / 2) * 16);
  std::int16_t* o = out.data();
  for (int x = 0; x + 1 < outputs; x += 2)
    for (int t = 0; t < taps; t += 2)
      for (int lane = 0; lane < 2; ++lane)
        for (int r = 0; r < 4; ++r) {
          const std::int16_t* k = weights + static_cast<std::ptrdiff_t>(x + lane) * taps + t;
          *o++ = k[0];
          *o++ = k[1];
        }
}

/// Horizontal pass of one row, C = 3 or 4 interleaved channels, two output pixels at a time
/// (one per 128-bit lane). Every window holds `taps` (even) weights, zero padded, starting at
/// first[x] (in the row `in`, whose first sample is column_offset); `spread` holds them as
/// spread_weights lays them out. 8 bytes are read per pair of pixels, so the caller passes only
/// outputs whose window leaves 8 readable bytes. Writes outputs [0, out_w), out_w even.
template <int C>
[[gnu::target("avx2")]] void horizontal_avx2(const std::uint8_t* in, std::uint8_t* out,
                                             const int* first, int column_offset,
                                             const std::int16_t* spread, int taps, int out_w,
                                             int bits) noexcept {
  static_assert(C == 3 || C == 4);
  // Two pixels' bytes (p0: c0 c1 c2 [c3], p1: ...) to 16-bit pairs per channel: c0 of p0, c0
  // of p1, c1 of p0, c1 of p1, ...; -1 writes a zero.
  const __m128i order =
      C == 3 ? _mm_setr_epi8(0, -1, 3, -1, 1, -1, 4, -1, 2, -1, 5, -1, -1, -1, -1, -1)
             : _mm_setr_epi8(0, -1, 4, -1, 1, -1, 5, -1, 2, -1, 6, -1, 3, -1, 7, -1);
  const __m256i mask = _mm256_broadcastsi128_si256(order);
  const auto* w = reinterpret_cast<const __m256i*>(spread);
  for (int x = 0; x < out_w; x += 2) {
    const std::uint8_t* p0 = in + static_cast<std::ptrdiff_t>(first[x] - column_offset) * C;
    const std::uint8_t* p1 = in + static_cast<std::ptrdiff_t>(first[x + 1] - column_offset) * C;
    __m256i acc = _mm256_setzero_si256();
    for (int t = 0; t < taps; t += 2, ++w) {
      const __m128i a = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(p0 + t * C));
      const __m128i b = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(p1 + t * C));
      const __m256i v = _mm256_shuffle_epi8(
          _mm256_inserti128_si256(_mm256_castsi128_si256(a), b, 1), mask);
      acc = _mm256_add_epi32(acc, _mm256_madd_epi16(v, _mm256_loadu_si256(w)));
    }
    // [c0 c1 c2 c3] per lane -> bytes.
    const __m256i packed = _mm256_packus_epi16(_mm256_packs_epi32(round_shift(acc, bits), acc), acc);
    const auto lo = static_cast<std::uint32_t>(_mm256_extract_epi32(packed, 0));
    const auto hi = static_cast<std::uint32_t>(_mm256_extract_epi32(packed, 4));
    std::uint8_t* o = out + static_cast<std::ptrdiff_t>(x) * C;
    std::memcpy(o, &lo, 4);  // for C = 3, its last byte is the next pixel's first, written next
    std::memcpy(o + C, &hi, C);
  }
}

#else

inline bool cpu_has_avx2() noexcept { return false; }

#endif

}  // namespace spdl::io::detail
