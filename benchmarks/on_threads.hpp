#pragma once
// The plain-threads baseline shape the workloads share: items handed out by an atomic counter
// to a fixed number of threads.

#include <atomic>
#include <cstddef>
#include <functional>
#include <thread>
#include <vector>

namespace spdl::bench {

/// Runs `work(i)` for every i in [0, count) on `workers` threads; returns when all are done.
inline void on_threads(unsigned workers, std::size_t count,
                       const std::function<void(std::size_t)>& work) {
  std::atomic<std::size_t> next{0};
  std::vector<std::thread> threads;
  for (unsigned t = 0; t < workers; ++t)
    threads.emplace_back([&] {
      for (std::size_t i; (i = next.fetch_add(1)) < count;) work(i);
    });
  for (auto& t : threads) t.join();
}

}  // namespace spdl::bench
