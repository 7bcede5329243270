#pragma once
/// \file
/// spdl::failure_budget: how many failed calls a stage tolerates before the stage itself fails.

#include <cstddef>
#include <limits>
#include <stdexcept>
#include <string>

namespace spdl {

/// How many failures (exceptions thrown by a stage's function for one item) are tolerated.
/// A failed item is counted, logged and dropped; once the budget is exceeded the stage fails
/// and the stream ends with spdl::pipeline_failure. The count ends there: calls still in flight
/// then, in that stage or before it, are dropped with the stream, whether they fail or not.
///
///     .pipe(decode, {.max_failures = spdl::failure_budget::count(10)})    // fails at the 11th
///     .build({.max_failures = spdl::failure_budget::rate(0.05)})        // shared by all stages
class failure_budget {
 public:
  /// Calls a rate budget waits for before it judges: early failures say little about a rate.
  static constexpr std::size_t probation = 100;

  /// Tolerates `n` failures: the stage fails at the (n+1)-th.
  static failure_budget count(std::size_t n) noexcept { return failure_budget{n, 0.0}; }

  /// Tolerates a failure rate up to `r` (0 < r <= 1). Checked at each failure once the stage has
  /// made at least `probation` calls; the stage fails when failures / calls > r.
  static failure_budget rate(double r) {
    if (!(r > 0.0 && r <= 1.0))
      throw std::invalid_argument("spdl::failure_budget::rate: the rate must be in (0, 1], got " +
                                  std::to_string(r));
    return failure_budget{0, r};
  }

  /// Tolerates every failure: failed items are counted and dropped, the stage never fails.
  static failure_budget unlimited() noexcept {
    return failure_budget{std::numeric_limits<std::size_t>::max(), 0.0};
  }

  /// Whether `failures` out of `calls` (both including the failure being judged) exceed it.
  [[nodiscard]] bool exceeded(std::size_t failures, std::size_t calls) const noexcept {
    if (rate_ > 0.0)
      return calls >= probation &&
             static_cast<double>(failures) > rate_ * static_cast<double>(calls);
    return failures > count_;
  }

  [[nodiscard]] bool is_rate() const noexcept { return rate_ > 0.0; }
  [[nodiscard]] bool is_unlimited() const noexcept {
    return rate_ == 0.0 && count_ == std::numeric_limits<std::size_t>::max();
  }
  /// The tolerated count (count budgets) and rate (rate budgets; 0 otherwise).
  [[nodiscard]] std::size_t max_count() const noexcept { return count_; }
  [[nodiscard]] double max_rate() const noexcept { return rate_; }

 private:
  failure_budget(std::size_t n, double r) noexcept : count_(n), rate_(r) {}

  std::size_t count_;
  double rate_;
};

}  // namespace spdl
