#pragma once
// The hand-off from the loop to the consumer thread: the only queue that crosses threads.
//
// A single-producer single-consumer ring: the sink writer (a coroutine on the loop) pushes, the
// consumer pops, and neither takes a lock on the way. A lock and a wake-up are spent only when a
// side actually waits: the consumer on a condition variable (after a brief spin), the writer by
// parking its coroutine, which the consumer resumes with a post.

#include <spdl/detail/scheduler.hpp>
#include <spdl/detail/clock.hpp>
#include <spdl/detail/queue_counters.hpp>
#include <spdl/detail/spin.hpp>
#include <spdl/error.hpp>

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <optional>
#include <vector>

namespace spdl::detail {

template <class T>
class sink_queue {
 public:
  explicit sink_queue(std::size_t capacity)
      : slots_(capacity),
        wake_threshold_(capacity < 2 ? 1 : capacity / 2),
        publish_run_(capacity < 4 ? 1 : capacity / 4) {}

  // ---- loop side (the single producer) ---------------------------------------------------------

  /// Before the writer starts: the loop's inbox, through which the consumer wakes it.
  /// (On the loop thread, while the consumer may already wait: hence atomic.)
  void attach(loop_inbox& inbox) noexcept { inbox_.store(&inbox, std::memory_order_release); }

  enum class put_result { ok, full, closed };

  /// Whether a put finds room. The writer's view of the head (`seen_head_`) is read again only
  /// when it says the queue is full: the consumer writes the head once per item, and a look at
  /// it takes that line from the consumer's core.
  [[nodiscard]] bool has_room() noexcept {
    if (written_ - seen_head_ < slots_.size()) return true;
    seen_head_ = head_.load(std::memory_order_acquire);
    return written_ - seen_head_ < slots_.size();
  }

  /// Writes `item` behind the items queued without showing it to the consumer yet: publish()
  /// shows what was written, a run of items for one look at the tail's line from the consumer's
  /// core instead of one per item. A run of a quarter of the queue is published at once, so
  /// that the consumer reads one part while the writer fills the next. False, leaving `item`
  /// alone, when full or closed.
  bool write(T& item) {
    if (closed_.load(std::memory_order_acquire) || !has_room()) return false;
    slots_[written_ % slots_.size()].emplace(std::move(item));
    if (++written_ - tail_.load(std::memory_order_relaxed) >= publish_run_) publish();
    return true;
  }

  /// Shows the consumer what write() wrote, waking it when it sleeps and half the queue is
  /// there (its wake-up costs this thread a system call; flush() wakes it for less when the
  /// loop runs out of work).
  void publish() {
    const std::uint64_t tail = tail_.load(std::memory_order_relaxed);
    if (written_ == tail) return;
    // Found empty: an occupied stretch begins, and the one before it ended when the consumer
    // took its last item (`emptied_at_`, stored before the head read here). Before the tail
    // moves: until then the consumer cannot take more, so `emptied_at_` stays that time.
    seen_head_ = head_.load(std::memory_order_acquire);
    if (seen_head_ == tail) filled();
    // Release, not seq_cst: a full fence here would wait for this line to come back from the
    // consumer, which reads it as it spins. wake_consumer's fence orders it before the look.
    tail_.store(written_, std::memory_order_release);
    // Only the writer counts (one thread at a time: the loop's role): a plain store, as a
    // locked add would also wait for the tail's line (x86).
    items_.store(items_.load(std::memory_order_relaxed) + (written_ - tail),
                 std::memory_order_relaxed);
    // The head seen is at most the consumer's: fewer queued than that means fewer queued.
    if (written_ - seen_head_ >= wake_threshold_ &&
        written_ - head_.load(std::memory_order_seq_cst) >= wake_threshold_)
      wake_consumer();
  }

  /// Puts `first`, then as many items as `more()` yields while there is room, and publishes
  /// them. `more` returns std::optional<T> (empty: nothing more now).
  template <class More>
  put_result try_put(T& first, More&& more) {
    if (closed_.load(std::memory_order_acquire)) return put_result::closed;
    if (!write(first)) return put_result::full;
    while (has_room()) {
      std::optional<T> next = more();
      if (!next) break;
      write(*next);
    }
    publish();
    return put_result::ok;
  }

