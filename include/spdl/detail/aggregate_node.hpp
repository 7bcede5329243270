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
    std::vector<T> batch;
    batch.reserve(size_);
    for (;;) {
      std::optional<T> item;
      taken got = take_next(in_, item);
      if (got == taken::nothing_yet) got = co_await receive_next(in_, item);
      if (got == taken::end) break;
      if (got == taken::boundary) {
        // The partial batch belongs to the epoch that ends here.
        if (!co_await flush(batch, rt)) break;
        if (!co_await this->send_boundary()) break;
        continue;
      }
      batch.push_back(std::move(*item));
      if (batch.size() < size_) continue;
      if (!co_await emit(batch)) break;
    }
    co_await flush(batch, rt);
    this->out_.close();
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
};

}  // namespace spdl::detail
