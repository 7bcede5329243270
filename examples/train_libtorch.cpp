// spdl as a C++ trainer uses it: a small CNN, trained with libtorch on the CPU, on real JPEG
// files in the ImageNet layout (root/<class>/<file>.jpg) that spdl reads, decodes and resizes on
// its worker pool and stacks into one {B, H, W, 3} uint8 buffer per batch:
//
//   scan_image_folder -> random_sampler -> dataloader(load_image, collate: stack)
//     -> buffer.to_dlpack() -> at::fromDLPack (no copy) -> NCHW float -> CNN -> cross-entropy
//
// It prints the loss as it goes, then the mean loss of the first and the last 10% of the steps
// ("loss went down" when the last is lower; exit status 1 otherwise), images/s, and how the time
// was split between waiting for data and computing.
//
//   train_libtorch [--data DIR] [--steps N] [--batch N] [--threads N] [--size N]
//
// The default data is the demo's image set (make it with `demo`, or `demo --make-data DIR`).
#include <spdl/data.hpp>
#include <spdl/io.hpp>

#include <ATen/DLConvertor.h>
#include <torch/torch.h>

#include <algorithm>
#include <atomic>
#include <charconv>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <numeric>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#ifndef SPDL_DEMO_DATA
#define SPDL_DEMO_DATA "demo-images"
#endif

namespace {

namespace fs = std::filesystem;
using clock_type = std::chrono::steady_clock;

/// A command-line mistake: reported with the usage, exit code 2.
struct usage_error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

struct settings {
  fs::path data = SPDL_DEMO_DATA;
  bool data_given = false;
  std::size_t steps = 300;
  std::size_t batch = 32;
  std::size_t threads = 0;  // 0: one per core
  int size = 64;
};

constexpr const char* usage =
    "usage: train_libtorch [--data DIR] [--steps N] [--batch N] [--threads N] [--size N]\n"
    "  --data DIR     images in DIR/<class>/<file>.jpg|.jpeg|.png\n"
    "                 (default: the demo's set, " SPDL_DEMO_DATA ")\n"
    "  --steps N      training steps (default 300; as many epochs as that takes)\n"
    "  --batch N      images per batch (default 32)\n"
    "  --threads N    spdl's worker threads (default: one per core)\n"
    "  --size N       images are resized (centre crop) to N x N (default 64)\n";

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
  for (int i = 1; i < argc; ++i) {
    const std::string_view flag = argv[i];
    if (flag == "--help" || flag == "-h") {
      std::fputs(usage, stdout);
      std::exit(0);
    }
    if (flag != "--data" && flag != "--steps" && flag != "--batch" && flag != "--threads" &&
        flag != "--size")
      throw usage_error("unknown option '" + std::string(flag) + "'");
    if (i + 1 >= argc) throw usage_error(std::string(flag) + " wants a value");
    const std::string_view value = argv[++i];
    if (flag == "--data") {
      if (value.empty()) throw usage_error("--data wants a folder");
      s.data = value;
      s.data_given = true;
    } else if (flag == "--steps") {
      s.steps = whole_number(flag, value, 10'000'000);
    } else if (flag == "--batch") {
      s.batch = whole_number(flag, value, 65536);
    } else if (flag == "--threads") {
      s.threads = whole_number(flag, value, 1024);
    } else {
      // 8 is the least the three 2x2 poolings leave a pixel of.
      const std::size_t side = whole_number(flag, value, 4096);
      if (side < 8) throw usage_error("--size wants 8 or more, not " + std::string(value));
      s.size = static_cast<int>(side);
    }
  }
  if (s.threads == 0) s.threads = std::max(1u, std::thread::hardware_concurrency());
  return s;
}

// ---- data: spdl -------------------------------------------------------------------------------

/// One decoded image {size, size, 3} and its class.
struct sample {
  spdl::io::buffer image;
  std::int64_t label;
};

