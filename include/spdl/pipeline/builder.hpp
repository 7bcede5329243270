#pragma once
/// \file
/// spdl::pipeline_builder: source -> pipe / aggregate / disaggregate ... -> sink -> build.

#include <spdl/async/channel.hpp>
#include <spdl/detail/merge_node.hpp>
#include <spdl/detail/nodes.hpp>
#include <spdl/detail/runtime.hpp>
#include <spdl/detail/traits.hpp>
#include <spdl/pipeline/merge.hpp>
#include <spdl/pipeline/options.hpp>
#include <spdl/pipeline/pipeline.hpp>

#include <concepts>
#include <cstddef>
#include <memory>
#include <optional>
#include <ranges>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

namespace spdl {

template <class T>
class stage_builder;
template <class T>
class sink_builder;

namespace detail {
// The nodes made so far, and where the next one reads from.
struct pipeline_spec {
  std::vector<std::unique_ptr<node>> nodes;
  sink_control* sink = nullptr;  // the last node, once added
  std::size_t pipes = 0;
};

template <class F>
concept item_generator = std::invocable<F&> && optional_traits<std::invoke_result_t<F&>>::is_optional;
}  // namespace detail

/// Starts a pipeline description. Each call returns the builder of the next step, typed by the
/// item type at that point, so a stage that does not fit fails to compile where it is added:
///
///     spdl::pipeline<int> p = spdl::pipeline_builder()
///         .add_source(std::views::iota(0, 100))
///         .pipe(work, {.concurrency = 4, .order = spdl::output_order::input, .name = "work"})
///         .aggregate(8)                 // std::vector<int>
///         .disaggregate()               // int again
///         .add_sink(3)
///         .build({.num_threads = 4});
class pipeline_builder {
 public:
  /// The source: any input range, stored by value (an lvalue container is copied, an rvalue one
  /// moved in; elements of an owned container are moved out, never copied, unless the source is
  /// continuous). The item type is `std::ranges::range_value_t<R>`. It is iterated on the loop (one
  /// thread at a time: the loop thread, or a pool thread doing the loop's work): keep it cheap. With `{.continuous = true}` it is read once per epoch, forever (see
  /// source_options).
  template <std::ranges::input_range R>
  auto add_source(R&& range, source_options options = {}) && {
    using Range = std::remove_cvref_t<R>;
    using T = std::ranges::range_value_t<Range>;
    using reader = detail::range_reader<Range>;
    if constexpr (!reader::copies_elements) {
      if (options.continuous)
        throw std::invalid_argument(
            "spdl::add_source: a continuous source is read again each epoch, so its elements "
            "must be copyable");
    }
    return make<T>(reader(Range(std::forward<R>(range)), options.continuous), options);
  }

  /// The source: a callable returning `std::optional<T>`, called until it returns empty (with
  /// `{.continuous = true}`: called again after that, once per epoch, forever).
  template <detail::item_generator F>
    requires(!std::ranges::input_range<F>)
  auto add_source(F next, source_options options = {}) && {
    using T = typename detail::optional_traits<std::invoke_result_t<F&>>::value_type;
    return make<T>(std::move(next), options);
  }

  /// The source: the items of several pipelines in arrival order (see spdl::merge). A merge is
  /// not read again: for epochs, make its inputs continuous instead.
  template <class T>
  auto add_source(merge_source<T> source, source_options options = {}) && {
    if (options.continuous)
      throw std::invalid_argument(
          "spdl::add_source: a merge cannot be continuous; make its input pipelines continuous "
          "instead (the merge passes their epochs on)");
    std::vector<detail::merge_input<T>> inputs;
    for (auto& p : std::move(source).take())
      inputs.push_back({detail::pipeline_access::release(p), &detail::pipeline_access::sink_of(p)});
    return first<T>(std::make_unique<detail::merge_node<T>>(std::move(inputs)));
  }

  template <class X, class... O>
    requires(!std::ranges::input_range<X> && !detail::item_generator<X> &&
             !detail::is_merge_source<std::remove_cvref_t<X>>)
  void add_source(X&&, O&&...) && {
    static_assert(detail::always_false<X>,
                  "spdl: add_source needs a std::ranges::input_range, a callable returning "
                  "std::optional<T>, or spdl::merge(pipelines)");
  }

 private:
  template <class T, class Next>
  static stage_builder<T> make(Next next, source_options options) {
    return first<T>(std::make_unique<detail::source_node<T, Next>>(std::move(next), options));
  }

