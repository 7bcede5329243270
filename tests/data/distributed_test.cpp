// distributed_env: each launcher's variables, their precedence, and values that must be refused.
// Every test starts from an environment without any of the variables and restores it after.

#include <spdl/data/distributed.hpp>

#include <catch2/catch.hpp>

#include <stdlib.h>  // setenv, unsetenv (POSIX)

#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace {

const char* const all_variables[] = {
    "RANK", "WORLD_SIZE", "LOCAL_RANK", "LOCAL_WORLD_SIZE",
    "OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE", "OMPI_COMM_WORLD_LOCAL_RANK",
    "OMPI_COMM_WORLD_LOCAL_SIZE",
    "SLURM_PROCID", "SLURM_NTASKS", "SLURM_LOCALID", "SLURM_NTASKS_PER_NODE"};

// Clears the launchers' variables for the test's lifetime, then puts back what was there.
class scoped_environment {
 public:
  scoped_environment() {
    for (const char* name : all_variables) {
      const char* value = std::getenv(name);
      saved_.emplace_back(name, value ? std::optional<std::string>(value) : std::nullopt);
      ::unsetenv(name);
    }
  }
  ~scoped_environment() {
    for (const auto& [name, value] : saved_) {
      if (value)
        ::setenv(name, value->c_str(), 1);
      else
        ::unsetenv(name);
    }
  }
  scoped_environment(const scoped_environment&) = delete;
  scoped_environment& operator=(const scoped_environment&) = delete;

  void set(const char* name, const std::string& value) { ::setenv(name, value.c_str(), 1); }

 private:
  std::vector<std::pair<const char*, std::optional<std::string>>> saved_;
};

void check(const spdl::distributed_info& got, std::size_t rank, std::size_t world_size,
           std::size_t local_rank, std::size_t local_world_size, const std::string& launcher) {
  CHECK(got.rank == rank);
  CHECK(got.world_size == world_size);
  CHECK(got.local_rank == local_rank);
  CHECK(got.local_world_size == local_world_size);
  CHECK(got.launcher == launcher);
}

}  // namespace

TEST_CASE("distributed_env: none set is a single process") {
  scoped_environment env;
  check(spdl::distributed_env(), 0, 1, 0, 1, "none");
  check(spdl::data::distributed_env(), 0, 1, 0, 1, "none");
}

TEST_CASE("distributed_env: torchrun") {
  scoped_environment env;
  env.set("RANK", "5");
  env.set("WORLD_SIZE", "16");
  env.set("LOCAL_RANK", "1");
  env.set("LOCAL_WORLD_SIZE", "4");
  check(spdl::distributed_env(), 5, 16, 1, 4, "torchrun");
}

TEST_CASE("distributed_env: Open MPI") {
  scoped_environment env;
  env.set("OMPI_COMM_WORLD_RANK", "3");
  env.set("OMPI_COMM_WORLD_SIZE", "8");
  env.set("OMPI_COMM_WORLD_LOCAL_RANK", "3");
  env.set("OMPI_COMM_WORLD_LOCAL_SIZE", "4");
  check(spdl::distributed_env(), 3, 8, 3, 4, "openmpi");
}

TEST_CASE("distributed_env: Slurm") {
  scoped_environment env;
  env.set("SLURM_PROCID", "7");
  env.set("SLURM_NTASKS", "12");
  env.set("SLURM_LOCALID", "1");
  env.set("SLURM_NTASKS_PER_NODE", "6");
  check(spdl::distributed_env(), 7, 12, 1, 6, "slurm");
}

TEST_CASE("distributed_env: missing local variables read as local rank 0 of 1") {
  scoped_environment env;
  env.set("SLURM_PROCID", "2");
  env.set("SLURM_NTASKS", "4");
  check(spdl::distributed_env(), 2, 4, 0, 1, "slurm");
  env.set("SLURM_LOCALID", "2");  // without a local size: taken as it is
  check(spdl::distributed_env(), 2, 4, 2, 1, "slurm");
}