/// What the trainer gets: one {B, size, size, 3} uint8 buffer and B labels.
struct batch {
  spdl::io::buffer images;
  std::vector<std::int64_t> labels;
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

/// The hand-over: the batch's pixels as a {B, H, W, 3} uint8 tensor on the same memory. The
/// tensor holds its own reference to the buffer's storage (to_dlpack's deleter drops it when
/// torch frees the tensor), so it stays valid after the batch is gone.
torch::Tensor to_tensor(const spdl::io::buffer& images) {
  DLManagedTensor* exported = images.to_dlpack();
  torch::Tensor t;
  try {
    t = at::fromDLPack(exported);
  } catch (...) {  // refused (dtype, device) before torch took ownership
    exported->deleter(exported);
    throw;
  }
  // The point of DLPack: no copy. Were torch ever to copy here, every number below would
  // describe something else, so stop rather than report them.
  if (t.data_ptr() != static_cast<const void*>(images.data())) {
    std::fprintf(stderr,
                 "train_libtorch: at::fromDLPack copied the batch (tensor at %p, spdl buffer at "
                 "%p): the zero-copy hand-over does not hold\n",
                 t.data_ptr(), static_cast<const void*>(images.data()));
    std::abort();
  }
  return t;
}

// ---- the model: libtorch ----------------------------------------------------------------------

/// Three conv + batch-norm + ReLU blocks (each halving the side), global average pooling and a
/// linear classifier: about 24k parameters, quick on a CPU.
struct small_cnn_impl : torch::nn::Module {
  explicit small_cnn_impl(std::int64_t classes) : classifier(64, classes) {
    for (auto [in, out] : {std::pair<std::int64_t, std::int64_t>{3, 16}, {16, 32}, {32, 64}}) {
      features->push_back(
          torch::nn::Conv2d(torch::nn::Conv2dOptions(in, out, 3).padding(1).bias(false)));
      features->push_back(torch::nn::BatchNorm2d(out));
      features->push_back(torch::nn::ReLU());
      features->push_back(torch::nn::MaxPool2d(torch::nn::MaxPool2dOptions(2)));
    }
    register_module("features", features);
    register_module("classifier", classifier);
  }

  torch::Tensor forward(torch::Tensor x) {
    x = features->forward(x);
    x = torch::adaptive_avg_pool2d(x, {1, 1}).flatten(1);
    return classifier->forward(x);
  }

