// The samplers: determinism from (seed, epoch), the shuffle's pinned output, and sharding
// checked against PyTorch's DistributedSampler rule, written out here independently.

#include <spdl/data/sampler.hpp>

#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <numeric>
#include <ranges>
#include <stdexcept>
#include <type_traits>
#include <vector>

namespace {

using indices = std::vector<std::size_t>;

template <class Sampler>
indices to_vector(const Sampler& s) {
  return indices(s.begin(), s.end());
}

// torch.utils.data.DistributedSampler.__iter__ / __init__, transcribed (float ceil included).
indices pytorch_shard(const indices& sequence, std::size_t rank, std::size_t world_size,
                      bool drop_last) {
  const auto L = static_cast<double>(sequence.size());
  const auto W = static_cast<double>(world_size);
  std::size_t num_samples = 0;
  if (drop_last && sequence.size() % world_size != 0)
    num_samples = static_cast<std::size_t>(static_cast<long long>(std::ceil((L - W) / W)));
  else
    num_samples = static_cast<std::size_t>(std::ceil(L / W));
  const std::size_t total = num_samples * world_size;
  indices padded = sequence;
  if (!drop_last) {
    const std::size_t pad = total - sequence.size();
    if (pad <= sequence.size()) {
      padded.insert(padded.end(), sequence.begin(), sequence.begin() + static_cast<long>(pad));
    } else {
      indices repeated;
      const auto times = static_cast<std::size_t>(
          std::ceil(static_cast<double>(pad) / static_cast<double>(sequence.size())));
      for (std::size_t t = 0; t < times; ++t)
        repeated.insert(repeated.end(), sequence.begin(), sequence.end());
      padded.insert(padded.end(), repeated.begin(), repeated.begin() + static_cast<long>(pad));
    }
  } else {
    padded.resize(total);
  }
  REQUIRE(padded.size() == total);
  indices out;
  for (std::size_t i = rank; i < total; i += world_size) out.push_back(padded[i]);
  return out;
}

std::size_t pytorch_num_samples(std::size_t n, std::size_t world_size, bool drop_last) {
  const auto L = static_cast<double>(n), W = static_cast<double>(world_size);
  if (drop_last && n % world_size != 0)
    return static_cast<std::size_t>(static_cast<long long>(std::ceil((L - W) / W)));
  return static_cast<std::size_t>(std::ceil(L / W));
}

bool is_permutation_of_iota(indices v) {
  std::sort(v.begin(), v.end());
  for (std::size_t i = 0; i < v.size(); ++i)
    if (v[i] != i) return false;
  return true;
}

}  // namespace

static_assert(std::is_same_v<spdl::random_sampler, spdl::data::random_sampler>);
static_assert(std::is_same_v<spdl::sampler_options, spdl::data::sampler_options>);
static_assert(std::ranges::random_access_range<spdl::weighted_sampler>);
static_assert(std::ranges::sized_range<spdl::sequential_sampler>);
static_assert(std::is_same_v<std::ranges::range_value_t<spdl::random_sampler>, std::size_t>);
static_assert(std::is_copy_constructible_v<spdl::random_sampler> &&
              std::is_copy_assignable_v<spdl::weighted_sampler>);

TEST_CASE("random_sampler: a permutation, pinned for seed 42 epoch 0") {
  const spdl::random_sampler s(10, {.seed = 42});
  CHECK(s.epoch() == 0);
  CHECK(s.size() == 10);
  // SplitMix64 + Fisher–Yates + Lemire: any change of generator or algorithm changes these.
  CHECK(to_vector(s) == indices{5, 1, 4, 8, 6, 3, 9, 2, 0, 7});
  CHECK(is_permutation_of_iota(to_vector(spdl::random_sampler(1000, {.seed = 3}))));
  CHECK(to_vector(spdl::random_sampler(1)) == indices{0});
}

TEST_CASE("the generator is SplitMix64 as published") {
  // The reference implementation's (Vigna, splitmix64.c) first outputs for state 1234567.
  spdl::data::detail::splitmix64 gen(1234567);
  CHECK(gen() == 6457827717110365317ULL);
  CHECK(gen() == 3203168211198807973ULL);
}

