// Video on FFmpeg: files the test encodes (H.264 in MP4, MKV and MOV, VP9 and VP8 in WebM, MJPEG
// in AVI, FFV1), decoded by load_video and by the parts it is made of.

#include <spdl/io.hpp>

#include "../support/media.hpp"

#include <catch2/catch.hpp>

#include <cstdint>
#include <string>
#include <vector>

namespace io = spdl::io;
using namespace spdl::test;

namespace {

// 40 frames, 96x64, 20 fps: 2 seconds.
const io::buffer& source_frames() {
  static const io::buffer b = moving_frames(40, 96, 64);
  return b;
}

io::video_encode_config fine(std::string codec) {
  io::video_encode_config c{.frame_rate = 20, .codec = std::move(codec)};
  if (c.codec == "libx264") c.options = {{"crf", "12"}, {"preset", "veryfast"}};
  if (c.codec == "libvpx-vp9" || c.codec == "libvpx") {
    c.bit_rate = 2'000'000;
    c.options = {{"deadline", "realtime"}, {"cpu-used", "8"}};
  }
  if (c.codec == "mjpeg") c.bit_rate = 8'000'000;
  return c;
}

}  // namespace

TEST_CASE("load_video decodes every container and codec the tests encode", "[video]") {
  struct kind {
    const char* file;
    const char* codec;
  };
  const kind kinds[] = {{"h264.mp4", "libx264"}, {"h264.mkv", "libx264"}, {"h264.mov", "libx264"},
                        {"vp9.webm", "libvpx-vp9"}, {"vp8.webm", "libvpx"}, {"mjpeg.avi", "mjpeg"}};
  for (const auto& k : kinds) {
    DYNAMIC_SECTION(k.file) {
      auto cfg = fine(k.codec);
      if (std::string(k.codec) == "mjpeg") cfg.pix_fmt = "yuvj444p";
      const auto path = make_video(k.file, source_frames(), cfg);
      io::buffer v = io::load_video(path);
      REQUIRE(std::vector<std::int64_t>(v.shape().begin(), v.shape().end()) ==
              std::vector<std::int64_t>{40, 64, 96, 3});
      CHECK(v.dtype() == io::dtype::uint8);
      const double diff = mean_abs(frame_bytes(v, 0, 40), frame_bytes(source_frames(), 0, 40));
      INFO(k.file << ": mean abs diff " << diff);
      CHECK(diff < 6.0);
      // The same from the bytes in memory.
      const auto bytes = read_bytes(path);
      io::buffer m = io::load_video(std::span<const std::byte>(bytes));
      CHECK(frame_bytes(m, 0, 40) == frame_bytes(v, 0, 40));
    }
  }
}

TEST_CASE("an FFV1 round trip gives back the same bytes", "[video]") {
  const auto path = make_video("ffv1.mkv", source_frames(), {.frame_rate = 20, .codec = "ffv1", .pix_fmt = "bgr0"});
  io::buffer v = io::load_video(path);
  CHECK(frame_bytes(v, 0, 40) == frame_bytes(source_frames(), 0, 40));
  // PNG frames in a MOV, and one picture through save_image.
  const auto png = make_video("png.mov", source_frames(), {.frame_rate = 20, .codec = "png", .pix_fmt = "rgb24"});
  CHECK(frame_bytes(io::load_video(png), 0, 40) == frame_bytes(source_frames(), 0, 40));
  io::buffer one({64, 96, 3}, io::dtype::uint8);
  std::memcpy(one.data(), source_frames().data(), one.size_bytes());
  const auto image = scratch_dir() / "frame.png";
  io::save_image(image, one);
  CHECK(frame_bytes(io::load_image(image), 0, 64) == frame_bytes(one, 0, 64));
}

TEST_CASE("time windows select exactly the frames whose timestamps lie in them", "[video]") {
  // Key frames every 8 frames, B-frames on: a window starts with a seek to a key frame before it.
  auto cfg = fine("libx264");
  cfg.gop_size = 8;
  cfg.max_b_frames = 2;
  const auto path = make_video("window.mp4", source_frames(), cfg);
  io::buffer all = io::load_video(path);
  REQUIRE(all.shape()[0] == 40);
  struct case_ {
    double start, end;
    std::int64_t first, count;
  };
  // 20 fps: frame i is at i / 20 s. [0.5, 1.2) holds frames 10..23; a start between frames
  // rounds up to the next one; an end on a frame's time excludes it.
  for (const case_ c : {case_{0.5, 1.2, 10, 14}, case_{0.52, 0.6, 11, 1}, case_{0, 0.05, 0, 1},
                        case_{1.9, 10, 38, 2}, case_{0.45, 0.55, 9, 2}}) {
    DYNAMIC_SECTION("[" << c.start << ", " << c.end << ")") {
      io::buffer w = io::load_video(path, {.window = io::time_window{c.start, c.end}});
      REQUIRE(w.shape()[0] == c.count);
      CHECK(frame_bytes(w, 0, c.count) == frame_bytes(all, c.first, c.count));
    }
  }
  SECTION("a window past the end is empty, in the frames' shape") {
    io::buffer w = io::load_video(path, {.window = io::time_window{5, 6}, .width = 32, .height = 16});
    CHECK(std::vector<std::int64_t>(w.shape().begin(), w.shape().end()) ==
          std::vector<std::int64_t>{0, 16, 32, 3});
    CHECK_THROWS_AS(io::load_video(path, {.window = io::time_window{5, 6}, .num_frames = 4}), io::io_error);
  }
  SECTION("the packets of a window, decoded by the parts, give the same frames") {
    io::demuxer d(path);
    io::packets p = d.demux_video(io::time_window{0.5, 1.2});
    CHECK(p.size() < 40);
    io::frames f = io::decode_packets(p, "format=pix_fmts=rgb24");
    REQUIRE(f.size() == 14);
    CHECK(f.timestamp(0) == Approx(0.5));
    CHECK(frame_bytes(io::convert_frames(f), 0, 14) == frame_bytes(all, 10, 14));
  }
}

