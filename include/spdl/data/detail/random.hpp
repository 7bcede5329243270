#pragma once
/// \file
/// The random numbers behind the samplers and interleave: fixed algorithms written out here,
/// because std::uniform_int_distribution and std::shuffle differ between standard libraries
/// and a distributed job needs every rank, on any machine, to compute the same sequence.

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace spdl::data::detail {

/// SplitMix64's output function: a bijection of 64-bit words that scrambles every bit.
[[nodiscard]] constexpr std::uint64_t mix64(std::uint64_t z) noexcept {
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

/// SplitMix64 (Steele, Lea, Flood 2014): tiny state, passes BigCrush, and fully specified.
class splitmix64 {
 public:
  explicit constexpr splitmix64(std::uint64_t state) noexcept : state_(state) {}

  /// The generator of one (seed, stream) pair; the stream is the epoch. Mixing the stream
  /// before combining keeps (seed, epoch) and (seed + 1, epoch - 1) far apart.
  [[nodiscard]] static constexpr splitmix64 for_stream(std::uint64_t seed,
                                                       std::uint64_t stream) noexcept {
    return splitmix64{mix64(seed ^ mix64(stream + 0x9e3779b97f4a7c15ULL))};
  }

  constexpr std::uint64_t operator()() noexcept {
    state_ += 0x9e3779b97f4a7c15ULL;
    return mix64(state_);
  }

 private:
  std::uint64_t state_;
};

/// The high and low words of a 64 x 64 -> 128-bit product, without compiler extensions.
struct wide_product {
  std::uint64_t hi;
  std::uint64_t lo;
};
[[nodiscard]] constexpr wide_product multiply_wide(std::uint64_t a, std::uint64_t b) noexcept {
  constexpr std::uint64_t low32 = 0xffffffffULL;
  const std::uint64_t a_lo = a & low32, a_hi = a >> 32, b_lo = b & low32, b_hi = b >> 32;
  const std::uint64_t p0 = a_lo * b_lo, p1 = a_lo * b_hi, p2 = a_hi * b_lo, p3 = a_hi * b_hi;
  const std::uint64_t mid = (p0 >> 32) + (p1 & low32) + (p2 & low32);
  return {p3 + (p1 >> 32) + (p2 >> 32) + (mid >> 32), (mid << 32) | (p0 & low32)};
}

/// A uniform integer in [0, bound), bound >= 1, without modulo bias: Lemire's method
/// ("Fast random integer generation in an interval", 2019), rejecting the few low products
/// that would over-represent some values.
[[nodiscard]] constexpr std::uint64_t bounded(splitmix64& gen, std::uint64_t bound) noexcept {
  auto m = multiply_wide(gen(), bound);
  if (m.lo < bound) {
    const std::uint64_t threshold = (0 - bound) % bound;
    while (m.lo < threshold) m = multiply_wide(gen(), bound);
  }
  return m.hi;
}

/// A uniform double in [0, 1) with 53 random bits (every value a multiple of 2^-53).
[[nodiscard]] constexpr double uniform01(splitmix64& gen) noexcept {
  return static_cast<double>(gen() >> 11) * 0x1.0p-53;
}

/// Fisher–Yates over the whole vector, drawing with `bounded`.
template <class T>
void shuffle(std::vector<T>& v, splitmix64& gen) {
  for (std::size_t i = v.size(); i > 1; --i) {
    const auto j = static_cast<std::size_t>(bounded(gen, i));
    std::swap(v[i - 1], v[j]);
  }
}

/// Throws std::invalid_argument, prefixed with `who`, unless `weights` is a usable discrete
/// distribution: non-empty, each weight finite and >= 0, not all zero, a finite sum.
inline void check_weights(const std::vector<double>& weights, std::string_view who) {
  const auto fail = [&](const std::string& why) {
    throw std::invalid_argument(std::string(who) + ": weights " + why);
  };
  if (weights.empty()) fail("must not be empty");
  double total = 0.0;
  for (std::size_t i = 0; i < weights.size(); ++i) {
    const double w = weights[i];
    if (!std::isfinite(w))
      fail("must be finite, but weights[" + std::to_string(i) + "] is " + std::to_string(w));
    if (w < 0.0)
      fail("must be >= 0, but weights[" + std::to_string(i) + "] is " + std::to_string(w));
    total += w;
  }
  if (total == 0.0) fail("must not be all zero");
  if (!std::isfinite(total)) fail("must have a finite sum (they overflow a double)");
}

/// Draws an index with probability proportional to its weight: a binary search over the
/// running sums. A zero weight adds nothing to the running sum, so it is never the first sum
/// above the draw: its index is never drawn.
class weighted_choice {
 public:
  weighted_choice() = default;
  /// `weights` as check_weights accepts them, except that all zero is allowed (empty()).
  explicit weighted_choice(const std::vector<double>& weights) { reset(weights); }

  void reset(const std::vector<double>& weights) {
    sums_.assign(weights.size(), 0.0);
    last_positive_ = 0;
    double total = 0.0;
    for (std::size_t i = 0; i < weights.size(); ++i) {
      total += weights[i];
      sums_[i] = total;
      if (weights[i] > 0.0) last_positive_ = i;
    }
  }

  /// Whether every weight is zero (nothing can be drawn).
  [[nodiscard]] bool empty() const noexcept { return sums_.empty() || sums_.back() <= 0.0; }

  /// Requires !empty().
  [[nodiscard]] std::size_t operator()(splitmix64& gen) const {
    const double u = uniform01(gen) * sums_.back();
    const auto i = static_cast<std::size_t>(
        std::upper_bound(sums_.begin(), sums_.end(), u) - sums_.begin());
    // u can round up to the total itself; that draw belongs to the last weight that counts.
    return i < sums_.size() ? i : last_positive_;
  }

 private:
  std::vector<double> sums_;
  std::size_t last_positive_ = 0;
};

}  // namespace spdl::data::detail
