// The benchmark driver: runs the workloads group by group, then prints a table of medians with
// spdl's ratio to the baseline measured in the same run, marks each missed target, and writes the
// table with the machine and the date to a Markdown file.
//
//   spdl_benchmarks [--group=engine,images,media,readers] [--full] [--results=FILE] [--busy=N]
//                   [Google Benchmark flags, e.g. --benchmark_filter=REGEX]
//
// --busy=N runs N competing processes that spin for the whole run, as a trainer's threads would
// on the same cores: spdl and its baselines then share the machine with them (the CPU columns
// count this process only).
//
// Quick by default (one repetition each, short minimum times: minutes, not tens of minutes);
// --full takes 5 repetitions and Google Benchmark's default times. A group or filter that matches
// nothing is an error (exit 1); an unknown group or option, a usage error (exit 2).
#include <benchmark/benchmark.h>

#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <fstream>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace {

class collector : public benchmark::ConsoleReporter {
 public:
  explicit collector(OutputOptions options) : ConsoleReporter(options) {}

  std::map<std::string, double> ns_per_item;      // function name -> median ns per item
  std::map<std::string, double> cpu_ns_per_item;  // the same of CPU time, where measured

  void ReportRuns(const std::vector<Run>& runs) override {
    ConsoleReporter::ReportRuns(runs);
    for (const auto& r : runs) {
      if (r.run_type == Run::RT_Aggregate && r.aggregate_name != "median") continue;
      auto it = r.counters.find("items_per_second");
      if (it == r.counters.end() || it->second.value <= 0) continue;
      ns_per_item[r.run_name.function_name] = 1e9 / it->second.value;
      if (auto cpu = r.counters.find("cpu_ns_per_item"); cpu != r.counters.end())
        cpu_ns_per_item[r.run_name.function_name] = cpu->second.value;
    }
  }
};

struct group {
  const char* name;
  const char* filter;  // a regex over benchmark names
};

// The workloads by group; `service` has none yet.
const group groups[] = {
    {"engine",
     "^(tbb_parallel_pipeline|spdl_loop_stage|spdl_pool_stage|spdl_loop_stage_queues_32|"
     "spdl_pool_stage_queues_32|threads_only|spdl_fan_out|"
     "mutex_deque_pop|spdl_get_item_full_sink|plain_thread_handoffs|spdl_handoffs_hook|"
     "spdl_handoffs|spdl_handoffs_loop_stage|hand_built_pipeline|spdl_dataloader|one_epoch|"
     "spdl_1000_epochs)(/|$)"},
    {"images",
     "^(turbojpeg_full_decode|stb_decode|spdl_decode|spdl_decode_resize_224|"
     "spdl_pipeline_decode_resize_224|spdl_pipeline_batch_into_224|spdl_pipeline_batch_into_224_traced|"
     "spdl_decode_resize_224_stb|"
     "spdl_decode_ffmpeg|spdl_decode_resize_224_ffmpeg|spdl_split_decode_part|"
     "spdl_split_resize_part|spdl_split_resize_part_portable)(/|$)"},
    {"media", "^(ffmpeg_cli_video|spdl_video_pipeline|spdl_video_threads|ffmpeg_cli_audio|"
              "spdl_audio_pipeline)(/|$)"},
    {"readers", "^(read_whole_file_wav|spdl_load_wav|spdl_load_audio_wav|read_whole_file_npy|"
                "spdl_load_npy)(/|$)"},
};

struct comparison {
  const char* workload;
  const char* baseline;
  const char* candidate;
  double target;  // the most the ratio may be; 0: none
};

