#pragma once
/// \file
/// spdl::pipeline<T>: a built pipeline, from its start to its end of stream.

#include <spdl/detail/clock.hpp>
#include <spdl/detail/runtime.hpp>
#include <spdl/detail/sink_queue.hpp>
#include <spdl/error.hpp>
#include <spdl/pipeline/stats.hpp>

#include <chrono>
#include <iterator>
#include <memory>
#include <optional>
#include <string>
#include <utility>

namespace spdl {

template <class T>
class sink_builder;

namespace detail {
struct pipeline_access;
}  // namespace detail

/// A running (or ready to run) pipeline whose consumer receives items of type `T`.
///
/// Made by `pipeline_builder ... .add_sink(n).build(options)`. `start()` launches the stages
/// (`get_item()` and `begin()` start it when needed); items then arrive in the sink, and
/// `get_item()` returns them one by one, empty at end of stream. If a stage failed, the consumer
/// first gets every item produced before the failure, then spdl::pipeline_failure. The
/// destructor stops and joins; it never throws and never waits on a full queue.
///
///     auto p = spdl::pipeline_builder().add_source(paths).pipe(load, {.concurrency = 8})
///                  .add_sink(16).build();
///     for (auto& image : p) train_on(image);
///
/// One consumer thread at a time: a pipeline's members are not meant to be called concurrently.
/// That thread may be another pipeline's: a source callable, or a stage, of one pipeline may read
/// another (each pipeline's coroutines stay on its own loop; a loop stage that does so blocks its
/// loop while it waits). To read several pipelines as one source, see spdl::merge.
template <class T>
class pipeline {
 public:
  using value_type = T;

  pipeline(pipeline&&) noexcept = default;
  pipeline& operator=(pipeline&&) noexcept = default;
  ~pipeline() = default;  // the runtime stops and joins

  /// Launches the stages. Throws spdl::error when called a second time.
  void start() {
    runtime_->start();
    started_ = true;
  }

  /// Cancels the stages and waits for them to finish. Items already in the sink stay readable;
  /// then `get_item()` returns end of stream. Idempotent.
  void stop() { runtime_->stop(); }

  /// As stop(), but throws spdl::timeout_error when the stages do not finish in time (a call of
  /// a stage's function cannot be interrupted). The pipeline stays valid; stop again to wait.
  template <class Rep, class Period>
  void stop(std::chrono::duration<Rep, Period> timeout) {
    runtime_->stop(std::chrono::duration_cast<std::chrono::nanoseconds>(timeout));
  }

  /// The next item, waiting as long as it takes; empty at end of stream, and once at the end of
  /// each epoch of a continuous source (reading on starts the next epoch). Starts the pipeline if
  /// it was not started. Throws spdl::pipeline_failure after the last item when stages failed.
  std::optional<T> get_item() { return get(std::nullopt); }

  /// As get_item(), but throws spdl::timeout_error when no item arrives within `timeout`; the
  /// pipeline is unaffected and can be read again.
  template <class Rep, class Period>
  std::optional<T> get_item(std::chrono::duration<Rep, Period> timeout) {
    return get(detail::clock::now() +
               std::chrono::duration_cast<detail::clock::duration>(timeout));
  }

  /// Statistics of every stage and queue so far (safe to call while it runs).
  [[nodiscard]] pipeline_stats stats() const { return runtime_->stats(); }

  /// Range-for over the items (an input range: each item is visited once). With a continuous
  /// source, each range-for is one epoch.
  class iterator {
   public:
    using value_type = T;
    using difference_type = std::ptrdiff_t;

    iterator() = default;
    T& operator*() const { return *owner_->current_; }
    T* operator->() const { return &*owner_->current_; }
    iterator& operator++() {
      owner_->current_ = owner_->get_item();
      return *this;
    }
    void operator++(int) { ++*this; }
    friend bool operator==(const iterator& it, std::default_sentinel_t) { return it.at_end(); }

   private:
    friend class pipeline;
    explicit iterator(pipeline* owner) : owner_(owner) {}
    [[nodiscard]] bool at_end() const { return owner_ == nullptr || !owner_->current_.has_value(); }
    pipeline* owner_ = nullptr;
  };

  /// Starts the pipeline if needed and reads the first item.
  iterator begin() {
    current_ = get_item();
    return iterator{this};
  }
  std::default_sentinel_t end() const noexcept { return {}; }

 private:
  friend class sink_builder<T>;
  friend struct detail::pipeline_access;

  pipeline(std::unique_ptr<detail::runtime> rt, detail::sink_queue<T>& sink)
      : runtime_(std::move(rt)), sink_(&sink) {}

  std::optional<T> get(std::optional<detail::clock::time_point> deadline) {
    if (!started_) {  // checked once: no lock per item
      if (!runtime_->started() && !runtime_->stop_requested()) runtime_->start();
      started_ = true;
    }
    std::optional<T> out;
    switch (sink_->get(out, deadline)) {
      case detail::sink_queue<T>::get_result::item: return out;
      case detail::sink_queue<T>::get_result::epoch_end: return std::nullopt;
      case detail::sink_queue<T>::get_result::end: return std::nullopt;
      case detail::sink_queue<T>::get_result::timeout: break;
    }
    throw timeout_error("spdl::pipeline::get_item: no item within the timeout");
  }

  std::unique_ptr<detail::runtime> runtime_;
  detail::sink_queue<T>* sink_;
  std::optional<T> current_;  // the iterator's item
  bool started_ = false;      // known to be started (or stopped): the consumer's own flag
};

namespace detail {
/// The engine's own way into a pipeline (a merge source reads its inputs' sinks): not an API.
struct pipeline_access {
  /// False for a moved-from pipeline.
  template <class T>
  static bool valid(const pipeline<T>& p) noexcept {
    return p.runtime_ != nullptr;
  }
  /// Takes the running part out of `p` (which is then moved-from).
  template <class T>
  static std::unique_ptr<runtime> release(pipeline<T>& p) noexcept {
    return std::move(p.runtime_);
  }
  template <class T>
  static sink_queue<T>& sink_of(pipeline<T>& p) noexcept {
    return *p.sink_;
  }
};
}  // namespace detail

}  // namespace spdl
