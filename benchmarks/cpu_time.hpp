#pragma once
// CPU time of the whole process (every thread: the pipeline's loop and pool, a baseline's
// workers), next to the wall time Google Benchmark reports: a design that is fast only by
// burning more cores than another is not faster.

#include <benchmark/benchmark.h>

#include <sys/resource.h>

#include <cstdint>

namespace spdl::bench {

/// User + system CPU seconds of this process so far.
inline double process_cpu_seconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
         static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

/// Made before the benchmark's loop; `report` after it adds the counter "cpu_ns_per_item": the
/// process's CPU time over the loop per item (set-up inside the loop included).
class cpu_per_item {
 public:
  cpu_per_item() : start_(process_cpu_seconds()) {}

  void report(benchmark::State& state, std::int64_t items_per_iteration) const {
    const double items = static_cast<double>(state.iterations() * items_per_iteration);
    state.counters["cpu_ns_per_item"] = (process_cpu_seconds() - start_) * 1e9 / (items > 0 ? items : 1);
  }

 private:
  double start_;
};

}  // namespace spdl::bench
