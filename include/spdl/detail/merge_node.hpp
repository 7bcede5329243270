#pragma once
// The merge source: the items of several pipelines, in the order they arrive, as one source.
//
// Threads: reading a pipeline blocks (its sink queue's get), so each input has a reader thread of
// its own, never the loop and never the worker pool. The reader starts its pipeline, reads it,
// and hands its items and epoch boundaries (then its end or failure) to a coroutine on the loop,
// waking that coroutine through the loop's inbox as a pool call's completion does. At the end it
// stops and joins its pipeline, then says so; the coroutine finishes only after that, so a reader
// never touches the loop once the merged pipeline has finished.
//
// The hand-over is a batch, not an item: the reader appends to it while the coroutine sends on
// the batch it took before, and the coroutine takes all that is there under one lock. A thread
// wake-up per item would cost more than the item. Memory per input, besides what the input
// pipeline holds: two batches of at most its sink's buffer_size, and the item the reader holds.

#include <spdl/detail/asio.hpp>
#include <spdl/detail/clock.hpp>
#include <spdl/detail/scheduler.hpp>
#include <spdl/detail/nodes.hpp>
#include <spdl/detail/runtime.hpp>
#include <spdl/detail/sink_queue.hpp>
#include <spdl/error.hpp>

#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace spdl::detail {

/// What the merge takes of each input pipeline<T>: its running part (which stops and joins it
/// when destroyed) and its sink.
template <class T>
struct merge_input {
  std::unique_ptr<runtime> rt;
  sink_queue<T>* sink = nullptr;
};

template <class T>
class merge_node final : public producer_node<T> {
 public:
  explicit merge_node(std::vector<merge_input<T>> inputs) {
    this->counters.name = "merge";
    this->counters.concurrency = inputs.size();
    inputs_.reserve(inputs.size());
    for (auto& p : inputs) inputs_.push_back(std::make_unique<input>(std::move(p)));
  }

  merge_node(const merge_node&) = delete;
  merge_node& operator=(const merge_node&) = delete;

  // The merged pipeline has finished (every coroutine waited for its reader), or never started:
  // the readers are done or about to be. The inputs are destroyed after them.
  ~merge_node() override {
    for (auto& in : inputs_) {
      {
        std::lock_guard lock(in->mutex);
        in->halted = true;
      }
      in->room.notify_one();
      if (!in->reader.joinable()) continue;
      in->rt->request_stop();  // done already, normally
      in->reader.join();
    }
  }

  void spawn(runtime& rt) override {
    if (inputs_.empty()) {
      this->out_.close();
      return;
    }
    active_ = inputs_.size();
    loop_inbox* inbox = &rt.inbox();
    for (auto& in : inputs_) {
      input* p = in.get();
      in->reader = std::thread([p, inbox] { read(*p, *inbox); });
    }
    for (std::size_t i = 0; i < inputs_.size(); ++i) rt.spawn(run(rt, i));
  }

  void cancel_output() override {
    this->out_.cancel();
    halt();
  }

  void on_failed() override { halt(); }

 private:
  // How an input's stream ended (after the items handed over before).
  enum class ending { none, end, failed };

  // An item, or an epoch boundary (empty), as the sink queue has them.
  using entry = std::optional<T>;

  struct input {
    explicit input(merge_input<T> p)
        : rt(std::move(p.rt)), sink(*p.sink), batch_size(sink.capacity()) {}

    std::unique_ptr<runtime> rt;  // the input pipeline: stops and joins when destroyed
    sink_queue<T>& sink;
    const std::size_t batch_size;
    std::thread reader;

    // The hand-over, guarded by `mutex`.
    std::mutex mutex;
    std::condition_variable room;           // the reader waits for the batch to be taken
    std::vector<entry> incoming;            // at most batch_size
    ending last = ending::none;             // after `incoming`
    std::vector<stage_failure> failures;    // with ending::failed
    bool halted = false;                    // loop -> reader: read no more
    bool done = false;                      // reader -> loop: finished, its pipeline joined
    std::optional<resume_handler> waiter;   // the loop coroutine, waiting for a hand-over

