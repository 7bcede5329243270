#pragma once
/// \file
/// spdl::dataloader: a source (typically a sampler) → a function per item (on the worker pool,
/// or awaitable on the loop) → batches → collate, as one pipeline that stays warm across epochs,
/// with a state that can be saved and restored to resume exactly where a run stopped.
///
///     spdl::random_sampler sampler(files.size(), {.seed = 7});
///     spdl::dataloader loader(sampler, [&](std::size_t i) { return load(files[i]); },
///                             {.batch_size = 32}, collate);
///     for (std::size_t epoch = 0; epoch < 10; ++epoch) {
///       loader.set_epoch(epoch);                   // optional: epochs count up by themselves
///       for (auto& batch : loader) train_on(batch);
///       save(loader.state().serialize());          // resume from here after a crash
///     }
///
/// Resuming: build a loader with the same source, function and options, `restore(state)`, and
/// iterate. With `output_order::input` (the default) it yields exactly the batches the run that
/// saved the state would have yielded next, for the rest of that epoch and the epochs after, also
/// when items fail (as long as the same items fail again). With `output_order::completion` every
/// item is still delivered exactly once across the interruption (none repeated, none lost; items
/// that had failed or been dropped are not tried again), but batches may be composed differently
/// from an uninterrupted run, as they are from one run to the next.

#include <spdl/data/detail/loader_progress.hpp>
#include <spdl/data/loader_state.hpp>
#include <spdl/detail/traits.hpp>
#include <spdl/error.hpp>
#include <spdl/pipeline.hpp>

#include <cstddef>
#include <functional>
#include <iterator>
#include <memory>
#include <optional>
#include <ranges>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

namespace spdl::data {

/// Options of a dataloader.
struct dataloader_options {
  std::size_t batch_size = 1;
  /// Drop each epoch's last, incomplete batch.
  bool drop_last = false;
  /// Worker threads for the function and the collate (0: one per core).
  std::size_t num_threads = 0;
  /// Calls of the function in flight at once (0: twice num_threads, so that a worker that
  /// finishes a call finds the next one already queued instead of waiting for the loop thread
  /// to hand it one: on 2 busy cores the demo loads 25% more images per second so).
  std::size_t concurrency = 0;
  spdl::output_order order = spdl::output_order::input;
  /// Batches ready and waiting for the trainer.
  std::size_t buffer_size = 3;
  /// Failed items (the function threw) are dropped and counted; beyond this budget the stream
  /// fails with spdl::pipeline_failure. A failed item counts as done for state() (a restore
  /// does not read it again), even one whose call failed after the stream had already failed
  /// (a failure the pipeline drops uncounted).
  spdl::failure_budget max_failures = spdl::failure_budget::unlimited();
  /// Receives each failed item (see build_options::on_failure); default: the first 10 of each
  /// stage are logged on stderr.
  std::function<void(const spdl::stage_failure&)> on_failure;
  /// A path: the loader's pipeline writes a trace there (see build_options::trace).
  std::string trace;
  /// Items each queue between the loader's stages holds (see build_options::queue_capacity).
  std::size_t queue_capacity = 2;
};

/// What collate gets when none is given: the batch as it is.
struct as_vector {
  template <class T>
  std::vector<T> operator()(std::vector<T>&& batch) const {
    return std::move(batch);
  }
};

/// Loads batches from `source` (any copyable input range; a sampler, a vector of labeled_file,
/// ...) with `fn` (one item in, one result out; `std::optional` to drop an item;
/// `asio::awaitable<U>` to run on the loop), `options.batch_size` results at a time given to
/// `collate` (`std::vector<U>&&` in, what the trainer takes out). Each range-for over the loader
/// reads one epoch (a range-for left early is continued by the next one). Statistics as for any
/// pipeline: `stats()`.
template <std::ranges::input_range Source, class F, class Collate = as_vector>
  requires std::copy_constructible<Source>
class dataloader {
  using item = std::ranges::range_value_t<Source>;
  using fn_traits = spdl::detail::stage_result<F, item>;
  using result = typename fn_traits::type;
  using batch_type = std::invoke_result_t<Collate&, std::vector<result>&&>;

 public:
  using value_type = batch_type;

  dataloader(Source source, F fn, dataloader_options options = {}, Collate collate = {})
      : source_(std::move(source)),
        fn_(std::make_shared<F>(std::move(fn))),
        collate_(std::make_shared<Collate>(std::move(collate))),
        options_(options) {
    if (options_.batch_size == 0)
      throw std::invalid_argument("spdl::dataloader: batch_size must be >= 1");
    if (options_.buffer_size == 0)
      throw std::invalid_argument("spdl::dataloader: buffer_size must be >= 1");
    if (options_.queue_capacity == 0)
      throw std::invalid_argument("spdl::dataloader: queue_capacity must be >= 1");
    if (options_.num_threads == 0) options_.num_threads = spdl::detail::default_num_threads();
    if (options_.concurrency == 0) options_.concurrency = 2 * options_.num_threads;
  }