const comparison table[] = {
    {"engine overhead, loop stage", "tbb_parallel_pipeline", "spdl_loop_stage", 1.0},
    {"engine overhead, pool stage", "tbb_parallel_pipeline", "spdl_pool_stage", 3.0},
    {"  loop stage, queues of 32", "tbb_parallel_pipeline", "spdl_loop_stage_queues_32", 1.0},
    {"  pool stage, queues of 32", "tbb_parallel_pipeline", "spdl_pool_stage_queues_32", 3.0},
    {"fan-out, 1 ms calls", "threads_only", "spdl_fan_out", 1.05},
    {"consumer hand-off", "mutex_deque_pop", "spdl_get_item_full_sink", 0},
    {"hand-offs, a hook given", "plain_thread_handoffs", "spdl_handoffs_hook", 1.0},
    {"  the same, no hook", "plain_thread_handoffs", "spdl_handoffs", 1.0},
    {"  an awaitable stage after", "plain_thread_handoffs", "spdl_handoffs_loop_stage", 1.0},
    {"dataloader, 1M indices", "hand_built_pipeline", "spdl_dataloader", 1.05},
    {"1000 epochs of 1000 items", "one_epoch", "spdl_1000_epochs", 0},
    {"JPEG decode, full size", "turbojpeg_full_decode", "spdl_decode", 1.11},
    {"JPEG decode + resize 224", "turbojpeg_full_decode", "spdl_decode_resize_224", 1.11},
    {"  the same as a pipeline", "turbojpeg_full_decode", "spdl_pipeline_decode_resize_224", 1.11},
    {"  pipeline, batches decoded into", "turbojpeg_full_decode", "spdl_pipeline_batch_into_224",
     1.11},
    {"pipeline against plain threads", "spdl_decode_resize_224", "spdl_pipeline_batch_into_224", 1.03},
    {"  the same, trace on", "spdl_pipeline_batch_into_224", "spdl_pipeline_batch_into_224_traced", 1.05},
    {"stb_image decode (for scale)", "turbojpeg_full_decode", "stb_decode", 0},
    {"  decode + resize 224, stb", "turbojpeg_full_decode", "spdl_decode_resize_224_stb", 0},
    {"  decode, FFmpeg", "turbojpeg_full_decode", "spdl_decode_ffmpeg", 0},
    {"  decode + resize 224, FFmpeg", "turbojpeg_full_decode", "spdl_decode_resize_224_ffmpeg", 0},
    {"  split: the decode part", "turbojpeg_full_decode", "spdl_split_decode_part", 0},
    {"  split: the resize part", "turbojpeg_full_decode", "spdl_split_resize_part", 0},
    {"  resize, AVX2 vs portable", "spdl_split_resize_part_portable", "spdl_split_resize_part", 0},
    {"H.264 640x360 -> rgb24", "ffmpeg_cli_video", "spdl_video_pipeline", 1.05},
    {"  the same, plain threads", "ffmpeg_cli_video", "spdl_video_threads", 0},
    {"audio WAV/FLAC/MP3 -> f32", "ffmpeg_cli_audio", "spdl_audio_pipeline", 0},
    {"WAV 1 s clips, load_wav", "read_whole_file_wav", "spdl_load_wav", 0},
    {"  the same through FFmpeg", "read_whole_file_wav", "spdl_load_audio_wav", 0},
    {"NPY 1 s clips, load_npy", "read_whole_file_npy", "spdl_load_npy", 0},
};

std::string cpu_model() {
  std::ifstream in("/proc/cpuinfo");
  for (std::string line; std::getline(in, line);)
    if (line.rfind("model name", 0) == 0) {
      auto colon = line.find(':');
      if (colon != std::string::npos) return line.substr(line.find_first_not_of(' ', colon + 1));
    }
  return "unknown CPU";
}

std::string today() {
  const std::time_t now = std::time(nullptr);
  char text[32];
  std::strftime(text, sizeof text, "%Y-%m-%d", std::gmtime(&now));
  return text;
}

std::string fixed(double v, int digits) {
  char text[64];
  std::snprintf(text, sizeof text, "%.*f", digits, v);
  return text;
}