TEST_CASE("random_sampler: the same sequence for the same seed and epoch, another otherwise") {
  spdl::random_sampler a(100, {.seed = 7}), b(100, {.seed = 7}), c(100, {.seed = 8});
  CHECK(to_vector(a) == to_vector(b));
  CHECK(to_vector(a) != to_vector(c));

  const auto epoch0 = to_vector(a);
  a.set_epoch(1);
  CHECK(a.epoch() == 1);
  const auto epoch1 = to_vector(a);
  CHECK(epoch1 != epoch0);
  CHECK(is_permutation_of_iota(epoch1));
  b.set_epoch(1);
  CHECK(to_vector(b) == epoch1);
  a.set_epoch(0);
  CHECK(to_vector(a) == epoch0);

  // Seed and epoch do not just shift each other.
  spdl::random_sampler d(100, {.seed = 6});
  d.set_epoch(1);
  CHECK(to_vector(d) != epoch0);
  CHECK(to_vector(d) != epoch1);
}

TEST_CASE("sequential_sampler: 0..n-1, whatever the seed and the epoch") {
  spdl::sequential_sampler s(5, {.seed = 99});
  CHECK(to_vector(s) == indices{0, 1, 2, 3, 4});
  s.set_epoch(4);
  CHECK(s.epoch() == 4);
  CHECK(to_vector(s) == indices{0, 1, 2, 3, 4});
}

TEST_CASE("samplers shard exactly as PyTorch's DistributedSampler") {
  for (std::size_t n : {1u, 7u, 100u, 101u}) {
    for (std::size_t world_size : {1u, 2u, 3u, 8u}) {
      for (bool drop_last : {false, true}) {
        for (bool random : {false, true}) {
          CAPTURE(n, world_size, drop_last, random);
          const std::uint64_t seed = 5;
          const indices full = random ? to_vector(spdl::random_sampler(n, {.seed = seed}))
                                      : to_vector(spdl::sequential_sampler(n));
          const std::size_t expected_size = pytorch_num_samples(n, world_size, drop_last);
          std::vector<std::size_t> all;
          for (std::size_t rank = 0; rank < world_size; ++rank) {
            const spdl::sampler_options o{.rank = rank, .world_size = world_size, .seed = seed,
                                          .drop_last = drop_last};
            const indices shard = random ? to_vector(spdl::random_sampler(n, o))
                                         : to_vector(spdl::sequential_sampler(n, o));
            CHECK(shard.size() == expected_size);
            CHECK(shard == pytorch_shard(full, rank, world_size, drop_last));
            all.insert(all.end(), shard.begin(), shard.end());
          }
          std::sort(all.begin(), all.end());
          if (drop_last) {
            // Disjoint: nothing repeated, and exactly the first total items are covered.
            CHECK(std::adjacent_find(all.begin(), all.end()) == all.end());
            indices kept(full.begin(),
                         full.begin() + static_cast<long>(expected_size * world_size));
            std::sort(kept.begin(), kept.end());
            CHECK(all == kept);
          } else {
            // Every index at least once; ceil(n / W) * W in all, the overflow repeated.
            CHECK(all.size() == expected_size * world_size);
            indices unique = all;
            unique.erase(std::unique(unique.begin(), unique.end()), unique.end());
            CHECK(unique.size() == n);
          }
        }
      }
    }
  }
}

TEST_CASE("samplers: fewer items than ranks") {
  for (std::size_t rank = 0; rank < 8; ++rank) {
    CAPTURE(rank);
    const spdl::sampler_options drop{.rank = rank, .world_size = 8, .drop_last = true};
    CHECK(spdl::random_sampler(3, drop).size() == 0);
    CHECK(spdl::sequential_sampler(7, drop).size() == 0);
    CHECK(spdl::weighted_sampler({1.0, 2.0}, 5, drop).size() == 0);
    // Padding repeats the sequence as often as needed: rank r gets item r % n.
    const spdl::sampler_options pad{.rank = rank, .world_size = 8};
    CHECK(to_vector(spdl::sequential_sampler(3, pad)) == indices{rank % 3});
  }
}

