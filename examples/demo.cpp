// The demo: what spdl is for, for real. Real JPEG files in the ImageNet layout
// (root/<class>/<file>.jpg) are read, decoded and resized to 224x224 on the worker pool, stacked
// into one {B, 224, 224, 3} buffer per batch with their labels, and handed to a "trainer" that
// touches every image, for a few epochs:
//
//   scan_image_folder -> random_sampler -> dataloader(load + decode + resize, collate: stack)
//
// It prints a live progress line, then images/s per epoch, CPU time per image and the
// per-stage statistics.
//
//   demo [--data DIR | --make-data DIR [--small]] [--batch N] [--threads N] [--epochs N]
//
// Without --data it first makes its own image set (once; kept with a stamp that names the
// generator's version, so a changed recipe remakes it): FFmpeg's synthetic sources (fractals,
// cellular automata, test cards, gradients, plasma, noise) rendered as raw frames through a pipe,
// many frames per ffmpeg process, and encoded here with TurboJPEG (which spdl::io links anyway):
// it takes an exact JPEG quality (85–95), 4:2:0 or 4:4:4, and writes progressive files, where
// FFmpeg's mjpeg encoder takes a qscale and writes no progressive JPEG, and cjpeg would be one
// more package to install and one more process per file.
#include <spdl/data.hpp>
#include <spdl/spdl.hpp>

#include <spawn.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <turbojpeg.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cinttypes>
#include <cstdarg>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <thread>
#include <vector>

#ifndef SPDL_DEMO_DATA
#define SPDL_DEMO_DATA "demo-images"
#endif

extern char** environ;

namespace {

namespace fs = std::filesystem;
using clock_type = std::chrono::steady_clock;

constexpr int image_side = 224;
// Bump when the recipe below changes: the stamp then no longer matches and the set is remade.
constexpr int generator_version = 4;

/// A command-line mistake: reported with the usage, exit code 2.
struct usage_error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

std::string strf(const char* format, ...) __attribute__((format(printf, 1, 2)));
std::string strf(const char* format, ...) {
  char text[1024];
  va_list args;
  va_start(args, format);
  std::vsnprintf(text, sizeof text, format, args);
  va_end(args);
  return text;
}

double seconds_since(clock_type::time_point t0) {
  return std::chrono::duration<double>(clock_type::now() - t0).count();
}

/// User + system CPU time of this process (all its threads), or of its waited-for children.
double cpu_seconds(int who = RUSAGE_SELF) {
  rusage u{};
  getrusage(who, &u);
  auto s = [](const timeval& t) { return static_cast<double>(t.tv_sec) + t.tv_usec / 1e6; };
  return s(u.ru_utime) + s(u.ru_stime);
}

// ---- progress: redrawn in place on a terminal, a line every 2 s otherwise ---------------------

class progress_line {
 public:
  progress_line() : tty_(isatty(STDOUT_FILENO) == 1) {}

  /// Shows `text` if it is time to (always when `force`).
  void show(const std::string& text, bool force = false) {
    const auto now = clock_type::now();
    const auto every = tty_ ? std::chrono::milliseconds(100) : std::chrono::milliseconds(2000);
    if (!force && shown_ && now - last_ < every) return;
    last_ = now;
    shown_ = true;
    if (tty_)
      std::printf("\r%s\x1b[K", text.c_str());
    else
      std::printf("%s\n", text.c_str());
    std::fflush(stdout);
  }

  /// Ends the redrawn line so that what follows starts on a line of its own.
  void finish() {
    if (tty_ && shown_) std::printf("\n");
    shown_ = false;
  }

