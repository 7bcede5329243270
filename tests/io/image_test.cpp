// Image decoding and buffers, on images the test encodes itself with stb_image_write.

#include <spdl/io.hpp>

#include "../support/images.hpp"
#include "../support/threads.hpp"

#include <stb_image.h>

#include <catch2/catch.hpp>

#include <algorithm>
#include <array>
#include <atomic>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <vector>

namespace io = spdl::io;
using namespace spdl::test;

TEST_CASE("lossless formats decode exactly, in every pixel format", "[io][image]") {
  // Widths that are not multiples of 8, on purpose.
  for (auto [w, h] : {std::pair{37, 23}, std::pair{1, 1}, std::pair{64, 5}}) {
    const auto rgb = pattern(w, h, 3);
    const auto rgba = pattern(w, h, 4);
    const auto gray = pattern(w, h, 1);
    for (fmt f : {fmt::png, fmt::bmp}) {
      INFO((f == fmt::png ? "PNG " : "BMP ") << w << "x" << h);
      auto img = io::decode_image(encode(f, w, h, 3, rgb));
      CHECK(std::vector<std::int64_t>(img.shape().begin(), img.shape().end()) ==
            std::vector<std::int64_t>{h, w, 3});
      CHECK(img.dtype() == io::dtype::uint8);
      CHECK(as_vector(img) == rgb);

      auto bgr = io::decode_image(encode(f, w, h, 3, rgb), {.format = io::pixel_format::bgr24});
      auto expected = rgb;
      for (std::size_t i = 0; i < expected.size(); i += 3) std::swap(expected[i], expected[i + 2]);
      CHECK(as_vector(bgr) == expected);

      if (f == fmt::png) {
        CHECK(as_vector(io::decode_image(encode(f, w, h, 4, rgba),
                                         {.format = io::pixel_format::rgba})) == rgba);
        CHECK(as_vector(io::decode_image(encode(f, w, h, 1, gray),
                                         {.format = io::pixel_format::gray8})) == gray);
        // Gray stored, RGB asked: every channel carries the gray value.
        auto widened = as_vector(io::decode_image(encode(f, w, h, 1, gray)));
        for (std::size_t i = 0; i < gray.size(); ++i) {
          CHECK(widened[3 * i] == gray[i]);
          CHECK(widened[3 * i + 2] == gray[i]);
        }
      }
    }
  }
}

TEST_CASE("JPEG: libjpeg-turbo and stb_image agree, and match the source closely", "[io][image]") {
  const int w = 211, h = 97;  // odd sizes: partial MCUs
  const auto px = pattern(w, h, 3, 1);
  const auto jpeg = encode(fmt::jpeg, w, h, 3, px, 95);
  auto turbo = as_vector(io::decode_image(jpeg, {.backend = io::image_backend::turbojpeg}));
  auto stb = as_vector(io::decode_image(jpeg, {.backend = io::image_backend::stb}));
  auto automatic = as_vector(io::decode_image(jpeg));
  CHECK(automatic == turbo);
  // IDCT and upsampling implementations differ by a few levels; the content by the codec's loss.
  CHECK(max_abs_diff(turbo, stb) <= 24);
  CHECK(mean_abs_diff(turbo, stb) < 2.0);
  CHECK(mean_abs_diff(turbo, px) < 4.0);

  auto gray = io::decode_image(jpeg, {.format = io::pixel_format::gray8});
  CHECK(gray.shape()[2] == 1);
  auto rgba = as_vector(io::decode_image(jpeg, {.format = io::pixel_format::rgba}));
  for (std::size_t i = 0; i < std::size_t(w) * h; ++i) {
    CHECK(rgba[4 * i] == turbo[3 * i]);
    CHECK(rgba[4 * i + 3] == 255);
  }
}

