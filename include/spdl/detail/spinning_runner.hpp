#pragma once
// Runs an io_context on the calling thread like `run()`, but spins briefly (yielding the CPU)
// before it blocks. A post from another thread to a context whose threads are blocked costs a
// futex or eventfd wake-up, microseconds each; the engine's hand-offs (loop -> pool -> loop)
// usually come microseconds apart, so a short spin turns most of them into plain queue pushes.

#include <spdl/detail/asio.hpp>
#include <spdl/detail/clock.hpp>

#include <chrono>
#include <optional>
#include <thread>
#include <vector>

namespace spdl::detail {

inline constexpr std::chrono::microseconds default_spin{50};

inline void run_spinning(asio::io_context& ctx, std::chrono::microseconds spin = default_spin) {
  while (!ctx.stopped()) {
    if (ctx.poll() > 0) continue;
    bool busy = false;
    const auto until = clock::now() + spin;
    do {
      std::this_thread::yield();
      if (ctx.poll() > 0) {
        busy = true;
        break;
      }
    } while (!ctx.stopped() && clock::now() < until);
    if (!busy) ctx.run_one();
  }
}

/// The worker pool: `n` threads that run blocking stage functions.
class worker_pool {
 public:
  explicit worker_pool(std::size_t n) : ctx_(static_cast<int>(n)), guard_(ctx_.get_executor()) {
    threads_.reserve(n);
    for (std::size_t i = 0; i < n; ++i) threads_.emplace_back([this] { run_spinning(ctx_); });
  }
  worker_pool(const worker_pool&) = delete;
  worker_pool& operator=(const worker_pool&) = delete;
  ~worker_pool() { join(); }

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
  std::vector<std::thread> threads_;
};

}  // namespace spdl::detail
