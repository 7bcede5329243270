// A trainer's data loop: the distributed environment → a sharded, shuffled sampler → a
// dataloader (load on the pool, batches collated into one flat tensor-like buffer) → epochs →
// a checkpoint of the loader's state → a "crash" → a new loader restored from the checkpoint,
// which continues with exactly the batches the first one would have given.
//
// Engine only (no media libraries): "loading" item i makes 16 floats from it. Run it as is, or
// under a launcher (torchrun, mpirun -np 4, srun): each process then reads its own shard.

#include <spdl/data.hpp>

#include <cstdio>
#include <numeric>
#include <string>
#include <vector>

namespace {

struct sample {
  std::vector<float> features;
  int label;
};

// A stand-in for reading and decoding a file; every 97th item is corrupt.
sample load(std::size_t i) {
  if (i % 97 == 13) throw std::runtime_error("item " + std::to_string(i) + ": corrupt");
  sample s{std::vector<float>(16), static_cast<int>(i % 10)};
  std::iota(s.features.begin(), s.features.end(), static_cast<float>(i));
  return s;
}

// What the trainer takes: one contiguous buffer per batch, and the labels.
struct batch {
  std::vector<float> features;  // batch × 16, row-major
  std::vector<int> labels;
};

batch collate(std::vector<sample>&& samples) {
  batch b;
  b.features.reserve(samples.size() * 16);
  for (auto& s : samples) {
    b.features.insert(b.features.end(), s.features.begin(), s.features.end());
    b.labels.push_back(s.label);
  }
  return b;
}

auto make_loader(const spdl::distributed_info& env) {
  spdl::random_sampler sampler(1000, {.rank = env.rank, .world_size = env.world_size, .seed = 7});
  return spdl::dataloader(sampler, load,
                          {.batch_size = 32, .num_threads = 2,
                           .on_failure = [](const spdl::stage_failure&) {}},  // counted in stats
                          collate);
}

}  // namespace

int main() {
  const spdl::distributed_info env = spdl::distributed_env();
  std::printf("rank %zu of %zu (launcher: %s)\n", env.rank, env.world_size, env.launcher.c_str());

  // The uninterrupted run, for comparison: 3 epochs.
  std::vector<float> reference;
  {
    auto loader = make_loader(env);
    for (std::size_t epoch = 0; epoch < 3; ++epoch) {
      loader.set_epoch(epoch);  // optional here: epochs count up by themselves
      for (auto& b : loader) reference.insert(reference.end(), b.features.begin(), b.features.end());
    }
  }

  // The same run, interrupted after 40 batches: the checkpoint holds the loader's state.
  std::vector<float> seen;
  std::string checkpoint;
  std::size_t batches = 0;
  {
    auto loader = make_loader(env);
    for (std::size_t epoch = 0; epoch < 3 && checkpoint.empty(); ++epoch) {
      loader.set_epoch(epoch);
      for (auto& b : loader) {
        seen.insert(seen.end(), b.features.begin(), b.features.end());
        if (++batches == 40) {
          checkpoint = loader.state().serialize();  // saved with the model's weights
          break;
        }
      }
    }
  }  // the process "crashes" here

  // A new process: same sampler, function and options, restored from the checkpoint.
  auto loader = make_loader(env);
  loader.restore(spdl::loader_state::deserialize(checkpoint));
  std::printf("resuming at epoch %zu\n", loader.epoch());
  for (std::size_t epoch = loader.epoch(); epoch < 3; ++epoch) {
    loader.set_epoch(epoch);  // keeps the restored position within this epoch
    for (auto& b : loader) seen.insert(seen.end(), b.features.begin(), b.features.end());
  }
  const auto stats = loader.stats();
  std::printf("%zu values over 3 epochs; resumed run %s the uninterrupted one; %zu failed items "
              "counted by the resumed loader\n",
              reference.size(), seen == reference ? "identical to" : "DIFFERENT from",
              stats.stages.at(1).num_failures);
  return seen == reference ? 0 : 1;
}
