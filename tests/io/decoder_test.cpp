// The parts load_video and load_audio are made of: parity with libav* run directly, streaming
// demux and decode, frame layouts, remuxing, corrupt packets and bad input.

#include <spdl/io.hpp>

#include "../support/ffmpeg_reference.hpp"
#include "../support/images.hpp"
#include "../support/media.hpp"
#include "../support/threads.hpp"

#include <catch2/catch.hpp>

#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

namespace io = spdl::io;
using namespace spdl::test;

namespace {

const io::buffer& source_frames() {
  static const io::buffer b = moving_frames(40, 96, 64, 7);
  return b;
}

const std::filesystem::path& h264_file() {
  static const auto p = make_video("parts.mp4", source_frames(),
                                   {.frame_rate = 20, .codec = "libx264", .max_b_frames = 2,
                                    .options = {{"preset", "veryfast"}}});
  return p;
}

std::vector<std::uint8_t> all_bytes(const io::buffer& b) {
  const auto* p = reinterpret_cast<const std::uint8_t*>(b.data());
  return {p, p + b.size_bytes()};
}

std::vector<std::int64_t> shape(const io::buffer& b) { return {b.shape().begin(), b.shape().end()}; }

}  // namespace

TEST_CASE("load_video's frames equal libav*'s for the same filter description, bit for bit", "[video][parity]") {
  const auto vp9 = make_video("parity.webm", source_frames(),
                              {.frame_rate = 20, .codec = "libvpx-vp9",
                               .options = {{"deadline", "realtime"}, {"cpu-used", "8"}}});
  const auto mjpeg = make_video("parity.avi", source_frames(),
                                {.frame_rate = 20, .codec = "mjpeg", .pix_fmt = "yuvj444p"});
  const io::video_options cases[] = {
      {},
      {.fps = 10, .width = 50, .height = 30},
      {.width = 40, .height = 40, .mode = io::resize_mode::crop, .format = io::pixel_format::bgr24},
      {.width = 40, .height = 40, .mode = io::resize_mode::pad, .format = io::pixel_format::gray8},
      {.fps = 7, .format = io::pixel_format::rgba},
  };
  for (const auto& path : {h264_file(), vp9, mjpeg}) {
    for (const auto& o : cases) {
      const std::string desc = io::video_filter_desc(o);
      INFO(path.filename().string() << ": " << desc);
      io::buffer got = io::load_video(path, o);
      const int c = static_cast<int>(got.shape()[3]);
      const auto want = ffmpeg_reference(path.string(), true, desc, c);
      CHECK(all_bytes(got) == want);
    }
  }
}

TEST_CASE("load_audio's samples equal libav*'s for the same filter description", "[audio][parity]") {
  const auto src = tones(48000, 2, 48000);
  const auto mp3 = make_audio("parity.mp3", src, {.sample_rate = 48000, .codec = "libmp3lame"});
  const auto aac = make_audio("parity.m4a", src, {.sample_rate = 48000, .codec = "aac"});
  const auto wav = make_audio("parity.wav", to_s16(src), {.sample_rate = 48000, .codec = "pcm_s16le"});
  const io::audio_options cases[] = {
      {},
      {.sample_rate = 16000, .num_channels = 1},
      {.format = io::sample_format::s16},
      {.sample_rate = 22050, .num_channels = 6, .format = io::sample_format::s16},
  };
  for (const auto& path : {mp3, aac, wav}) {
    for (const auto& o : cases) {
      const std::string desc = io::audio_filter_desc(o);
      INFO(path.filename().string() << ": " << desc);
      io::buffer got = io::load_audio(path, o);
      CHECK(all_bytes(got) == ffmpeg_reference(path.string(), false, desc, o.format == io::sample_format::f32 ? 4 : 2));
    }
  }
}