  /// Puts an epoch boundary behind what was written (the caller saw room) and publishes; false
  /// when closed. The consumer is woken for it: the epoch's last items are there.
  bool put_boundary() {
    if (closed_.load(std::memory_order_acquire)) return false;
    slots_[written_ % slots_.size()].reset();  // an empty slot among the queued ones: a boundary
    ++written_;
    publish();
    wake_consumer();
    return true;
  }

  /// The loop is about to sleep: a sleeping consumer gets what there is now.
  /// Also a dozing loop thread, not holding the role (scheduler.hpp): hence seq_cst.
  void flush() {
    if (tail_.load(std::memory_order_seq_cst) != head_.load(std::memory_order_seq_cst))
      wake_consumer();
  }

  /// Waits until there is room (true) or the queue is closed (false). The single writer waits
  /// for room before it takes an item from upstream, so no item waits outside a queue.
  ///
  /// A wake-up is a hint, not a promise: the consumer wakes the writer when it sees it waiting
  /// after taking an item, and by then the slot it freed may have been filled by the writer
  /// (which then began a new wait). So the wait ends only on what it waited for, re-checked.
  asio::awaitable<bool> async_wait_room() {
    publish();  // what is written must be seen for room to be made
    const auto t0 = coarse_now();  // waits are summed: the coarse clock is exact on average
    for (;;) {
      if (closed_.load(std::memory_order_acquire)) break;
      if (has_room()) break;
      co_await suspend_with(wait_for_room{this});
    }
    put_wait_ns_.fetch_add(static_cast<std::uint64_t>(coarse_since(t0).count()),
                           std::memory_order_relaxed);
    co_return !closed_.load(std::memory_order_acquire);
  }

  /// End of stream, with the failures that ended it (if any). Wakes both sides. Items already
  /// in the queue stay readable.
  /// On the loop (or before the start): what was written is published first.
  void close(std::vector<stage_failure> failures = {}) {
    publish();
    std::lock_guard lock(mutex_);
    if (closed_.load(std::memory_order_relaxed)) return;
    failures_ = std::move(failures);
    closed_.store(true, std::memory_order_seq_cst);
    wake_writer_locked();
    ready_.notify_all();
  }

  // ---- consumer side (one thread at a time) ----------------------------------------------------

  enum class get_result { item, epoch_end, end, timeout };

  /// The next item into `out`; `epoch_end` once for each epoch boundary. At the end of the
  /// stream: `end`, or pipeline_failure when stages failed (every time it is asked again, too).
  get_result get(std::optional<T>& out, std::optional<clock::time_point> deadline) {
    std::uint64_t head = head_.load(std::memory_order_relaxed);
    if (tail_.load(std::memory_order_acquire) == head && !wait_for_item(head, deadline)) {
      std::lock_guard lock(mutex_);
      if (!closed_.load(std::memory_order_relaxed)) return get_result::timeout;
      if (!failures_.empty()) throw pipeline_failure(failures_);
      return get_result::end;
    }
    auto& slot = slots_[head % slots_.size()];
    const bool boundary = !slot.has_value();
    if (!boundary) {
      out.emplace(std::move(*slot));
      slot.reset();
    }
    // Taking the last item: when, for the writer's occupancy count (`filled`), before the head
    // moves (the item is there, so the tail is at least head + 1: equal, it is the last).
    if (tail_.load(std::memory_order_acquire) == head + 1)
      emptied_at_.store(coarse_now().time_since_epoch().count(), std::memory_order_relaxed);
    // A waiting writer is woken as soon as there is room, so that a consumer that reads one
    // item and pauses finds the queue full again (it is the prefetch the user sized). Woken
    // only once half the queue was read, it left the queue short of one item for as long as
    // the consumer paused.
    head_.store(head + 1, std::memory_order_seq_cst);
    if (writer_waiting_.load(std::memory_order_seq_cst)) {
      std::lock_guard lock(mutex_);
      wake_writer_locked();
    }
    return boundary ? get_result::epoch_end : get_result::item;
  }