TEST_CASE("fps, num_frames, sizes, resize modes and formats give the documented shapes", "[video]") {
  const auto path = make_video("shapes.mkv", source_frames(), fine("libx264"));
  auto shape = [](const io::buffer& b) { return std::vector<std::int64_t>(b.shape().begin(), b.shape().end()); };
  using v = std::vector<std::int64_t>;
  CHECK(shape(io::load_video(path, {.fps = 10})) == v{20, 64, 96, 3});
  CHECK(shape(io::load_video(path, {.fps = 5, .width = 48, .height = 32})) == v{10, 32, 48, 3});
  CHECK(shape(io::load_video(path, {.width = 50})) == v{40, 64, 50, 3});
  CHECK(shape(io::load_video(path, {.width = 40, .height = 40, .mode = io::resize_mode::pad})) == v{40, 40, 40, 3});
  CHECK(shape(io::load_video(path, {.width = 40, .height = 40, .mode = io::resize_mode::crop})) == v{40, 40, 40, 3});
  CHECK(shape(io::load_video(path, {.format = io::pixel_format::rgba})) == v{40, 64, 96, 4});
  CHECK(shape(io::load_video(path, {.format = io::pixel_format::gray8})) == v{40, 64, 96, 1});
  io::buffer all = io::load_video(path);
  io::buffer trimmed = io::load_video(path, {.num_frames = 7});
  REQUIRE(shape(trimmed) == v{7, 64, 96, 3});
  CHECK(frame_bytes(trimmed, 0, 7) == frame_bytes(all, 0, 7));
  io::buffer padded = io::load_video(path, {.window = io::time_window{1.5, 10}, .num_frames = 16});
  REQUIRE(shape(padded) == v{16, 64, 96, 3});
  CHECK(frame_bytes(padded, 0, 10) == frame_bytes(all, 30, 10));
  for (int i = 10; i < 16; ++i) CHECK(frame_bytes(padded, i, 1) == frame_bytes(all, 39, 1));
  // A pad keeps the aspect ratio (96x64 into 40x40: 40x26 centred, black above and below).
  io::buffer pad = io::load_video(path, {.width = 40, .height = 40, .mode = io::resize_mode::pad, .num_frames = 1});
  const auto* p = reinterpret_cast<const std::uint8_t*>(pad.data());
  CHECK(int(p[0]) == 0);
  CHECK(int(p[(20 * 40 + 20) * 3 + 1]) > 20);
  CHECK_THROWS_AS(io::load_video(path, {.width = 40, .mode = io::resize_mode::crop}), std::invalid_argument);
  CHECK_THROWS_AS(io::load_video(path, {.fps = -1}), std::invalid_argument);
}

TEST_CASE("an encoder on its own: packets that decode back, or go into a muxer", "[video]") {
  io::encoder enc(io::video_encode_config{.width = 96, .height = 64, .frame_rate = 20, .codec = "ffv1", .pix_fmt = "bgr0"});
  io::packets p = enc.encode_video(source_frames());
  p.append(enc.flush());
  REQUIRE(p.size() == 40);
  CHECK(p.codec_name() == "ffv1");
  CHECK(p.timestamp(20) == Approx(1.0));
  const io::buffer back = io::convert_frames(io::decode_packets(p, "format=pix_fmts=rgb24"));
  CHECK(frame_bytes(back, 0, 40) == frame_bytes(source_frames(), 0, 40));

  // Into a container that wants global headers: the encoder must be made for it.
  const auto path = scratch_dir() / "from-encoder.mkv";
  io::muxer m(path);
  io::encoder h264(io::video_encode_config{.width = 96, .height = 64, .frame_rate = 20, .codec = "libx264"},
                   m.needs_global_header());
  const int s = m.add_stream(h264);
  m.open();
  m.write_packets(s, h264.encode_video(source_frames()));
  m.write_packets(s, h264.flush());
  m.close();
  CHECK(io::load_video(path).shape()[0] == 40);
  CHECK(mean_abs(frame_bytes(io::load_video(path), 0, 40), frame_bytes(source_frames(), 0, 40)) < 6.0);

  io::muxer mp4(scratch_dir() / "needs-global.mp4");
  io::encoder plain(io::video_encode_config{.width = 96, .height = 64, .codec = "libx264"});
  CHECK_THROWS_AS(mp4.add_stream(plain), std::invalid_argument);
  CHECK_THROWS_AS(enc.encode_video(source_frames()), std::logic_error);  // flushed
  io::encoder other(io::video_encode_config{.width = 32, .height = 32, .codec = "ffv1"});
  CHECK_THROWS_AS(other.encode_video(source_frames()), std::invalid_argument);  // wrong size
  CHECK_THROWS_AS(other.encode_audio(io::buffer({10, 2}, io::dtype::float32)), std::invalid_argument);
  CHECK_THROWS_AS(io::encoder(io::video_encode_config{.width = 32, .height = 32, .codec = "no-such"}),
                  io::unsupported_error);
  CHECK_THROWS_AS(io::encoder(io::video_encode_config{.width = 32, .height = 32, .codec = "ffv1",
                                                      .options = {{"no_such_option", "1"}}}),
                  std::invalid_argument);
}

