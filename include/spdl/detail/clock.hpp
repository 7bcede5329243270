#pragma once
#include <chrono>
#include <ctime>

namespace spdl::detail {
using clock = std::chrono::steady_clock;

inline std::chrono::nanoseconds since(clock::time_point t0) noexcept {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(clock::now() - t0);
}

/// steady_clock's time at a coarse resolution (a few ms), several times cheaper to read. Good for
/// sums of many intervals (queue occupancy): an interval shorter than a tick reads as 0 or as a
/// whole tick, with the probability that makes the sum right on average. Not for one interval.
inline clock::time_point coarse_now() noexcept {
#if defined(__linux__) && defined(CLOCK_MONOTONIC_COARSE)
  // libstdc++ and libc++ build steady_clock on CLOCK_MONOTONIC: the same timeline.
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
  return clock::time_point(std::chrono::duration_cast<clock::duration>(
      std::chrono::seconds(ts.tv_sec) + std::chrono::nanoseconds(ts.tv_nsec)));
#else
  return clock::now();
#endif
}

/// The time since `t0`, a coarse_now() reading, by the coarse clock.
inline std::chrono::nanoseconds coarse_since(clock::time_point t0) noexcept {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(coarse_now() - t0);
}
}  // namespace spdl::detail