    // Loop thread only.
    std::vector<entry> batch;      // taken from `incoming`, sent on from `next`
    std::size_t next = 0;
    std::uint64_t boundaries = 0;  // epoch boundaries it had
    bool ended = false;            // for good (it counts as having had every later boundary)
    parked epoch_wait;             // its coroutine, waiting for the merged boundary to go out
  };

  static std::optional<resume_handler> take_waiter(input& in) {
    std::optional<resume_handler> h = std::move(in.waiter);
    in.waiter.reset();
    return h;
  }

  // ---- the reader thread ---------------------------------------------------------------------

  static void read(input& in, loop_inbox& inbox) {
    runtime& rt = *in.rt;
    sink_queue<T>& sink = in.sink;
    ending last = ending::none;
    std::vector<stage_failure> failures;
    try {
      if (!rt.started() && !rt.stop_requested()) rt.start();
    } catch (...) {
      // Stopped before it could start (the merge was halted meanwhile): its sink is closed, and
      // reading it gives the end. Anything else is the input's failure.
      if (!rt.stop_requested()) {
        last = ending::failed;
        failures.push_back({"", std::current_exception()});
      }
    }
    bool halted = false;
    while (last == ending::none) {
      entry e;
      try {
        switch (sink.get(e, std::nullopt)) {
          case sink_queue<T>::get_result::item: break;
          case sink_queue<T>::get_result::epoch_end: e.reset(); break;
          case sink_queue<T>::get_result::end: last = ending::end; break;
          case sink_queue<T>::get_result::timeout: continue;  // never, without a deadline
        }
      } catch (const pipeline_failure& x) {
        last = ending::failed;
        failures = x.failures();
      } catch (...) {
        last = ending::failed;
        failures.push_back({"", std::current_exception()});
      }
      if (last != ending::none) break;
      std::unique_lock lock(in.mutex);
      in.room.wait(lock, [&] { return in.incoming.size() < in.batch_size || in.halted; });
      if (in.halted) {
        halted = true;
        break;
      }
      in.incoming.push_back(std::move(e));
      std::optional<resume_handler> waiter = take_waiter(in);
      lock.unlock();
      if (waiter) inbox.push(std::move(*waiter));
    }
    // At its end, or no longer wanted: stop and join the input here, off the loop.
    try {
      rt.stop();
    } catch (...) {
    }
    std::unique_lock lock(in.mutex);
    if (!halted && !in.halted) {
      in.last = last;
      in.failures = std::move(failures);
    }
    in.done = true;
    std::optional<resume_handler> waiter = take_waiter(in);
    lock.unlock();
    // The last touch of the merged pipeline: its coroutine waits for `done` before it finishes.
    if (waiter) inbox.push(std::move(*waiter));
  }

  // ---- the loop ------------------------------------------------------------------------------

  // What the coroutine of an input does next.
  enum class next_step { entry, wait, end, failed };

  // The next entry of the input's batch into `e`; when the batch is used up, takes the next one
  // (making room for the reader), or learns how the input ended, or that it must wait.
  static next_step next_entry(input& in, entry& e, std::vector<stage_failure>& failures) {
    if (in.next == in.batch.size()) {
      in.batch.clear();
      in.next = 0;
      std::unique_lock lock(in.mutex);
      if (in.incoming.empty()) {
        // The ending comes with `done`: the reader has joined its input by then.
        if (!in.done) return next_step::wait;
        if (in.last == ending::failed) {
          failures = std::move(in.failures);
          return next_step::failed;
        }
        return next_step::end;
      }
      in.batch.swap(in.incoming);
      lock.unlock();
      in.room.notify_one();
    }
    e = std::move(in.batch[in.next]);
    in.batch[in.next].reset();
    ++in.next;
    return next_step::entry;
  }

  // Suspends until the reader hands something over or finishes.
  struct wait_for_reader {
    input* in;
    void operator()(resume_handler h) const {
      std::unique_lock lock(in->mutex);
      if (in->incoming.empty() && !in->done) {
        in->waiter.emplace(std::move(h));
        return;
      }
      lock.unlock();
      resume_later(std::move(h));
    }
  };

