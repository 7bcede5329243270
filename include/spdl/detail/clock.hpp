#pragma once
#include <chrono>

namespace spdl::detail {
using clock = std::chrono::steady_clock;

inline std::chrono::nanoseconds since(clock::time_point t0) noexcept {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(clock::now() - t0);
}
}  // namespace spdl::detail
