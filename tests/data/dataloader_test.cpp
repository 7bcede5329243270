// spdl::dataloader: batches per epoch, epochs on one warm pipeline, samplers reshuffling, and
// exact resume from a serialised state at any batch (failures and drops included).

#include <spdl/data.hpp>

#include <catch2/catch.hpp>

#include <algorithm>
#include <map>
#include <numeric>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace {

void quiet(const spdl::stage_failure&) {}

// Item i fails when i % 17 == 3 and is dropped on purpose when i % 19 == 4.
std::optional<int> load(std::size_t i) {
  if (i % 17 == 3) throw std::runtime_error("cannot load " + std::to_string(i));
  if (i % 19 == 4) return std::nullopt;
  return static_cast<int>(i) * 10;
}

using batch = std::vector<int>;
using epoch_batch = std::pair<std::size_t, batch>;

// Reads until `total` batches were seen (across epochs) or `epochs` ended; stops early after
// `stop_after` batches.
template <class Loader>
std::vector<epoch_batch> train(Loader& loader, std::size_t epochs, std::size_t stop_after = SIZE_MAX) {
  std::vector<epoch_batch> seen;
  while (loader.epoch() < epochs) {
    const std::size_t e = loader.epoch();
    for (auto& b : loader) {
      seen.emplace_back(e, b);
      if (seen.size() == stop_after) return seen;
    }
  }
  return seen;
}

}  // namespace

TEST_CASE("dataloader: batches of an epoch, in order, the last one partial", "[data][dataloader]") {
  const std::size_t queues = GENERATE(std::size_t{1}, std::size_t{2}, std::size_t{16});
  CAPTURE(queues);  // queue_capacity
  CHECK_THROWS_AS(spdl::dataloader(spdl::sequential_sampler(1), [](std::size_t i) { return i; },
                                   {.queue_capacity = 0}),
                  std::invalid_argument);
  spdl::dataloader loader(spdl::sequential_sampler(100),
                          [](std::size_t i) { return static_cast<int>(i) * 2; },
                          {.batch_size = 8, .num_threads = 2, .concurrency = 4,
                           .queue_capacity = queues});
  for (int epoch = 0; epoch < 2; ++epoch) {
    std::vector<int> all;
    std::vector<std::size_t> sizes;
    for (auto& b : loader) {
      sizes.push_back(b.size());
      all.insert(all.end(), b.begin(), b.end());
    }
    REQUIRE(sizes.size() == 13);
    CHECK(sizes.back() == 4);
    std::vector<int> expected(100);
    for (int i = 0; i < 100; ++i) expected[static_cast<std::size_t>(i)] = 2 * i;
    CHECK(all == expected);
  }
  CHECK(loader.epoch() == 2);
}

TEST_CASE("dataloader: a sampler reshuffles each epoch; set_epoch chooses it", "[data][dataloader]") {
  const spdl::random_sampler sampler(50, {.seed = 3});
  auto order_of = [&](std::size_t epoch) {
    auto s = sampler;
    s.set_epoch(epoch);
    return std::vector<std::size_t>(s.begin(), s.end());
  };
  spdl::dataloader loader(sampler, [](std::size_t i) { return i; },
                          {.batch_size = 50, .num_threads = 2});
  auto read_one = [&] {
    std::vector<std::size_t> got;
    for (auto& b : loader) got.insert(got.end(), b.begin(), b.end());
    return got;
  };
  CHECK(read_one() == order_of(0));
  CHECK(read_one() == order_of(1));
  CHECK(order_of(0) != order_of(1));
  loader.set_epoch(7);
  CHECK(read_one() == order_of(7));
  CHECK(loader.epoch() == 8);
}