TEST_CASE("streaming demux and decode give the frames decode_packets gives", "[video]") {
  io::demuxer whole(h264_file());
  io::buffer expected = io::convert_frames(io::decode_packets(whole.demux_video()));
  REQUIRE(shape(expected) == std::vector<std::int64_t>{40, 1, 96, 96});  // yuv420p: {N, 1, H + H/2, W}

  io::demuxer d(h264_file());
  std::optional<io::decoder> dec;
  io::frames got(io::media_type::video, {1, 20}, d.source());
  std::size_t chunks = 0;
  for (;;) {
    io::packets p = d.demux_next(io::media_type::video, 7);
    if (p.empty()) break;
    ++chunks;
    if (!dec) dec.emplace(p);
    dec->decode_each(p, [&](AVFrame& f) { got.push_back(io::detail::ref_frame(&f)); });
  }
  dec->flush_each([&](AVFrame& f) { got.push_back(io::detail::ref_frame(&f)); });
  CHECK(chunks == 6);
  CHECK(all_bytes(io::convert_frames(got)) == all_bytes(expected));

  // Packets cloned share their data; both decode alike.
  io::packets p = io::demuxer(h264_file()).demux_video();
  io::packets q = p.clone();
  REQUIRE(q.size() == p.size());
  CHECK(q[0].data == p[0].data);
  CHECK(all_bytes(io::convert_frames(io::decode_packets(q))) == all_bytes(expected));
}

TEST_CASE("convert_frames lays frames out as SPDL does", "[video][audio]") {
  io::demuxer d(h264_file());
  io::packets p = d.demux_video(io::time_window{0, 0.1});  // 2 frames
  SECTION("yuv420p: Y, then rows of U beside rows of V") {
    io::frames f = io::decode_packets(p);
    REQUIRE(f.format_name() == "yuv420p");
    io::buffer b = io::convert_frames(f);
    REQUIRE(shape(b) == std::vector<std::int64_t>{2, 1, 96, 96});
    const auto* out = reinterpret_cast<const std::uint8_t*>(b.data());
    const AVFrame& fr = f[1];
    const std::size_t frame = 96 * 96;
    CHECK(std::memcmp(out + frame + 5 * 96, fr.data[0] + 5 * fr.linesize[0], 96) == 0);
    CHECK(std::memcmp(out + frame + 64 * 96 + 3 * 96, fr.data[1] + 3 * fr.linesize[1], 48) == 0);
    CHECK(std::memcmp(out + frame + 64 * 96 + 3 * 96 + 48, fr.data[2] + 3 * fr.linesize[2], 48) == 0);
  }
  SECTION("nv12 and yuv444p") {
    io::frames nv = io::decode_packets(p, "format=pix_fmts=nv12");
    io::buffer b = io::convert_frames(nv);
    REQUIRE(shape(b) == std::vector<std::int64_t>{2, 1, 96, 96});
    const auto* out = reinterpret_cast<const std::uint8_t*>(b.data());
    CHECK(std::memcmp(out + 64 * 96 + 10 * 96, nv[0].data[1] + 10 * nv[0].linesize[1], 96) == 0);
    io::frames y4 = io::decode_packets(p, "format=pix_fmts=yuv444p");
    io::buffer c = io::convert_frames(y4);
    REQUIRE(shape(c) == std::vector<std::int64_t>{2, 3, 64, 96});
    const auto* o4 = reinterpret_cast<const std::uint8_t*>(c.data());
    CHECK(std::memcmp(o4 + 2 * 64 * 96 + 7 * 96, y4[0].data[2] + 7 * y4[0].linesize[2], 96) == 0);
  }
  SECTION("a batch of frame sets gets a leading dimension") {
    std::vector<io::frames> sets;
    sets.push_back(io::decode_packets(p, "format=pix_fmts=rgb24"));
    sets.push_back(io::decode_packets(p, "format=pix_fmts=rgb24"));
    io::buffer b = io::convert_frames(std::span<const io::frames>(sets));
    CHECK(shape(b) == std::vector<std::int64_t>{2, 2, 64, 96, 3});
  }
  SECTION("formats without a layout are refused, naming the format") {
    io::frames f = io::decode_packets(p, "format=pix_fmts=yuv422p");
    CHECK_THROWS_WITH(io::convert_frames(f), Catch::Contains("yuv422p"));
  }
  SECTION("planar audio is {C, T}, packed {T, C}") {
    const auto mp3 = make_audio("layout.mp3", tones(48000, 2, 48000), {.sample_rate = 48000, .codec = "libmp3lame"});
    io::frames f = io::decode_packets(io::demuxer(mp3).demux_audio());
    REQUIRE(f.format_name() == "fltp");
    io::buffer planar = io::convert_frames(f);
    io::buffer packed = io::load_audio(mp3);
    REQUIRE(shape(planar) == std::vector<std::int64_t>{2, packed.shape()[0]});
    const auto pl = values<float>(planar), pk = values<float>(packed);
    const std::size_t t = static_cast<std::size_t>(packed.shape()[0]);
    for (std::size_t i = 0; i < t; i += 101) {
      CHECK(pl[i] == pk[2 * i]);
      CHECK(pl[t + i] == pk[2 * i + 1]);
    }
  }
}

