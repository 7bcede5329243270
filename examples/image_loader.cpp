// A small image data loader: files -> decode + resize on the worker pool -> batches of 8 ->
// one {8, 224, 224, 3} buffer per batch -> DLPack, as a trainer would take it.
//
// It writes its own JPEGs first (into a temporary folder), one of them corrupt.
#include <spdl/spdl.hpp>

#include <stb_image_write.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

namespace fs = std::filesystem;

static std::vector<fs::path> make_images(const fs::path& dir, int n) {
  fs::create_directories(dir);
  std::vector<fs::path> paths;
  for (int i = 0; i < n; ++i) {
    const int w = 320 + 7 * i, h = 240 + 5 * i;
    std::vector<unsigned char> px(static_cast<std::size_t>(w) * h * 3);
    for (std::size_t k = 0; k < px.size(); ++k) px[k] = static_cast<unsigned char>(k * (i + 3) / 7);
    paths.push_back(dir / ("image" + std::to_string(i) + ".jpg"));
    stbi_write_jpg(paths.back().c_str(), w, h, 3, px.data(), 90);
  }
  std::ofstream(dir / "broken.jpg") << "this is not a JPEG";
  paths.push_back(dir / "broken.jpg");
  return paths;
}

int main() {
  const auto dir = fs::temp_directory_path() / "spdl-image-loader-example";
  const auto paths = make_images(dir, 20);

  const spdl::io::image_options resize{.width = 224, .height = 224,
                                       .mode = spdl::io::resize_mode::crop};
  auto loader = spdl::pipeline_builder()
                    .add_source(paths)
                    .pipe([&](const fs::path& p) { return spdl::io::load_image(p, resize); },
                          {.concurrency = 4, .name = "decode"})
                    .aggregate(8)
                    .pipe([](std::vector<spdl::io::buffer> images) { return spdl::io::stack(images); },
                          {.name = "collate"})
                    .add_sink(2)
                    .build({.on_failure = [](const spdl::stage_failure& f) {
                      try {
                        std::rethrow_exception(f.exception);
                      } catch (const std::exception& e) {
                        std::printf("skipped: %s\n", e.what());
                      }
                    }});

  int images = 0;
  for (auto& batch : loader) {
    DLManagedTensor* tensor = batch.to_dlpack();  // what a trainer hands to its framework
    std::printf("batch {%lld, %lld, %lld, %lld}\n",
                static_cast<long long>(tensor->dl_tensor.shape[0]),
                static_cast<long long>(tensor->dl_tensor.shape[1]),
                static_cast<long long>(tensor->dl_tensor.shape[2]),
                static_cast<long long>(tensor->dl_tensor.shape[3]));
    images += static_cast<int>(tensor->dl_tensor.shape[0]);
    tensor->deleter(tensor);
  }
  std::printf("%d images loaded, %zu failed\n", images, loader.stats().stages[1].num_failures);
  fs::remove_all(dir);
}