TEST_CASE("dataloader: collate, drop_last, awaitable functions", "[data][dataloader]") {
  spdl::dataloader sums(
      spdl::sequential_sampler(10),
      [](std::size_t i) -> asio::awaitable<int> { co_return static_cast<int>(i); },
      {.batch_size = 4, .drop_last = true, .num_threads = 1},
      [](std::vector<int>&& b) { return std::accumulate(b.begin(), b.end(), 0); });
  std::vector<int> got;
  for (int s : sums) got.push_back(s);
  CHECK(got == std::vector<int>{0 + 1 + 2 + 3, 4 + 5 + 6 + 7});
}

TEST_CASE("dataloader: failed and dropped items are left out and counted", "[data][dataloader]") {
  spdl::dataloader loader(spdl::sequential_sampler(60), load,
                          {.batch_size = 7, .num_threads = 2, .on_failure = quiet});
  std::vector<int> all;
  for (auto& b : loader) all.insert(all.end(), b.begin(), b.end());
  std::vector<int> expected;
  for (std::size_t i = 0; i < 60; ++i)
    if (i % 17 != 3 && i % 19 != 4) expected.push_back(static_cast<int>(i) * 10);
  CHECK(all == expected);
  CHECK(loader.stats().stages.at(1).num_failures >= 4);  // 3, 20, 37, 54 (and maybe read-ahead)
}

TEST_CASE("dataloader: resume from any batch yields exactly the uninterrupted sequence",
          "[data][dataloader][resume]") {
  const spdl::random_sampler sampler(103, {.seed = 11});
  const spdl::dataloader_options options{.batch_size = 8, .num_threads = 2, .concurrency = 4,
                                         .max_failures = spdl::failure_budget::unlimited(),
                                         .on_failure = quiet};
  constexpr std::size_t epochs = 3;
  auto make = [&] { return spdl::dataloader(sampler, load, options); };

  auto reference_loader = make();
  const auto reference = train(reference_loader, epochs);
  // 103 items, 6 fail and 5 or 6 are dropped per epoch: 12 batches, the last partial.
  REQUIRE(reference.size() >= 30);

  std::vector<std::size_t> cuts{0, 1, 2, 5};
  std::map<std::size_t, std::size_t> last_of_epoch;
  for (std::size_t i = 0; i < reference.size(); ++i) last_of_epoch[reference[i].first] = i + 1;
  for (auto [epoch, end] : last_of_epoch) {
    cuts.push_back(end - 1);
    cuts.push_back(end);
    cuts.push_back(end + 1);
  }
  cuts.push_back(reference.size() - 1);
  for (std::size_t k : cuts) {
    if (k > reference.size()) continue;
    CAPTURE(k);
    std::string saved;
    std::vector<epoch_batch> first;
    {
      auto loader = make();
      first = train(loader, epochs, k);
      saved = loader.state().serialize();
    }  // the first loader is gone, as after a crash
    auto resumed = make();
    resumed.restore(spdl::loader_state::deserialize(saved));
    auto rest = train(resumed, epochs);
    first.insert(first.end(), rest.begin(), rest.end());
    CHECK(first == reference);
  }
}

TEST_CASE("dataloader: a state taken at an epoch's end resumes at the next epoch",
          "[data][dataloader][resume]") {
  spdl::dataloader loader(spdl::sequential_sampler(20), [](std::size_t i) { return i; },
                          {.batch_size = 6, .num_threads = 1});
  for ([[maybe_unused]] auto& b : loader) {
  }
  const auto state = loader.state();
  CHECK(state.epoch == 1);
  CHECK(state.position == 0);
  CHECK(state.done.empty());
  CHECK(state.source_size == 20);
}

