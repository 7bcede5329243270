#pragma once
// Resampling of interleaved uint8 images: separable, a triangle (bilinear) filter widened by the
// reduction factor when shrinking, so that shrinking averages every source pixel (antialiasing)
// and enlarging interpolates bilinearly. Fixed-point weights (14 bits). Set-up is O(width +
// height), so images of every size cost the same to start: no scaler to build or cache.
//
// Any rectangle of the source (crop) maps onto any rectangle of the destination (pad), with any
// row strides: decoding straight into a batch slot needs no scratch copy of the result.

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <vector>

namespace spdl::io::detail {

inline constexpr int weight_bits = 14;

// For each output sample: the first input sample it reads and its weights (`taps` each, zero
// padded).
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
  filter_bank bank;
  bank.taps = static_cast<int>(std::ceil(support)) * 2 + 1;
  bank.first.resize(static_cast<std::size_t>(out_size));
  bank.count.resize(static_cast<std::size_t>(out_size));
  bank.weights.assign(static_cast<std::size_t>(out_size) * bank.taps, 0);
  std::vector<double> w(static_cast<std::size_t>(bank.taps));
  for (int i = 0; i < out_size; ++i) {
    const double center = in_start + (i + 0.5) * scale;
    int lo = static_cast<int>(std::floor(center - support));
    int hi = static_cast<int>(std::ceil(center + support));
    lo = std::max(lo, 0);
    hi = std::min(hi, in_size);
    if (hi - lo > bank.taps) hi = lo + bank.taps;
    double total = 0;
    for (int x = lo; x < hi; ++x) {
      const double d = std::abs((x + 0.5 - center) / support);
      w[static_cast<std::size_t>(x - lo)] = d < 1.0 ? 1.0 - d : 0.0;
      total += w[static_cast<std::size_t>(x - lo)];
    }
    if (total <= 0) {  // a sliver at an edge: take the nearest sample
      lo = std::clamp(static_cast<int>(center), 0, in_size - 1);
      hi = lo + 1;
      w[0] = total = 1.0;
    }
    bank.first[static_cast<std::size_t>(i)] = lo;
    bank.count[static_cast<std::size_t>(i)] = hi - lo;
    std::int16_t* out = &bank.weights[static_cast<std::size_t>(i) * bank.taps];
    std::int32_t sum = 0;
    int biggest = 0;
    for (int x = lo; x < hi; ++x) {
      const auto k = static_cast<std::size_t>(x - lo);
      out[k] = static_cast<std::int16_t>(std::lround(w[k] / total * (1 << weight_bits)));
      sum += out[k];
      if (out[k] > out[biggest]) biggest = static_cast<int>(k);
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

// One output row of the horizontal pass: `in` points at source column 0 of the row.
template <int C>
void horizontal_row(const std::uint8_t* in, std::uint8_t* out, const filter_bank& b, int out_w,
                    int column_offset) {
  for (int x = 0; x < out_w; ++x) {
    const auto i = static_cast<std::size_t>(x);
    const std::int16_t* k = &b.weights[i * static_cast<std::size_t>(b.taps)];
    const std::uint8_t* p = in + static_cast<std::ptrdiff_t>(b.first[i] - column_offset) * C;
    std::int32_t acc[C] = {};
    for (int t = 0, n = b.count[i]; t < n; ++t)
      for (int c = 0; c < C; ++c) acc[c] += k[t] * p[t * C + c];
    for (int c = 0; c < C; ++c) out[i * C + static_cast<std::size_t>(c)] = clamp_round(acc[c]);
  }
}

inline void horizontal_row(int channels, const std::uint8_t* in, std::uint8_t* out,
                           const filter_bank& b, int out_w, int column_offset) {
  switch (channels) {
    case 1: return horizontal_row<1>(in, out, b, out_w, column_offset);
    case 3: return horizontal_row<3>(in, out, b, out_w, column_offset);
    case 4: return horizontal_row<4>(in, out, b, out_w, column_offset);
    default: break;
  }
}

// One output row of the vertical pass: a weighted sum of whole rows (a loop compilers
// vectorise). `row(j)` is source row j.
template <class Row>
void vertical_row(Row row, const filter_bank& b, int y, std::uint8_t* out, std::size_t bytes,
                  std::vector<std::int32_t>& acc) {
  const auto i = static_cast<std::size_t>(y);
  const std::int16_t* k = &b.weights[i * static_cast<std::size_t>(b.taps)];
  std::fill(acc.begin(), acc.begin() + static_cast<std::ptrdiff_t>(bytes), 0);
  std::int32_t* a = acc.data();
  for (int t = 0, n = b.count[i]; t < n; ++t) {
    const std::uint8_t* in = row(b.first[i] + t);
    const std::int16_t weight = k[t];
    // 16-bit x 16-bit into 32: SSE2 has that multiply; a 32-bit one it has not.
    for (std::size_t j = 0; j < bytes; ++j) a[j] += weight * static_cast<std::int16_t>(in[j]);
  }
  for (std::size_t j = 0; j < bytes; ++j) out[j] = clamp_round(a[j]);
}

/// Resamples the source rectangle (x0, y0, w, h), in source pixels, onto the whole target.
/// `channels` (1, 3 or 4) interleaved uint8 channels. Shrinking rows first when the height
/// shrinks (the horizontal pass then runs on fewer rows), columns first otherwise.
inline void resample(const image_view& src, int channels, double x0, double y0, double w,
                     double h, const image_target& dst) {
  const filter_bank hb = make_filter_bank(src.width, x0, w, dst.width);
  const filter_bank vb = make_filter_bank(src.height, y0, h, dst.height);
  const auto c = static_cast<std::size_t>(channels);
  std::vector<std::int32_t> acc;
  if (dst.height < h) {
    // Vertical first, over the source columns the horizontal pass reads.
    const int col_lo = hb.first.front();
    int col_hi = 0;
    for (int x = 0; x < dst.width; ++x)
      col_hi = std::max(col_hi, hb.first[static_cast<std::size_t>(x)] +
                                    hb.count[static_cast<std::size_t>(x)]);
    const std::size_t bytes = static_cast<std::size_t>(col_hi - col_lo) * c;
    std::vector<std::uint8_t> tmp(static_cast<std::size_t>(dst.height) * bytes);
    acc.resize(bytes);
    auto row = [&](int j) { return src.data + j * src.stride + static_cast<std::ptrdiff_t>(col_lo) * channels; };
    for (int y = 0; y < dst.height; ++y)
      vertical_row(row, vb, y, tmp.data() + static_cast<std::size_t>(y) * bytes, bytes, acc);
    for (int y = 0; y < dst.height; ++y)
      horizontal_row(channels, tmp.data() + static_cast<std::size_t>(y) * bytes,
                     dst.data + y * dst.stride, hb, dst.width, col_lo);
  } else {
    // Horizontal first, over the source rows the vertical pass reads.
    const int row_lo = vb.first.front();
    int row_hi = 0;
    for (int y = 0; y < dst.height; ++y)
      row_hi = std::max(row_hi, vb.first[static_cast<std::size_t>(y)] +
                                    vb.count[static_cast<std::size_t>(y)]);
    const std::size_t bytes = static_cast<std::size_t>(dst.width) * c;
    std::vector<std::uint8_t> tmp(static_cast<std::size_t>(row_hi - row_lo) * bytes);
    for (int j = row_lo; j < row_hi; ++j)
      horizontal_row(channels, src.data + j * src.stride,
                     tmp.data() + static_cast<std::size_t>(j - row_lo) * bytes, hb, dst.width, 0);
    acc.resize(bytes);
    auto row = [&](int j) { return tmp.data() + static_cast<std::size_t>(j - row_lo) * bytes; };
    for (int y = 0; y < dst.height; ++y)
      vertical_row(row, vb, y, dst.data + y * dst.stride, bytes, acc);
  }
}

}  // namespace spdl::io::detail
