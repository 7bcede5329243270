// Every format and backend decode_image reads, on files the test makes with libjpeg-turbo,
// stb_image_write and FFmpeg's encoders: pixel parity with the known content and between
// backends, FFmpeg's decode as the reference, and resize parity with swscale.

#include <spdl/io.hpp>

#include "../support/images.hpp"
#include "../support/threads.hpp"

extern "C" {
#include <libswscale/swscale.h>
}

#include <catch2/catch.hpp>
#include <zlib.h>

#include <cmath>
#include <cstdint>
#include <vector>

namespace io = spdl::io;
using namespace spdl::test;

namespace {

io::buffer decode(const bytes& b, io::image_backend backend,
                  io::pixel_format format = io::pixel_format::rgb24) {
  return io::decode_image(b, {.format = format, .backend = backend});
}

std::vector<std::int64_t> shape_of(const io::buffer& b) { return {b.shape().begin(), b.shape().end()}; }

// libjpeg-turbo's own RGB -> CMYK (as Adobe stores it: inverted).
pixels to_cmyk(const pixels& rgb) {
  pixels out(rgb.size() / 3 * 4);
  for (std::size_t i = 0; i < rgb.size() / 3; ++i) {
    const double c = 1 - rgb[3 * i] / 255.0, m = 1 - rgb[3 * i + 1] / 255.0,
                 y = 1 - rgb[3 * i + 2] / 255.0;
    const double k = std::min({c, m, y});
    auto ink = [&](double v) { return static_cast<unsigned char>(255 - (v - k) / (1 - k) * 255 + 0.5); };
    out[4 * i] = k == 1 ? 0 : ink(c);
    out[4 * i + 1] = k == 1 ? 0 : ink(m);
    out[4 * i + 2] = k == 1 ? 0 : ink(y);
    out[4 * i + 3] = static_cast<unsigned char>(255 - k * 255 + 0.5);
  }
  return out;
}

// A palette image: index i shows colour palette(i); indices from the pattern's first channel.
std::uint32_t palette_colour(unsigned i) {  // 0xAARRGGBB, as FFmpeg's PAL8 stores it
  return 0xFF000000u | (i << 16) | ((255 - i) << 8) | ((i * 3) & 0xFF);
}

void fill_pal8(AVFrame& f, const pixels& index) {
  for (int y = 0; y < f.height; ++y)
    for (int x = 0; x < f.width; ++x)
      f.data[0][std::ptrdiff_t(y) * f.linesize[0] + x] = index[std::size_t(y) * f.width + x];
  auto* pal = reinterpret_cast<std::uint32_t*>(f.data[1]);
  for (unsigned i = 0; i < 256; ++i) pal[i] = palette_colour(i);
}

pixels palette_rgb(const pixels& index) {
  pixels rgb;
  for (unsigned char i : index) {
    const std::uint32_t c = palette_colour(i);
    rgb.insert(rgb.end(), {static_cast<unsigned char>(c >> 16), static_cast<unsigned char>(c >> 8),
                           static_cast<unsigned char>(c)});
  }
  return rgb;
}

pixels rgb_to_bgra(const pixels& rgb) {
  pixels out;
  for (std::size_t i = 0; i < rgb.size(); i += 3) out.insert(out.end(), {rgb[i + 2], rgb[i + 1], rgb[i], 255});
  return out;
}

// swscale's bilinear resize of packed RGB: the reference for spdl's resampler.
pixels swscale_resize(const pixels& src, int sw, int sh, int dw, int dh) {
  SwsContext* sws = sws_getContext(sw, sh, AV_PIX_FMT_RGB24, dw, dh, AV_PIX_FMT_RGB24,
                                   SWS_BILINEAR | SWS_ACCURATE_RND, nullptr, nullptr, nullptr);
  REQUIRE(sws);
  // swscale's vector code reads (and writes) a little past the last row, as FFmpeg's own padded
  // frames allow: both images get that padding here.
  constexpr std::size_t padding = 64;
  pixels in(src.size() + padding);
  std::copy(src.begin(), src.end(), in.begin());
  pixels out(std::size_t(dw) * dh * 3 + padding);
  const std::uint8_t* in_planes[4] = {in.data()};
  const int in_strides[4] = {sw * 3};
  std::uint8_t* out_planes[4] = {out.data()};
  const int out_strides[4] = {dw * 3};
  sws_scale(sws, in_planes, in_strides, 0, sh, out_planes, out_strides);
  sws_freeContext(sws);
  return pixels(out.begin(), out.end() - static_cast<std::ptrdiff_t>(padding));
}

}  // namespace