TEST_CASE("dataloader: completion order resumes with every item exactly once",
          "[data][dataloader][resume]") {
  const spdl::random_sampler sampler(200, {.seed = 5});
  const spdl::dataloader_options options{.batch_size = 5, .num_threads = 2, .concurrency = 8,
                                         .order = spdl::output_order::completion,
                                         .on_failure = quiet};
  std::vector<int> expected;
  for (std::size_t i = 0; i < 200; ++i)
    if (i % 17 != 3 && i % 19 != 4) expected.push_back(static_cast<int>(i) * 10);
  for (std::size_t k : {1, 7, 20}) {
    CAPTURE(k);
    spdl::dataloader loader(sampler, load, options);
    auto first = train(loader, 1, k);
    const auto state = loader.state();
    spdl::dataloader resumed(sampler, load, options);
    resumed.restore(state);
    auto rest = train(resumed, 1);
    std::vector<int> all;
    for (auto& [e, b] : first) all.insert(all.end(), b.begin(), b.end());
    for (auto& [e, b] : rest) all.insert(all.end(), b.begin(), b.end());
    std::sort(all.begin(), all.end());
    CHECK(all == expected);
  }
}

TEST_CASE("dataloader: a batch whose collate fails is lost whole and not read again on resume",
          "[data][dataloader][resume]") {
  // Batches of 5 from 0..39; the collate of the batch that begins with 10 throws. With item 12
  // failing too, that batch is 10, 11, 13, 14, 15: its positions are not one run.
  const bool gap = GENERATE(false, true);
  CAPTURE(gap);
  const std::size_t lost_end = gap ? 16 : 15;  // the lost batch: 10 up to here
  auto collate = [](std::vector<std::size_t>&& b) {
    if (b.front() == 10) throw std::runtime_error("cannot collate");
    return std::move(b);
  };
  auto fn = [gap](std::size_t i) {
    if (gap && i == 12) throw std::runtime_error("cannot load 12");
    return i;
  };
  const spdl::dataloader_options options{.batch_size = 5, .num_threads = 1, .on_failure = quiet};
  auto make = [&] { return spdl::dataloader(spdl::sequential_sampler(40), fn, options, collate); };
  auto loader = make();
  std::vector<std::size_t> seen;
  std::size_t batches = 0;
  for (auto& b : loader) {
    seen.insert(seen.end(), b.begin(), b.end());
    if (++batches == 3) break;
  }
  std::vector<std::size_t> first{0, 1, 2, 3, 4, 5, 6, 7, 8, 9};
  for (std::size_t i = lost_end; i < lost_end + 5; ++i) first.push_back(i);
  CHECK(seen == first);
  const auto state = loader.state();
  CHECK(state.position == lost_end + 5);  // the lost batch's items (and 12) count as done
  CHECK(state.done.empty());

  auto resumed = make();
  resumed.restore(state);
  for (auto& b : resumed) seen.insert(seen.end(), b.begin(), b.end());
  std::vector<std::size_t> expected;
  for (std::size_t i = 0; i < 40; ++i)
    if (i < 10 || i >= lost_end) expected.push_back(i);
  CHECK(seen == expected);
  CHECK(resumed.epoch() == 1);
}

TEST_CASE("loader_state: round trip, and malformed text is an error", "[data][dataloader]") {
  spdl::loader_state s{.epoch = 3, .position = 17, .done = {19, 23}, .source_size = 100};
  CHECK(spdl::loader_state::deserialize(s.serialize()) == s);
  spdl::loader_state no_size{.epoch = 0, .position = 0, .done = {}, .source_size = std::nullopt};
  CHECK(spdl::loader_state::deserialize(no_size.serialize()) == no_size);
  for (const char* bad : {"", "spdl-loader-state 2\n", "spdl-loader-state 1\nepoch x\n",
                          "spdl-loader-state 1\nepoch 1\nposition 2\nsource_size -\ndone 1 1\n",
                          "spdl-loader-state 1\nepoch 1\nposition 2\nsource_size -\ndone 0\nmore",
                          "spdl-loader-state 1\nepoch 99999999999999999999999\n"}) {
    CAPTURE(bad);
    CHECK_THROWS_AS(spdl::loader_state::deserialize(bad), spdl::error);
  }
  spdl::dataloader loader(spdl::sequential_sampler(10), [](std::size_t i) { return i; });
  CHECK_THROWS_AS(loader.restore(s), spdl::error);  // a state from a source of 100 items
}