TEST_CASE("bad input: a clear error naming the source and the reason", "[io][image][errors]") {
  const auto px = pattern(40, 30, 3);
  const auto png = encode(fmt::png, 40, 30, 3, px);
  const auto jpeg = encode(fmt::jpeg, 40, 30, 3, px);
  const auto bmp = encode(fmt::bmp, 40, 30, 3, px);

  CHECK(message_of<io::io_error>([] { (void)io::decode_image(bytes{}); }) ==
        "decode_image: '<memory>': empty input");
  bytes html(64, std::byte{'<'});
  html[1] = std::byte{'h'};
  auto bad_magic = message_of<io::unsupported_error>([&] { (void)io::decode_image(html); });
  CHECK(bad_magic.find("bad magic 0x3c68") != std::string::npos);

  auto truncate = [](bytes b, std::size_t keep) {
    b.resize(keep);
    return b;
  };
  CHECK(message_of<io::io_error>([&] { (void)io::decode_image(truncate(png, png.size() / 2)); })
            .find("corrupt PNG") != std::string::npos);
  CHECK(message_of<io::io_error>([&] { (void)io::decode_image(truncate(jpeg, jpeg.size() / 2)); })
            .find("truncated or corrupt JPEG") != std::string::npos);
  CHECK_THROWS_AS(io::decode_image(truncate(jpeg, jpeg.size() / 2), {.backend = io::image_backend::stb}),
                  io::io_error);
  CHECK(message_of<io::io_error>([&] { (void)io::decode_image(truncate(bmp, bmp.size() - 100)); })
            .find("truncated BMP") != std::string::npos);

  // A "decompression bomb": a valid PNG header claiming 100000 x 100000 pixels.
  bytes bomb = png;
  auto put_be32 = [&](std::size_t at, std::uint32_t v) {
    for (int i = 0; i < 4; ++i) bomb[at + i] = std::byte((v >> (24 - 8 * i)) & 0xFF);
  };
  put_be32(16, 100000);  // IHDR width
  put_be32(20, 100000);  // IHDR height
  auto bomb_message = message_of<io::io_error>([&] { (void)io::decode_image(bomb); });
  CHECK(bomb_message.find("100000x100000") != std::string::npos);
  CHECK(bomb_message.find("max_pixels") != std::string::npos);
  CHECK_THROWS_AS(io::decode_image(png, {.max_pixels = 100}), io::io_error);

  const auto missing = std::filesystem::temp_directory_path() / "spdl-no-such-image.png";
  auto missing_message = message_of<io::io_error>([&] { (void)io::load_image(missing); });
  CHECK(missing_message.find(missing.string()) != std::string::npos);
  CHECK(missing_message.find("cannot open") != std::string::npos);

  bytes webp{std::byte{'R'}, std::byte{'I'}, std::byte{'F'}, std::byte{'F'}, std::byte{0},
             std::byte{0},   std::byte{0},   std::byte{0},   std::byte{'W'}, std::byte{'E'},
             std::byte{'B'}, std::byte{'P'}};
  CHECK(message_of<io::io_error>([&] { (void)io::decode_image(webp); })
            .find("truncated or corrupt WebP header") != std::string::npos);
  CHECK_THROWS_AS(io::decode_image(png, {.width = -1}), std::invalid_argument);
  CHECK_THROWS_AS(io::decode_image(png, {.backend = io::image_backend::turbojpeg}),
                  io::unsupported_error);
}

TEST_CASE("load_image reads files and names them in errors", "[io][image]") {
  const auto px = pattern(19, 11, 3);
  const auto path = std::filesystem::temp_directory_path() / "spdl-test-image.png";
  {
    const auto png = encode(fmt::png, 19, 11, 3, px);
    std::ofstream out(path, std::ios::binary);
    out.write(reinterpret_cast<const char*>(png.data()), static_cast<std::streamsize>(png.size()));
  }
  CHECK(as_vector(io::load_image(path)) == px);
  std::filesystem::resize_file(path, 0);
  CHECK(message_of<io::io_error>([&] { (void)io::load_image(path); }).find(path.string()) !=
        std::string::npos);
  std::filesystem::remove(path);
}

