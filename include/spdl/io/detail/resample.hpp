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
  std::vector<std::int32_t> weights;
};

// Output samples 0..out_size map onto the input interval [in_start, in_start + in_length).
inline filter_bank make_filter_bank(int in_size, double in_start, double in_length, int out_size) {
  const double scale = in_length / out_size;
  const double support = scale > 1.0 ? scale : 1.0;  // the triangle's half-width, in input pixels
  filter_bank bank;
  bank.taps = static_cast<int>(std::ceil(support)) * 2 + 1;
  bank.first.resize(static_cast<std::size_t>(out_size));
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
    std::int32_t* out = &bank.weights[static_cast<std::size_t>(i) * bank.taps];
    std::int32_t sum = 0;
    int biggest = 0;
    for (int x = lo; x < hi; ++x) {
      const auto k = static_cast<std::size_t>(x - lo);
      out[k] = static_cast<std::int32_t>(std::lround(w[k] / total * (1 << weight_bits)));
      sum += out[k];
      if (out[k] > out[biggest]) biggest = static_cast<int>(k);
    }
    out[biggest] += (1 << weight_bits) - sum;  // exactly 1.0: flat areas stay flat
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

/// Resamples the source rectangle (x0, y0, w, h), in source pixels, onto the whole target.
/// `channels` interleaved uint8 channels.
inline void resample(const image_view& src, int channels, double x0, double y0, double w,
                     double h, const image_target& dst) {
  const filter_bank hb = make_filter_bank(src.width, x0, w, dst.width);
  const filter_bank vb = make_filter_bank(src.height, y0, h, dst.height);
  // The source rows the vertical pass reads.
  int row_lo = src.height, row_hi = 0;
  for (int i = 0; i < dst.height; ++i) {
    row_lo = std::min(row_lo, vb.first[static_cast<std::size_t>(i)]);
    row_hi = std::max(row_hi, std::min(src.height, vb.first[static_cast<std::size_t>(i)] + vb.taps));
  }
  const int rows = row_hi - row_lo;
  const std::size_t row_bytes = static_cast<std::size_t>(dst.width) * channels;
  std::vector<std::uint8_t> tmp(static_cast<std::size_t>(rows) * row_bytes);

  // Horizontal pass: the needed source rows, at the target width.
  for (int y = 0; y < rows; ++y) {
    const std::uint8_t* in = src.data + (row_lo + y) * src.stride;
    std::uint8_t* out = tmp.data() + static_cast<std::size_t>(y) * row_bytes;
    for (int x = 0; x < dst.width; ++x) {
      const std::int32_t* k = &hb.weights[static_cast<std::size_t>(x) * hb.taps];
      const int first = hb.first[static_cast<std::size_t>(x)];
      const int n = std::min(hb.taps, src.width - first);
      for (int c = 0; c < channels; ++c) {
        std::int32_t acc = 0;
        const std::uint8_t* p = in + static_cast<std::ptrdiff_t>(first) * channels + c;
        for (int t = 0; t < n; ++t) acc += k[t] * p[t * channels];
        out[static_cast<std::size_t>(x) * channels + c] = clamp_round(acc);
      }
    }
  }
  // Vertical pass: whole rows at a time (a loop the compiler vectorises).
  std::vector<std::int32_t> acc(row_bytes);
  for (int y = 0; y < dst.height; ++y) {
    const std::int32_t* k = &vb.weights[static_cast<std::size_t>(y) * vb.taps];
    const int first = vb.first[static_cast<std::size_t>(y)];
    const int n = std::min(vb.taps, src.height - first);
    std::fill(acc.begin(), acc.end(), 0);
    for (int t = 0; t < n; ++t) {
      if (k[t] == 0) continue;
      const std::uint8_t* in = tmp.data() + static_cast<std::size_t>(first + t - row_lo) * row_bytes;
      const std::int32_t weight = k[t];
      for (std::size_t i = 0; i < row_bytes; ++i) acc[i] += weight * in[i];
    }
    std::uint8_t* out = dst.data + y * dst.stride;
    for (std::size_t i = 0; i < row_bytes; ++i) out[i] = clamp_round(acc[i]);
  }
}

}  // namespace spdl::io::detail
