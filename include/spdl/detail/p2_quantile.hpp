#pragma once
// The P² algorithm (Jain & Chlamtac, 1985): a streaming estimate of one quantile in O(1) memory,
// five markers whose heights track the minimum, p/2, p, (1+p)/2 and the maximum.

#include <algorithm>
#include <array>
#include <cmath>
#include <cstddef>

namespace spdl::detail {

class p2_quantile {
 public:
  explicit p2_quantile(double p) noexcept
      : p_(p), increment_{0.0, p / 2, p, (1 + p) / 2, 1.0} {}

  void add(double x) noexcept {
    if (count_ < 5) {
      height_[count_++] = x;
      if (count_ == 5) {
        std::sort(height_.begin(), height_.end());
        for (int i = 0; i < 5; ++i) position_[i] = i + 1;
        desired_ = {1.0, 1 + 2 * p_, 1 + 4 * p_, 3 + 2 * p_, 5.0};
      }
      return;
    }
    ++count_;
    int k;
    if (x < height_[0]) {
      height_[0] = x;
      k = 0;
    } else if (x >= height_[4]) {
      height_[4] = x;
      k = 3;
    } else {
      k = 0;
      while (k < 3 && x >= height_[k + 1]) ++k;
    }
    for (int i = k + 1; i < 5; ++i) ++position_[i];
    for (int i = 0; i < 5; ++i) desired_[i] += increment_[i];
    for (int i = 1; i < 4; ++i) adjust(i);
  }

  /// The estimate (exact while fewer than five values were seen; 0 before any).
  [[nodiscard]] double value() const noexcept {
    if (count_ >= 5) return height_[2];
    if (count_ == 0) return 0.0;
    std::array<double, 5> sorted = height_;
    std::sort(sorted.begin(), sorted.begin() + static_cast<std::ptrdiff_t>(count_));
    auto rank = static_cast<std::size_t>(std::ceil(p_ * static_cast<double>(count_)));
    return sorted[rank == 0 ? 0 : rank - 1];
  }

  [[nodiscard]] std::size_t count() const noexcept { return count_; }

 private:
  void adjust(int i) noexcept {
    double d = desired_[i] - position_[i];
    if ((d >= 1 && position_[i + 1] - position_[i] > 1) ||
        (d <= -1 && position_[i - 1] - position_[i] < -1)) {
      int s = d >= 0 ? 1 : -1;
      double q = parabolic(i, s);
      if (height_[i - 1] < q && q < height_[i + 1])
        height_[i] = q;
      else
        height_[i] = height_[i] + s * (height_[i + s] - height_[i]) /
                                      static_cast<double>(position_[i + s] - position_[i]);
      position_[i] += s;
    }
  }

  [[nodiscard]] double parabolic(int i, int s) const noexcept {
    const double n0 = position_[i - 1], n1 = position_[i], n2 = position_[i + 1];
    return height_[i] +
           s / (n2 - n0) *
               ((n1 - n0 + s) * (height_[i + 1] - height_[i]) / (n2 - n1) +
                (n2 - n1 - s) * (height_[i] - height_[i - 1]) / (n1 - n0));
  }

  double p_;
  std::array<double, 5> increment_;
  std::array<double, 5> height_{};
  std::array<long long, 5> position_{};
  std::array<double, 5> desired_{};
  std::size_t count_ = 0;
};

}  // namespace spdl::detail
