#pragma once
/// \file
/// spdl::merge: several pipelines read as the source of another, their items in arrival order.

#include <spdl/pipeline/pipeline.hpp>

#include <cstddef>
#include <stdexcept>
#include <utility>
#include <vector>

namespace spdl {

class pipeline_builder;

/// The source that `spdl::merge` makes: pipelines to be read as one, for
/// `pipeline_builder::add_source`. It holds them until the merged pipeline is built; from then on
/// they belong to that pipeline, which starts them, stops them and destroys them.
template <class T>
class merge_source {
 public:
  using value_type = T;

  /// Throws std::invalid_argument for a moved-from pipeline.
  explicit merge_source(std::vector<pipeline<T>> inputs) : inputs_(std::move(inputs)) {
    for (const auto& p : inputs_)
      if (!detail::pipeline_access::valid(p))
        throw std::invalid_argument("spdl::merge: an input pipeline was moved from");
  }

  /// The number of input pipelines.
  [[nodiscard]] std::size_t size() const noexcept { return inputs_.size(); }

 private:
  friend class pipeline_builder;
  std::vector<pipeline<T>> take() && { return std::move(inputs_); }

  std::vector<pipeline<T>> inputs_;
};

/// Reads several pipelines as one source: the merged pipeline starts them (those not started
/// yet) and yields their items in the order they arrive, each read on a thread of its own.
///
/// - Every item of every input arrives, each input's in its own order. No input: the merged
///   stream just ends.
/// - An input that fails (a throwing source, a stage over its budget) fails the merged pipeline
///   as a failing source would: its consumer gets the items produced before, then
///   spdl::pipeline_failure naming each failed stage `merge[<i>]/<stage>` (i: the input's index)
///   with its original exception. The other inputs are stopped.
/// - Continuous inputs: the merged stream has one epoch boundary once every input has reached its
///   own (an input that has ended counts as having reached every later one), so each merged
///   epoch holds exactly the inputs' items of that epoch.
/// - Stopping or destroying the merged pipeline stops and joins the inputs.
/// - In the statistics the merge is the source stage "merge": one task per item.
/// - Memory: besides what each input holds, the merge holds at most about twice an input's
///   sink buffer_size of its items (it takes them in batches).
/// - Each input has a reader thread of its own (reading a pipeline blocks); the merged
///   pipeline's loop and worker pool never wait on an input.
///
///     std::vector<spdl::pipeline<image>> shards;
///     for (auto& files : shard_files)
///       shards.push_back(spdl::pipeline_builder().add_source(files)
///                            .pipe(decode, {.concurrency = 4, .name = "decode"})
///                            .add_sink(8).build({.num_threads = 4}));
///     auto p = spdl::pipeline_builder()
///                  .add_source(spdl::merge(std::move(shards)))
///                  .aggregate(32)
///                  .add_sink(2)
///                  .build();
///     for (auto& batch : p) train_on(batch);
template <class T>
merge_source<T> merge(std::vector<pipeline<T>> inputs) {
  return merge_source<T>(std::move(inputs));
}

namespace detail {
template <class X>
inline constexpr bool is_merge_source = false;
template <class T>
inline constexpr bool is_merge_source<merge_source<T>> = true;
}  // namespace detail

}  // namespace spdl
