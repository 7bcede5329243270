#pragma once
// Many threads doing the same checks at once (what re-entrancy tests need), and a scenario run
// with a deadline (what deadlock tests need).

#include <atomic>
#include <chrono>
#include <exception>
#include <functional>
#include <future>
#include <memory>
#include <optional>
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

/// Runs `scenario` on a thread of its own and waits for it at most `limit`, so that a hang fails
/// the test instead of hanging the suite: its result, or empty when it did not finish in time (an
/// exception it threw is rethrown). A hung scenario is abandoned, its thread detached: there is
/// no safe way to take down what it was running.
template <class R, class F>
std::optional<R> within(std::chrono::seconds limit, F scenario) {
  auto done = std::make_shared<std::promise<R>>();
  auto result = done->get_future();
  std::thread([done, scenario = std::move(scenario)]() mutable {
    try {
      done->set_value(scenario());
    } catch (...) {
      done->set_exception(std::current_exception());
    }
  }).detach();
  if (result.wait_for(limit) != std::future_status::ready) return std::nullopt;
  return result.get();
}

}  // namespace spdl::test