TEST_CASE("remuxed packets decode to the same frames", "[video]") {
  io::demuxer d(h264_file());
  io::packets p = d.demux_video();
  const auto out = scratch_dir() / "remux.mkv";
  {
    io::muxer m(out);
    const int s = m.add_stream(p);
    m.open();
    m.write_packets(s, p);
    m.close();
  }
  CHECK(all_bytes(io::load_video(out)) == all_bytes(io::load_video(h264_file())));
}

TEST_CASE("corrupt packets throw naming the packet, or are skipped and counted", "[video]") {
  const auto path = make_video("corrupt.avi", source_frames(), {.frame_rate = 20, .codec = "mjpeg"});
  io::demuxer d(path);
  io::packets good = d.demux_video();
  REQUIRE(good.size() == 40);
  io::packets bad(io::media_type::video, d.stream(io::media_type::video), d.source());
  for (std::size_t i = 0; i < good.size(); ++i) {
    auto copy = io::detail::ref_packet(&good[i]);
    if (i == 17) {
      REQUIRE(av_packet_make_writable(copy.get()) == 0);
      std::memset(copy->data, 0x5a, static_cast<std::size_t>(copy->size));
    }
    bad.push_back(std::move(copy));
  }
  CHECK_THROWS_WITH(io::decode_packets(bad), Catch::Contains("corrupt.avi") && Catch::Contains("packet 17"));
  io::decoder dec(bad, {.skip_corrupt_packets = true});
  io::frames f = dec.decode(bad);
  io::frames rest = dec.flush();
  CHECK(f.size() + rest.size() == 39);
  CHECK(dec.skipped_packets() == 1);
}

TEST_CASE("bad input gives an io_error naming the source and the reason", "[video][audio]") {
  const auto dir = scratch_dir();
  SECTION("missing, empty, garbage") {
    CHECK_THROWS_WITH(io::load_video(dir / "no-such.mp4"), Catch::Contains("no-such.mp4"));
    write_bytes(dir / "empty.mp4", {});
    CHECK_THROWS_AS(io::load_video(dir / "empty.mp4"), io::io_error);
    CHECK_THROWS_AS(io::load_audio(dir / "empty.mp4"), io::io_error);
    CHECK_THROWS_AS(io::load_video(std::span<const std::byte>()), io::io_error);
    std::vector<std::byte> garbage(5000);
    for (std::size_t i = 0; i < garbage.size(); ++i) garbage[i] = std::byte(i * 7 % 251);
    write_bytes(dir / "garbage.mkv", garbage);
    CHECK_THROWS_AS(io::load_video(dir / "garbage.mkv"), io::io_error);
    CHECK_THROWS_AS(io::load_video(std::span<const std::byte>(garbage)), io::io_error);
  }
  SECTION("no stream of the kind asked for") {
    const auto wav = make_audio("only-audio.wav", tones(4800, 1, 48000), {.sample_rate = 48000, .codec = "pcm_f32le"});
    CHECK_THROWS_WITH(io::load_video(wav), Catch::Contains("only-audio.wav") && Catch::Contains("no video stream"));
  }
  SECTION("an MP4 cut short has no index: an error, not a crash") {
    auto bytes = read_bytes(h264_file());
    bytes.resize(bytes.size() / 2);
    CHECK_THROWS_AS(io::load_video(std::span<const std::byte>(bytes)), io::io_error);
  }
  SECTION("a Matroska file cut short gives the frames before the cut") {
    const auto mkv = make_video("cut.mkv", source_frames(), {.frame_rate = 20, .codec = "ffv1"});
    const auto full = io::load_video(mkv);
    auto bytes = read_bytes(mkv);
    bytes.resize(bytes.size() * 6 / 10);
    io::buffer part = io::load_video(std::span<const std::byte>(bytes));
    const auto n = part.shape()[0];
    CHECK(n > 10);
    CHECK(n < 40);
    CHECK(frame_bytes(part, 0, n) == frame_bytes(full, 0, n));
  }
  SECTION("bad options") {
    CHECK_THROWS_AS(io::load_video(h264_file(), {.window = io::time_window{2, 1}}), std::invalid_argument);
    CHECK_THROWS_AS(io::demuxer(h264_file(), {.format_options = {{"no_such_option", "1"}}}), std::invalid_argument);
    io::demuxer d(h264_file());
    CHECK_THROWS_AS(io::decoder(d.demux_video(), {.decoder = "no-such-decoder"}), io::unsupported_error);
    CHECK_THROWS_AS(io::decode_packets(d.demux_video(), "no_such_filter=1"), std::invalid_argument);
  }
}

