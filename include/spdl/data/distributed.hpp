#pragma once
/// \file
/// This process's place in a distributed job, read from the variables its launcher sets
/// (torchrun, Open MPI's mpirun, Slurm's srun), to shard the data without a communication
/// library:
///
///     const auto env = spdl::distributed_env();
///     spdl::random_sampler sampler(n, {.rank = env.rank, .world_size = env.world_size});

#include <spdl/error.hpp>

#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <optional>
#include <string>
#include <string_view>

namespace spdl::data {

/// Where this process stands in a distributed job. A process run on its own is rank 0 of 1.
struct distributed_info {
  /// In [0, world_size): this process among all of the job's.
  std::size_t rank = 0, world_size = 1;
  /// This process among those on its node (0 and 1 when the launcher does not say).
  std::size_t local_rank = 0, local_world_size = 1;
  /// Which launcher's variables were read: "torchrun", "openmpi", "slurm" or "none".
  std::string launcher = "none";
};

namespace detail {

/// `value` quoted, its non-printable bytes (and quote and backslash) escaped as \xNN, so an
/// error message shows exactly what the variable held.
inline std::string quote_env_value(std::string_view value) {
  std::string out = "'";
  for (const char c : value) {
    const auto b = static_cast<unsigned char>(c);
    if (b < 0x20 || b > 0x7e || c == '\'' || c == '\\') {
      char hex[5];
      std::snprintf(hex, sizeof hex, "\\x%02x", b);
      out += hex;
    } else {
      out += c;
    }
  }
  return out + "'";
}

/// The variable's value as a whole non-negative decimal number; nullopt when it is not set.
/// Anything else (empty, a sign, spaces, other characters, more than size_t holds) throws:
/// a launcher that set a variable meant something by it, and guessing would mis-shard.
inline std::optional<std::size_t> env_number(const char* name) {
  const char* raw = std::getenv(name);
  if (raw == nullptr) return std::nullopt;
  const std::string_view text(raw);
  const auto fail = [&](std::string_view why) -> std::size_t {
    throw spdl::error("spdl::distributed_env: " + std::string(name) + "=" +
                      quote_env_value(text) + " " + std::string(why));
  };
  if (text.empty()) return fail("is empty; expected a whole non-negative decimal number");
  std::size_t value = 0;
  for (const char c : text) {
    if (c < '0' || c > '9') return fail("is not a whole non-negative decimal number");
    const auto digit = static_cast<std::size_t>(c - '0');
    if (value > (std::numeric_limits<std::size_t>::max() - digit) / 10)
      return fail("is out of range");
    value = value * 10 + digit;
  }
  return value;
}

struct launcher_variables {
  const char* launcher;
  const char* rank;
  const char* world_size;
  const char* local_rank;
  const char* local_world_size;
};

}  // namespace detail

/// Reads the distributed environment. The first launcher whose rank variable is set wins, in
/// this order: torchrun (RANK, WORLD_SIZE, LOCAL_RANK, LOCAL_WORLD_SIZE); Open MPI
/// (OMPI_COMM_WORLD_RANK, _SIZE, _LOCAL_RANK, _LOCAL_SIZE); Slurm (SLURM_PROCID, SLURM_NTASKS,
/// SLURM_LOCALID, SLURM_NTASKS_PER_NODE). None set: {0, 1, 0, 1, "none"}.
///
/// Throws spdl::error, naming the variable, when a value read is not a whole non-negative
/// decimal number, when the chosen launcher's world-size variable is missing, when
/// rank >= world_size, when the local world size is 0, or when local_rank >= local_world_size
/// (both being set). A missing local variable reads as local_rank 0, local_world_size 1.
///
/// Reads with std::getenv: do not call it while another thread changes the environment.
inline distributed_info distributed_env() {
  static constexpr detail::launcher_variables families[] = {
      {"torchrun", "RANK", "WORLD_SIZE", "LOCAL_RANK", "LOCAL_WORLD_SIZE"},
      {"openmpi", "OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE", "OMPI_COMM_WORLD_LOCAL_RANK",
       "OMPI_COMM_WORLD_LOCAL_SIZE"},
      {"slurm", "SLURM_PROCID", "SLURM_NTASKS", "SLURM_LOCALID", "SLURM_NTASKS_PER_NODE"},
  };
  for (const auto& f : families) {
    const auto rank = detail::env_number(f.rank);
    if (!rank) continue;
    const auto world_size = detail::env_number(f.world_size);
    if (!world_size)
      throw spdl::error(std::string("spdl::distributed_env: ") + f.rank + " is set but " +
                        f.world_size + " is not; " + f.launcher +
                        " sets both, so the environment is incomplete");
    if (*rank >= *world_size)
      throw spdl::error(std::string("spdl::distributed_env: ") + f.rank + "=" +
                        std::to_string(*rank) + " must be < " + f.world_size + "=" +
                        std::to_string(*world_size));
    const auto local_rank = detail::env_number(f.local_rank);
    const auto local_world_size = detail::env_number(f.local_world_size);
    if (local_world_size == std::size_t{0})
      throw spdl::error(std::string("spdl::distributed_env: ") + f.local_world_size +
                        "=0; a node runs at least this process");
    if (local_rank && local_world_size && *local_rank >= *local_world_size)
      throw spdl::error(std::string("spdl::distributed_env: ") + f.local_rank + "=" +
                        std::to_string(*local_rank) + " must be < " + f.local_world_size + "=" +
                        std::to_string(*local_world_size));
    return {*rank, *world_size, local_rank.value_or(0), local_world_size.value_or(1), f.launcher};
  }
  return {};
}

}  // namespace spdl::data

namespace spdl {
using data::distributed_env;
using data::distributed_info;
}  // namespace spdl
