#pragma once
// Counters behind spdl::stage_stats; owned and updated by the loop thread only.

#include <spdl/detail/p2_quantile.hpp>
#include <spdl/pipeline/stats.hpp>

#include <chrono>
#include <cstddef>
#include <string>

namespace spdl::detail {

struct stage_counters {
  std::string name;
  std::size_t concurrency = 1;
  std::size_t tasks = 0;
  std::size_t failures = 0;
  std::chrono::nanoseconds total{0};
  p2_quantile p90{0.90};
  p2_quantile p99{0.99};

  void record(std::chrono::nanoseconds t) noexcept {
    ++tasks;
    total += t;
    p90.add(static_cast<double>(t.count()));
    p99.add(static_cast<double>(t.count()));
  }

  [[nodiscard]] stage_stats snapshot() const {
    stage_stats s;
    s.name = name;
    s.concurrency = concurrency;
    s.num_tasks = tasks;
    s.num_failures = failures;
    if (tasks > 0) s.avg_time = total / static_cast<long long>(tasks);
    s.p90_time = std::chrono::nanoseconds(static_cast<long long>(p90.value()));
    s.p99_time = std::chrono::nanoseconds(static_cast<long long>(p99.value()));
    return s;
  }
};

}  // namespace spdl::detail