  dataloader(dataloader&&) noexcept = default;
  dataloader& operator=(dataloader&&) noexcept = default;

  /// The number of the next epoch to read (from the start). Forwarded to the source's own
  /// set_epoch. Called mid-epoch, it abandons the rest of the current one.
  void set_epoch(std::size_t epoch) {
    if (epoch == epoch_ && !mid_epoch()) return;
    reset_to({.epoch = epoch, .position = 0, .done = {}, .source_size = std::nullopt});
  }

  /// The epoch being read, or the next one between epochs.
  [[nodiscard]] std::size_t epoch() const noexcept { return epoch_; }

  /// Where this loader stands (between two batches).
  [[nodiscard]] loader_state state() const {
    loader_state s = progress_ ? progress_->state(epoch_) : resume_;
    s.epoch = epoch_;
    s.source_size = source_size();
    return s;
  }

  /// Continues from `state` (taken from a loader with the same source, function and options).
  /// Throws spdl::error when the state's source size differs from this source's.
  void restore(const loader_state& state) {
    if (state.source_size && source_size() && *state.source_size != *source_size())
      throw spdl::error("spdl::dataloader::restore: the state is from a source of " +
                        std::to_string(*state.source_size) + " items; this one has " +
                        std::to_string(*source_size()));
    reset_to(state);
  }

  /// Statistics of the running pipeline (empty before the first batch).
  [[nodiscard]] spdl::pipeline_stats stats() const {
    return pipeline_ ? pipeline_->stats() : spdl::pipeline_stats{};
  }

  class iterator {
   public:
    using value_type = batch_type;
    using difference_type = std::ptrdiff_t;

    iterator() = default;
    batch_type& operator*() const { return *owner_->current_; }
    batch_type* operator->() const { return &*owner_->current_; }
    iterator& operator++() {
      owner_->advance();
      return *this;
    }
    void operator++(int) { ++*this; }
    friend bool operator==(const iterator& it, std::default_sentinel_t) { return it.at_end(); }

   private:
    friend class dataloader;
    explicit iterator(dataloader* owner) : owner_(owner) {}
    [[nodiscard]] bool at_end() const { return owner_ == nullptr || !owner_->current_; }
    dataloader* owner_ = nullptr;
  };

  /// Reads the first batch of the epoch (or, after a range-for left early, the batch after the
  /// last one it saw).
  iterator begin() {
    advance();
    return iterator{this};
  }
  std::default_sentinel_t end() const noexcept { return {}; }

 private:
  // An item with its place: the epoch and its position in the epoch's source.
  template <class T>
  struct placed {
    std::size_t epoch;
    std::size_t position;
    T value;
  };

  struct placed_batch {
    std::size_t epoch;
    detail::batch_positions positions;
    batch_type value;
  };

  using pipeline_type = spdl::pipeline<placed_batch>;

  // The pipeline's continuous source: one pass over a copy of the source per epoch, skipping
  // what a restored state says is done.
  struct feeder {
    Source source;
    loader_state first;  // the first pass's epoch and what of it to skip
    std::size_t epoch = 0;
    std::size_t position = 0;
    std::optional<std::ranges::iterator_t<Source>> it;

    void set_epoch(std::size_t pass) {
      epoch = first.epoch + pass;
      if constexpr (spdl::detail::has_set_epoch<Source>) source.set_epoch(epoch);
      it.reset();
      position = 0;
    }

    std::optional<placed<item>> operator()() {
      if (!it) {
        it.emplace(std::ranges::begin(source));
        if (epoch == first.epoch && first.position > 0) {
          const auto skipped = std::ranges::advance(
              *it, static_cast<std::ranges::range_difference_t<Source>>(first.position),
              std::ranges::end(source));
          position = first.position - static_cast<std::size_t>(skipped);
        }
      }
      const bool skipping = epoch == first.epoch && !first.done.empty();
      while (*it != std::ranges::end(source)) {
        const std::size_t at = position++;
        if (skipping && detail::contains(first.done, at)) {
          ++*it;
          continue;
        }
        std::optional<placed<item>> out;
        out.emplace(placed<item>{epoch, at, item(**it)});
        ++*it;
        return out;
      }
      return std::nullopt;
    }
  };

  // The user's function, keeping account of the items that end without a result. It returns
  // an optional (empty for an item dropped) only where the function itself returns one.
  using call_output =
      std::conditional_t<fn_traits::may_drop, std::optional<placed<result>>, placed<result>>;

