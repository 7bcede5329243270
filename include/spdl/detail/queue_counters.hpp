#pragma once
// Counters behind spdl::queue_stats, updated by whoever owns the queue (no synchronisation here).

#include <spdl/detail/clock.hpp>
#include <spdl/pipeline/stats.hpp>

#include <cstddef>
#include <string>

namespace spdl::detail {

struct queue_counters {
  std::size_t items = 0;
  std::chrono::nanoseconds put_wait{0};
  std::chrono::nanoseconds get_wait{0};
  std::chrono::nanoseconds occupied{0};
  clock::time_point occupied_since{};
  bool is_occupied = false;

  // Called when the queue goes from empty to non-empty, and back. These transitions can come
  // once per item, so they read the coarse clock (see coarse_now: exact on average).
  void filled() noexcept {
    if (!is_occupied) {
      is_occupied = true;
      occupied_since = coarse_now();
    }
  }
  void emptied() noexcept { emptied(coarse_now()); }
  /// Emptied at `at`, a time another thread read (the sink's consumer): no earlier than the
  /// stretch's start, or the stretch counts nothing.
  void emptied(clock::time_point at) noexcept {
    if (is_occupied) {
      is_occupied = false;
      if (at > occupied_since) occupied += at - occupied_since;
    }
  }

  [[nodiscard]] queue_stats snapshot(std::string name, std::chrono::nanoseconds elapsed,
                                     clock::time_point now) const {
    queue_stats s;
    s.name = std::move(name);
    s.num_items = items;
    if (items > 0) {
      s.avg_put_wait = put_wait / static_cast<long long>(items);
      s.avg_get_wait = get_wait / static_cast<long long>(items);
    }
    auto busy = occupied;
    if (is_occupied && now > occupied_since) busy += now - occupied_since;
    if (elapsed.count() > 0) {
      s.occupancy = static_cast<double>(busy.count()) / static_cast<double>(elapsed.count());
      if (s.occupancy > 1.0) s.occupancy = 1.0;
      s.qps = static_cast<double>(items) * 1e9 / static_cast<double>(elapsed.count());
    }
    return s;
  }
};

}  // namespace spdl::detail