TEST_CASE("JPEG variants: every backend close to the source, libjpeg-turbo close to FFmpeg",
          "[io][image][jpeg]") {
  const int w = 211, h = 97;  // partial MCUs on both axes
  const auto rgb = smooth(w, h, 3);
  struct variant {
    const char* name;
    int subsamp;
    bool progressive;
  };
  for (const variant& v : {variant{"baseline 4:2:0", TJSAMP_420, false},
                           variant{"baseline 4:2:2", TJSAMP_422, false},
                           variant{"baseline 4:4:4", TJSAMP_444, false},
                           variant{"progressive 4:2:0", TJSAMP_420, true},
                           variant{"progressive 4:4:4", TJSAMP_444, true}}) {
    INFO(v.name);
    const auto jpeg = turbo_encode(w, h, rgb, TJPF_RGB, v.subsamp, v.progressive);
    const auto reference = as_vector(decode(jpeg, io::image_backend::ffmpeg));
    for (auto backend : {io::image_backend::automatic, io::image_backend::turbojpeg,
                         io::image_backend::stb, io::image_backend::ffmpeg}) {
      INFO("backend " << int(backend));
      const auto img = decode(jpeg, backend);
      CHECK(shape_of(img) == std::vector<std::int64_t>{h, w, 3});
      const auto px = as_vector(img);
      // Quality 95 on smooth content: the codec's loss is about a level on average.
      CHECK(mean_abs_diff(px, rgb) < 1.5);
      CHECK(max_abs_diff(px, rgb) <= 12);
      // IDCTs and chroma upsampling differ between decoders by a few levels.
      CHECK(max_abs_diff(px, reference) <= 8);
      CHECK(mean_abs_diff(px, reference) < 1.0);
    }
  }
}

TEST_CASE("grayscale JPEG: one channel stored, every pixel format", "[io][image][jpeg]") {
  const int w = 50, h = 31;
  const auto gray = smooth(w, h, 1);
  const auto jpeg = turbo_encode(w, h, gray, TJPF_GRAY, TJSAMP_GRAY);
  for (auto backend : {io::image_backend::turbojpeg, io::image_backend::stb, io::image_backend::ffmpeg}) {
    INFO("backend " << int(backend));
    const auto g = as_vector(decode(jpeg, backend, io::pixel_format::gray8));
    CHECK(max_abs_diff(g, gray) <= 3);
    const auto rgb = as_vector(decode(jpeg, backend));
    for (std::size_t i = 0; i < g.size(); ++i) {
      CHECK(rgb[3 * i] == rgb[3 * i + 1]);
      CHECK(rgb[3 * i + 1] == rgb[3 * i + 2]);
      CHECK(std::abs(int(rgb[3 * i]) - int(g[i])) <= 1);
    }
  }
}

TEST_CASE("CMYK JPEG: converted to RGB by every backend", "[io][image][jpeg]") {
  const int w = 64, h = 40;
  const auto rgb = smooth(w, h, 3);
  const auto jpeg = turbo_encode(w, h, to_cmyk(rgb), TJPF_CMYK, TJSAMP_444);
  const auto turbo = as_vector(io::decode_image(jpeg));
  CHECK(mean_abs_diff(turbo, rgb) < 2.0);
  CHECK(max_abs_diff(turbo, rgb) <= 16);
  const auto bgr = as_vector(decode(jpeg, io::image_backend::automatic, io::pixel_format::bgr24));
  CHECK(bgr[0] == turbo[2]);
  CHECK(bgr[2] == turbo[0]);
  // Shrunk through DCT scaling, the CMYK path still converts.
  CHECK(shape_of(io::decode_image(jpeg, {.width = 16, .height = 10})) ==
        std::vector<std::int64_t>{10, 16, 3});
  for (auto backend : {io::image_backend::stb, io::image_backend::ffmpeg}) {
    INFO("backend " << int(backend));
    const auto px = as_vector(decode(jpeg, backend));
    CHECK(mean_abs_diff(px, rgb) < 2.0);
    CHECK(max_abs_diff(px, rgb) <= 16);
  }
}

