// The benchmark driver: runs every workload (5 repetitions unless told otherwise), then prints
// a table of medians and of spdl's ratio to the baseline measured in the same run.
#include <benchmark/benchmark.h>

#include <cstdio>
#include <cstring>
#include <map>
#include <string>
#include <vector>

namespace {

class collector : public benchmark::ConsoleReporter {
 public:
  std::map<std::string, double> ns_per_item;  // function name -> median ns per item

  void ReportRuns(const std::vector<Run>& runs) override {
    ConsoleReporter::ReportRuns(runs);
    for (const auto& r : runs) {
      if (r.run_type == Run::RT_Aggregate && r.aggregate_name != "median") continue;
      auto it = r.counters.find("items_per_second");
      if (it == r.counters.end() || it->second.value <= 0) continue;
      ns_per_item[r.run_name.function_name] = 1e9 / it->second.value;
    }
  }
};

struct comparison {
  const char* workload;
  const char* baseline;
  const char* candidate;
  const char* target;
};

}  // namespace

int main(int argc, char** argv) {
  std::vector<char*> args(argv, argv + argc);
  bool has_reps = false;
  for (int i = 1; i < argc; ++i) has_reps |= std::strstr(argv[i], "repetitions") != nullptr;
  std::string reps = "--benchmark_repetitions=5", only = "--benchmark_report_aggregates_only=true";
  if (!has_reps) {
    args.push_back(reps.data());
    args.push_back(only.data());
  }
  int n = static_cast<int>(args.size());
  benchmark::Initialize(&n, args.data());
  if (benchmark::ReportUnrecognizedArguments(n, args.data())) return 1;

  collector report;
  benchmark::RunSpecifiedBenchmarks(&report);
  benchmark::Shutdown();

  const comparison table[] = {
      {"engine overhead, loop stage", "tbb_parallel_pipeline", "spdl_loop_stage", "<= 1.0"},
      {"engine overhead, pool stage", "tbb_parallel_pipeline", "spdl_pool_stage", "<= 3.0"},
      {"fan-out, 1 ms calls", "threads_only", "spdl_fan_out", "<= 1.05"},
      {"consumer hand-off", "mutex_deque_pop", "spdl_get_item_full_sink", "-"},
      {"dataloader, 1M indices", "hand_built_pipeline", "spdl_dataloader", "<= 1.05"},
      {"1000 epochs of 1000 items", "one_epoch", "spdl_1000_epochs", "-"},
      {"JPEG decode, full size", "turbojpeg_full_decode", "spdl_decode", "<= 1.11"},
      {"JPEG decode + resize 224", "turbojpeg_full_decode", "spdl_decode_resize_224", "<= 1.11"},
      {"  the same as a pipeline", "turbojpeg_full_decode", "spdl_pipeline_decode_resize_224",
       "<= 1.11"},
      {"  pipeline, batches decoded into", "turbojpeg_full_decode", "spdl_pipeline_batch_into_224",
       "<= 1.11"},
      {"stb_image decode (for scale)", "turbojpeg_full_decode", "stb_decode", "-"},
      {"  decode + resize 224, stb", "turbojpeg_full_decode", "spdl_decode_resize_224_stb", "-"},
      {"  decode, FFmpeg", "turbojpeg_full_decode", "spdl_decode_ffmpeg", "-"},
      {"  decode + resize 224, FFmpeg", "turbojpeg_full_decode", "spdl_decode_resize_224_ffmpeg", "-"},
      {"  split: the decode part", "turbojpeg_full_decode", "spdl_split_decode_part", "-"},
      {"  split: the resize part", "turbojpeg_full_decode", "spdl_split_resize_part", "-"},
      {"  resize, AVX2 vs portable", "spdl_split_resize_part_portable", "spdl_split_resize_part", "-"},
      {"H.264 640x360 -> rgb24", "ffmpeg_cli_video", "spdl_video_pipeline", "<= 1.05"},
      {"  the same, plain threads", "ffmpeg_cli_video", "spdl_video_threads", "-"},
      {"audio WAV/FLAC/MP3 -> f32", "ffmpeg_cli_audio", "spdl_audio_pipeline", "-"},
      {"WAV 1 s clips, load_wav", "read_whole_file_wav", "spdl_load_wav", "-"},
      {"  the same through FFmpeg", "read_whole_file_wav", "spdl_load_audio_wav", "-"},
      {"NPY 1 s clips, load_npy", "read_whole_file_npy", "spdl_load_npy", "-"},
  };
  std::printf("\n%-30s %-24s %12s %-26s %12s %8s %8s\n", "workload (medians)", "baseline",
              "ns/item", "spdl", "ns/item", "ratio", "target");
  for (const auto& c : table) {
    auto b = report.ns_per_item.find(c.baseline);
    auto s = report.ns_per_item.find(c.candidate);
    if (b == report.ns_per_item.end() || s == report.ns_per_item.end()) continue;
    std::printf("%-30s %-24s %12.1f %-26s %12.1f %8.2f %8s\n", c.workload, c.baseline, b->second,
                c.candidate, s->second, s->second / b->second, c.target);
  }
  return 0;
}