int usage(const std::string& why) {
  std::fprintf(stderr,
               "spdl_benchmarks: %s\nusage: spdl_benchmarks [--group=engine,images,media,readers] "
               "[--full] [--results=FILE] [--busy=N] [--benchmark_* flags]\n",
               why.c_str());
  return 2;
}

// N processes that spin until killed (or until this one dies): competitors for the cores.
class busy_processes {
 public:
  explicit busy_processes(int n) {
    const pid_t parent = getpid();
    for (int i = 0; i < n; ++i) {
      const pid_t pid = fork();
      if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent) _exit(0);
        for (;;) asm volatile("" ::: "memory");  // spin
      }
      if (pid > 0) pids_.push_back(pid);
    }
  }
  busy_processes(const busy_processes&) = delete;
  busy_processes& operator=(const busy_processes&) = delete;
  ~busy_processes() {
    for (pid_t pid : pids_) kill(pid, SIGKILL);
    for (pid_t pid : pids_) waitpid(pid, nullptr, 0);
  }

 private:
  std::vector<pid_t> pids_;
};

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> wanted;
  bool full = false, user_filter = false, user_reps = false, user_time = false, user_interleave = false;
  std::string results;
  int busy = 0;
  std::vector<std::string> passed{argv[0]};
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a.rfind("--group=", 0) == 0) {
      std::stringstream names(a.substr(8));
      for (std::string n; std::getline(names, n, ',');) {
        bool known = false;
        for (const auto& g : groups) known |= n == g.name;
        if (!known) return usage("no group '" + n + "' (engine, images, media, readers)");
        wanted.push_back(n);
      }
    } else if (a == "--full") {
      full = true;
    } else if (a.rfind("--results=", 0) == 0) {
      results = a.substr(10);
    } else if (a.rfind("--busy=", 0) == 0) {
      char* end = nullptr;
      const long v = std::strtol(a.c_str() + 7, &end, 10);
      if (end == a.c_str() + 7 || *end != '\0' || v < 0 || v > 1024)
        return usage("--busy takes a number of processes (0 to 1024)");
      busy = static_cast<int>(v);
    } else if (a.rfind("--benchmark_", 0) == 0) {
      user_filter |= a.rfind("--benchmark_filter=", 0) == 0;
      user_reps |= a.rfind("--benchmark_repetitions=", 0) == 0;
      user_time |= a.rfind("--benchmark_min_time=", 0) == 0;
      user_interleave |= a.rfind("--benchmark_enable_random_interleaving", 0) == 0;
      passed.push_back(a);
    } else {
      return usage("unknown option '" + a + "'");
    }
  }
  if (user_filter && !wanted.empty()) return usage("--group and --benchmark_filter exclude each other");
  if (!user_reps) passed.push_back(full ? "--benchmark_repetitions=5" : "--benchmark_repetitions=1");
  if (!user_reps || full) passed.push_back("--benchmark_report_aggregates_only=true");
  // Repetitions of a group's benchmarks in a random order, not each benchmark's in a row: a
  // baseline and the spdl run it is compared with then see the same drift of a shared host.
  if (!user_interleave) passed.push_back("--benchmark_enable_random_interleaving=true");
  if (!full && !user_time) passed.push_back("--benchmark_min_time=0.05");
  std::vector<char*> args;
  for (auto& a : passed) args.push_back(a.data());
  int n = static_cast<int>(args.size());
  benchmark::Initialize(&n, args.data());
  if (benchmark::ReportUnrecognizedArguments(n, args.data())) return 2;

  // Colour only for a terminal: escape codes would litter a redirected report.
  collector report(isatty(STDOUT_FILENO) ? benchmark::ConsoleReporter::OO_Defaults
                                         : benchmark::ConsoleReporter::OO_Tabular);
  std::vector<std::pair<std::string, double>> timings;  // group -> seconds
  bool matched_all = true;
  std::optional<busy_processes> competitors;
  if (busy > 0) competitors.emplace(busy);
  auto run = [&](const std::string& name, const std::string& filter) {
    const auto t0 = std::chrono::steady_clock::now();
    const std::size_t ran = benchmark::RunSpecifiedBenchmarks(&report, filter);
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (ran == 0) {
      std::fprintf(stderr, "spdl_benchmarks: '%s' matched no benchmark (built without media I/O?)\n",
                   name.c_str());
      matched_all = false;
    }
    timings.emplace_back(name, s);
  };
  if (user_filter) {
    run(benchmark::GetBenchmarkFilter(), benchmark::GetBenchmarkFilter());
  } else {
    for (const auto& g : groups) {
      bool take = wanted.empty();
      for (const auto& w : wanted) take |= w == g.name;
      if (take) run(g.name, g.filter);
    }
  }
  competitors.reset();
  benchmark::Shutdown();

  std::ostringstream md;
  md << "Measured " << today() << " on " << cpu_model() << ", " << std::thread::hardware_concurrency()
     << " cores; " << (full ? "5 repetitions, medians" : "quick mode: 1 repetition")
     << (busy > 0 ? "; with " + std::to_string(busy) + " competing busy process" + (busy > 1 ? "es" : "") +
                        " (--busy)"
                  : std::string())
     << ".\n\n"
     << "ns/item is wall time; CPU ns/item, where measured, is the whole process's CPU time (all "
        "threads) per item.\n\n"
     << "| workload | baseline | ns/item | CPU ns/item | spdl | ns/item | CPU ns/item | ratio | target |\n"
     << "| --- | --- | ---: | ---: | --- | ---: | ---: | ---: | --- |\n";
  std::printf("\n%-32s %-24s %12s %10s %-32s %12s %10s %8s %10s\n", "workload", "baseline", "ns/item",
              "cpu", "spdl", "ns/item", "cpu", "ratio", "target");
  auto cpu_of = [&](const char* name) {
    auto it = report.cpu_ns_per_item.find(name);
    return it == report.cpu_ns_per_item.end() ? std::string("-") : fixed(it->second, 1);
  };
  int missed = 0;
  for (const auto& c : table) {
    auto b = report.ns_per_item.find(c.baseline);
    auto s = report.ns_per_item.find(c.candidate);
    if (b == report.ns_per_item.end() || s == report.ns_per_item.end()) continue;
    const double ratio = s->second / b->second;
    std::string target = "-";
    if (c.target > 0) {
      target = "<= " + fixed(c.target, 2);
      if (ratio > c.target) {
        target += " MISSED";
        ++missed;
      }
    }
    std::printf("%-32s %-24s %12.1f %10s %-32s %12.1f %10s %8.2f %10s\n", c.workload, c.baseline,
                b->second, cpu_of(c.baseline).c_str(), c.candidate, s->second, cpu_of(c.candidate).c_str(),
                ratio, target.c_str());
    std::string workload = c.workload;
    workload.erase(0, workload.find_first_not_of(' '));
    md << "| " << workload << " | `" << c.baseline << "` | " << fixed(b->second, 1) << " | "
       << cpu_of(c.baseline) << " | `" << c.candidate << "` | " << fixed(s->second, 1) << " | "
       << cpu_of(c.candidate) << " | " << fixed(ratio, 2) << " | " << target << " |\n";
  }
  md << "\nRun time per group:";
  std::printf("\nrun time per group:");
  for (const auto& [name, s] : timings) {
    md << " " << name << " " << fixed(s, 0) << " s;";
    std::printf(" %s %.0f s;", name.c_str(), s);
  }
  md << "\n";
  std::printf("\n%d target(s) missed\n", missed);
  if (!results.empty()) {
    std::ofstream out(results);
    out << "# Benchmark results\n\n" << md.str();
    if (!out) std::fprintf(stderr, "spdl_benchmarks: cannot write '%s'\n", results.c_str());
    else std::printf("results written to %s\n", results.c_str());
  }
  return matched_all ? 0 : 1;
}
