#pragma once
// How long the stress tests' streams are: long in Release, shorter under the sanitizers (ASan
// runs them about 2 times slower, TSan about 4 times, and each ctest case has 120 s), and
// SPDL_STRESS_SCALE (a factor, default 1) lengthens them for a soak. `thread_sanitizer`: whether
// this build runs under TSan, which makes every call of nanoseconds take hundreds.

#include <cstdlib>

namespace spdl::test {

#if defined(__SANITIZE_THREAD__)
inline constexpr int stress_divisor = 8;
inline constexpr bool thread_sanitizer = true;
#elif defined(__SANITIZE_ADDRESS__)
inline constexpr int stress_divisor = 4;
inline constexpr bool thread_sanitizer = false;
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
inline constexpr int stress_divisor = 8;
inline constexpr bool thread_sanitizer = true;
#elif __has_feature(address_sanitizer)
inline constexpr int stress_divisor = 4;
inline constexpr bool thread_sanitizer = false;
#else
inline constexpr int stress_divisor = 1;
inline constexpr bool thread_sanitizer = false;
#endif
#else
inline constexpr int stress_divisor = 1;
inline constexpr bool thread_sanitizer = false;
#endif

/// `release_items` in a Release build, divided under a sanitizer, times SPDL_STRESS_SCALE.
inline int stress_items(int release_items) {
  double scale = 1;
  if (const char* s = std::getenv("SPDL_STRESS_SCALE")) scale = std::atof(s);
  if (scale <= 0) scale = 1;
  return static_cast<int>(release_items / stress_divisor * scale);
}

}  // namespace spdl::test