TEST_CASE("distributed_env: torchrun, then Open MPI, then Slurm") {
  scoped_environment env;
  env.set("SLURM_PROCID", "1");
  env.set("SLURM_NTASKS", "2");
  CHECK(spdl::distributed_env().launcher == "slurm");
  env.set("OMPI_COMM_WORLD_RANK", "2");
  env.set("OMPI_COMM_WORLD_SIZE", "3");
  check(spdl::distributed_env(), 2, 3, 0, 1, "openmpi");
  env.set("RANK", "0");
  env.set("WORLD_SIZE", "1");
  check(spdl::distributed_env(), 0, 1, 0, 1, "torchrun");
  // Only the rank variable decides: a lone WORLD_SIZE does not make it torchrun.
  ::unsetenv("RANK");
  CHECK(spdl::distributed_env().launcher == "openmpi");
}

TEST_CASE("distributed_env: values that are not whole non-negative numbers throw, naming them") {
  using Catch::Matchers::Contains;
  for (const std::string bad : {"abc", "1x", "-2", "", " 3", "3 ", "+1", "0x10", "1.0",
                                "99999999999999999999999"}) {
    CAPTURE(bad);
    {
      scoped_environment env;
      env.set("RANK", bad);
      env.set("WORLD_SIZE", "4");
      CHECK_THROWS_AS(spdl::distributed_env(), spdl::error);
      CHECK_THROWS_WITH(spdl::distributed_env(), Contains("RANK") && Contains("'" + bad + "'"));
    }
    {
      scoped_environment env;
      env.set("OMPI_COMM_WORLD_RANK", "0");
      env.set("OMPI_COMM_WORLD_SIZE", bad);
      CHECK_THROWS_WITH(spdl::distributed_env(), Contains("OMPI_COMM_WORLD_SIZE"));
    }
    {
      scoped_environment env;
      env.set("SLURM_PROCID", "0");
      env.set("SLURM_NTASKS", "2");
      env.set("SLURM_LOCALID", bad);
      CHECK_THROWS_WITH(spdl::distributed_env(), Contains("SLURM_LOCALID"));
    }
  }
}

TEST_CASE("distributed_env: non-printable bytes are escaped in the message") {
  scoped_environment env;
  env.set("RANK", "1\t\x7f");
  env.set("WORLD_SIZE", "4");
  CHECK_THROWS_WITH(spdl::distributed_env(), Catch::Matchers::Contains("RANK='1\\x09\\x7f'"));
}

TEST_CASE("distributed_env: an inconsistent environment throws") {
  using Catch::Matchers::Contains;
  {
    scoped_environment env;
    env.set("RANK", "0");
    CHECK_THROWS_AS(spdl::distributed_env(), spdl::error);
    CHECK_THROWS_WITH(spdl::distributed_env(), Contains("WORLD_SIZE"));
  }
  {
    scoped_environment env;
    env.set("SLURM_PROCID", "4");
    env.set("SLURM_NTASKS", "4");
    CHECK_THROWS_WITH(spdl::distributed_env(),
                      Contains("SLURM_PROCID") && Contains("SLURM_NTASKS"));
  }
  {
    scoped_environment env;
    env.set("OMPI_COMM_WORLD_RANK", "0");
    env.set("OMPI_COMM_WORLD_SIZE", "0");
    CHECK_THROWS_AS(spdl::distributed_env(), spdl::error);
  }
  {
    scoped_environment env;
    env.set("RANK", "0");
    env.set("WORLD_SIZE", "2");
    env.set("LOCAL_RANK", "2");
    env.set("LOCAL_WORLD_SIZE", "2");
    CHECK_THROWS_WITH(spdl::distributed_env(), Contains("LOCAL_RANK"));
    ::unsetenv("LOCAL_RANK");
    env.set("LOCAL_WORLD_SIZE", "0");
    CHECK_THROWS_WITH(spdl::distributed_env(), Contains("LOCAL_WORLD_SIZE"));
  }
}