TEST_CASE("PNG of every kind: exact through stb_image and FFmpeg", "[io][image][png]") {
  const int w = 37, h = 23;
  const auto rgb = pattern(w, h, 3);
  const auto rgba = pattern(w, h, 4, 2);
  const auto index = pattern(w, h, 1, 5);
  struct kind {
    const char* name;
    bytes file;
    io::pixel_format format;
    pixels expected;
  };
  const std::vector<kind> kinds{
      {"8-bit RGB", encode(fmt::png, w, h, 3, rgb), io::pixel_format::rgb24, rgb},
      {"8-bit RGBA", encode(fmt::png, w, h, 4, rgba), io::pixel_format::rgba, rgba},
      {"8-bit gray", encode(fmt::png, w, h, 1, index), io::pixel_format::gray8, index},
      {"palette", ffmpeg_encode("png", AV_PIX_FMT_PAL8, w, h, [&](AVFrame& f) { fill_pal8(f, index); }),
       io::pixel_format::rgb24, palette_rgb(index)},
      {"16-bit RGB", ffmpeg_encode("png", AV_PIX_FMT_RGB48BE, w, h, [&](AVFrame& f) { fill_packed(f, rgb, 3, 2); }),
       io::pixel_format::rgb24, rgb},
      {"16-bit RGBA",
       ffmpeg_encode("png", AV_PIX_FMT_RGBA64BE, w, h, [&](AVFrame& f) { fill_packed(f, rgba, 4, 2); }),
       io::pixel_format::rgba, rgba},
  };
  for (const kind& k : kinds) {
    INFO(k.name);
    for (auto backend : {io::image_backend::automatic, io::image_backend::stb, io::image_backend::ffmpeg}) {
      INFO("backend " << int(backend));
      const auto px = as_vector(decode(k.file, backend, k.format));
      CHECK(max_abs_diff(px, k.expected) == 0);
    }
  }
}

TEST_CASE("automatic takes FFmpeg for large PNG and GIF: still exact", "[io][image][png][gif]") {
  const int w = 256, h = 160;  // over both thresholds of ffmpeg_is_faster
  const auto rgb = pattern(w, h, 3, 7);
  const auto index = pattern(w, h, 1, 8);
  const auto png = encode(fmt::png, w, h, 3, rgb);
  const auto gif = ffmpeg_encode("gif", AV_PIX_FMT_PAL8, w, h, [&](AVFrame& f) { fill_pal8(f, index); });
  for (auto format : {io::pixel_format::rgb24, io::pixel_format::rgba}) {
    const auto from_png = as_vector(decode(png, io::image_backend::automatic, format));
    CHECK(from_png == as_vector(decode(png, io::image_backend::stb, format)));
    const auto from_gif = as_vector(decode(gif, io::image_backend::automatic, format));
    CHECK(from_gif == as_vector(decode(gif, io::image_backend::stb, format)));
  }
  CHECK(as_vector(io::decode_image(png)) == rgb);
  CHECK(as_vector(io::decode_image(gif)) == palette_rgb(index));
}

TEST_CASE("GIF (first frame) and BMP: exact through stb_image and FFmpeg", "[io][image][gif]") {
  const int w = 29, h = 17;
  const auto index = pattern(w, h, 1, 3);
  const auto gif = ffmpeg_encode("gif", AV_PIX_FMT_PAL8, w, h, [&](AVFrame& f) { fill_pal8(f, index); });
  const auto rgb = pattern(w, h, 3, 4);
  const auto bmp = encode(fmt::bmp, w, h, 3, rgb);
  for (auto backend : {io::image_backend::automatic, io::image_backend::stb, io::image_backend::ffmpeg}) {
    INFO("backend " << int(backend));
    CHECK(as_vector(decode(gif, backend)) == palette_rgb(index));
    CHECK(as_vector(decode(bmp, backend)) == rgb);
  }
}