  struct call {
    std::shared_ptr<F> fn;
    std::shared_ptr<detail::loader_progress> progress;

    call_output finish(placed<item>& x, typename fn_traits::produced&& r) {
      if constexpr (fn_traits::may_drop) {
        if (!r) {
          progress->resolved(x.epoch, x.position);
          return std::nullopt;
        }
        return placed<result>{x.epoch, x.position, std::move(*r)};
      } else {
        return placed<result>{x.epoch, x.position, std::move(r)};
      }
    }
  };

  struct plain_call : call {
    call_output operator()(placed<item> x) {
      try {
        return this->finish(x, std::invoke(*this->fn, std::move(x.value)));
      } catch (...) {
        this->progress->resolved(x.epoch, x.position);
        throw;
      }
    }
  };

  struct loop_call : call {
    asio::awaitable<call_output> operator()(placed<item> x) {
      std::exception_ptr error;
      std::optional<call_output> out;
      try {
        auto pending = std::invoke(*this->fn, std::move(x.value));
        typename fn_traits::produced r = co_await std::move(pending);
        out.emplace(this->finish(x, std::move(r)));
      } catch (...) {
        error = std::current_exception();
      }
      if (error) {
        this->progress->resolved(x.epoch, x.position);
        std::rethrow_exception(error);
      }
      co_return std::move(*out);
    }
  };

  struct collate_call {
    std::shared_ptr<Collate> collate;
    std::shared_ptr<detail::loader_progress> progress;

    placed_batch operator()(std::vector<placed<result>> batch) {
      const std::size_t epoch = batch.empty() ? 0 : batch.front().epoch;
      detail::batch_positions positions;
      std::vector<result> values;
      values.reserve(batch.size());
      for (auto& x : batch) {
        positions.add(x.position);
        values.push_back(std::move(x.value));
      }
      try {
        // The collate first: `positions` is still needed should it throw.
        batch_type value = std::invoke(*collate, std::move(values));
        return placed_batch{epoch, std::move(positions), std::move(value)};
      } catch (...) {
        // The batch is lost as a whole: its items are done, not to be read again on resume.
        positions.for_each([&](std::size_t p) { progress->resolved(epoch, p); });
        throw;
      }
    }
  };

  pipeline_type build_pipeline() {
    auto plain_or_loop = [this] {
      if constexpr (fn_traits::on_loop)
        return loop_call{{fn_, progress_}};
      else
        return plain_call{{fn_, progress_}};
    };
    return spdl::pipeline_builder()
        .add_source(feeder{source_, resume_}, {.continuous = true})
        .pipe(plain_or_loop(), {.concurrency = options_.concurrency, .order = options_.order,
                                .name = "fn"})
        .aggregate(options_.batch_size, {.drop_last = options_.drop_last})
        .pipe(collate_call{collate_, progress_},
              {.concurrency = 1, .order = spdl::output_order::input, .name = "collate"})
        .add_sink(options_.buffer_size)
        .build({.num_threads = options_.num_threads,
                .max_failures = options_.max_failures,
                .on_failure = options_.on_failure,
                .trace = options_.trace,
                .queue_capacity = options_.queue_capacity});
  }

  void advance() {
    if (!pipeline_) {
      progress_ = std::make_shared<detail::loader_progress>(resume_);
      pipeline_.emplace(build_pipeline());
    }
    current_.reset();
    std::optional<placed_batch> b = pipeline_->get_item();
    if (!b) {  // the epoch's end
      progress_->finish_epoch(epoch_);
      ++epoch_;
      return;
    }
    progress_->delivered(b->epoch, b->positions);
    current_.emplace(std::move(b->value));
  }

  [[nodiscard]] bool mid_epoch() const { return progress_ && progress_->started(epoch_); }

  void reset_to(const loader_state& state) {
    pipeline_.reset();  // stops and joins the running one
    progress_.reset();
    current_.reset();
    resume_ = state;
    resume_.source_size.reset();
    epoch_ = state.epoch;
  }

  [[nodiscard]] std::optional<std::size_t> source_size() const {
    if constexpr (std::ranges::sized_range<const Source>)
      return static_cast<std::size_t>(std::ranges::size(source_));
    else
      return std::nullopt;
  }

  Source source_;
  std::shared_ptr<F> fn_;
  std::shared_ptr<Collate> collate_;
  dataloader_options options_;
  std::size_t epoch_ = 0;
  loader_state resume_;  // where the next pipeline starts
  std::shared_ptr<detail::loader_progress> progress_;
  std::optional<batch_type> current_;
  std::optional<pipeline_type> pipeline_;  // last: stopped first
};

}  // namespace spdl::data

namespace spdl {
using data::as_vector;
using data::dataloader;
using data::dataloader_options;
}  // namespace spdl
