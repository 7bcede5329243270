#pragma once
// Runs an io_context on the calling thread like `run()`, but spins briefly before it blocks
// (see spin.hpp): a post to a context whose threads spin is a plain queue push, while one to a
// context whose threads sleep costs a futex or eventfd wake-up.

#include <spdl/detail/asio.hpp>
#include <spdl/detail/spin.hpp>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <optional>
#include <thread>
#include <vector>

namespace spdl::detail {

/// Runs `ctx` like `run()` until it stops, spinning briefly before blocking. `pending`, when
/// given, counts work posted to `ctx` and not yet started: spinning then watches that counter
/// instead of polling (and locking) the context.
inline void run_spinning(asio::io_context& ctx, const std::atomic<std::size_t>* pending = nullptr,
                         std::chrono::microseconds spin = default_spin) {
  auto ready = [&] {
    if (ctx.stopped()) return true;
    if (pending && pending->load(std::memory_order_acquire) == 0) return false;
    return ctx.poll() > 0;
  };
  while (!ctx.stopped()) {
    if (ctx.poll() > 0) continue;
    if (!spin_until(ready, spin)) ctx.run_one();
  }
}

/// The worker pool: `n` threads that run blocking stage functions, spinning briefly for the
/// next one before they sleep.
class worker_pool {
 public:
  explicit worker_pool(std::size_t n) : ctx_(static_cast<int>(n)), guard_(ctx_.get_executor()) {
    threads_.reserve(n);
    for (std::size_t i = 0; i < n; ++i)
      threads_.emplace_back([this] { run_spinning(ctx_, &pending_); });
  }
  worker_pool(const worker_pool&) = delete;
  worker_pool& operator=(const worker_pool&) = delete;
  ~worker_pool() { join(); }

  /// Runs `f()` on one of the threads.
  template <class F>
  void post(F&& f) {
    pending_.fetch_add(1, std::memory_order_release);
    asio::post(ctx_, [this, f = std::forward<F>(f)]() mutable {
      pending_.fetch_sub(1, std::memory_order_relaxed);
      f();
    });
  }

  [[nodiscard]] asio::io_context::executor_type get_executor() noexcept {
    return ctx_.get_executor();
  }

  /// Lets the threads finish the work already posted, then joins them.
  void join() {
    guard_.reset();
    for (auto& t : threads_)
      if (t.joinable()) t.join();
  }

 private:
  asio::io_context ctx_;
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> guard_;
  std::atomic<std::size_t> pending_{0};
  std::vector<std::thread> threads_;
};

}  // namespace spdl::detail