  torch::nn::Sequential features;
  torch::nn::Linear classifier;
};
TORCH_MODULE_IMPL(small_cnn, small_cnn_impl);  // small_cnn: a shared handle, as torch::nn::Linear

/// {B, H, W, 3} uint8 → {B, 3, H, W} float, normalised with ImageNet's mean and deviation.
/// A new tensor (the model's input); the uint8 one is still spdl's memory.
torch::Tensor normalise(const torch::Tensor& nhwc) {
  static const torch::Tensor mean = torch::tensor({0.485f, 0.456f, 0.406f}).view({1, 3, 1, 1});
  static const torch::Tensor stddev = torch::tensor({0.229f, 0.224f, 0.225f}).view({1, 3, 1, 1});
  return (nhwc.permute({0, 3, 1, 2}).to(torch::kFloat32).div(255.0) - mean) / stddev;
}

double seconds(clock_type::duration d) { return std::chrono::duration<double>(d).count(); }

double mean(const std::vector<double>& v, std::size_t from, std::size_t to) {
  return std::accumulate(v.begin() + static_cast<std::ptrdiff_t>(from),
                         v.begin() + static_cast<std::ptrdiff_t>(to), 0.0) /
         static_cast<double>(to - from);
}

int train(const settings& s) {
  spdl::image_folder folder;
  try {
    folder = spdl::scan_image_folder(s.data, {.extensions = {".jpg", ".jpeg", ".png"}});
  } catch (const spdl::error& e) {  // no such folder, not a folder, unreadable
    if (!s.data_given)
      throw usage_error(std::string(e.what()) +
                        "\n(the default is the demo's image set: run `demo` once to make it, "
                        "or `demo --make-data DIR --small`, or pass --data DIR)");
    throw usage_error(e.what());
  }
  const std::size_t n = folder.samples.size();
  if (n == 0)
    throw usage_error("no .jpg, .jpeg or .png files in '" + s.data.string() +
                      "/<class>/' (the ImageNet layout: one folder per class)");
  if (n < s.batch)
    throw usage_error("--batch " + std::to_string(s.batch) + " is more than the " +
                      std::to_string(n) + " images in '" + s.data.string() + "'");
  const auto classes = static_cast<std::int64_t>(folder.classes.size());

  torch::manual_seed(0);
  small_cnn model(classes);
  torch::optim::Adam optimizer(model->parameters(), torch::optim::AdamOptions(3e-3));
  model->train();

  std::atomic<std::size_t> failed{0};
  const spdl::io::image_options resize{.width = s.size, .height = s.size,
                                       .mode = spdl::io::resize_mode::crop};
  spdl::random_sampler sampler(n, {.seed = 2024});
  spdl::dataloader loader(
      sampler,
      [&](std::size_t i) {  // on spdl's worker pool: read, decode, resize
        const auto& file = folder.samples[i];
        return sample{spdl::io::load_image(file.path, resize),
                      static_cast<std::int64_t>(file.label)};
      },
      {.batch_size = s.batch,
       .drop_last = true,  // every step sees a full batch
       .num_threads = s.threads,
       .on_failure =
           [&](const spdl::stage_failure& f) {  // a bad file is skipped, counted and named
             if (failed++ >= 5) return;
             try {
               std::rethrow_exception(f.exception);
             } catch (const std::exception& e) {
               std::fprintf(stderr, "train_libtorch: skipped: %s\n", e.what());
             }
           }},
      collate);

  std::printf("train_libtorch: %zu images in %lld classes from %s; %zu steps of %zu images "
              "at %dx%d; spdl %zu threads, torch %d threads\n",
              n, static_cast<long long>(classes), s.data.c_str(), s.steps, s.batch, s.size,
              s.size, s.threads, torch::get_num_threads());
  std::fflush(stdout);

  const std::size_t log_every = std::max<std::size_t>(1, s.steps / 10);
  std::vector<double> losses;
  losses.reserve(s.steps);
  clock_type::duration waiting{}, computing{};
  std::size_t images = 0, epochs = 0;
  const auto start = clock_type::now();
  while (losses.size() < s.steps) {
    std::size_t batches = 0;
    auto t0 = clock_type::now();
    for (auto it = loader.begin(); it != loader.end(); ++it) {  // one epoch
      const auto t1 = clock_type::now();
      waiting += t1 - t0;
      batch& b = *it;
      const torch::Tensor pixels = to_tensor(b.images);  // {B, H, W, 3} uint8, spdl's memory
      const torch::Tensor labels =
          torch::from_blob(b.labels.data(), {static_cast<std::int64_t>(b.labels.size())},
                           torch::kInt64);  // used within this step only

      optimizer.zero_grad();
      const torch::Tensor loss =
          torch::nn::functional::cross_entropy(model->forward(normalise(pixels)), labels);
      loss.backward();
      optimizer.step();

      losses.push_back(loss.item<double>());
      images += b.labels.size();
      ++batches;
      if (losses.size() % log_every == 0 || losses.size() == 1)
        std::printf("step %5zu  epoch %3zu  loss %.4f\n", losses.size(), epochs + 1,
                    losses.back());
      t0 = clock_type::now();
      computing += t0 - t1;
      if (losses.size() == s.steps) break;
    }
    if (batches == 0)
      throw std::runtime_error("an epoch gave no batch: " + std::to_string(failed.load()) +
                               " of " + std::to_string(n) + " images failed to load");
    ++epochs;
  }
  const double wall = seconds(clock_type::now() - start);

  const std::size_t tenth = std::max<std::size_t>(1, losses.size() / 10);
  const double first = mean(losses, 0, tenth);
  const double last = mean(losses, losses.size() - tenth, losses.size());
  const double busy = seconds(waiting) + seconds(computing);
  std::printf("hand-over: %zu batches through DLPack, each tensor on the spdl buffer's memory "
              "(data_ptr checked: no copy)\n",
              losses.size());
  std::printf("%zu steps, %zu epoch%s, %zu images in %.2f s: %.0f images/s; waiting for data "
              "%.2f s (%.0f%%), computing %.2f s (%.0f%%); %zu failed\n",
              losses.size(), epochs, epochs == 1 ? "" : "s", images, wall,
              static_cast<double>(images) / wall, seconds(waiting),
              100.0 * seconds(waiting) / busy, seconds(computing),
              100.0 * seconds(computing) / busy, failed.load());
  std::printf("mean loss: first %zu steps %.4f, last %zu steps %.4f\n", tenth, first, tenth, last);
  if (!(last < first)) {
    std::printf("train_libtorch: the loss did not go down\n");
    return 1;
  }
  std::printf("train_libtorch: loss went down\n");
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return train(parse(argc, argv));
  } catch (const usage_error& e) {
    std::fprintf(stderr, "train_libtorch: %s\n%s", e.what(), usage);
    return 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "train_libtorch: %s\n", e.what());
    return 1;
  }
}