TEST_CASE("stack and decode_image_into give the bytes of decoding one by one", "[io][batch]") {
  std::vector<bytes> files;
  std::vector<io::buffer> singles;
  for (int i = 0; i < 5; ++i) {
    files.push_back(encode(i % 2 ? fmt::jpeg : fmt::png, 33, 17, 3, pattern(33, 17, 3, i)));
    singles.push_back(io::decode_image(files.back()));
  }
  io::buffer stacked = io::stack(singles);
  io::buffer batch({5, 17, 33, 3}, io::dtype::uint8);
  for (std::size_t i = 0; i < files.size(); ++i) io::decode_image_into(files[i], batch, i);
  REQUIRE(stacked.size_bytes() == batch.size_bytes());
  CHECK(std::equal(stacked.data(), stacked.data() + stacked.size_bytes(), batch.data()));
  for (std::size_t i = 0; i < singles.size(); ++i) {
    auto slot = batch.slice(i);
    CHECK(std::equal(slot.begin(), slot.end(), singles[i].data()));
  }
  CHECK(std::vector<std::int64_t>(stacked.shape().begin(), stacked.shape().end()) ==
        std::vector<std::int64_t>{5, 17, 33, 3});

  io::buffer wrong({5, 16, 33, 3}, io::dtype::uint8);
  CHECK_THROWS_AS(io::decode_image_into(files[0], wrong, 0), std::invalid_argument);
  CHECK_THROWS_AS(io::decode_image_into(files[0], batch, 5), std::out_of_range);
  std::vector<io::buffer> mismatched{singles[0], io::buffer({17, 33, 1}, io::dtype::uint8)};
  CHECK_THROWS_AS(io::stack(mismatched), std::invalid_argument);
}

TEST_CASE("decoding is safe from many threads at once", "[io][threads]") {
  std::vector<bytes> files;
  std::vector<std::vector<unsigned char>> expected;
  for (int i = 0; i < 4; ++i) {
    files.push_back(encode(i % 2 ? fmt::jpeg : fmt::png, 64 + i, 48, 3, pattern(64 + i, 48, 3, i)));
    expected.push_back(as_vector(io::decode_image(files.back())));
  }
  // Half the threads decode the same file, half different ones.
  CHECK(failures_on_threads(8, 20, [&](int t, int round) {
          const std::size_t i = t < 4 ? 0 : std::size_t((t + round) % 4);
          return as_vector(io::decode_image(files[i])) == expected[i];
        }) == 0);
}

namespace {
std::atomic<int> allocations{0}, deallocations{0};
void* counting_allocate(std::size_t n, std::size_t a) {
  ++allocations;
  return ::operator new(n == 0 ? 1 : n, std::align_val_t(a));
}
void counting_deallocate(void* p, std::size_t, std::size_t a) noexcept {
  ++deallocations;
  ::operator delete(p, std::align_val_t(a));
}
}  // namespace

TEST_CASE("DLPack export: no copy, the right metadata, freed exactly once", "[io][dlpack]") {
  auto previous = io::set_storage_allocator({&counting_allocate, &counting_deallocate});
  allocations = 0;
  deallocations = 0;
  {
    io::buffer b({2, 3, 5}, io::dtype::float32);
    CHECK(reinterpret_cast<std::uintptr_t>(b.data()) % io::buffer_alignment == 0);
    DLManagedTensor* t = b.to_dlpack();
    CHECK(t->dl_tensor.data == b.data());
    CHECK(t->dl_tensor.ndim == 3);
    CHECK(t->dl_tensor.shape[0] == 2);
    CHECK(t->dl_tensor.shape[2] == 5);
    CHECK(t->dl_tensor.strides == nullptr);
    CHECK(t->dl_tensor.byte_offset == 0);
    CHECK(t->dl_tensor.device.device_type == kDLCPU);
    CHECK(t->dl_tensor.dtype.code == kDLFloat);
    CHECK(t->dl_tensor.dtype.bits == 32);
    CHECK(t->dl_tensor.dtype.lanes == 1);
    b = io::buffer();  // the tensor alone keeps the storage alive now
    CHECK(deallocations.load() == 0);
    t->deleter(t);
    CHECK(deallocations.load() == 1);
  }
  CHECK(allocations.load() == 2);  // the float buffer and the empty one
  CHECK(deallocations.load() == 2);
  io::set_storage_allocator(previous);

  auto img = io::buffer({4, 4, 3}, io::dtype::uint8).to_dlpack();
  CHECK(img->dl_tensor.dtype.code == kDLUInt);
  CHECK(img->dl_tensor.dtype.bits == 8);
  img->deleter(img);
}

