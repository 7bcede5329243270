#pragma once
// The hand-off from the loop thread to the consumer thread: the only queue that crosses threads.
//
// The consumer takes every ready item under one lock into a private batch; an item still in that
// batch keeps its place in the capacity (count_), so memory stays bounded. Each side wakes the
// other only when it is actually waiting: the consumer through a condition variable, the writer
// (a coroutine on the loop) by posting its resume handler.

#include <spdl/detail/asio.hpp>
#include <spdl/detail/clock.hpp>
#include <spdl/detail/queue_counters.hpp>
#include <spdl/error.hpp>

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

namespace spdl::detail {

template <class T>
class sink_queue {
 public:
  explicit sink_queue(std::size_t capacity) : capacity_(capacity) {
    items_.reserve(capacity);
    batch_.reserve(capacity);
  }

  // ---- loop side -------------------------------------------------------------------------------

  enum class put_result { ok, full, closed };

  /// Puts `first`, then as many items as `more()` yields while there is room, under one lock.
  /// `more` returns std::optional<T> (empty: nothing more now).
  template <class More>
  put_result try_put(T& first, More&& more) {
    if (count_.load(std::memory_order_seq_cst) >= capacity_) return put_result::full;
    bool wake;
    {
      std::lock_guard lock(mutex_);
      if (closed_) return put_result::closed;
      if (items_.empty()) counters_.filled();
      push_locked(first);
      while (count_.load(std::memory_order_seq_cst) < capacity_) {
        std::optional<T> next = more();
        if (!next) break;
        push_locked(*next);
      }
      wake = consumer_waiting_;
    }
    if (wake) ready_.notify_one();
    return put_result::ok;
  }

  put_result try_put(T& value) {
    return try_put(value, [] { return std::optional<T>(); });
  }

  [[nodiscard]] bool has_room() const noexcept {
    return count_.load(std::memory_order_seq_cst) < capacity_;
  }

  /// Waits until there is room (true) or the queue is closed (false). The single writer waits
  /// for room before it takes an item from upstream, so no item waits outside a queue.
  asio::awaitable<bool> async_wait_room() {
    const auto t0 = clock::now();
    co_await suspend_with(wait_for_room{this});
    std::lock_guard lock(mutex_);
    counters_.put_wait += since(t0);
    co_return !closed_;
  }

  /// End of stream, with the failures that ended it (if any). Wakes both sides.
  void close(std::vector<stage_failure> failures = {}) {
    {
      std::lock_guard lock(mutex_);
      if (closed_) return;
      closed_ = true;
      failures_ = std::move(failures);
      wake_writer_locked();
    }
    ready_.notify_all();
  }

  // ---- consumer side ---------------------------------------------------------------------------

  enum class get_result { item, end, timeout };

  /// The next item into `out`. At the end of the stream: `end`, or pipeline_failure when stages
  /// failed (every time it is asked again, too).
  get_result get(std::optional<T>& out, std::optional<clock::time_point> deadline) {
    if (next_ == batch_.size() && !refill(deadline)) {
      std::lock_guard lock(mutex_);
      if (!closed_) return get_result::timeout;
      if (!failures_.empty()) throw pipeline_failure(failures_);
      return get_result::end;
    }
    out.emplace(std::move(batch_[next_++]));
    count_.fetch_sub(1, std::memory_order_seq_cst);
    if (writer_waiting_.load(std::memory_order_seq_cst)) {
      std::lock_guard lock(mutex_);
      wake_writer_locked();
    }
    return get_result::item;
  }

  [[nodiscard]] queue_stats snapshot(std::chrono::nanoseconds elapsed) const {
    std::lock_guard lock(mutex_);
    return counters_.snapshot("sink", elapsed, clock::now());
  }

 private:
  struct wait_for_room {
    sink_queue* q;
    void operator()(resume_handler h) const {
      std::lock_guard lock(q->mutex_);
      q->writer_.handler.emplace(std::move(h));
      q->writer_waiting_.store(true, std::memory_order_seq_cst);
      if (q->closed_ || q->count_.load(std::memory_order_seq_cst) < q->capacity_)
        q->wake_writer_locked();
    }
  };

  void push_locked(T& value) {
    items_.push_back(std::move(value));
    count_.fetch_add(1, std::memory_order_seq_cst);
    ++counters_.items;
  }

  void wake_writer_locked() {
    if (writer_.waiting()) {
      writer_waiting_.store(false, std::memory_order_seq_cst);
      writer_.resume();
    }
  }

  // Takes every ready item into the private batch. False on timeout or at end of stream.
  bool refill(std::optional<clock::time_point> deadline) {
    batch_.clear();
    next_ = 0;
    std::unique_lock lock(mutex_);
    if (items_.empty() && !closed_) {
      // Spin briefly before sleeping: the writer is usually microseconds away.
      lock.unlock();
      for (int i = 0; i < 64 && count_.load(std::memory_order_acquire) == 0; ++i)
        std::this_thread::yield();
      lock.lock();
      const auto t0 = clock::now();
      consumer_waiting_ = true;
      while (items_.empty() && !closed_) {
        if (!deadline) {
          ready_.wait(lock);
        } else if (ready_.wait_until(lock, *deadline) == std::cv_status::timeout) {
          break;
        }
      }
      consumer_waiting_ = false;
      counters_.get_wait += since(t0);
    }
    if (items_.empty()) return false;
    batch_.swap(items_);
    counters_.emptied();
    return true;
  }

  const std::size_t capacity_;
  mutable std::mutex mutex_;
  std::condition_variable ready_;
  std::vector<T> items_;                     // guarded by mutex_
  bool closed_ = false;                      // guarded by mutex_
  bool consumer_waiting_ = false;            // guarded by mutex_
  std::vector<stage_failure> failures_;      // guarded by mutex_
  parked writer_;                            // guarded by mutex_
  queue_counters counters_;                  // guarded by mutex_
  std::atomic<std::size_t> count_{0};        // items_ + the consumer's batch not yet handed out
  std::atomic<bool> writer_waiting_{false};
  std::vector<T> batch_;                     // consumer thread only
  std::size_t next_ = 0;                     // consumer thread only
};

}  // namespace spdl::detail
