#pragma once
// Resampling of interleaved uint8 images: separable, a triangle (bilinear) filter widened by the
// reduction factor when shrinking, so that shrinking averages every source pixel (antialiasing)
// and enlarging interpolates bilinearly. Fixed-point weights (14 bits). Set-up is O(width +
// height), so images of every size cost the same to start: no scaler to build or cache.
//
// Any rectangle of the source (crop) maps onto any rectangle of the destination (pad), with any
// row strides: decoding straight into a batch slot needs no scratch copy of the result.
//
// On CPUs with AVX2 both passes run AVX2 kernels (resample_avx2.hpp), chosen at run time; they
// give the same bytes as the portable ones.

#include <spdl/io/detail/resample_avx2.hpp>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

namespace spdl::io::detail {

inline constexpr int weight_bits = 14;

// For each output sample: the first input sample it reads and its weights (`taps` each, zero
// padded). `taps` is even, and when the input has that many samples every window lies inside
// it (windows at the far edge start earlier, with leading zero weights), so vector kernels read
// whole windows without bounds checks.
struct filter_bank {
  int taps = 0;
  std::vector<int> first;
  std::vector<int> count;  // weights actually used (the rest are zero)
  std::vector<std::int16_t> weights;  // 16 bits: products vectorise as widening multiplies
};

// Output samples 0..out_size map onto the input interval [in_start, in_start + in_length).
inline filter_bank make_filter_bank(int in_size, double in_start, double in_length, int out_size) {
  const double scale = in_length / out_size;
  const double support = scale > 1.0 ? scale : 1.0;  // the triangle's half-width, in input pixels
  const int widest = static_cast<int>(std::ceil(support)) * 2 + 1;
  const auto n = static_cast<std::size_t>(out_size);
  filter_bank bank;
  bank.first.resize(n);
  bank.count.resize(n);
  // Each window's weights, before quantisation; trimmed to the samples they actually weigh.
  std::vector<double> w(n * static_cast<std::size_t>(widest));
  for (std::size_t i = 0; i < n; ++i) {
    const double center = in_start + (static_cast<double>(i) + 0.5) * scale;
    int lo = std::max(static_cast<int>(std::floor(center - support)), 0);
    int hi = std::min(static_cast<int>(std::ceil(center + support)), in_size);
    hi = std::min(hi, lo + widest);
    auto weight = [&](int x) {
      const double d = std::abs((x + 0.5 - center) / support);
      return d < 1.0 ? 1.0 - d : 0.0;
    };
    while (lo < hi && weight(lo) == 0.0) ++lo;
    while (hi > lo && weight(hi - 1) == 0.0) --hi;
    double* wi = &w[i * static_cast<std::size_t>(widest)];
    if (lo == hi) {  // a sliver at an edge: take the nearest sample
      lo = std::clamp(static_cast<int>(center), 0, in_size - 1);
      hi = lo + 1;
      wi[0] = 1.0;
    } else {
      for (int x = lo; x < hi; ++x) wi[x - lo] = weight(x);
    }
    bank.first[i] = lo;
    bank.count[i] = hi - lo;
    bank.taps = std::max(bank.taps, hi - lo);
  }
  bank.taps += bank.taps & 1;
  bank.weights.assign(n * static_cast<std::size_t>(bank.taps), 0);
  for (std::size_t i = 0; i < n; ++i) {
    const double* wi = &w[i * static_cast<std::size_t>(widest)];
    const int lo = bank.first[i], count = bank.count[i];
    // Windows at the far edge start earlier, with leading zeros, to stay inside the input.
    const int shift = in_size >= bank.taps ? std::max(0, lo + bank.taps - in_size) : 0;
    bank.first[i] = lo - shift;
    bank.count[i] = count + shift;
    std::int16_t* out = &bank.weights[i * static_cast<std::size_t>(bank.taps)] + shift;
    double total = 0;
    for (int k = 0; k < count; ++k) total += wi[k];
    std::int32_t sum = 0;
    int biggest = 0;
    for (int k = 0; k < count; ++k) {
      out[k] = static_cast<std::int16_t>(std::lround(wi[k] / total * (1 << weight_bits)));
      sum += out[k];
      if (out[k] > out[biggest]) biggest = k;
    }
    out[biggest] = static_cast<std::int16_t>(out[biggest] + (1 << weight_bits) - sum);  // sum 1.0
  }
  return bank;
}

inline std::uint8_t clamp_round(std::int32_t acc) noexcept {
  acc = (acc + (1 << (weight_bits - 1))) >> weight_bits;
  return static_cast<std::uint8_t>(acc < 0 ? 0 : acc > 255 ? 255 : acc);
}

struct image_view {
  const std::uint8_t* data;
  int width, height;
  std::ptrdiff_t stride;  // bytes per row
};

struct image_target {
  std::uint8_t* data;
  int width, height;
  std::ptrdiff_t stride;
};

// One output row of the horizontal pass, outputs [x_begin, out_w): `in` points at source
// column `column_offset` of the row.
template <int C>
void horizontal_row(const std::uint8_t* in, std::uint8_t* out, const filter_bank& b, int x_begin,
                    int out_w, int column_offset) {
  for (int x = x_begin; x < out_w; ++x) {
    const auto i = static_cast<std::size_t>(x);
    const std::int16_t* k = &b.weights[i * static_cast<std::size_t>(b.taps)];
    const std::uint8_t* p = in + static_cast<std::ptrdiff_t>(b.first[i] - column_offset) * C;
    std::int32_t acc[C] = {};
    for (int t = 0, n = b.count[i]; t < n; ++t)
      for (int c = 0; c < C; ++c) acc[c] += k[t] * p[t * C + c];
    for (int c = 0; c < C; ++c) out[i * C + static_cast<std::size_t>(c)] = clamp_round(acc[c]);
  }
}

// How many outputs, from the left, the vector kernel takes: those whose window, and the 8 bytes
// it loads at the window's last pair, stay inside a row of `in_w` samples from `column_offset`.
// None without AVX2, or for one channel.
inline int vector_outputs(const filter_bank& b, int channels, int in_w, int column_offset,
                          int out_w, bool simd) noexcept {
  if (!simd || !cpu_has_avx2() || (channels != 3 && channels != 4)) return 0;
  int x = 0;
  while (x < out_w && (b.first[static_cast<std::size_t>(x)] - column_offset + b.taps - 2) *
                              channels + 8 <= in_w * channels)
    ++x;
  return x & ~1;  // the kernel writes pairs
}

// The vector kernel's weights for its first `vector_n` outputs (none without AVX2), in storage
// kept per thread: valid until this thread's next call.
inline const std::vector<std::int16_t>& spread_for(const filter_bank& b, int vector_n) {
  static thread_local std::vector<std::int16_t> spread;
  spread.clear();
#if SPDL_RESAMPLE_AVX2
  if (vector_n > 0) spread_weights(b.weights.data(), b.taps, vector_n, spread);
#else
  (void)b;
  (void)vector_n;
#endif
  return spread;
}

// One output row: the first `vector_n` outputs (from vector_outputs) on the AVX2 kernel, with
// the weights `spread` for it, the rest on the portable one.
inline void horizontal_row(int channels, const std::uint8_t* in, std::uint8_t* out,
                           const filter_bank& b, int out_w, int column_offset, int vector_n,
                           const std::vector<std::int16_t>& spread) {
#if SPDL_RESAMPLE_AVX2
  if (vector_n > 0) {
    if (channels == 3)
      horizontal_avx2<3>(in, out, b.first.data(), column_offset, spread.data(), b.taps, vector_n,
                         weight_bits);
    else
      horizontal_avx2<4>(in, out, b.first.data(), column_offset, spread.data(), b.taps, vector_n,
                         weight_bits);
  }
#else
  (void)spread;
  vector_n = 0;
#endif
  switch (channels) {
    case 1: return horizontal_row<1>(in, out, b, vector_n, out_w, column_offset);
    case 3: return horizontal_row<3>(in, out, b, vector_n, out_w, column_offset);
    case 4: return horizontal_row<4>(in, out, b, vector_n, out_w, column_offset);
    default: break;
  }
}

// One output row of the vertical pass: a weighted sum of whole rows. `row(j)` is source row j.
template <class Row>
void vertical_row(Row row, const filter_bank& b, int y, std::uint8_t* out, std::size_t bytes,
                  bool simd) {
  const auto i = static_cast<std::size_t>(y);
  const std::int16_t* k = &b.weights[i * static_cast<std::size_t>(b.taps)];
  const int first = b.first[i], n = b.count[i];
  std::size_t j = 0;
#if SPDL_RESAMPLE_AVX2
  if (simd && cpu_has_avx2()) j = vertical_avx2(row, first, k, n, out, bytes, weight_bits);
#else
  (void)simd;
#endif
  // The portable kernel: columns in the outer loop, so sums stay in registers.
  constexpr std::size_t block = 64;
  std::int32_t acc[block];
  for (; j < bytes; j += block) {
    const std::size_t m = std::min(block, bytes - j);
    std::fill_n(acc, m, 0);
    for (int t = 0; t < n; ++t) {
      const std::uint8_t* in = row(first + t) + j;
      const std::int16_t weight = k[t];
      // 16-bit x 16-bit into 32: SSE2 has that multiply; a 32-bit one it has not.
      for (std::size_t q = 0; q < m; ++q) acc[q] += weight * static_cast<std::int16_t>(in[q]);
    }
    for (std::size_t q = 0; q < m; ++q) out[j + q] = clamp_round(acc[q]);
  }
}

// The intermediate image between the passes: kept per thread and reused, never cleared (every
// byte is written before it is read). A fresh one per image would cost a page-faulting mapping.
inline std::uint8_t* intermediate(std::size_t bytes) {
  struct block {
    std::unique_ptr<std::uint8_t[]> data;
    std::size_t size = 0;
  };
  static thread_local block local;
  if (local.size < bytes) {
    local.data = std::make_unique_for_overwrite<std::uint8_t[]>(bytes);
    local.size = bytes;
  }
  return local.data.get();
}

/// Resamples the source rectangle (x0, y0, w, h), in source pixels, onto the whole target.
/// `channels` (1, 3 or 4) interleaved uint8 channels. Shrinking rows first when the height
/// shrinks (the horizontal pass then runs on fewer rows), columns first otherwise. `simd`
/// false forces the portable kernels (the same bytes, slower).
inline void resample(const image_view& src, int channels, double x0, double y0, double w,
                     double h, const image_target& dst, bool simd = true) {
  const filter_bank hb = make_filter_bank(src.width, x0, w, dst.width);
  const filter_bank vb = make_filter_bank(src.height, y0, h, dst.height);
  const auto c = static_cast<std::size_t>(channels);
  if (dst.height < h) {
    // Vertical first, over the source columns the horizontal pass reads (whole windows).
    const int col_lo = hb.first.front();
    int col_hi = 0;
    for (int x = 0; x < dst.width; ++x) {
      const auto i = static_cast<std::size_t>(x);
      col_hi = std::max(col_hi, hb.first[i] + std::max(hb.count[i], std::min(hb.taps, src.width)));
    }
    col_hi = std::min(col_hi, src.width);
    const std::size_t bytes = static_cast<std::size_t>(col_hi - col_lo) * c;
    std::uint8_t* tmp = intermediate(static_cast<std::size_t>(dst.height) * bytes);
    auto row = [&](int j) { return src.data + j * src.stride + static_cast<std::ptrdiff_t>(col_lo) * channels; };
    for (int y = 0; y < dst.height; ++y)
      vertical_row(row, vb, y, tmp + static_cast<std::size_t>(y) * bytes, bytes, simd);
    const int vector_n = vector_outputs(hb, channels, col_hi - col_lo, col_lo, dst.width, simd);
    const auto& spread = spread_for(hb, vector_n);
    for (int y = 0; y < dst.height; ++y)
      horizontal_row(channels, tmp + static_cast<std::size_t>(y) * bytes,
                     dst.data + y * dst.stride, hb, dst.width, col_lo, vector_n, spread);
  } else {
    // Horizontal first, over the source rows the vertical pass reads.
    const int row_lo = vb.first.front();
    int row_hi = 0;
    for (int y = 0; y < dst.height; ++y)
      row_hi = std::max(row_hi, vb.first[static_cast<std::size_t>(y)] +
                                    vb.count[static_cast<std::size_t>(y)]);
    const std::size_t bytes = static_cast<std::size_t>(dst.width) * c;
    std::uint8_t* tmp = intermediate(static_cast<std::size_t>(row_hi - row_lo) * bytes);
    const int vector_n = vector_outputs(hb, channels, src.width, 0, dst.width, simd);
    const auto& spread = spread_for(hb, vector_n);
    for (int j = row_lo; j < row_hi; ++j)
      horizontal_row(channels, src.data + j * src.stride,
                     tmp + static_cast<std::size_t>(j - row_lo) * bytes, hb, dst.width, 0,
                     vector_n, spread);
    auto row = [&](int j) { return tmp + static_cast<std::size_t>(j - row_lo) * bytes; };
    for (int y = 0; y < dst.height; ++y)
      vertical_row(row, vb, y, dst.data + y * dst.stride, bytes, simd);
  }
}

}  // namespace spdl::io::detail