TEST_CASE("a stream that changes size mid-way gets a new filter graph for the new frames", "[video]") {
  // MPEG-TS carries H.264 headers in band: the second half of this stream is 64x48.
  io::encoder big(io::video_encode_config{.width = 96, .height = 64, .frame_rate = 20, .codec = "libx264"});
  io::encoder small(io::video_encode_config{.width = 64, .height = 48, .frame_rate = 20, .codec = "libx264"});
  io::packets first = big.encode_video(source_frames().first(20));
  first.append(big.flush());
  io::packets second = small.encode_video(moving_frames(20, 64, 48, 5));
  second.append(small.flush());
  const auto path = scratch_dir() / "size-change.ts";
  {
    io::muxer m(path);
    const int s = m.add_stream(first);
    m.open();
    m.write_packets(s, first);
    io::packets later(io::media_type::video, second.codec_parameters(), second.time_base(),
                      second.frame_rate(), second.source());
    for (std::size_t i = 0; i < second.size(); ++i) {  // 20 frames (1 s) after the first half
      auto p = io::detail::ref_packet(&second[i]);
      p->pts += 20;
      p->dts += 20;
      later.push_back(std::move(p));
    }
    m.write_packets(s, later);
    m.close();
  }
  io::frames f = io::decode_packets(io::demuxer(path).demux_video(), "format=pix_fmts=rgb24");
  REQUIRE(f.size() == 40);
  CHECK(f[19].width == 96);
  CHECK(f[20].width == 64);
  CHECK(f[20].height == 48);
  // Without a size asked for, the frames cannot share one buffer: an error that says so.
  CHECK_THROWS_WITH(io::load_video(path), Catch::Contains("differs in size"));
  // With one, every frame is scaled to it.
  io::buffer v = io::load_video(path, {.width = 32, .height = 32});
  CHECK(std::vector<std::int64_t>(v.shape().begin(), v.shape().end()) == std::vector<std::int64_t>{40, 32, 32, 3});
}

TEST_CASE("load_video holds to max_bytes and max_pixels, whatever the container claims", "[video][limits]") {
  // Two frames 100,000 s apart: at fps 30 that is 3 million frames (2.3 GB of 16x16 RGB).
  const auto gap = ffmpeg_cli("-f lavfi -i color=c=red:size=16x16:rate=1:duration=2 "
                              "-vf setpts=N*100000/TB -fps_mode passthrough -c:v ffv1", "gap.mkv");
  io::buffer two = io::load_video(gap);  // no fps: the two frames, nothing reserved for the gap
  CHECK(std::vector<std::int64_t>(two.shape().begin(), two.shape().end()) == std::vector<std::int64_t>{2, 16, 16, 3});
  auto message = message_of<io::io_error>([&] { (void)io::load_video(gap, {.fps = 30, .max_bytes = 16 << 20}); });
  CHECK(message.find(gap.string()) != std::string::npos);
  CHECK(message.find("video_options::max_bytes") != std::string::npos);
  // num_frames beyond the limit.
  CHECK_THROWS_AS(io::load_video(gap, {.num_frames = 100000, .max_bytes = 16 << 20}), io::io_error);

  // Frames of more pixels than max_pixels (96x64 = 6144).
  const auto path = make_video("limits.mkv", source_frames(), fine("libx264"));
  message = message_of<io::io_error>([&] { (void)io::load_video(path, {.max_pixels = 6143}); });
  CHECK(message.find("96x64 pixels, over the limit of 6143 (max_pixels)") != std::string::npos);
  CHECK(io::load_video(path, {.width = 48, .height = 32, .max_pixels = 6144}).shape()[0] == 40);

  // The packets read are held to max_bytes too: 2x2 frames would fit in 1,000 bytes, the
  // packets of 40 frames of 96x64 do not.
  message = message_of<io::io_error>([&] {
    (void)io::load_video(path, {.width = 2, .height = 2, .max_bytes = 1000});
  });
  CHECK(message.find("bytes of packets") != std::string::npos);
  CHECK(io::load_video(path, {.width = 2, .height = 2}).shape()[0] == 40);
}