  asio::awaitable<void> run(runtime& rt, std::size_t i) {
    input& in = *inputs_[i];
    // An item's time is the wait for it: from the previous item (or the last wait for room).
    auto t0 = clock::now();
    while (!halted_) {
      entry e;
      std::vector<stage_failure> failures;
      const next_step step = next_entry(in, e, failures);
      if (step == next_step::wait) {
        co_await suspend_with(wait_for_reader{&in});
        continue;
      }
      if (halted_) break;  // the merge is stopping or has failed meanwhile: what it took is dropped
      if (step == next_step::entry && e) {
        const auto t1 = clock::now();
        this->counters.record(t1 - t0);
        t0 = t1;
        bool must_wait;
        if (this->fast_send(this->out_, *e, must_wait)) continue;
        bool open = must_wait;
        if (open) open = co_await this->out_.async_send(std::move(*e));
        t0 = clock::now();
        if (!open) break;
        continue;
      }
      if (step == next_step::entry) {  // an epoch boundary
        ++in.boundaries;
        const bool open = co_await pass_boundaries();
        if (!open) break;
        // Its next items belong to the next merged epoch: they wait for the boundary to go out.
        while (boundaries_out_ < in.boundaries && !halted_) co_await suspend(in.epoch_wait);
        t0 = clock::now();
        continue;
      }
      in.ended = true;
      if (step == next_step::failed) {
        rt.fail(*this, named(i, std::move(failures)));
        break;
      }
      co_await pass_boundaries();  // its end may be what the others' boundary waited for
      break;
    }
    if (!in.ended) halt();  // stopping, failed or cut off downstream: the others stop too
    in.batch.clear();
    in.next = 0;
    // Wait for the reader to finish: its input stopped and joined, nothing of ours touched again.
    for (;;) {
      {
        std::lock_guard lock(in.mutex);
        in.incoming.clear();
        if (in.done) break;
      }
      co_await suspend_with(wait_for_reader{&in});
    }
    if (--active_ == 0) this->out_.close();
  }

  // Sends on each merged epoch boundary that is due: every input has had it (one that ended
  // counts as having had every later one) and one of them really had it. One sender at a time;
  // it sends on whatever became due while it waited. False: the output is closed.
  asio::awaitable<bool> pass_boundaries() {
    while (!sending_boundary_ && !halted_ && boundary_due()) {
      sending_boundary_ = true;
      const bool open = co_await this->send_boundary();
      sending_boundary_ = false;
      if (!open) co_return false;
      ++boundaries_out_;
      wake_epoch_waiters();
    }
    co_return true;
  }

  [[nodiscard]] bool boundary_due() const noexcept {
    bool had = false;
    for (const auto& in : inputs_) {
      if (in->boundaries > boundaries_out_)
        had = true;
      else if (!in->ended)
        return false;
    }
    return had;
  }

  void wake_epoch_waiters() {
    for (auto& in : inputs_)
      if (in->epoch_wait.waiting()) in->epoch_wait.resume();
  }

  // Stop, shutdown, a failure, or the output cut off: every reader stops reading and stops its
  // input (without waiting here: the reader joins it), and every coroutine gets going to finish.
  void halt() {
    if (halted_) return;
    halted_ = true;
    for (auto& in : inputs_) {
      std::unique_lock lock(in->mutex);
      in->halted = true;
      std::optional<resume_handler> waiter = take_waiter(*in);
      lock.unlock();
      in->room.notify_one();
      // Wakes a reader blocked on the input's sink: stopping closes it.
      in->rt->request_stop();
      if (waiter) resume_later(std::move(*waiter));
    }
    wake_epoch_waiters();
  }

  // The input's failures under the merge's name for it: "merge[1]/decode".
  static std::vector<stage_failure> named(std::size_t i, std::vector<stage_failure> failures) {
    const std::string prefix = "merge[" + std::to_string(i) + "]";
    if (failures.empty())
      failures.push_back({"", std::make_exception_ptr(error("the input pipeline failed"))});
    for (auto& f : failures) f.stage = f.stage.empty() ? prefix : prefix + "/" + f.stage;
    return failures;
  }

  std::vector<std::unique_ptr<input>> inputs_;
  std::size_t active_ = 0;              // coroutines not finished
  std::uint64_t boundaries_out_ = 0;    // merged epoch boundaries sent on
  bool sending_boundary_ = false;
  bool halted_ = false;
};

}  // namespace spdl::detail
