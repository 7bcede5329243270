#pragma once
// aggregate(n): batches items into std::vector<T> of n; a partial batch at each epoch's end.

#include <spdl/detail/runtime.hpp>
#include <spdl/detail/stage_io.hpp>
#include <spdl/pipeline/options.hpp>

#include <cstddef>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace spdl::detail {

template <class T>
class aggregate_node final : public producer_node<std::vector<T>> {
 public:
  aggregate_node(std::size_t size, aggregate_options options, channel<T>& in)
      : size_(size), options_(options), in_(in) {
    this->counters.name = "aggregate(" + std::to_string(size) + ")";
  }

  void spawn(runtime& rt) override { rt.spawn(run(rt)); }

 private:
  asio::awaitable<void> run(runtime& rt) {
    batch_.reserve(size_);
    for (;;) {
      std::optional<T> item;
      taken got = take_next(in_, item);
      if (got == taken::nothing_yet) {
        // Waiting, it takes items into the batch where the stage before sends them, all but
        // the batch's last (channel::async_wait_taking): one resumption per batch, not per item.
        bound_.start();
        co_await in_.async_wait_taking(&aggregate_node::take, this);
        continue;
      }
      if (got == taken::end) break;
      if (got == taken::boundary) {
        // The partial batch belongs to the epoch that ends here.
        if (!co_await flush(batch_, rt)) break;
        if (!co_await this->send_boundary()) break;
        continue;
      }
      batch_.push_back(std::move(*item));
      if (batch_.size() < size_) continue;
      if (!co_await emit(batch_)) break;
    }
    co_await flush(batch_, rt);
    this->out_.close();
  }

  // What the waiting aggregate takes where it is sent: in order (the channel is empty while it
  // waits), into the batch, on the sender's thread, which holds the loop's role. The batch's
  // last item is refused: queued, it wakes the aggregate, which completes the batch and sends
  // it on (and so waits for room there, holding back the stage before, as without takes). So
  // are items past `take_bound`: a large batch filled by a sender that never waits (a source
  // right before the aggregate) would otherwise be filled in one handler.
  static bool take(void* self, T& item) {
    auto& node = *static_cast<aggregate_node*>(self);
    if (node.batch_.size() + 1 >= node.size_ || node.bound_.refusing()) return false;
    node.batch_.push_back(std::move(item));
    node.bound_.took();
    return true;
  }

  // The partial batch at the end of an epoch or stream: emitted, or dropped with drop_last.
  asio::awaitable<bool> flush(std::vector<T>& batch, runtime& rt) {
    if (batch.empty()) co_return true;
    if (options_.drop_last || rt.stopping()) {
      batch.clear();
      co_return true;
    }
    co_return co_await emit(batch);
  }

  asio::awaitable<bool> emit(std::vector<T>& batch) {
    this->counters.record_instant();
    std::vector<T> full = std::move(batch);
    batch = std::vector<T>();
    batch.reserve(size_);
    bool must_wait;
    if (this->fast_send(this->out_, full, must_wait)) co_return true;
    if (!must_wait) co_return false;
    co_return co_await this->out_.async_send(std::move(full));
  }

  std::size_t size_;
  aggregate_options options_;
  channel<T>& in_;
  std::vector<T> batch_;  // the batch being filled
  take_bound bound_;      // the current wait's takes
};

}  // namespace spdl::detail