 private:
  bool tty_;
  bool shown_ = false;
  clock_type::time_point last_{};
};

// ---- the image set ----------------------------------------------------------------------------

std::uint64_t mix(std::uint64_t x) {  // SplitMix64's finaliser: a deterministic hash
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

/// One ffmpeg run: `frames` images of one class at one size.
struct group_spec {
  std::size_t cls = 0;
  std::size_t group = 0;
  int width = 0, height = 0;
  std::size_t frames = 0;
  std::size_t first = 0;  // the index of its first file in the class
};

struct set_recipe {
  std::size_t groups_per_class;
  std::size_t frames_per_group;
  int min_side, max_side;
};

constexpr set_recipe full_set{8, 25, 300, 800};  // 10 classes x 200 images
constexpr set_recipe small_set{1, 8, 300, 420};  // 10 classes x 8 images, for the test

// Interesting points of the Mandelbrot set's boundary to zoom into.
constexpr double fractal_points[][2] = {
    {-0.743643887, 0.131825904}, {-0.7453, 0.1127},   {-1.25066, 0.02012}, {-0.1011, 0.9563},
    {0.2549, 0.0005},            {-1.7687, 0.0017},   {-0.7269, 0.1889},   {0.3245, 0.0421}};

const char* const class_names[] = {"automaton", "bars",   "fractal", "gradients", "lens",
                                   "life",      "plasma", "seahorse", "testcard", "weave"};
constexpr std::size_t num_classes = std::size(class_names);

/// ":c0=0x...:c1=0x..." for `n` colours drawn from `r`: gradients' default colours are
/// "random", from a seed of its own that `seed=` does not set.
std::string colors(std::uint64_t r, int n) {
  std::string out;
  for (int i = 0; i < n; ++i)
    out += strf(":c%d=0x%06x", i, static_cast<unsigned>(mix(r + i) & 0xffffff));
  return out;
}

/// The lavfi graph that renders class `cls`, group `g` (rgb24 frames of w x h): each class its
/// own look, each group its own seed, colours and viewpoint.
std::string recipe(std::size_t cls, std::size_t g, int w, int h) {
  const std::uint64_t r = mix(cls * 1000 + g + 0x5eed);
  const unsigned seed = static_cast<unsigned>(r % 100000);
  const double u = static_cast<double>((r >> 20) % 1000) / 1000.0;  // in [0, 1)
  const int hue = static_cast<int>((r >> 40) % 360);
  const std::string full = strf("%dx%d", w, h), half = strf("%dx%d", w / 2, h / 2),
                    quarter = strf("%dx%d", w / 4, h / 4);
  const auto& point = fractal_points[g % std::size(fractal_points)];
  switch (cls) {
    case 0: {  // automaton: an elementary cellular automaton, big soft cells, tinted
      static constexpr int rules[] = {30, 45, 73, 86, 89, 105, 150, 169};
      return strf("cellauto=s=%s:rule=%d:random_fill_ratio=0.5:seed=%u:scroll=1,"
                  "scale=%s:flags=bicubic,format=rgb24,boxblur=1:1,"
                  "lutrgb=r='val*%.2f':g='val*%.2f':b='val*0.3+40',noise=alls=10:allf=t",
                  quarter.c_str(), rules[g % std::size(rules)], seed, full.c_str(), 0.5 + u / 2,
                  1.0 - u / 2);
    }
    case 1:  // bars: HD colour bars, turning hues, seen at an angle, a noisy camera
      return strf("smptehdbars=s=%s,hue=h=%d+90*t:s=0.6,perspective=x0=%d:y0=%d,boxblur=1:1,"
                  "noise=alls=20:allf=t,format=rgb24",
                  full.c_str(), hue, static_cast<int>(u * w / 4), static_cast<int>(u * h / 6));
    case 2:  // fractal: a zoom into the Mandelbrot set, smooth outer colouring
      return strf("mandelbrot=s=%s:r=4:maxiter=192:start_x=%.9f:start_y=%.9f:"
                  "start_scale=%.3f:end_scale=0.01:end_pts=30:outer=normalized_iteration_count,"
                  "scale=%s:flags=bicubic,hue=H=%.2f:s=1.2,noise=alls=8:allf=t,format=rgb24",
                  half.c_str(), point[0], point[1], 0.3 + 1.2 * u, full.c_str(), hue * 0.01745);
    case 3: {  // gradients: drifting colour gradients, sensor noise, a vignette
      static constexpr const char* types[] = {"linear", "radial", "circular", "spiral"};
      return strf("gradients=s=%s:seed=%u:speed=0.05:type=%s:n=5%s,scale=%s:flags=bicubic,"
                  "noise=alls=8:allf=t,vignette,format=rgb24",
                  half.c_str(), seed, types[g % std::size(types)], colors(r, 5).c_str(),
                  full.c_str());
    }
    case 4:  // lens: a test card through a wide-angle lens, washed out
      return strf("testsrc2=s=%s,hue=H=%.2f:s=0.4,lenscorrection=k1=%.2f:k2=0.1,"
                  "noise=alls=18:allf=t,format=rgb24",
                  full.c_str(), hue * 0.01745, -0.1 - 0.3 * u);
    case 5:  // life: Conway's game of life with mould, big blurry cells
      return strf("life=s=%s:mold=10:r=10:ratio=%.2f:death_color=#%06x:life_color=#%06x:seed=%u,"
                  "scale=%s:flags=bicubic,noise=alls=10:allf=t,format=rgb24",
                  quarter.c_str(), 0.2 + 0.3 * u, static_cast<unsigned>(r & 0x7f7f7f),
                  static_cast<unsigned>((r >> 24) | 0x408040) & 0xffffff, seed, full.c_str());
    case 6:  // plasma: interfering waves, computed per pixel at a quarter of the size
      return strf("nullsrc=s=%s,geq=r='128+100*sin(X/%d+T*3)*cos(Y/7)':g='128+100*sin((X+Y)/10+T)'"
                  ":b='128+100*cos(hypot(X-W/2,Y-H/2)/%d-T*2)',scale=%s:flags=bicubic,"
                  "noise=alls=10:allf=t,format=rgb24",
                  quarter.c_str(), 3 + static_cast<int>(u * 5), 2 + hue % 5, full.c_str());
    case 7:  // seahorse: deep zooms into the Mandelbrot set, periodic inner colouring
      return strf("mandelbrot=s=%s:r=4:maxiter=256:start_x=%.9f:start_y=%.9f:"
                  "start_scale=%.4f:end_scale=0.0005:end_pts=30:inner=period,"
                  "scale=%s:flags=bicubic,noise=alls=6:allf=t,format=rgb24",
                  half.c_str(), point[0], point[1], 0.005 + 0.02 * u, full.c_str());
    case 8:  // testcard: a moving test card, zoomed and panned, slightly soft, noisy
      return strf("testsrc2=s=%s:r=3,zoompan=z='1.25+0.2*sin(on/3)':x='iw/%d+20*on':y='ih/5':d=1:"
                  "s=%s,hue=H=%.2f,boxblur=1:1,noise=alls=12:allf=t,format=rgb24",
                  full.c_str(), 3 + static_cast<int>(u * 4), full.c_str(), hue * 0.01745);
    default:  // weave: a radial gradient overlaid with an automaton's texture
      return strf("gradients=s=%s:seed=%u:type=radial:n=3%s,format=rgb24[a];"
                  "cellauto=s=%s:rule=110:random_fill_ratio=0.3:seed=%u,scale=%s,format=rgb24,"
                  "boxblur=2:1[b];[a][b]blend=all_mode=overlay,noise=alls=12:allf=t",
                  full.c_str(), seed, colors(r, 3).c_str(), quarter.c_str(), seed + 1,
                  full.c_str());
  }
}

/// Runs `ffmpeg args...` with its standard output on a pipe (no shell: the graph's quotes are
/// ffmpeg's own), and reads it.
class ffmpeg_pipe {
 public:
  explicit ffmpeg_pipe(const std::vector<std::string>& args) {
    int fds[2];
    if (pipe(fds) != 0) throw std::system_error(errno, std::generic_category(), "pipe");
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, fds[1], STDOUT_FILENO);
    posix_spawn_file_actions_addclose(&actions, fds[0]);
    posix_spawn_file_actions_addclose(&actions, fds[1]);
    std::vector<char*> argv;
    for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    const int rc = posix_spawnp(&pid_, argv[0], &actions, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    close(fds[1]);
    if (rc != 0) {
      close(fds[0]);
      throw std::runtime_error(std::string("cannot run '") + argv[0] + "': " + std::strerror(rc) +
                               " (install FFmpeg's command-line tool, or pass --data DIR)");
    }
    fd_ = fds[0];
  }
  ffmpeg_pipe(const ffmpeg_pipe&) = delete;
  ffmpeg_pipe& operator=(const ffmpeg_pipe&) = delete;
  ~ffmpeg_pipe() {
    if (fd_ >= 0) close(fd_);
    if (pid_ > 0) waitpid(pid_, nullptr, 0);
  }

  /// Fills `out` entirely; false at the end of the output.
  bool read_exactly(std::vector<unsigned char>& out) {
    std::size_t got = 0;
    while (got < out.size()) {
      const ssize_t n = read(fd_, out.data() + got, out.size() - got);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return false;
      got += static_cast<std::size_t>(n);
    }
    return true;
  }

  /// Waits for ffmpeg; its exit status (-1 if it did not exit normally).
  int wait() {
    close(fd_);
    fd_ = -1;
    int status = 0;
    waitpid(pid_, &status, 0);
    pid_ = -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  }

 private:
  pid_t pid_ = -1;
  int fd_ = -1;
};

struct encoded_counts {
  std::size_t images = 0, yuv444 = 0, progressive = 0;
  std::uintmax_t bytes = 0;
};

/// Renders one group with ffmpeg and writes its JPEGs (quality, chroma subsampling and
/// progressive coding chosen per file from a hash of its name).
encoded_counts make_group(const group_spec& g, const fs::path& root) {
  const std::string graph = recipe(g.cls, g.group, g.width, g.height);
  ffmpeg_pipe ffmpeg({"ffmpeg", "-nostdin", "-hide_banner", "-v", "error", "-f", "lavfi", "-i",
                      graph, "-frames:v", std::to_string(g.frames), "-f", "rawvideo", "-pix_fmt",
                      "rgb24", "pipe:1"});
  // Two compressors: libjpeg-turbo 2.1 keeps a progressive image's optimised Huffman tables in
  // the handle and a later baseline image on it comes out corrupt ("extraneous bytes before
  // marker 0xd9" — spdl's decoder refuses it, as it should).
  using compressor = std::unique_ptr<void, int (*)(tjhandle)>;
  const compressor baseline_tj(tjInitCompress(), tjDestroy);
  const compressor progressive_tj(tjInitCompress(), tjDestroy);
  if (!baseline_tj || !progressive_tj) throw std::runtime_error("tjInitCompress failed");
  const fs::path dir = root / class_names[g.cls];
  std::vector<unsigned char> rgb(static_cast<std::size_t>(g.width) * g.height * 3);
  encoded_counts counts;
  for (std::size_t i = 0; i < g.frames; ++i) {
    const std::string what =
        strf("%s group %zu (%dx%d) frame %zu", class_names[g.cls], g.group, g.width, g.height, i);
    if (!ffmpeg.read_exactly(rgb)) throw std::runtime_error("ffmpeg ended early: " + what);
    const std::size_t index = g.first + i;
    const std::uint64_t r = mix((g.cls << 32) + index);
    const int quality = 85 + static_cast<int>(r % 11);
    const bool yuv444 = (r >> 8) % 5 == 0;       // 1 in 5
    const bool progressive = (r >> 16) % 8 == 0;  // 1 in 8
    unsigned char* jpeg = nullptr;
    unsigned long size = 0;
    void* tj = progressive ? progressive_tj.get() : baseline_tj.get();
    if (tjCompress2(tj, rgb.data(), g.width, 0, g.height, TJPF_RGB, &jpeg, &size,
                    yuv444 ? TJSAMP_444 : TJSAMP_420, quality,
                    progressive ? TJFLAG_PROGRESSIVE : 0) != 0) {
      tjFree(jpeg);
      throw std::runtime_error("tjCompress2: " + what + ": " + tjGetErrorStr2(tj));
    }
    std::unique_ptr<unsigned char, void (*)(unsigned char*)> owned(jpeg, tjFree);
    const fs::path file = dir / strf("%s_%04zu.jpg", class_names[g.cls], index);
    std::ofstream out(file, std::ios::binary);
    out.write(reinterpret_cast<const char*>(jpeg), static_cast<std::streamsize>(size));
    if (!out.flush()) throw std::runtime_error("cannot write '" + file.string() + "'");
    ++counts.images;
    counts.yuv444 += yuv444;
    counts.progressive += progressive;
    counts.bytes += size;
  }
  if (const int rc = ffmpeg.wait(); rc != 0)
    throw std::runtime_error(strf("ffmpeg failed (exit %d) on %s group %zu: %s", rc,
                                  class_names[g.cls], g.group, graph.c_str()));
  return counts;
}

std::string read_text(const fs::path& file) {
  std::ifstream in(file);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

/// Makes the image set at `dir` unless a set from this very recipe is already there. It is
/// made beside it ("<dir>.partial") and moved into place whole, so an interrupted run leaves
/// nothing half made behind.
void make_data(fs::path dir, bool small, std::size_t threads) {
  dir = fs::absolute(dir).lexically_normal();
  if (!dir.has_filename()) dir = dir.parent_path();  // "images/" -> "images"
  const set_recipe& set = small ? small_set : full_set;
  const std::size_t per_class = set.groups_per_class * set.frames_per_group;
  const std::string stamp_text =
      strf("spdl demo images, generator v%d, %zu classes x %zu images, %d-%d px\n",
           generator_version, num_classes, per_class, set.min_side, set.max_side);
  const fs::path stamp_name = ".spdl-demo-stamp";
  if (fs::exists(dir / stamp_name) && read_text(dir / stamp_name) == stamp_text) {
    std::printf("demo: using the images in %s (%zu classes x %zu)\n", dir.c_str(), num_classes,
                per_class);
    return;
  }
  if (fs::exists(dir) && !fs::is_directory(dir))
    throw usage_error("'" + dir.string() + "' is not a folder");
  if (fs::exists(dir) && !fs::exists(dir / stamp_name) && !fs::is_empty(dir))
    throw usage_error("'" + dir.string() +
                      "' exists and is not a demo image set (it has no " + stamp_name.string() +
                      "): choose another folder");

  std::vector<group_spec> groups;
  for (std::size_t c = 0; c < num_classes; ++c)
    for (std::size_t g = 0; g < set.groups_per_class; ++g) {
      const std::uint64_t r = mix(c * 7919 + g * 104729 + 17);
      const int span = set.max_side - set.min_side + 1;
      const int w = (set.min_side + static_cast<int>(r % span)) & ~1;
      const int h = (set.min_side + static_cast<int>((r >> 32) % span)) & ~1;
      groups.push_back({c, g, w, h, set.frames_per_group, g * set.frames_per_group});
    }
  const std::size_t total = num_classes * per_class;
  std::printf("demo: making %zu JPEGs in %s: %zu classes x %zu, %d-%d px a side, quality 85-95,\n"
              "      4:2:0 (4:4:4 for 1 in 5, progressive for 1 in 8); rendered by ffmpeg "
              "(%zu runs of %zu frames), encoded with TurboJPEG\n",
              total, dir.c_str(), num_classes, per_class, set.min_side, set.max_side,
              groups.size(), set.frames_per_group);
  std::fflush(stdout);

  const auto t0 = clock_type::now();
  const double self0 = cpu_seconds(), children0 = cpu_seconds(RUSAGE_CHILDREN);
  fs::path partial = dir;
  partial += ".partial";
  fs::remove_all(partial);
  for (const char* name : class_names) fs::create_directories(partial / name);

  encoded_counts made;
  progress_line progress;
  try {
    // The work is spdl's own: one ffmpeg run (rendering + encoding) per task on the pool.
    auto gen = spdl::pipeline_builder()
                   .add_source(groups)
                   .pipe([&](const group_spec& g) { return make_group(g, partial); },
                         {.concurrency = threads, .name = "render+encode"})
                   .add_sink(groups.size())
                   .build({.num_threads = threads,
                           .max_failures = spdl::failure_budget::count(0),
                           .on_failure = [](const spdl::stage_failure&) {}});
    for (const encoded_counts& c : gen) {
      made.images += c.images;
      made.yuv444 += c.yuv444;
      made.progressive += c.progressive;
      made.bytes += c.bytes;
      progress.show(
          strf("demo: %zu/%zu images made, %.1f s", made.images, total, seconds_since(t0)),
          made.images == total);
    }
  } catch (...) {  // the pipeline is gone (stopped and joined): nothing writes there any more
    progress.finish();
    std::error_code ignored;
    fs::remove_all(partial, ignored);
    throw;
  }
  progress.finish();
  std::ofstream(partial / stamp_name) << stamp_text;
  fs::remove_all(dir);
  fs::rename(partial, dir);
  std::printf("demo: made %zu images (%zu 4:4:4, %zu progressive, %.0f MB) in %.1f s "
              "(CPU: ffmpeg %.1f s, encoding %.1f s)\n",
              made.images, made.yuv444, made.progressive, static_cast<double>(made.bytes) / 1e6,
              seconds_since(t0), cpu_seconds(RUSAGE_CHILDREN) - children0, cpu_seconds() - self0);
}

// ---- the command line -------------------------------------------------------------------------

struct settings {
  fs::path data;
  bool make = true;  // make the set at `data` first (unless --data)
  bool small = false;
  std::size_t batch = 32;
  std::size_t threads = 0;
  std::size_t epochs = 2;
  std::string trace;  // a trace file to write, or none
};

constexpr const char* usage =
    "usage: demo [--data DIR | --make-data DIR [--small]] [--batch N] [--threads N] [--epochs N]\n"
    "            [--trace FILE]\n"
    "  --data DIR       train on the images in DIR/<class>/<file>.jpg|.jpeg|.png\n"
    "  --make-data DIR  make the demo's image set in DIR (unless there already), then train on it\n"
    "                   (default: " SPDL_DEMO_DATA ")\n"
    "  --small          with --make-data: a small set (10 classes x 8 images)\n"
    "  --batch N        images per batch (default 32)\n"
    "  --threads N      worker threads (default: one per core)\n"
    "  --epochs N       passes over the data (default 2)\n"
    "  --trace FILE     write a trace of the loader (open it in ui.perfetto.dev)\n";

std::size_t whole_number(std::string_view flag, std::string_view text, std::size_t max) {
  std::size_t value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size() || value == 0 || value > max)
    throw usage_error(std::string(flag) + " wants a whole number from 1 to " +
                      std::to_string(max) + ", not '" + std::string(text) + "'");
  return value;
}

settings parse(int argc, char** argv) {
  settings s;
  s.data = SPDL_DEMO_DATA;
  bool data = false, make = false;
  for (int i = 1; i < argc; ++i) {
    const std::string_view flag = argv[i];
    if (flag == "--help" || flag == "-h") {
      std::fputs(usage, stdout);
      std::exit(0);
    }
    if (flag == "--small") {
      s.small = true;
      continue;
    }
    if (flag != "--data" && flag != "--make-data" && flag != "--batch" && flag != "--threads" &&
        flag != "--epochs" && flag != "--trace")
      throw usage_error("unknown option '" + std::string(flag) + "'");
    if (i + 1 >= argc) throw usage_error(std::string(flag) + " wants a value");
    const std::string_view value = argv[++i];
    if (flag == "--data" || flag == "--make-data") {
      if (value.empty()) throw usage_error(std::string(flag) + " wants a folder");
      (flag == "--data" ? data : make) = true;
      s.data = value;
    } else if (flag == "--trace") {
      if (value.empty()) throw usage_error("--trace wants a file name");
      s.trace = value;
    } else if (flag == "--batch") {
      s.batch = whole_number(flag, value, 65536);
    } else if (flag == "--threads") {
      s.threads = whole_number(flag, value, 1024);
    } else {
      s.epochs = whole_number(flag, value, 1'000'000);
    }
  }
  if (data && make) throw usage_error("--data and --make-data exclude each other");
  if (s.small && data) throw usage_error("--small goes with --make-data, not --data");
  s.make = !data;
  if (s.threads == 0) s.threads = std::max(1u, std::thread::hardware_concurrency());
  return s;
}

// ---- the machine ------------------------------------------------------------------------------

std::string cpu_model() {
  std::ifstream in("/proc/cpuinfo");
  for (std::string line; std::getline(in, line);)
    if (line.rfind("model name", 0) == 0 && line.find(':') != std::string::npos)
      return line.substr(line.find(':') + 2);
  return "unknown CPU";
}

// ---- training ---------------------------------------------------------------------------------

/// One decoded image {224, 224, 3} and its class.
struct sample {
  spdl::io::buffer image;
  std::size_t label;
};

/// What the trainer gets: one {B, 224, 224, 3} uint8 buffer (hand it to a framework with
/// to_dlpack()) and B labels.
struct batch {
  spdl::io::buffer images;
  std::vector<std::size_t> labels;
};

batch collate(std::vector<sample>&& samples) {
  std::vector<spdl::io::buffer> images;
  batch b;
  images.reserve(samples.size());
  b.labels.reserve(samples.size());
  for (auto& s : samples) {
    images.push_back(std::move(s.image));
    b.labels.push_back(s.label);
  }
  b.images = spdl::io::stack(images);
  return b;
}

/// The "training step": checks the batch and reads a few bytes of every image, so that no
/// decode can be optimised away. Returns their sum.
std::uint64_t train_step(batch& b, std::size_t num_classes) {
  const auto shape = b.images.shape();
  if (shape.size() != 4 || shape[0] != static_cast<std::int64_t>(b.labels.size()) ||
      shape[1] != image_side || shape[2] != image_side || shape[3] != 3 ||
      b.images.dtype() != spdl::io::dtype::uint8)
    throw std::logic_error("demo: a batch is not {B, 224, 224, 3} uint8");
  std::uint64_t sum = 0;
  for (std::size_t i = 0; i < b.labels.size(); ++i) {
    if (b.labels[i] >= num_classes) throw std::logic_error("demo: a label out of range");
    const auto pixels = b.images.slice(i);
    for (std::size_t k = 0; k < pixels.size(); k += 4099)
      sum += static_cast<std::uint8_t>(pixels[k]);
  }
  return sum;
}

int train(const settings& s) {
  spdl::image_folder folder;
  try {
    folder = spdl::scan_image_folder(s.data, {.extensions = {".jpg", ".jpeg", ".png"}});
  } catch (const spdl::error& e) {  // no such folder, not a folder, unreadable
    throw usage_error(e.what());
  }
  const std::size_t n = folder.samples.size();
  if (n == 0)
    throw usage_error("no .jpg, .jpeg or .png files in '" + s.data.string() +
                      "/<class>/' (the ImageNet layout: one folder per class)");
  const std::size_t batches_per_epoch = (n + s.batch - 1) / s.batch;
  const std::size_t cores = std::max(1u, std::thread::hardware_concurrency());
  std::printf("demo: %zu images in %zu classes from %s; %zu epoch%s of %zu batches of %zu, "
              "%zu threads\n",
              n, folder.classes.size(), s.data.c_str(), s.epochs, s.epochs == 1 ? "" : "s",
              batches_per_epoch, s.batch, s.threads);
  std::fflush(stdout);

  std::atomic<std::size_t> failed{0};
  const spdl::io::image_options resize{.width = image_side, .height = image_side,
                                       .mode = spdl::io::resize_mode::crop};
  spdl::random_sampler sampler(n, {.seed = 2024});
  spdl::dataloader loader(
      sampler,
      [&](std::size_t i) {  // on the worker pool: read, decode, resize
        const auto& file = folder.samples[i];
        return sample{spdl::io::load_image(file.path, resize), file.label};
      },
      {.batch_size = s.batch,
       .num_threads = s.threads,
       .on_failure =
           [&](const spdl::stage_failure& f) {  // a bad file is skipped, counted and named
             if (failed++ >= 5) return;
             try {
               std::rethrow_exception(f.exception);
             } catch (const std::exception& e) {
               std::fprintf(stderr, "demo: skipped: %s\n", e.what());
             }
           },
       .trace = s.trace},
      collate);

  const double cpu0 = cpu_seconds();
  const auto start = clock_type::now();
  std::vector<double> rates;
  std::uint64_t checksum = 0;
  std::size_t images = 0;
  progress_line progress;
  for (std::size_t epoch = 0; epoch < s.epochs; ++epoch) {
    const auto t0 = clock_type::now();
    std::size_t seen = 0, done = 0;
    auto status = [&] {
      const double rate = static_cast<double>(seen) / seconds_since(t0);
      const double left = static_cast<double>((s.epochs - epoch) * n - seen) / rate;
      return strf("epoch %zu/%zu  batch %zu/%zu  %.0f images/s  ETA %.0f s", epoch + 1, s.epochs,
                  done, batches_per_epoch, rate, left);
    };
    for (auto& b : loader) {
      checksum += train_step(b, folder.classes.size());
      seen += b.labels.size();
      ++done;
      progress.show(status());
    }
    progress.show(status(), true);  // each epoch's last word
    rates.push_back(static_cast<double>(seen) / seconds_since(t0));
    images += seen;
  }
  progress.finish();
  const double wall = seconds_since(start);
  const double cpu = cpu_seconds() - cpu0;

  for (std::size_t e = 0; e < rates.size(); ++e)
    std::printf("epoch %zu: %.0f images/s\n", e + 1, rates[e]);
  std::printf("%zu images in %.2f s: %.0f images/s; CPU %.2f ms per image (user+sys %.1f s)\n",
              images, wall, static_cast<double>(images) / wall,
              1e3 * cpu / static_cast<double>(std::max<std::size_t>(images, 1)), cpu);
  std::printf("on %s, %zu cores, %zu threads\n", cpu_model().c_str(), cores, s.threads);
  std::printf("\n%s\n", spdl::format_stats(loader.stats()).c_str());
  std::printf("demo: trained %zu epoch%s on %zu images (%zu classes), %zu failed, checksum %" PRIu64
              "\n",
              s.epochs, s.epochs == 1 ? "" : "s", n, folder.classes.size(), failed.load(),
              checksum);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    const settings s = parse(argc, argv);
    if (s.make) make_data(s.data, s.small, s.threads);
    const int rc = train(s);  // the loader, gone, has written its trace
    if (!s.trace.empty()) std::printf("demo: trace in %s (open it in ui.perfetto.dev)\n", s.trace.c_str());
    return rc;
  } catch (const usage_error& e) {
    std::fprintf(stderr, "demo: %s\n%s", e.what(), usage);
    return 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "demo: %s\n", e.what());
    return 1;
  }
}
