// Checks what the ranks of the distributed test received (tests/data/mpirun_test.sh):
//
//   spdl_distributed_check OUT_DIR N WORLD
//
// reads OUT_DIR/rank0.txt .. rank<WORLD-1>.txt ("epoch index" lines, as spdl_distributed_worker
// writes them) and, for each epoch, compares them with PyTorch DistributedSampler's rule applied
// here on its own to the global order (the permutation of a one-process random_sampler with the
// same seed): pad the order by repeating it from its start to ceil(N / W) * W items; rank r
// takes positions r, r + W, r + 2W, ... Prints every difference; exit 0 when there is none.

#include <spdl/data/sampler.hpp>

#include <algorithm>
#include <cstdarg>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace {

constexpr std::size_t num_epochs = 2;
constexpr std::uint64_t seed = 1234;  // as in distributed_worker.cpp

int failures = 0;

__attribute__((format(printf, 1, 2))) void fail(const char* format, ...) {
  ++failures;
  std::fputs("FAIL: ", stderr);
  std::va_list args;
  va_start(args, format);
  std::vfprintf(stderr, format, args);
  va_end(args);
  std::fputc('\n', stderr);
}

std::string join(const std::vector<std::size_t>& v, std::size_t limit = 40) {
  std::string out;
  for (std::size_t i = 0; i < v.size() && i < limit; ++i) {
    if (i != 0) out += ' ';
    out += std::to_string(v[i]);
  }
  if (v.size() > limit) out += " ... (" + std::to_string(v.size()) + " in all)";
  return out;
}

// received[epoch] = the indices of that epoch, in the order the rank received them.
std::vector<std::vector<std::size_t>> read_rank(const std::filesystem::path& file) {
  std::vector<std::vector<std::size_t>> received(num_epochs);
  std::ifstream in(file);
  if (!in) {
    fail("'%s' is missing: did that rank run and finish?", file.c_str());
    return received;
  }
  std::string line;
  std::size_t line_number = 0, last_epoch = 0;
  while (std::getline(in, line)) {
    ++line_number;
    std::istringstream fields(line);
    std::size_t epoch = 0, index = 0;
    std::string rest;
    if (!(fields >> epoch >> index) || (fields >> rest)) {
      fail("%s:%zu: '%s' is not \"epoch index\"", file.c_str(), line_number, line.c_str());
      continue;
    }
    if (epoch >= num_epochs || epoch < last_epoch) {
      fail("%s:%zu: epoch %zu out of order or range (after epoch %zu, of %zu)", file.c_str(),
           line_number, epoch, last_epoch, num_epochs);
      continue;
    }
    last_epoch = epoch;
    received[epoch].push_back(index);
  }
  return received;
}

int check(const std::filesystem::path& dir, std::size_t n, std::size_t world) {
  const std::size_t per_rank = (n + world - 1) / world;

  std::vector<std::vector<std::vector<std::size_t>>> ranks;  // [rank][epoch]
  for (std::size_t r = 0; r < world; ++r)
    ranks.push_back(read_rank(dir / ("rank" + std::to_string(r) + ".txt")));
  const auto extra = dir / ("rank" + std::to_string(world) + ".txt");
  if (std::filesystem::exists(extra))
    fail("'%s' exists: more than WORLD=%zu ranks ran", extra.c_str(), world);

  std::vector<std::vector<std::size_t>> global_orders;
  for (std::size_t epoch = 0; epoch < num_epochs; ++epoch) {
    spdl::random_sampler whole(n, {.seed = seed});
    whole.set_epoch(epoch);
    const std::vector<std::size_t> order(whole.begin(), whole.end());
    global_orders.push_back(order);

    std::vector<std::size_t> sorted_order = order;
    std::sort(sorted_order.begin(), sorted_order.end());
    for (std::size_t i = 0; i < n; ++i)
      if (sorted_order.size() != n || sorted_order[i] != i) {
        fail("epoch %zu: the one-process order is not a permutation of [0, %zu)", epoch, n);
        break;
      }

    // PyTorch's rule, written out here rather than taken from the library.
    std::vector<std::size_t> padded = order;
    while (padded.size() < per_rank * world) padded.push_back(order[padded.size() - n]);

    std::vector<std::size_t> all_received;
    for (std::size_t r = 0; r < world; ++r) {
      const auto& got = ranks[r][epoch];
      if (got.size() != per_rank)
        fail("epoch %zu, rank %zu: received %zu indices, expected ceil(%zu / %zu) = %zu", epoch,
             r, got.size(), n, world, per_rank);
      std::vector<std::size_t> expected;
      for (std::size_t p = r; p < padded.size(); p += world) expected.push_back(padded[p]);
      if (got != expected)
        fail("epoch %zu, rank %zu: received\n  %s\nexpected\n  %s", epoch, r, join(got).c_str(),
             join(expected).c_str());
      all_received.insert(all_received.end(), got.begin(), got.end());
    }

    std::sort(all_received.begin(), all_received.end());
    std::vector<std::size_t> missing;
    for (std::size_t i = 0; i < n; ++i)
      if (!std::binary_search(all_received.begin(), all_received.end(), i)) missing.push_back(i);
    if (!missing.empty())
      fail("epoch %zu: no rank received %s", epoch, join(missing).c_str());
    if (!all_received.empty() && all_received.back() >= n)
      fail("epoch %zu: index %zu received, outside [0, %zu)", epoch, all_received.back(), n);
    std::sort(padded.begin(), padded.end());
    if (all_received != padded)
      fail("epoch %zu: the ranks' indices together are not the padded permutation's multiset",
           epoch);
  }

  if (global_orders[0] == global_orders[1]) fail("epochs 0 and 1 have the same order");
  for (std::size_t r = 0; r < world; ++r)
    if (!ranks[r][0].empty() && ranks[r][0] == ranks[r][1])
      fail("rank %zu received the same sequence in epochs 0 and 1", r);

  if (failures != 0) {
    std::fprintf(stderr, "spdl_distributed_check: %d difference(s)\n", failures);
    return 1;
  }
  std::printf("spdl_distributed_check: %zu ranks x %zu epochs x %zu indices (N = %zu, padded to "
              "%zu) as PyTorch's DistributedSampler shards them\n",
              world, num_epochs, per_rank, n, per_rank * world);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 4) {
    std::fprintf(stderr, "usage: spdl_distributed_check OUT_DIR N WORLD\n");
    return 2;
  }
  try {
    const std::size_t n = std::stoul(argv[2]), world = std::stoul(argv[3]);
    if (n == 0 || world == 0) {
      std::fprintf(stderr, "spdl_distributed_check: N and WORLD must be >= 1\n");
      return 2;
    }
    return check(argv[1], n, world);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "spdl_distributed_check: %s\n", e.what());
    return 1;
  }
}