  template <class T, class Node>
  static stage_builder<T> first(std::unique_ptr<Node> node) {
    auto spec = std::make_unique<detail::pipeline_spec>();
    auto& out = node->output();
    spec->nodes.push_back(std::move(node));
    return stage_builder<T>(std::move(spec), out);
  }
};

/// The builder after the source and after each stage: items of type `T` flow out of it.
template <class T>
class stage_builder {
 public:
  /// Adds a stage calling `f(item)` for each item, at most `options.concurrency` at once.
  /// A plain callable runs on the worker pool (or `options.executor`); one returning
  /// `asio::awaitable<U>` runs on the loop thread and must not block. A result
  /// `std::optional<U>` that is empty drops the item. An exception drops the item and counts
  /// as a failure against the failure budget. `f` lives at a fixed address until the pipeline
  /// is destroyed.
  template <class F>
  auto pipe(F f, pipe_options options = {}) && {
    if constexpr (!std::is_invocable_v<F&, T&&>) {
      static_assert(detail::always_false<F>,
                    "spdl: pipe(f): f cannot be called with the item type of the previous stage");
    } else if constexpr (std::is_void_v<typename detail::stage_result<F, T>::produced>) {
      static_assert(detail::always_false<F>,
                    "spdl: pipe(f): f must return the next item (return std::optional<U> to drop "
                    "items), not void");
    } else {
      using U = typename detail::stage_result<F, T>::type;
      if (options.concurrency == 0)
        throw std::invalid_argument("spdl::pipe: concurrency must be >= 1");
      ++spec_->pipes;
      if (options.name.empty()) options.name = "pipe" + std::to_string(spec_->pipes);
      auto node = std::make_unique<detail::pipe_node<T, F>>(std::move(f), std::move(options), *in_);
      return next<U>(std::move(node));
    }
  }

  /// Batches items into `std::vector<T>` of `size` (the last batch may be smaller, unless
  /// `options.drop_last`).
  auto aggregate(std::size_t size, aggregate_options options = {}) && {
    if (size == 0) throw std::invalid_argument("spdl::aggregate: size must be >= 1");
    return next<std::vector<T>>(std::make_unique<detail::aggregate_node<T>>(size, options, *in_));
  }

  /// Flattens: each item (a range) becomes its elements, in order.
  auto disaggregate() && {
    if constexpr (!std::ranges::input_range<T>) {
      static_assert(detail::always_false<T>,
                    "spdl: disaggregate() needs items that are ranges (e.g. after aggregate)");
    } else {
      return next<std::ranges::range_value_t<T>>(
          std::make_unique<detail::disaggregate_node<T>>(*in_));
    }
  }

  /// Ends the pipeline: the consumer's queue holds up to `buffer_size` items.
  sink_builder<T> add_sink(std::size_t buffer_size) && {
    if (buffer_size == 0) throw std::invalid_argument("spdl::add_sink: buffer_size must be >= 1");
    auto node = std::make_unique<detail::sink_node<T>>(buffer_size, *in_);
    auto& queue = node->queue();
    spec_->sink = node.get();
    spec_->nodes.push_back(std::move(node));
    return sink_builder<T>(std::move(spec_), queue);
  }

  template <class... A>
  void add_source(A&&...) {
    static_assert(detail::always_false<A...>,
                  "spdl: a pipeline has exactly one source, and add_source was already called");
  }

 private:
  friend class pipeline_builder;
  template <class>
  friend class stage_builder;

  stage_builder(std::unique_ptr<detail::pipeline_spec> spec, channel<T>& in)
      : spec_(std::move(spec)), in_(&in) {}

  template <class U, class Node>
  stage_builder<U> next(std::unique_ptr<Node> node) {
    auto& out = node->output();
    spec_->nodes.push_back(std::move(node));
    return stage_builder<U>(std::move(spec_), out);
  }

  std::unique_ptr<detail::pipeline_spec> spec_;
  channel<T>* in_;
};

/// The builder after the sink: only `build` is left.
template <class T>
class sink_builder {
 public:
  /// Makes the pipeline (not started yet).
  pipeline<T> build(build_options options = {}) && {
    if (options.num_threads == 0)
      throw std::invalid_argument("spdl::build: num_threads must be >= 1");
    if (options.queue_capacity == 0)
      throw std::invalid_argument("spdl::build: queue_capacity must be >= 1");
    auto rt = std::make_unique<detail::runtime>(std::move(spec_->nodes), *spec_->sink, std::move(options));
    return pipeline<T>(std::move(rt), *sink_);
  }

  template <class... A>
  void pipe(A&&...) {
    static_assert(detail::always_false<A...>, "spdl: no stage can follow add_sink");
  }
  template <class... A>
  void aggregate(A&&...) {
    static_assert(detail::always_false<A...>, "spdl: no stage can follow add_sink");
  }
  template <class... A>
  void disaggregate(A&&...) {
    static_assert(detail::always_false<A...>, "spdl: no stage can follow add_sink");
  }
  template <class... A>
  void add_sink(A&&...) {
    static_assert(detail::always_false<A...>, "spdl: a pipeline has exactly one sink");
  }
  template <class... A>
  void add_source(A&&...) {
    static_assert(detail::always_false<A...>,
                  "spdl: a pipeline has exactly one source, and add_source was already called");
  }

 private:
  friend class stage_builder<T>;
  sink_builder(std::unique_ptr<detail::pipeline_spec> spec, detail::sink_queue<T>& sink)
      : spec_(std::move(spec)), sink_(&sink) {}

  std::unique_ptr<detail::pipeline_spec> spec_;
  detail::sink_queue<T>* sink_;
};

}  // namespace spdl