TEST_CASE("WebP and TIFF: through FFmpeg, exact when lossless", "[io][image][webp][tiff]") {
  const int w = 45, h = 26;
  const auto rgb = pattern(w, h, 3, 6);
  const auto lossless = ffmpeg_encode("libwebp", AV_PIX_FMT_BGRA, w, h,
                                      [&](AVFrame& f) { fill_packed(f, rgb_to_bgra(rgb), 4); },
                                      "lossless=1");
  CHECK(as_vector(io::decode_image(lossless)) == rgb);
  CHECK(as_vector(decode(lossless, io::image_backend::ffmpeg, io::pixel_format::bgr24)) ==
        [&] {
          pixels bgr = rgb;
          for (std::size_t i = 0; i < bgr.size(); i += 3) std::swap(bgr[i], bgr[i + 2]);
          return bgr;
        }());

  const auto soft = smooth(w, h, 3);
  const auto lossy = ffmpeg_encode("libwebp", AV_PIX_FMT_BGRA, w, h,
                                   [&](AVFrame& f) { fill_packed(f, rgb_to_bgra(soft), 4); },
                                   "quality=95");
  const auto lossy_px = as_vector(io::decode_image(lossy));
  // Lossy WebP is always 4:2:0 YUV: a little more loss than a 4:4:4 JPEG at the same quality.
  CHECK(mean_abs_diff(lossy_px, soft) < 3.0);

  const auto tiff = ffmpeg_encode("tiff", AV_PIX_FMT_RGB24, w, h, [&](AVFrame& f) { fill_packed(f, rgb, 3); });
  CHECK(as_vector(io::decode_image(tiff)) == rgb);
  const auto tiff_rgba = ffmpeg_encode("tiff", AV_PIX_FMT_RGBA, w, h,
                                       [&](AVFrame& f) { fill_packed(f, pattern(w, h, 4), 4); },
                                       "compression_algo=deflate");
  CHECK(as_vector(decode(tiff_rgba, io::image_backend::automatic, io::pixel_format::rgba)) ==
        pattern(w, h, 4));

  // Resized like any other image.
  CHECK(shape_of(io::decode_image(tiff, {.width = 20, .height = 20, .mode = io::resize_mode::crop})) ==
        std::vector<std::int64_t>{20, 20, 3});

  // stb reads neither.
  CHECK_THROWS_AS(decode(lossless, io::image_backend::stb), io::unsupported_error);
  CHECK_THROWS_AS(decode(tiff, io::image_backend::stb), io::unsupported_error);
}

TEST_CASE("FFmpeg backend: bad input gives a clear error", "[io][image][errors]") {
  // FFmpeg's own complaints about the damage are noise here: the exceptions carry the news.
  const auto level = io::get_ffmpeg_log_level();
  io::set_ffmpeg_log_level(io::ffmpeg_log_level::quiet);
  CHECK(io::get_ffmpeg_log_level() == io::ffmpeg_log_level::quiet);
  struct restore {
    io::ffmpeg_log_level level;
    ~restore() { io::set_ffmpeg_log_level(level); }
  } restore_level{level};
  const int w = 45, h = 26;
  const auto rgb = pattern(w, h, 3);
  const auto webp = ffmpeg_encode("libwebp", AV_PIX_FMT_BGRA, w, h,
                                  [&](AVFrame& f) { fill_packed(f, rgb_to_bgra(rgb), 4); }, "lossless=1");
  const auto tiff = ffmpeg_encode("tiff", AV_PIX_FMT_RGB24, w, h, [&](AVFrame& f) { fill_packed(f, rgb, 3); });
  const auto png = encode(fmt::png, w, h, 3, rgb);
  auto cut = [](bytes b, std::size_t keep) {
    b.resize(keep);
    return b;
  };
  for (const bytes* file : {&webp, &tiff, &png}) {
    for (std::size_t keep : {file->size() / 2, std::size_t{40}, std::size_t{9}}) {
      INFO("kept " << keep << " of " << file->size() << " bytes");
      const auto message = message_of<io::io_error>(
          [&] { (void)decode(cut(*file, keep), io::image_backend::ffmpeg); });
      CHECK(message.rfind("decode_image: '<memory>': ", 0) == 0);
    }
    bytes garbage = *file;
    for (std::size_t i = 40; i < garbage.size(); ++i) garbage[i] = std::byte(i * 7919 % 251);
    CHECK_THROWS_AS(decode(garbage, io::image_backend::ffmpeg), io::io_error);
  }

  // A WebP header claiming a 16 million pixel square canvas.
  bytes bomb = webp;
  std::copy_n(reinterpret_cast<const std::byte*>("VP8X"), 4, bomb.begin() + 12);
  for (int i = 24; i < 30; ++i) bomb[i] = std::byte{0xFF};
  const auto message = message_of<io::io_error>([&] { (void)io::decode_image(bomb); });
  CHECK(message.find("16777216x16777216") != std::string::npos);
  CHECK(message.find("max_pixels") != std::string::npos);
  // FFmpeg's own limit is set from the same option.
  CHECK_THROWS_AS(io::decode_image(png, {.backend = io::image_backend::ffmpeg, .max_pixels = 100}),
                  io::io_error);
}