TEST_CASE("weighted_sampler: frequencies follow the weights, a zero weight is never drawn") {
  const std::vector<double> weights{1.0, 0.0, 3.0, 6.0, 0.5, 0.0};
  const double total = std::accumulate(weights.begin(), weights.end(), 0.0);
  constexpr std::size_t draws = 200'000;
  const spdl::weighted_sampler s(weights, draws, {.seed = 11});
  REQUIRE(s.size() == draws);
  std::vector<std::size_t> counts(weights.size());
  std::size_t out_of_range = 0;
  for (std::size_t i : s) (i < weights.size() ? counts[i] : out_of_range) += 1;
  REQUIRE(out_of_range == 0);
  for (std::size_t i = 0; i < weights.size(); ++i) {
    CAPTURE(i, counts[i]);
    const double p = weights[i] / total;
    if (p == 0.0) {
      CHECK(counts[i] == 0);
      continue;
    }
    // 5 standard deviations of the binomial: a false alarm about once in 1.7 million runs.
    const double sigma = std::sqrt(static_cast<double>(draws) * p * (1 - p));
    CHECK(std::abs(static_cast<double>(counts[i]) - static_cast<double>(draws) * p) <=
          5 * sigma);
  }
}

TEST_CASE("weighted_sampler: deterministic from (seed, epoch), sharded like the others") {
  const std::vector<double> w{2.0, 1.0, 1.0, 4.0};
  spdl::weighted_sampler a(w, 50, {.seed = 3}), b(w, 50, {.seed = 3}), c(w, 50, {.seed = 4});
  CHECK(to_vector(a) == to_vector(b));
  CHECK(to_vector(a) != to_vector(c));
  const auto epoch0 = to_vector(a);
  a.set_epoch(2);
  CHECK(a.epoch() == 2);
  CHECK(to_vector(a) != epoch0);
  b.set_epoch(2);
  CHECK(to_vector(a) == to_vector(b));

  for (std::size_t draws : {1u, 7u, 11u}) {
    for (bool drop_last : {false, true}) {
      const auto full = to_vector(spdl::weighted_sampler(w, draws, {.seed = 9}));
      for (std::size_t rank = 0; rank < 3; ++rank) {
        CAPTURE(draws, drop_last, rank);
        const spdl::weighted_sampler shard(
            w, draws, {.rank = rank, .world_size = 3, .seed = 9, .drop_last = drop_last});
        CHECK(to_vector(shard) == pytorch_shard(full, rank, 3, drop_last));
      }
    }
  }
}

TEST_CASE("samplers: bad options throw std::invalid_argument naming the option") {
  using Catch::Matchers::Contains;
  const std::vector<double> w{1.0};
  CHECK_THROWS_WITH(spdl::random_sampler(10, {.rank = 2, .world_size = 2}), Contains("rank"));
  CHECK_THROWS_WITH(spdl::sequential_sampler(10, {.world_size = 0}), Contains("world_size"));
  CHECK_THROWS_WITH(spdl::weighted_sampler(w, 5, {.rank = 1}), Contains("rank"));
  CHECK_THROWS_AS(spdl::random_sampler(0), std::invalid_argument);
  CHECK_THROWS_WITH(spdl::random_sampler(0), Contains("n must be"));
  CHECK_THROWS_WITH(spdl::sequential_sampler(0), Contains("n must be"));
  CHECK_THROWS_WITH(spdl::weighted_sampler(w, 0), Contains("num_draws"));
  CHECK_THROWS_AS(spdl::weighted_sampler(w, 0), std::invalid_argument);
}

TEST_CASE("weighted_sampler: bad weights throw std::invalid_argument saying why") {
  using Catch::Matchers::Contains;
  CHECK_THROWS_WITH(spdl::weighted_sampler({}, 5), Contains("weights") && Contains("empty"));
  CHECK_THROWS_WITH(spdl::weighted_sampler({1.0, -1.0}, 5),
                    Contains("weights") && Contains("weights[1]"));
  CHECK_THROWS_WITH(spdl::weighted_sampler({1.0, std::nan("")}, 5), Contains("finite"));
  CHECK_THROWS_WITH(spdl::weighted_sampler({HUGE_VAL}, 5), Contains("finite"));
  CHECK_THROWS_WITH(spdl::weighted_sampler({0.0, 0.0}, 5), Contains("all zero"));
  CHECK_THROWS_WITH(spdl::weighted_sampler({1e308, 1e308}, 5), Contains("sum"));
  CHECK_THROWS_AS(spdl::weighted_sampler({0.0}, 5), std::invalid_argument);
}
