#pragma once
// Counters behind spdl::stage_stats; owned and updated by the loop only.
//
// Every call is counted; not every call is timed. Reading the clock twice costs tens of ns, as
// much as a whole call of a cheap stage (a range's next item, `x + 1` on the loop: a third of
// such a pipeline's time went to clocks and estimators). So once a stage has timed `warm_up`
// calls and they average under `cheap`, it times one call in `sample_every`: the mean and the
// percentiles then come from that sample, which for calls of microseconds is plenty.

#include <spdl/detail/p2_quantile.hpp>
#include <spdl/pipeline/stats.hpp>

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <string>

namespace spdl::detail {

struct stage_counters {
  std::string name;
  std::size_t concurrency = 1;
  std::size_t tasks = 0;
  std::size_t failures = 0;
  std::size_t timed = 0;  // the calls in `total` and the estimators
  std::chrono::nanoseconds total{0};
  p2_quantile p90{0.90};
  p2_quantile p99{0.99};

  static constexpr std::size_t warm_up = 1024;
  static constexpr std::chrono::nanoseconds cheap{5000};
  static constexpr std::size_t sample_every = 16;

  /// Whether to time the call about to start: every call until `warm_up` are timed, and every
  /// call of a stage whose timed calls average `cheap` or more; otherwise one in `sample_every`.
  [[nodiscard]] bool time_next() noexcept {
    return timed < warm_up || total >= cheap * static_cast<long long>(timed) ||
           ++untimed_starts_ % sample_every == 0;
  }

  /// Whether the stage's calls are cheap: `warm_up` calls timed, and under `cheap` on average.
  [[nodiscard]] bool cheap_calls() const noexcept {
    return timed >= warm_up && total < cheap * static_cast<long long>(timed);
  }

  /// A call that was timed (after time_next() said so).
  void record(std::chrono::nanoseconds t) noexcept {
    ++tasks;
    ++timed;
    total += t;
    p90.add(static_cast<double>(t.count()));
    p99.add(static_cast<double>(t.count()));
  }

  /// A call that was not.
  void count() noexcept { ++tasks; }

  /// A call that takes no time worth measuring (a batch closed, a group split).
  void record_instant() noexcept {
    if (time_next())
      record(std::chrono::nanoseconds{0});
    else
      count();
  }

  [[nodiscard]] stage_stats snapshot() const {
    stage_stats s;
    s.name = name;
    s.concurrency = concurrency;
    s.num_tasks = tasks;
    s.num_failures = failures;
    if (timed > 0) s.avg_time = total / static_cast<long long>(timed);
    s.p90_time = std::chrono::nanoseconds(static_cast<long long>(p90.value()));
    // Two separate estimators can cross where calls take nearly the same time; a p99 under the
    // p90 means nothing, so it is reported as the p90.
    s.p99_time = std::max(s.p90_time,
                          std::chrono::nanoseconds(static_cast<long long>(p99.value())));
    return s;
  }

 private:
  std::size_t untimed_starts_ = 0;
};

}  // namespace spdl::detail