TEST_CASE("buffer::first shares the storage; large storage is huge-page aligned", "[io][buffer]") {
  io::buffer b({10, 300, 700}, io::dtype::uint8);  // 2.1 MB
  std::fill(b.data(), b.data() + b.size_bytes(), std::byte{7});
  io::buffer head = b.first(4);
  CHECK(head.data() == b.data());
  CHECK(std::vector<std::int64_t>(head.shape().begin(), head.shape().end()) ==
        std::vector<std::int64_t>{4, 300, 700});
  CHECK(head.size_bytes() == 4u * 300 * 700);
  CHECK(head.num_elements() == 4u * 300 * 700);
  CHECK(head.clone().size_bytes() == head.size_bytes());
  DLManagedTensor* t = head.to_dlpack();
  CHECK(t->dl_tensor.shape[0] == 4);
  b = io::buffer();
  head = io::buffer();
  CHECK(static_cast<const std::byte*>(t->dl_tensor.data)[4 * 300 * 700 - 1] == std::byte{7});
  t->deleter(t);
  CHECK(b.first(0).size_bytes() == 0);
  CHECK_THROWS_AS(b.first(1), std::out_of_range);
  io::buffer big({5, 1024, 1024}, io::dtype::uint8);  // 5 MiB
  CHECK(reinterpret_cast<std::uintptr_t>(big.data()) % (std::size_t{2} << 20) == 0);
  big.data()[big.size_bytes() - 1] = std::byte{1};
}

TEST_CASE("storage of a freed large buffer serves the next one of its size", "[io][buffer]") {
  io::release_cached_storage();
  const void* first = nullptr;
  {
    io::buffer batch({32, 224, 224, 3}, io::dtype::uint8);  // 4.8 MB: a batch
    first = batch.data();
    batch.data()[batch.size_bytes() - 1] = std::byte{1};
  }
  {
    io::buffer next({32, 224, 224, 3}, io::dtype::uint8);  // the same size: the kept block
    CHECK(static_cast<const void*>(next.data()) == first);
    io::buffer other({33, 224, 224, 3}, io::dtype::uint8);  // another size: a block of its own
    CHECK(static_cast<const void*>(other.data()) != first);
    CHECK(reinterpret_cast<std::uintptr_t>(other.data()) % (std::size_t{2} << 20) == 0);
  }
  // Blocks over 64 MiB go straight back; so does everything after release_cached_storage().
  io::release_cached_storage();
  {
    io::buffer huge({65, 1024, 1024}, io::dtype::uint8);
    huge.data()[0] = std::byte{1};
  }
  // Many sizes: the oldest go back first; every block is still usable when taken again.
  for (int round = 0; round < 3; ++round)
    for (std::int64_t n = 5; n < 20; ++n) {
      io::buffer b({n, 1024, 1024}, io::dtype::uint8);
      std::fill(b.data(), b.data() + b.size_bytes(), std::byte{9});
    }
  io::release_cached_storage();
}

namespace {
std::vector<unsigned char> solid(int w, int h, std::array<unsigned char, 3> rgb) {
  std::vector<unsigned char> px(std::size_t(w) * h * 3);
  for (std::size_t i = 0; i < px.size(); i += 3) std::copy(rgb.begin(), rgb.end(), px.begin() + i);
  return px;
}

unsigned char at(const io::buffer& b, int y, int x, int c) {
  const auto w = b.shape()[1], ch = b.shape()[2];
  return static_cast<unsigned char>(b.data()[(y * w + x) * ch + c]);
}
}  // namespace

