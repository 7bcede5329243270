#pragma once
// Brief spinning before blocking. Hand-offs between the engine's threads usually come
// microseconds apart; a futex or eventfd wake-up costs several. Spinning pauses the CPU between
// checks and yields it only now and then: a yield is a system call, and with more threads than
// cores (loop, pool, consumer) the thread being waited for may need this very core.

#include <spdl/detail/clock.hpp>

#include <atomic>
#include <chrono>
#include <thread>

#if defined(__linux__)
#include <sched.h>
#endif

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

/// Another program on the calling thread's core, as the thread's own yields tell: a yield that
/// gave the core up for `long_yield` or more (the engine's threads hand work to each other in
/// microseconds; another program's time slice lasts about a millisecond or more). `spin_until`
/// notes such yields. For `back_off` after one, the waits that ask (`recently`) do not spin:
/// they block at once, and whoever ends the wait wakes them.
///
/// Why: Linux's scheduler (EEVDF, 6.6 on) moves a thread's deadline a slice later at each
/// sched_yield, and a thread that spins never sleeps, so it is never a woken thread, which the
/// scheduler places ahead of a program that has had its share. Where another program holds the
/// core, a spinner's yield hands it a whole slice, and the threads it waits for wait behind it.
/// Asked only where the loop thread alone does the loop's work (an awaitable stage:
/// scheduler.hpp), where every item goes from thread to thread through it; where pool threads
/// do that work too, they hand over without a wake-up, and blocking there cost more than it
/// saved (a pool stage with one core busy: 162 -> 298-401 ns/item). benchmarks/README.md,
/// "A spinner's yield on a core another program holds", has the figures; the threshold of
/// 1 ms rather than 200 us: on an idle machine a few yields a second among the engine's own
/// threads (or a virtual machine's) took over 200 us.
class contended_core {
 public:
  static constexpr std::chrono::milliseconds long_yield{1};
  static constexpr std::chrono::milliseconds back_off{50};

  /// A yield of the calling thread took `took`.
  static void yielded(clock::duration took) noexcept {
    if (took >= long_yield) seen() = coarse_now();
  }
  /// Whether a yield of the calling thread proved long within the last `back_off`.
  [[nodiscard]] static bool recently() noexcept {
    const clock::time_point at = seen();
    return at != clock::time_point{} && coarse_now() - at < back_off;
  }

 private:
  static clock::time_point& seen() noexcept {
    static thread_local clock::time_point at{};
    return at;
  }
};

/// Calls `ready()` until it returns true (then true) or `budget` has passed (then false).
/// `yield_core()` gives the core up now and then (std::this_thread::yield, and what the caller
/// must say around it: on a busy machine the yield can last another program's time slice; such
/// a yield is noted: contended_core).
template <class Ready, class Yield>
bool spin_until(Ready&& ready, std::chrono::microseconds budget, Yield&& yield_core) {
  clock::time_point until{};  // read the clock only once the wait proves not to be short
  clock::time_point yielded_at{};
  for (unsigned round = 1;; ++round) {
    if (ready()) {
      if (round > 8) contended_core::yielded(clock::now() - yielded_at);  // it has yielded
      return true;
    }
    for (int i = 0; i < 16; ++i) cpu_relax();
    if (round % 8 == 0) {
      const clock::time_point now = clock::now();
      if (round == 8) {
        until = now + budget;
      } else if (now >= until) {
        contended_core::yielded(now - yielded_at);
        return false;
      }
      yielded_at = now;
      yield_core();
    }
  }
}

template <class Ready>
bool spin_until(Ready&& ready, std::chrono::microseconds budget = default_spin) {
  return spin_until(std::forward<Ready>(ready), budget, [] { std::this_thread::yield(); });
}

/// The core the calling thread runs on; -1 where that is not known.
inline int current_core() noexcept {
#if defined(__linux__)
  return sched_getcpu();
#else
  return -1;
#endif
}

/// Where a thread that another one spins for runs: the core it was last seen on while
/// runnable, or none while it sleeps in the engine's own waits (one that blocks elsewhere, in
/// the user's code or a source's read, keeps its mark: a spinner on that core then yields once
/// too early, no more). A spinner on that very core keeps it off the core it needs: they take
/// turns only at the spinner's yields, some microseconds of spin apart, each a hand-off. So
/// the spinner yields at once (`spin_until` yields between its looks anyway, so
/// nothing is lost where the thread is elsewhere). With one core busy with another program,
/// the loop thread and the consumer of benchmarks/engine_overhead.cpp's loop stage shared the
/// other and spun for each other so at each of the sink's runs: 266-302 ns/item (222 of CPU);
/// 159-190 (153-161) with a yield at once. Looked at as a spin begins (sched_getcpu: a read of
/// the kernel's per-thread area or a vDSO call on x86-64, no system call). Only where the loop
/// thread alone makes the sink's items: where pool threads and the consumer do the loop's work
/// too (scheduler.hpp), the loop thread mostly dozes, and a yield to it at once made the
/// dataloader benchmark's pipelines 8-15% slower with a core busy.
class core_mark {
 public:
  /// The calling thread runs here (and may be waited for); returns its core.
  int set() noexcept {
    const int core = current_core();
    // Stored only when it moved: the other thread reads the line at each of its spins, and a
    // store per spin would move the line between their cores each time.
    if (core_.load(std::memory_order_relaxed) != core)
      core_.store(core, std::memory_order_relaxed);
    return core;
  }
  /// The calling thread is about to sleep: nobody spinning for it holds its core.
  void clear() noexcept { core_.store(-1, std::memory_order_relaxed); }
  /// Whether the thread was last seen runnable on `core`.
  [[nodiscard]] bool on(int core) const noexcept {
    return core >= 0 && core_.load(std::memory_order_relaxed) == core;
  }

 private:
  std::atomic<int> core_{-1};
};

/// A lock for critical sections of a few instructions, shared by threads that hand work to each
/// other (BasicLockable). A std::mutex that is contended there costs a futex wait and a wake-up
/// (two system calls, and often a context switch) for a section that would be over in
/// nanoseconds. A waiter that spins long (its holder was preempted) yields the core.
class spin_lock {
 public:
  void lock() noexcept {
    unsigned spins = 0;
    while (locked_.exchange(true, std::memory_order_acquire)) {
      while (locked_.load(std::memory_order_relaxed)) {
        cpu_relax();
        if (++spins % 64 == 0) std::this_thread::yield();
      }
    }
  }
  void unlock() noexcept { locked_.store(false, std::memory_order_release); }

 private:
  std::atomic<bool> locked_{false};
};

}  // namespace spdl::detail