  /// The items it holds at most (the sink's buffer_size).
  [[nodiscard]] std::size_t capacity() const noexcept { return slots_.size(); }

  [[nodiscard]] queue_stats snapshot(std::chrono::nanoseconds elapsed) const {
    // Occupied since the open stretch began: until now, or until the consumer emptied it.
    queue_counters c = occupancy_;
    if (tail_.load(std::memory_order_relaxed) == head_.load(std::memory_order_acquire))
      c.emptied(emptied_at());
    c.items = static_cast<std::size_t>(items_.load(std::memory_order_relaxed));
    c.put_wait = std::chrono::nanoseconds(put_wait_ns_.load(std::memory_order_relaxed));
    c.get_wait = std::chrono::nanoseconds(get_wait_ns_.load(std::memory_order_relaxed));
    return c.snapshot("sink", elapsed, clock::now());
  }

 public:
  /// Items queued now (the writer's view: exact on the loop, a snapshot elsewhere).
  [[nodiscard]] std::size_t size() const noexcept {
    return static_cast<std::size_t>(tail_.load(std::memory_order_relaxed) - head_.load(std::memory_order_relaxed));
  }

 private:
  struct wait_for_room {
    sink_queue* q;
    void operator()(resume_handler h) const {
      std::lock_guard lock(q->mutex_);
      q->writer_.handler.emplace(std::move(h));
      q->writer_waiting_.store(true, std::memory_order_seq_cst);
      // Pairs with the consumer's head_ store and writer_waiting_ load (both seq_cst): either it
      // sees this writer waiting, or this load sees the slot it freed.
      const bool room = q->written_ - q->head_.load(std::memory_order_seq_cst) < q->slots_.size();
      if (q->closed_.load(std::memory_order_seq_cst) || room) q->wake_writer_locked();
    }
  };

  // After the tail moved (on this thread, or on one that took the loop's role after it): the
  // fence pairs with the consumer's seq_cst store of consumer_waiting_ and load of the tail, so
  // either the consumer saw the new tail or this look sees it waiting.
  void wake_consumer() {
    std::atomic_thread_fence(std::memory_order_seq_cst);
    if (consumer_waiting_.load(std::memory_order_seq_cst)) {
      std::lock_guard lock(mutex_);
      ready_.notify_one();
    }
  }

  void wake_writer_locked() {
    if (!writer_.waiting()) return;
    writer_waiting_.store(false, std::memory_order_seq_cst);
    resume_handler h = std::move(*writer_.handler);
    writer_.handler.reset();
    // Off the loop (the consumer), through the loop's inbox: it wakes the loop thread however it
    // waits.
    ready_queue* q = ready_queue::current();
    loop_inbox* inbox = inbox_.load(std::memory_order_acquire);
    if (inbox != nullptr && (q == nullptr || !q->owns(h)))
      inbox->push(std::move(h));
    else
      resume_later(std::move(h));
  }

