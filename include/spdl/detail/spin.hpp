#pragma once
// Brief spinning before blocking. Hand-offs between the engine's threads usually come
// microseconds apart; a futex or eventfd wake-up costs several. Spinning pauses the CPU between
// checks and yields it only now and then: a yield is a system call, and with more threads than
// cores (loop, pool, consumer) the thread being waited for may need this very core.

#include <spdl/detail/clock.hpp>

#include <chrono>
#include <thread>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

namespace spdl::detail {

inline void cpu_relax() noexcept {
#if defined(__x86_64__) || defined(__i386__)
  _mm_pause();
#elif defined(__aarch64__)
  asm volatile("yield");
#endif
}

inline constexpr std::chrono::microseconds default_spin{50};

/// Calls `ready()` until it returns true (then true) or `budget` has passed (then false).
template <class Ready>
bool spin_until(Ready&& ready, std::chrono::microseconds budget = default_spin) {
  clock::time_point until{};  // read the clock only once the wait proves not to be short
  for (unsigned round = 1;; ++round) {
    if (ready()) return true;
    for (int i = 0; i < 16; ++i) cpu_relax();
    if (round % 8 == 0) {
      if (round == 8)
        until = clock::now() + budget;
      else if (clock::now() >= until)
        return false;
      std::this_thread::yield();
    }
  }
}

}  // namespace spdl::detail