TEST_CASE("resize parity: spdl's resampler against swscale's bilinear", "[io][resize]") {
  struct size {
    int sw, sh, dw, dh;
  };
  for (const size& s : {size{400, 300, 224, 224}, size{640, 480, 224, 224}, size{100, 80, 224, 224},
                        size{301, 257, 150, 311}}) {
    INFO(s.sw << "x" << s.sh << " -> " << s.dw << "x" << s.dh);
    for (bool soft : {true, false}) {
      const auto src = soft ? smooth(s.sw, s.sh, 3) : pattern(s.sw, s.sh, 3);
      const auto png = encode(fmt::png, s.sw, s.sh, 3, src);
      const auto ours = as_vector(io::decode_image(png, {.width = s.dw, .height = s.dh}));
      const auto theirs = swscale_resize(src, s.sw, s.sh, s.dw, s.dh);
      INFO((soft ? "smooth" : "with edges") << ": mean " << mean_abs_diff(ours, theirs) << ", max "
                                            << max_abs_diff(ours, theirs));
      // Both interpolate linearly when enlarging and average when shrinking; their filters'
      // widths and edge handling differ, which shows only at the content's edges.
      CHECK(mean_abs_diff(ours, theirs) < (soft ? 1.0 : 6.0));
    }
  }
}

TEST_CASE("FFmpeg-decoded formats are safe from many threads at once", "[io][threads]") {
  std::vector<bytes> files;
  std::vector<pixels> expected;
  for (int i = 0; i < 4; ++i) {
    const int w = 40 + i, h = 30;
    const auto rgb = pattern(w, h, 3, i);
    files.push_back(i % 2 ? ffmpeg_encode("tiff", AV_PIX_FMT_RGB24, w, h,
                                          [&](AVFrame& f) { fill_packed(f, rgb, 3); })
                          : ffmpeg_encode("libwebp", AV_PIX_FMT_BGRA, w, h,
                                          [&](AVFrame& f) { fill_packed(f, rgb_to_bgra(rgb), 4); },
                                          "lossless=1"));
    expected.push_back(rgb);
  }
  CHECK(failures_on_threads(8, 20, [&](int t, int round) {
          const std::size_t i = t < 4 ? 0 : std::size_t((t + round) % 4);
          // Alternate output formats, so each thread's cached scaler is rebuilt now and then.
          const auto format = round % 3 ? io::pixel_format::rgb24 : io::pixel_format::bgr24;
          auto px = as_vector(io::decode_image(files[i], {.format = format}));
          if (format == io::pixel_format::bgr24)
            for (std::size_t k = 0; k < px.size(); k += 3) std::swap(px[k], px[k + 2]);
          return px == expected[i];
        }) == 0);
}

