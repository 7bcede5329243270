#pragma once
/// \file
/// Index samplers: which items of a dataset this process reads in an epoch, and in which order.
/// Each is a sized random-access range of `std::size_t`, computed from (seed, epoch) alone with
/// fixed algorithms, so every rank of a distributed job, on any machine and compiler, derives
/// the same global sequence and takes its own shard of it without communicating.
///
///     spdl::random_sampler sampler(dataset.size(), {.rank = env.rank,
///                                                   .world_size = env.world_size, .seed = 7});
///     for (std::size_t epoch = 0; epoch < num_epochs; ++epoch) {
///       sampler.set_epoch(epoch);                  // a new order each epoch
///       for (std::size_t i : sampler) use(dataset[i]);
///     }

#include <spdl/data/detail/random.hpp>

#include <cstddef>
#include <cstdint>
#include <numeric>
#include <ranges>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace spdl::data {

/// Options of the samplers.
struct sampler_options {
  /// This process's shard, in [0, world_size).
  std::size_t rank = 0;
  /// How many shards the sequence is split into (the processes of a distributed job).
  std::size_t world_size = 1;
  /// With the epoch, determines the order (random_sampler) or the draws (weighted_sampler).
  std::uint64_t seed = 0;
  /// Drop the tail that does not divide evenly into world_size shards, instead of padding the
  /// sequence by repeating it from its start (the default, so that no item is left out).
  bool drop_last = false;
};

namespace detail {

inline void check_sampler_options(std::string_view who, const sampler_options& o) {
  if (o.world_size == 0)
    throw std::invalid_argument(std::string(who) + ": world_size must be >= 1");
  if (o.rank >= o.world_size)
    throw std::invalid_argument(std::string(who) + ": rank must be < world_size, got rank " +
                                std::to_string(o.rank) + " and world_size " +
                                std::to_string(o.world_size));
}

/// How many items each rank gets from a sequence of `length`, as PyTorch's DistributedSampler:
/// ceil(L / W) when padding; when dropping, Python's ceil((L - W) / W) if W does not divide L,
/// which is floor(L / W) for every L >= 1 (0 when L < W), and L / W if it does.
[[nodiscard]] constexpr std::size_t shard_size(std::size_t length,
                                               const sampler_options& o) noexcept {
  return length / o.world_size + (!o.drop_last && length % o.world_size != 0 ? 1 : 0);
}

/// This rank's share of `sequence` (given by element): positions rank, rank + W, ... of the
/// sequence padded by wrapping around (or truncated) to shard_size * W items.
template <class At>
[[nodiscard]] std::vector<std::size_t> shard(std::size_t length, const sampler_options& o,
                                             At at) {
  const std::size_t count = shard_size(length, o);
  std::vector<std::size_t> out;
  out.reserve(count);
  for (std::size_t k = 0; k < count; ++k) out.push_back(at((o.rank + k * o.world_size) % length));
  return out;
}

/// What every sampler is: this rank's indices for the current epoch, as a sized random-access
/// range, with the options and the epoch they came from.
class sampled_indices {
 public:
  using iterator = std::vector<std::size_t>::const_iterator;

  [[nodiscard]] iterator begin() const noexcept { return indices_.begin(); }
  [[nodiscard]] iterator end() const noexcept { return indices_.end(); }
  /// This rank's share: the same for every rank.
  [[nodiscard]] std::size_t size() const noexcept { return indices_.size(); }
  [[nodiscard]] std::size_t epoch() const noexcept { return epoch_; }
  [[nodiscard]] const sampler_options& options() const noexcept { return options_; }

 protected:
  explicit sampled_indices(sampler_options options) : options_(options) {}

  sampler_options options_;
  std::size_t epoch_ = 0;
  std::vector<std::size_t> indices_;
};
}  // namespace detail

/// Every index of [0, n) once per epoch, in an order shuffled from (seed, epoch) alone:
/// SplitMix64 seeded from both, Fisher–Yates with Lemire's unbiased bounded integers. The same
/// permutation on every machine; each rank takes its shard of it.
class random_sampler : public detail::sampled_indices {
 public:
  /// Throws std::invalid_argument when n == 0, world_size == 0 or rank >= world_size.
  random_sampler(std::size_t n, sampler_options options = {}) : sampled_indices(options), n_(n) {
    detail::check_sampler_options("spdl::random_sampler", options_);
    if (n_ == 0) throw std::invalid_argument("spdl::random_sampler: n must be >= 1");
    compute();
  }

