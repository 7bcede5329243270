// One rank of the distributed test (tests/data/mpirun_test.sh runs it under Open MPI's mpirun):
// reads its place from the launcher's variables, loads its shard of N indices for two epochs
// through a dataloader, and writes what it received, in order, for spdl_distributed_check.
//
//   spdl_distributed_worker OUT_DIR N   →   OUT_DIR/rank<R>.txt, one "epoch index" per line

#include <spdl/data.hpp>

#include <cstddef>
#include <cstdio>
#include <exception>
#include <filesystem>
#include <fstream>
#include <string>

namespace {

constexpr std::size_t num_epochs = 2;

int run(const std::filesystem::path& out_dir, std::size_t n) {
  const spdl::distributed_info env = spdl::distributed_env();
  if (env.launcher != "openmpi") {
    std::fprintf(stderr,
                 "spdl_distributed_worker: expected to run under Open MPI's mpirun, but the "
                 "launcher read is '%s' (OMPI_COMM_WORLD_RANK is not set)\n",
                 env.launcher.c_str());
    return 1;
  }

  spdl::random_sampler sampler(n, {.rank = env.rank, .world_size = env.world_size, .seed = 1234});
  spdl::dataloader loader(sampler, [](std::size_t i) { return i; },
                          {.batch_size = 5, .num_threads = 2});

  // Written under a temporary name and renamed when complete, so that the checker never reads
  // a half-written file.
  const auto final_path = out_dir / ("rank" + std::to_string(env.rank) + ".txt");
  auto temp_path = final_path;
  temp_path += ".tmp";
  {
    std::ofstream out(temp_path, std::ios::trunc);
    if (!out) {
      std::fprintf(stderr, "spdl_distributed_worker: rank %zu: cannot write '%s'\n", env.rank,
                   temp_path.c_str());
      return 1;
    }
    for (std::size_t epoch = 0; epoch < num_epochs; ++epoch) {
      loader.set_epoch(epoch);
      for (const auto& batch : loader)
        for (const std::size_t index : batch) out << epoch << ' ' << index << '\n';
    }
    out.close();
    if (!out) {
      std::fprintf(stderr, "spdl_distributed_worker: rank %zu: writing '%s' failed\n", env.rank,
                   temp_path.c_str());
      return 1;
    }
  }
  std::filesystem::rename(temp_path, final_path);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: spdl_distributed_worker OUT_DIR N\n");
    return 2;
  }
  try {
    return run(argv[1], std::stoul(argv[2]));
  } catch (const std::exception& e) {
    std::fprintf(stderr, "spdl_distributed_worker: %s\n", e.what());
    return 1;
  }
}