namespace {

void put_be32(bytes& b, std::uint32_t v) {
  for (int i = 0; i < 4; ++i) b.push_back(std::byte((v >> (24 - 8 * i)) & 0xFF));
}

// A valid PNG of w x h 1-bit grey pixels, all black: zlib packs its rows about 1000:1.
bytes black_png(std::uint32_t w, std::uint32_t h) {
  std::vector<unsigned char> rows(std::size_t(h) * (1 + (w + 7) / 8), 0);
  uLongf packed_size = compressBound(static_cast<uLong>(rows.size()));
  std::vector<unsigned char> packed(packed_size);
  REQUIRE(compress2(packed.data(), &packed_size, rows.data(), static_cast<uLong>(rows.size()), 9) == Z_OK);
  packed.resize(packed_size);
  bytes out;
  for (const unsigned c : {0x89u, 0x50u, 0x4Eu, 0x47u, 0x0Du, 0x0Au, 0x1Au, 0x0Au}) out.push_back(std::byte(c));
  auto chunk = [&](const char* type, const unsigned char* data, std::size_t n) {
    put_be32(out, static_cast<std::uint32_t>(n));
    const std::size_t at = out.size();
    for (int i = 0; i < 4; ++i) out.push_back(std::byte(type[i]));
    for (std::size_t i = 0; i < n; ++i) out.push_back(std::byte(data[i]));
    put_be32(out, static_cast<std::uint32_t>(crc32(0, reinterpret_cast<const Bytef*>(out.data() + at), static_cast<uInt>(n + 4))));
  };
  const unsigned char ihdr[13] = {static_cast<unsigned char>(w >> 24), static_cast<unsigned char>(w >> 16),
                                  static_cast<unsigned char>(w >> 8), static_cast<unsigned char>(w),
                                  static_cast<unsigned char>(h >> 24), static_cast<unsigned char>(h >> 16),
                                  static_cast<unsigned char>(h >> 8), static_cast<unsigned char>(h),
                                  1, 0, 0, 0, 0};
  chunk("IHDR", ihdr, 13);
  chunk("IDAT", packed.data(), packed.size());
  chunk("IEND", nullptr, 0);
  return out;
}

bytes from_text(std::initializer_list<unsigned> values) {
  bytes out;
  for (unsigned v : values) out.push_back(std::byte(v));
  return out;
}

}  // namespace

TEST_CASE("small files cannot claim huge images: max_pixels and what the bytes can hold", "[io][image][limits]") {
  // A 34-byte lossless WebP claiming 16000x16000 (it would decode to 1.75 GB of RGBA): over the
  // default max_pixels (Pillow's bomb threshold).
  bytes webp = from_text({'R', 'I', 'F', 'F', 26, 0, 0, 0, 'W', 'E', 'B', 'P', 'V', 'P', '8', 'L', 14, 0, 0, 0, 0x2f});
  const std::uint32_t bits = (16000 - 1) | (16000u - 1) << 14;
  for (int i = 0; i < 4; ++i) webp.push_back(std::byte((bits >> (8 * i)) & 0xFF));
  webp.resize(34, std::byte{0});
  CHECK(io::default_max_pixels == 178'956'970);
  auto message = message_of<io::io_error>([&] { (void)io::decode_image(webp); });
  CHECK(message.find("16000x16000") != std::string::npos);
  CHECK(message.find("image_options::max_pixels") != std::string::npos);

  // A valid 16384x16384 PNG (33 KB): over the default limit; allowed by a larger one, it is
  // beyond FFmpeg's own limit, which says so (not "corrupt PNG").
  const bytes big = black_png(16384, 16384);
  CHECK(message_of<io::io_error>([&] { (void)io::decode_image(big); }).find("max_pixels") != std::string::npos);
  message = message_of<io::unsupported_error>(
      [&] { (void)io::decode_image(big, {.backend = io::image_backend::ffmpeg, .max_pixels = 1u << 30}); });
  CHECK(message.find("FFmpeg's own size limit") != std::string::npos);
  // One inside both limits decodes (and 1-bit grey is black).
  const auto ok = io::decode_image(black_png(1000, 900), {.format = io::pixel_format::gray8});
  CHECK(shape_of(ok) == std::vector<std::int64_t>{900, 1000, 1});
  CHECK(as_vector(ok) == pixels(900 * 1000, 0));

  // Headers claiming more pixels than the file's bytes can code: a 35-byte GIF of 13000x13000
  // (stb_image would take 1.5 GB for it), a 3000x3000 PNG of 200 bytes, a JPEG cut short
  // claiming 8000x8000 — refused on every backend before anything is allocated.
  bytes gif = from_text({'G', 'I', 'F', '8', '9', 'a', 13000 & 0xFF, 13000 >> 8, 13000 & 0xFF, 13000 >> 8, 0x80, 0, 0});
  gif.resize(35, std::byte{0});
  bytes png = black_png(3000, 3000);
  png.resize(200);
  bytes jpeg = turbo_encode(64, 48, pattern(64, 48, 3), TJPF_RGB, TJSAMP_420);
  for (std::size_t i = 2; i + 9 < jpeg.size(); ++i)
    if (jpeg[i] == std::byte{0xFF} && jpeg[i + 1] == std::byte{0xC0}) {  // SOF0: height, width
      for (std::size_t at : {i + 5, i + 7}) jpeg[at] = std::byte{8000 >> 8}, jpeg[at + 1] = std::byte{8000 & 0xFF};
      break;
    }
  for (const auto backend : {io::image_backend::automatic, io::image_backend::stb, io::image_backend::ffmpeg}) {
    for (const bytes* file : {&gif, &png, &jpeg}) {
      INFO("backend " << int(backend) << ", " << file->size() << " bytes");
      message = message_of<io::io_error>([&] { (void)io::decode_image(*file, {.backend = backend}); });
      CHECK(message.find("can hold") != std::string::npos);
    }
  }
}