TEST_CASE("resize: flat stays flat, every mode gives the asked shape", "[io][resize]") {
  const auto png = encode(fmt::png, 97, 61, 3, solid(97, 61, {10, 200, 77}));
  for (auto mode : {io::resize_mode::stretch, io::resize_mode::crop, io::resize_mode::pad}) {
    for (auto [w, h] : {std::pair{224, 224}, std::pair{31, 17}, std::pair{300, 40}}) {
      auto img = io::decode_image(png, {.width = w, .height = h, .mode = mode});
      REQUIRE(std::vector<std::int64_t>(img.shape().begin(), img.shape().end()) ==
              std::vector<std::int64_t>{h, w, 3});
      if (mode == io::resize_mode::pad) continue;  // black bands: below
      bool flat = true;
      for (int y = 0; y < h; ++y)
        for (int x = 0; x < w; ++x)
          flat = flat && at(img, y, x, 0) == 10 && at(img, y, x, 1) == 200 && at(img, y, x, 2) == 77;
      CHECK(flat);
    }
  }
  // Width only: the height stays the source's.
  auto wide = io::decode_image(png, {.width = 50});
  CHECK(wide.shape()[0] == 61);
  CHECK(wide.shape()[1] == 50);
}

TEST_CASE("resize pad: fitted and centred on black; crop: the centre", "[io][resize]") {
  // 300 x 200 white, into 224 x 224: fits as 224 x 149, bands of 37 and 38 rows.
  auto img = io::decode_image(encode(fmt::png, 300, 200, 3, solid(300, 200, {255, 255, 255})),
                              {.width = 224, .height = 224, .mode = io::resize_mode::pad});
  CHECK(at(img, 0, 112, 0) == 0);
  CHECK(at(img, 36, 112, 1) == 0);
  CHECK(at(img, 37, 112, 1) == 255);
  CHECK(at(img, 112, 0, 2) == 255);
  CHECK(at(img, 185, 223, 0) == 255);
  CHECK(at(img, 186, 112, 0) == 0);
  CHECK(at(img, 223, 112, 0) == 0);

  // 400 x 200: red | green (the middle half) | blue. Cropped to a square, only green is left.
  std::vector<unsigned char> bands(400 * 200 * 3, 0);
  for (int y = 0; y < 200; ++y)
    for (int x = 0; x < 400; ++x) bands[(y * 400 + x) * 3 + (x < 100 ? 0 : x < 300 ? 1 : 2)] = 255;
  auto cropped = io::decode_image(encode(fmt::png, 400, 200, 3, bands),
                                  {.width = 100, .height = 100, .mode = io::resize_mode::crop});
  bool green = true;
  for (int y = 0; y < 100; ++y)
    for (int x = 2; x < 98; ++x)
      green = green && at(cropped, y, x, 0) == 0 && at(cropped, y, x, 1) == 255 &&
              at(cropped, y, x, 2) == 0;
  CHECK(green);
}

TEST_CASE("resize antialiases when shrinking and keeps gradients", "[io][resize]") {
  // A one-pixel checkerboard must average to grey, not alias into stripes.
  std::vector<unsigned char> board(64 * 64 * 3);
  for (int y = 0; y < 64; ++y)
    for (int x = 0; x < 64; ++x)
      for (int c = 0; c < 3; ++c) board[(y * 64 + x) * 3 + c] = (x + y) % 2 ? 255 : 0;
  const auto png = encode(fmt::png, 64, 64, 3, board);
  for (int size : {32, 21, 9}) {
    auto small = io::decode_image(png, {.width = size, .height = size});
    int lo = 255, hi = 0;
    for (int y = 1; y + 1 < size; ++y)
      for (int x = 1; x + 1 < size; ++x) {
        lo = std::min<int>(lo, at(small, y, x, 0));
        hi = std::max<int>(hi, at(small, y, x, 0));
      }
    INFO("checkerboard to " << size);
    CHECK(lo >= 112);
    CHECK(hi <= 143);
  }
  // A horizontal ramp 0..199 shrunk 4x: each output is the mean of its four source columns.
  std::vector<unsigned char> ramp(200 * 8 * 3);
  for (int y = 0; y < 8; ++y)
    for (int x = 0; x < 200; ++x)
      for (int c = 0; c < 3; ++c) ramp[(y * 200 + x) * 3 + c] = static_cast<unsigned char>(x);
  auto shrunk = io::decode_image(encode(fmt::png, 200, 8, 3, ramp), {.width = 50, .height = 8});
  for (int x = 1; x < 49; ++x) {
    INFO("column " << x);
    CHECK(std::abs(int(at(shrunk, 4, x, 0)) - (4 * x + 2)) <= 1);  // mean of 4x..4x+3 is 4x+1.5
  }
  // Enlarging interpolates: the ramp doubled stays monotonic and within a level of linear.
  auto grown = io::decode_image(encode(fmt::png, 200, 8, 3, ramp), {.width = 400, .height = 8});
  for (int x = 2; x < 398; ++x) CHECK(at(grown, 4, x, 0) >= at(grown, 4, x - 1, 0));
}