  // Waits until the item at `head` is there (true), or the deadline passes or the stream ends
  // with nothing left (false).
  bool wait_for_item(std::uint64_t head, std::optional<clock::time_point> deadline) {
    auto arrived = [&] { return tail_.load(std::memory_order_seq_cst) != head; };
    // Where pool threads may do the loop's work, the consumer does it too while it waits
    // (loop_inbox::help): what it makes is then here without a hand-off or a wake-up. Not with
    // a deadline: a handler can take long (a source's blocking read), and the deadline would
    // pass inside it.
    loop_inbox* inbox = inbox_.load(std::memory_order_acquire);
    if (inbox != nullptr && !deadline) {
      const consumer_wait w{this, head};
      const auto t0 = coarse_now();  // per get, and summed (see async_wait_room)
      bool helped = false;
      while (consumer_wait::waits(&w) && inbox->help(&consumer_wait::waits, &w)) helped = true;
      // The time it spent making its item is time it waited for it.
      if (helped)
        get_wait_ns_.fetch_add(static_cast<std::uint64_t>(coarse_since(t0).count()),
                               std::memory_order_relaxed);
      if (arrived()) return true;
    }
    // Spin briefly before sleeping: the writer is often microseconds away. Briefly: a consumer
    // that spins on a busy machine takes a core from the threads that make its items. Not at
    // all on the loop thread's core, where it holds the core they need (core_mark); nor, where
    // the loop thread alone makes the items, for a while after a yield of this thread proved
    // long: another program holds its core (contended_core).
    const bool marked = inbox != nullptr && !inbox->drivers_allowed();  // core_mark's case
    const bool spin = !marked || !contended_core::recently();
    if (spin && marked && inbox->loop_core().on(inbox->consumer_core().set()))
      std::this_thread::yield();
    if (spin && spin_until([&] { return arrived() || closed_.load(std::memory_order_acquire); },
                           consumer_spin))
      return arrived();
    const auto t0 = clock::now();
    std::unique_lock lock(mutex_);
    consumer_waiting_.store(true, std::memory_order_seq_cst);
    if (marked) inbox->consumer_core().clear();
    while (!arrived() && !closed_.load(std::memory_order_seq_cst)) {
      if (!deadline) {
        ready_.wait(lock);
      } else if (ready_.wait_until(lock, *deadline) == std::cv_status::timeout) {
        break;
      }
    }
    consumer_waiting_.store(false, std::memory_order_relaxed);
    if (marked) inbox->consumer_core().set();
    get_wait_ns_.fetch_add(static_cast<std::uint64_t>(since(t0).count()),
                           std::memory_order_relaxed);
    return arrived();
  }

  // What a consumer that does the loop's work waits for (loop_inbox::help): the item at `head`.
  struct consumer_wait {
    const sink_queue* q;
    std::uint64_t head;
    static bool waits(const void* self) {
      const auto* w = static_cast<const consumer_wait*>(self);
      return w->q->tail_.load(std::memory_order_acquire) == w->head &&
             !w->q->closed_.load(std::memory_order_acquire);
    }
  };

  // The writer found the queue empty as it began a put: an occupied stretch begins, and the one
  // before it ended when the consumer took its last item (`emptied_at_`, stored before the head
  // that the writer read with acquire). Only the writer keeps the count, so the two sides share
  // no lock and no written line for it, though the queue may empty and fill once per item.
  void filled() {
    occupancy_.emptied(emptied_at());
    occupancy_.filled();
  }

  [[nodiscard]] clock::time_point emptied_at() const noexcept {
    return clock::time_point(clock::duration(emptied_at_.load(std::memory_order_relaxed)));
  }

  static constexpr std::chrono::microseconds consumer_spin{5};

  // A cache line for what both read and nobody writes; one for what each side writes as it
  // goes; one for the writer's own; one for what is written when a side waits. A line that one
  // side writes and the other reads moves between their cores each time.
  alignas(64) std::vector<std::optional<T>> slots_;
  const std::size_t wake_threshold_;
  const std::size_t publish_run_;
  alignas(64) std::atomic<std::uint64_t> head_{0};  // written by the consumer
  std::atomic<std::uint64_t> get_wait_ns_{0};
  std::atomic<clock::rep> emptied_at_{0};  // when it last took the last item (coarse clock)
  alignas(64) std::atomic<std::uint64_t> tail_{0};  // written by the writer (publish)
  std::atomic<std::uint64_t> items_{0};             // written by the writer only
  std::atomic<std::uint64_t> put_wait_ns_{0};
  // The writer's own (the loop's role's holder's): written once per item, so apart from the
  // tail, on which the consumer spins.
  alignas(64) std::uint64_t written_ = 0;  // the tail, with what is not published yet (write)
  std::uint64_t seen_head_ = 0;            // its view of head_ (has_room)
  queue_counters occupancy_;  // only its occupied/occupied_since/is_occupied
  alignas(64) std::atomic<bool> consumer_waiting_{false};  // written when a side waits
  std::atomic<bool> writer_waiting_{false};
  std::atomic<bool> closed_{false};

  std::atomic<loop_inbox*> inbox_{nullptr};
  std::mutex mutex_;
  std::condition_variable ready_;
  parked writer_;                         // guarded by mutex_
  std::vector<stage_failure> failures_;   // guarded by mutex_
};

}  // namespace spdl::detail