TEST_CASE("stb_image is given only JPEGs whose Huffman tables are sound", "[io][image][limits]") {
  const bytes good = turbo_encode(64, 48, pattern(64, 48, 3), TJPF_RGB, TJSAMP_420);
  REQUIRE(good.size() > 4);
  CHECK(shape_of(decode(good, io::image_backend::stb)) == std::vector<std::int64_t>{48, 64, 3});
  // A table of 300 codes (45 of 15 bits, 255 of 16: they fit, so stb_image 2.27 takes them and
  // writes past its 256-entry table) after the scan, where stb reads it.
  bytes hostile(good.begin(), good.end() - 2);  // without EOI
  const std::size_t length = 2 + 1 + 16 + 300;
  for (unsigned v : {0xFFu, 0xC4u, unsigned(length >> 8), unsigned(length & 0xFF), 0x00u}) hostile.push_back(std::byte(v));
  for (int len = 1; len <= 16; ++len) hostile.push_back(std::byte(len == 15 ? 45 : len == 16 ? 255 : 0));
  for (int k = 0; k < 300; ++k) hostile.push_back(std::byte(k % 12));
  hostile.push_back(std::byte{0xFF});
  hostile.push_back(std::byte{0xD9});
  auto message = message_of<io::io_error>([&] { (void)decode(hostile, io::image_backend::stb); });
  CHECK(message.find("a Huffman table of 300 codes") != std::string::npos);
  // A DC symbol of 33 bits (stb_image shifts by it).
  bytes wide(good.begin(), good.end() - 2);
  for (unsigned v : {0xFFu, 0xC4u, 0u, 2u + 1 + 16 + 1, 0x00u}) wide.push_back(std::byte(v));
  for (int len = 1; len <= 16; ++len) wide.push_back(std::byte(len == 1 ? 1 : 0));
  wide.push_back(std::byte{33});
  wide.push_back(std::byte{0xFF});
  wide.push_back(std::byte{0xD9});
  message = message_of<io::io_error>([&] { (void)decode(wide, io::image_backend::stb); });
  CHECK(message.find("Huffman symbol out of range (33)") != std::string::npos);
  // Cut short: stb_image would fill the rest with grey and succeed.
  bytes cut(good.begin(), good.begin() + static_cast<std::ptrdiff_t>(good.size() * 2 / 3));
  message = message_of<io::io_error>([&] { (void)decode(cut, io::image_backend::stb); });
  CHECK(message.find("no end-of-image marker") != std::string::npos);
  // libjpeg-turbo (the default for JPEG) refuses both as well.
  CHECK_THROWS_AS(decode(hostile, io::image_backend::automatic), io::io_error);
  CHECK_THROWS_AS(decode(cut, io::image_backend::automatic), io::io_error);
}
