#pragma once
/// \file
/// Per-stage and per-queue statistics of a pipeline, and the default report (a table).

#include <chrono>
#include <cstddef>
#include <cstdio>
#include <iostream>
#include <string>
#include <vector>

namespace spdl {

/// One stage: how often its function ran, how often it failed, how long a call took.
/// `num_tasks` counts every call, failures and drops included. Percentiles come from a
/// streaming estimator (P²): O(1) memory however long the pipeline runs. The times come from
/// every call, except in a stage whose calls average under 5 µs: after its first 1,024 calls,
/// such a stage times one call in 16 (reading the clock would cost as much as the call), and
/// its mean and percentiles are those of that sample.
struct stage_stats {
  std::string name;
  std::size_t concurrency = 0;
  std::size_t num_tasks = 0;
  std::size_t num_failures = 0;
  std::chrono::nanoseconds avg_time{0};
  std::chrono::nanoseconds p90_time{0};
  std::chrono::nanoseconds p99_time{0};
};

/// One queue between stages (named after the stage that fills it; the last is "sink").
/// `occupancy` is the fraction of the pipeline's running time during which the queue held at
/// least one item ("data readiness": near 1 means the consumer side never starves);
/// `avg_put_wait` / `avg_get_wait` are the mean time a put / get waited, over all items.
struct queue_stats {
  std::string name;
  std::size_t num_items = 0;
  std::chrono::nanoseconds avg_put_wait{0};
  std::chrono::nanoseconds avg_get_wait{0};
  double occupancy = 0.0;
  double qps = 0.0;
};

/// A snapshot of a whole pipeline, stages and queues in pipeline order.
struct pipeline_stats {
  std::vector<stage_stats> stages;
  std::vector<queue_stats> queues;
};

/// Formats a snapshot as a readable table (what the default stats hook prints).
inline std::string format_stats(const pipeline_stats& s) {
  auto us = [](std::chrono::nanoseconds t) { return static_cast<double>(t.count()) / 1e3; };
  std::string out;
  char line[256];
  std::snprintf(line, sizeof line, "%-20s %5s %10s %8s %11s %11s %11s\n", "stage", "conc",
                "tasks", "failed", "avg[us]", "p90[us]", "p99[us]");
  out += line;
  for (const auto& st : s.stages) {
    std::snprintf(line, sizeof line, "%-20.20s %5zu %10zu %8zu %11.1f %11.1f %11.1f\n",
                  st.name.c_str(), st.concurrency, st.num_tasks, st.num_failures,
                  us(st.avg_time), us(st.p90_time), us(st.p99_time));
    out += line;
  }
  std::snprintf(line, sizeof line, "%-20s %10s %11s %11s %9s %11s\n", "queue", "items",
                "put[us]", "get[us]", "occupied", "items/s");
  out += line;
  for (const auto& q : s.queues) {
    std::snprintf(line, sizeof line, "%-20.20s %10zu %11.1f %11.1f %8.0f%% %11.0f\n",
                  q.name.c_str(), q.num_items, us(q.avg_put_wait), us(q.avg_get_wait),
                  q.occupancy * 100.0, q.qps);
    out += line;
  }
  return out;
}

/// The default stats hook: the table on stderr.
inline void print_stats(const pipeline_stats& s) { std::cerr << format_stats(s) << std::flush; }

}  // namespace spdl