TEST_CASE("resample: same size is the identity", "[io][resize]") {
  const auto px = pattern(23, 19, 3, 5);
  std::vector<std::uint8_t> out(px.size());
  spdl::io::detail::resample({px.data(), 23, 19, 23 * 3}, 3, 0, 0, 23, 19,
                             {out.data(), 23, 19, 23 * 3});
  CHECK(std::vector<unsigned char>(out.begin(), out.end()) == px);
}

TEST_CASE("resample: the vector kernels give the portable kernels' bytes", "[io][resize]") {
  // Shrinking and enlarging on each axis, crops, odd sizes, sizes smaller than a filter window,
  // every channel count; on a CPU without AVX2 both sides run the portable kernels.
  struct size {
    int sw, sh, dw, dh;
  };
  for (const size& s : {size{500, 375, 224, 224}, size{301, 257, 150, 311}, size{100, 80, 224, 224},
                        size{640, 480, 33, 17}, size{7, 5, 224, 3}, size{3, 300, 1, 224},
                        size{1, 1, 9, 9}, size{1024, 16, 2, 16}}) {
    for (int c : {1, 3, 4}) {
      INFO(s.sw << "x" << s.sh << " -> " << s.dw << "x" << s.dh << ", " << c << " channels");
      const auto px = pattern(s.sw, s.sh, c, s.dw);
      std::vector<std::uint8_t> fast(std::size_t(s.dw) * s.dh * c), slow(fast.size());
      for (double x0 : {0.0, s.sw / 7.0}) {
        const io::detail::image_view src{px.data(), s.sw, s.sh, std::ptrdiff_t(s.sw) * c};
        io::detail::resample(src, c, x0, 0, s.sw - x0, s.sh, {fast.data(), s.dw, s.dh, s.dw * c},
                             true);
        io::detail::resample(src, c, x0, 0, s.sw - x0, s.sh, {slow.data(), s.dw, s.dh, s.dw * c},
                             false);
        CHECK(fast == slow);
      }
    }
  }
}

TEST_CASE("decode_image_into resizes straight into the slot", "[io][resize][batch]") {
  io::image_options o{.width = 64, .height = 48, .mode = io::resize_mode::crop};
  io::buffer batch({3, 48, 64, 3}, io::dtype::uint8);
  for (int i = 0; i < 3; ++i) {
    const auto jpeg = encode(fmt::jpeg, 120 + 13 * i, 90 + 7 * i, 3, pattern(120 + 13 * i, 90 + 7 * i, 3, i));
    io::decode_image_into(jpeg, batch, static_cast<std::size_t>(i), o);
    auto single = io::decode_image(jpeg, o);
    auto slot = batch.slice(static_cast<std::size_t>(i));
    CHECK(std::equal(slot.begin(), slot.end(), single.data()));
  }
}

TEST_CASE("JPEG shrunk by DCT scaling stays close to full decode then resize", "[io][resize]") {
  // 640 x 480 to 160 x 120: libjpeg-turbo decodes at 1/4 and the resampler does the rest.
  const auto px = pattern(640, 480, 3, 3);
  const auto jpeg = encode(fmt::jpeg, 640, 480, 3, px, 90);
  io::image_options o{.width = 160, .height = 120};
  auto scaled = as_vector(io::decode_image(jpeg, o));
  o.backend = io::image_backend::stb;  // stb has no DCT scaling: full decode, then resize
  auto full = as_vector(io::decode_image(jpeg, o));
  CHECK(mean_abs_diff(scaled, full) < 3.0);
  CHECK(spdl::io::detail::dct_scaling_for(0.25).num * 4 == spdl::io::detail::dct_scaling_for(0.25).denom);
  CHECK(spdl::io::detail::dct_scaling_for(0.6).num == spdl::io::detail::dct_scaling_for(0.6).denom);
}
