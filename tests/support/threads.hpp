#pragma once
// Many threads doing the same checks at once: what re-entrancy tests need.

#include <atomic>
#include <functional>
#include <thread>
#include <vector>

namespace spdl::test {

/// Runs `check(thread, round)` on `threads` threads, `rounds` times each, all at once; returns
/// how many calls returned false.
inline int failures_on_threads(int threads, int rounds, const std::function<bool(int, int)>& check) {
  std::atomic<int> failures{0};
  std::vector<std::thread> running;
  for (int t = 0; t < threads; ++t)
    running.emplace_back([&, t] {
      for (int round = 0; round < rounds; ++round)
        if (!check(t, round)) failures.fetch_add(1);
    });
  for (auto& t : running) t.join();
  return failures.load();
}

}  // namespace spdl::test