TEST_CASE("8 threads load the same and different files at once", "[video][audio][threads]") {
  const auto other = make_video("threads.mkv", moving_frames(20, 64, 48, 3), {.frame_rate = 20, .codec = "libx264"});
  const auto flac = make_audio("threads.flac", to_s16(tones(48000, 2, 48000)), {.sample_rate = 48000, .codec = "flac"});
  const auto want_a = all_bytes(io::load_video(h264_file(), {.width = 48, .height = 32}));
  const auto want_b = all_bytes(io::load_video(other));
  const auto want_c = all_bytes(io::load_audio(flac, {.sample_rate = 16000}));
  const auto bytes = read_bytes(other);
  const auto failures = failures_on_threads(8, 4, [&](int thread, int round) {
    try {
      switch ((thread + round) % 4) {
        case 0: return all_bytes(io::load_video(h264_file(), {.width = 48, .height = 32})) == want_a;
        case 1: return all_bytes(io::load_video(other)) == want_b;
        case 2: return all_bytes(io::load_video(std::span<const std::byte>(bytes))) == want_b;
        default: return all_bytes(io::load_audio(flac, {.sample_rate = 16000})) == want_c;
      }
    } catch (const std::exception&) {
      return false;
    }
  });
  CHECK(failures == 0);
}

TEST_CASE("sample_decode_video gives the chosen frames, decoding only their groups of pictures", "[video]") {
  auto cfg = io::video_encode_config{.frame_rate = 20, .codec = "libx264", .gop_size = 8, .max_b_frames = 2,
                                     .options = {{"preset", "veryfast"}}};
  const auto path = make_video("sample.mp4", source_frames(), cfg);
  io::demuxer d(path);
  io::packets p = d.demux_video();
  const io::buffer all = io::convert_frames(io::decode_packets(p, "format=pix_fmts=rgb24"));
  const std::size_t picks[] = {17, 0, 5, 39, 17, 18};
  io::frames f = io::sample_decode_video(p, picks, "format=pix_fmts=rgb24");
  REQUIRE(f.size() == 6);
  const io::buffer got = io::convert_frames(f);
  for (std::size_t i = 0; i < 6; ++i) {
    INFO("pick " << i << ": frame " << picks[i]);
    CHECK(frame_bytes(got, static_cast<std::int64_t>(i), 1) == frame_bytes(all, static_cast<std::int64_t>(picks[i]), 1));
  }
  // Indices count within the packets' window.
  io::packets w = io::demuxer(path).demux_video(io::time_window{1.0, 1.5});
  const std::size_t in_window[] = {0, 9};
  const io::buffer wf = io::convert_frames(io::sample_decode_video(w, in_window, "format=pix_fmts=rgb24"));
  CHECK(frame_bytes(wf, 0, 1) == frame_bytes(all, 20, 1));
  CHECK(frame_bytes(wf, 1, 1) == frame_bytes(all, 29, 1));
  const std::size_t past[] = {10};
  CHECK_THROWS_AS(io::sample_decode_video(w, past), std::out_of_range);
}
