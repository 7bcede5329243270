// Replays files through a fuzz target, without libFuzzer: the seeds and the regressions (inputs
// that once crashed, hung or blew memory) in the normal test suite, with any compiler.
//
//     spdl_fuzz_replay TARGET PATH... [--valid PATH...]   (files, or directories read recursively)
//
// Fails when an input ends in anything but spdl::error (each is named, with what escaped), when
// an input after --valid (a seed: a valid file) is refused at all, when no input was found, or
// when the process grew past the fuzzers' RSS cap (1 GiB).

#include "targets.hpp"

#include <cxxabi.h>
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <typeinfo>
#include <vector>

namespace fs = std::filesystem;

namespace {

constexpr long rss_cap_mb = 1024;  // tests/fuzz/run.sh: -rss_limit_mb

std::vector<std::byte> read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  const std::vector<char> c((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const auto* b = reinterpret_cast<const std::byte*>(c.data());
  return {b, b + c.size()};
}

// The files under `path`, sorted; a missing path is reported and skipped (a target with no
// regressions has no directory: git keeps none empty).
std::vector<fs::path> inputs(const fs::path& path) {
  std::vector<fs::path> out;
  if (fs::is_regular_file(path)) {
    out.push_back(path);
  } else if (fs::is_directory(path)) {
    for (const auto& e : fs::recursive_directory_iterator(path))
      if (e.is_regular_file()) out.push_back(e.path());
  } else {
    std::printf("  (no %s)\n", path.c_str());
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::string type_name(const std::type_info& t) {
  int status = 0;
  char* name = abi::__cxa_demangle(t.name(), nullptr, nullptr, &status);
  std::string out = status == 0 && name ? name : t.name();
  std::free(name);
  return out;
}

// Runs one input: whether it loaded, or what escaped.
struct outcome {
  std::string refusal, escaped;
};

outcome replay(const spdl::fuzz::target& t, const std::vector<std::byte>& data) {
  try {
    return {t.run(data), ""};
  } catch (const std::exception& e) {
    return {"", type_name(typeid(e)) + ": " + e.what()};
  } catch (...) {
    return {"", "an exception not derived from std::exception"};
  }
}

}  // namespace

int main(int argc, char** argv) {
  const spdl::fuzz::target* t = argc >= 3 ? spdl::fuzz::find_target(argv[1]) : nullptr;
  if (!t) {
    std::fprintf(stderr, "usage: %s TARGET PATH... [--valid PATH...]   (TARGET one of:", argv[0]);
    for (const auto& each : spdl::fuzz::targets()) std::fprintf(stderr, " %s", std::string(each.name).c_str());
    std::fprintf(stderr, ")\n");
    return 2;
  }
  std::size_t count = 0, failed = 0;
  bool valid = false;
  for (int i = 2; i < argc; ++i) {
    if (std::string(argv[i]) == "--valid") {
      valid = true;
      continue;
    }
    for (const auto& file : inputs(argv[i])) {
      const auto start = std::chrono::steady_clock::now();
      const auto [refusal, escaped] = replay(*t, read_file(file));
      const std::chrono::duration<double> took = std::chrono::steady_clock::now() - start;
      const bool ok = escaped.empty() && (!valid || refusal.empty());
      ++count;
      failed += !ok;
      std::printf("  %s %s (%.2f s)", ok ? "ok  " : "FAIL", file.c_str(), took.count());
      if (!escaped.empty()) std::printf(": escaped: %s", escaped.c_str());
      if (!refusal.empty()) std::printf(": refused%s: %s", valid ? " a valid input" : "", refusal.c_str());
      std::printf("\n");
    }
  }
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  const long peak_mb = usage.ru_maxrss / 1024;
  std::printf("%s: %zu inputs, %zu failed, peak RSS %ld MB\n", argv[1], count, failed, peak_mb);
  if (count == 0) std::printf("no inputs: nothing was tested\n");
  if (peak_mb > rss_cap_mb) std::printf("over the fuzzers' RSS cap of %ld MB\n", rss_cap_mb);
  return failed == 0 && count > 0 && peak_mb <= rss_cap_mb ? 0 : 1;
}