  /// Selects the epoch's permutation (epoch 0 until called).
  void set_epoch(std::size_t epoch) {
    if (epoch == epoch_) return;
    epoch_ = epoch;
    compute();
  }

 private:
  void compute() {
    std::vector<std::size_t> order(n_);
    std::iota(order.begin(), order.end(), std::size_t{0});
    auto gen = detail::splitmix64::for_stream(options_.seed, epoch_);
    detail::shuffle(order, gen);
    indices_ = detail::shard(n_, options_, [&](std::size_t i) { return order[i]; });
  }

  std::size_t n_;
};

/// 0, 1, ..., n - 1, sharded like the others (the seed and the epoch change nothing).
class sequential_sampler : public detail::sampled_indices {
 public:
  /// Throws std::invalid_argument when n == 0, world_size == 0 or rank >= world_size.
  sequential_sampler(std::size_t n, sampler_options options = {}) : sampled_indices(options) {
    detail::check_sampler_options("spdl::sequential_sampler", options_);
    if (n == 0) throw std::invalid_argument("spdl::sequential_sampler: n must be >= 1");
    indices_ = detail::shard(n, options_, [](std::size_t i) { return i; });
  }

  /// Recorded only, so that every sampler can be driven alike.
  void set_epoch(std::size_t epoch) noexcept { epoch_ = epoch; }
};

/// `num_draws` indices drawn with replacement, index i with probability weights[i] / sum:
/// 53-bit uniform doubles from SplitMix64 (seeded from (seed, epoch)) and a binary search over
/// the running sums. A zero weight is never drawn. Each rank takes its shard of the draws.
///
///     spdl::weighted_sampler rebalance(class_weight_of_each_item, 50'000, {.seed = 1});
class weighted_sampler : public detail::sampled_indices {
 public:
  /// Throws std::invalid_argument when the weights are empty, negative, not finite or all zero,
  /// num_draws == 0, world_size == 0 or rank >= world_size.
  weighted_sampler(std::vector<double> weights, std::size_t num_draws,
                   sampler_options options = {})
      : sampled_indices(options), choice_(check(weights, num_draws, options)), num_draws_(num_draws) {
    compute();
  }

  /// Selects the epoch's draws (epoch 0 until called).
  void set_epoch(std::size_t epoch) {
    if (epoch == epoch_) return;
    epoch_ = epoch;
    compute();
  }

 private:
  static const std::vector<double>& check(const std::vector<double>& weights,
                                          std::size_t num_draws, const sampler_options& o) {
    detail::check_sampler_options("spdl::weighted_sampler", o);
    detail::check_weights(weights, "spdl::weighted_sampler");
    if (num_draws == 0)
      throw std::invalid_argument("spdl::weighted_sampler: num_draws must be >= 1");
    return weights;
  }

  void compute() {
    // Every rank draws the whole sequence: its shard depends on draws made for the others.
    std::vector<std::size_t> draws(num_draws_);
    auto gen = detail::splitmix64::for_stream(options_.seed, epoch_);
    for (auto& d : draws) d = choice_(gen);
    indices_ = detail::shard(num_draws_, options_, [&](std::size_t i) { return draws[i]; });
  }

  detail::weighted_choice choice_;
  std::size_t num_draws_;
};

static_assert(std::ranges::random_access_range<random_sampler> &&
              std::ranges::sized_range<random_sampler>);
static_assert(std::ranges::random_access_range<sequential_sampler> &&
              std::ranges::sized_range<sequential_sampler>);
static_assert(std::ranges::random_access_range<weighted_sampler> &&
              std::ranges::sized_range<weighted_sampler>);

}  // namespace spdl::data

namespace spdl {
using data::random_sampler;
using data::sampler_options;
using data::sequential_sampler;
using data::weighted_sampler;
}  // namespace spdl
