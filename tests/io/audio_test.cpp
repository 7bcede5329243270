// Audio on FFmpeg: WAV (s16, f32), FLAC, MP3, Ogg/Vorbis, Opus, M4A/AAC and 8-channel files the
// test encodes, decoded by load_audio, with sample-exact windows.

#include <spdl/io.hpp>

#include "../support/media.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <vector>

namespace io = spdl::io;
using namespace spdl::test;

namespace {

constexpr int rate = 48000;

// Two seconds of stereo tones.
const io::buffer& stereo() {
  static const io::buffer b = tones(2 * rate, 2, rate);
  return b;
}

std::vector<std::int64_t> shape(const io::buffer& b) { return {b.shape().begin(), b.shape().end()}; }

// RMS of the difference between `got` and `want` over their first `n` frames, after the best
// shift of up to `max_shift` samples (lossy codecs may delay the signal).
double rms_diff(const io::buffer& got, const io::buffer& want, std::int64_t n, int max_shift) {
  const auto g = values<float>(got), w = values<float>(want);
  const auto c = got.shape()[1];
  double best = 1e9;
  for (int s = 0; s <= max_shift; ++s) {
    double sum = 0;
    for (std::int64_t i = 0; i < n * c; ++i) {
      const double d = g[static_cast<std::size_t>(i + s * c)] - w[static_cast<std::size_t>(i)];
      sum += d * d;
    }
    best = std::min(best, std::sqrt(sum / static_cast<double>(n * c)));
  }
  return best;
}

}  // namespace

TEST_CASE("lossless audio decodes to the very samples that were encoded", "[audio]") {
  SECTION("WAV, float32") {
    const auto path = make_audio("f32.wav", stereo(), {.sample_rate = rate, .codec = "pcm_f32le"});
    io::buffer a = io::load_audio(path);
    REQUIRE(shape(a) == std::vector<std::int64_t>{2 * rate, 2});
    CHECK(values<float>(a) == values<float>(stereo()));
  }
  SECTION("WAV, int16: the same samples as load_wav reads") {
    const auto path = make_audio("s16.wav", to_s16(stereo()), {.sample_rate = rate, .codec = "pcm_s16le"});
    io::buffer a = io::load_audio(path, {.format = io::sample_format::s16});
    REQUIRE(a.dtype() == io::dtype::int16);
    CHECK(values<std::int16_t>(a) == values<std::int16_t>(to_s16(stereo())));
    CHECK(values<std::int16_t>(a) == values<std::int16_t>(io::load_wav(path)));
  }
  SECTION("FLAC") {
    const auto path = make_audio("s16.flac", to_s16(stereo()), {.sample_rate = rate, .codec = "flac"});
    io::buffer a = io::load_audio(path, {.format = io::sample_format::s16});
    CHECK(values<std::int16_t>(a) == values<std::int16_t>(to_s16(stereo())));
    // float32 output is the same samples scaled by 1/32768.
    io::buffer f = io::load_audio(path);
    const auto fs = values<float>(f);
    const auto is = values<std::int16_t>(a);
    REQUIRE(fs.size() == is.size());
    for (std::size_t i = 0; i < fs.size(); i += 997) CHECK(fs[i] == is[i] / 32768.0f);
  }
  SECTION("more than 6 channels: 8 in FLAC, 10 in WAV") {
    for (int channels : {8, 10}) {
      const auto src = to_s16(tones(rate / 2, channels, rate));
      const auto path = make_audio("multi" + std::to_string(channels) + (channels == 8 ? ".flac" : ".wav"), src,
                                   {.sample_rate = rate, .codec = channels == 8 ? "flac" : "pcm_s16le"});
      io::buffer a = io::load_audio(path, {.format = io::sample_format::s16});
      REQUIRE(shape(a) == std::vector<std::int64_t>{rate / 2, channels});
      CHECK(values<std::int16_t>(a) == values<std::int16_t>(src));
    }
  }
}

TEST_CASE("lossy audio decodes close to what was encoded", "[audio]") {
  struct kind {
    const char* file;
    const char* codec;
  };
  for (const kind k : {kind{"a.mp3", "libmp3lame"}, kind{"a.ogg", "libvorbis"},
                       kind{"a.opus", "libopus"}, kind{"a.m4a", "aac"}}) {
    DYNAMIC_SECTION(k.file) {
      const auto path = make_audio(k.file, stereo(), {.sample_rate = rate, .codec = k.codec, .bit_rate = 192000});
      io::buffer a = io::load_audio(path);
      INFO(k.file << ": " << a.shape()[0] << " samples");
      REQUIRE(a.shape()[1] == 2);
      // The codec's frame size may round the length up (by less than one frame).
      CHECK(a.shape()[0] >= 2 * rate);
      CHECK(a.shape()[0] < 2 * rate + 2048);
      const double rms = rms_diff(a, stereo(), rate, 1200);
      INFO("rms difference " << rms);
      CHECK(rms < 0.02);
    }
  }
}

TEST_CASE("audio windows are sample-exact at the output rate", "[audio]") {
  const auto path = make_audio("window.flac", to_s16(stereo()), {.sample_rate = rate, .codec = "flac"});
  io::buffer all = io::load_audio(path);
  REQUIRE(all.shape()[0] == 2 * rate);
  struct case_ {
    double start, end;
    std::int64_t first, count;
  };
  for (const case_ c : {case_{0.25, 0.75, 12000, 24000}, case_{1.0, 5.0, 48000, 48000},
                        case_{0.1, 0.1 + 1.0 / rate, 4800, 1}, case_{0.00001, 0.00003, 0, 1}}) {
    DYNAMIC_SECTION("[" << c.start << ", " << c.end << ")") {
      io::buffer w = io::load_audio(path, {.window = io::time_window{c.start, c.end}});
      REQUIRE(w.shape()[0] == c.count);
      const auto wv = values<float>(w), av = values<float>(all);
      CHECK(std::vector<float>(wv.begin(), wv.end()) ==
            std::vector<float>(av.begin() + c.first * 2, av.begin() + (c.first + c.count) * 2));
    }
  }
  SECTION("at another rate, the count is exact at that rate") {
    io::buffer w = io::load_audio(path, {.window = io::time_window{0.25, 0.75}, .sample_rate = 16000});
    CHECK(w.shape()[0] == 8000);
    CHECK(io::load_audio(path, {.sample_rate = 16000}).shape()[0] == 32000);
  }
  SECTION("past the end: no samples, or zeros to num_frames") {
    CHECK(shape(io::load_audio(path, {.window = io::time_window{3, 4}})) == std::vector<std::int64_t>{0, 2});
    io::buffer z = io::load_audio(path, {.window = io::time_window{3, 4}, .num_frames = 100});
    CHECK(shape(z) == std::vector<std::int64_t>{100, 2});
    for (float v : values<float>(z)) CHECK(v == 0.0f);
  }
}

TEST_CASE("sample rate, channels, format and num_frames give the documented shapes", "[audio]") {
  const auto path = make_audio("opts.wav", stereo(), {.sample_rate = rate, .codec = "pcm_f32le"});
  CHECK(shape(io::load_audio(path, {.num_channels = 1})) == std::vector<std::int64_t>{2 * rate, 1});
  CHECK(shape(io::load_audio(path, {.num_channels = 6})) == std::vector<std::int64_t>{2 * rate, 6});
  CHECK(shape(io::load_audio(path, {.sample_rate = 8000})) == std::vector<std::int64_t>{16000, 2});
  CHECK(io::load_audio(path, {.format = io::sample_format::s16}).dtype() == io::dtype::int16);
  io::buffer all = io::load_audio(path);
  io::buffer trimmed = io::load_audio(path, {.num_frames = 1000});
  REQUIRE(shape(trimmed) == std::vector<std::int64_t>{1000, 2});
  CHECK(frame_bytes(trimmed, 0, 1000) == frame_bytes(all, 0, 1000));
  io::buffer padded = io::load_audio(path, {.num_frames = 2 * rate + 50});
  CHECK(frame_bytes(padded, 0, 2 * rate) == frame_bytes(all, 0, 2 * rate));
  const auto tail = values<float>(padded);
  REQUIRE(tail.size() == std::size_t(2 * rate + 50) * 2);
  CHECK(std::all_of(tail.end() - 100, tail.end(), [](float v) { return v == 0.0f; }));
  CHECK_THROWS_AS(io::load_audio(path, {.sample_rate = -1}), std::invalid_argument);
  // The audio of a file that also has video; a video-only file has no audio to give.
  const auto frames = moving_frames(10, 64, 48);
  const auto both = scratch_dir() / "both.mkv";
  {
    io::muxer out(both);
    const int v = out.add_video_stream({.width = 64, .height = 48, .frame_rate = 20, .codec = "ffv1"});
    const int a = out.add_audio_stream({.sample_rate = rate, .num_channels = 2, .codec = "flac"});
    out.open();
    io::buffer half({rate / 2, 2}, io::dtype::int16);
    std::memcpy(half.data(), to_s16(stereo()).data(), half.size_bytes());
    out.write_video(v, frames);
    out.write_audio(a, half, io::sample_format::s16);
    out.close();
  }
  io::demuxer d(both);
  CHECK(d.has_video());
  CHECK(d.has_audio());
  CHECK(shape(io::load_audio(both)) == std::vector<std::int64_t>{rate / 2, 2});
  CHECK(shape(io::load_video(both)) == std::vector<std::int64_t>{10, 48, 64, 3});
  CHECK_THROWS_AS(io::load_audio(make_video("silent.mkv", frames, {.frame_rate = 20, .codec = "ffv1"})),
                  io::io_error);
}

TEST_CASE("load_audio holds to max_bytes and sizes its output by what is decoded", "[audio][limits]") {
  // 4,000 samples with a gap of a million seconds in their timestamps (an 8.6 KB file): the
  // output is the 4,000 samples; nothing is reserved for the gap (it used to ask for 32 GB).
  const auto gap = ffmpeg_cli("-f lavfi -i sine=frequency=440:sample_rate=8000:duration=0.5 "
                              "-af asetpts='if(gte(N\\,2)\\,PTS+1000000/TB\\,PTS)' -c:a pcm_s16le", "gap.mkv");
  io::buffer samples = io::load_audio(gap);
  CHECK(shape(samples) == std::vector<std::int64_t>{4000, 1});

  // A 40 KB WAV at 1 Hz, resampled to 16 kHz: 640 million samples, 2.5 GB. Over the limit.
  io::buffer slow({20000, 1}, io::dtype::int16);
  std::memset(slow.data(), 0, slow.size_bytes());
  // A mono s16 WAV of `slow`'s samples at `rate` Hz.
  auto wav_at = [&](std::uint32_t rate, const std::string& name) {
    std::vector<std::byte> b;
    auto put = [&](const void* p, std::size_t n) {
      b.insert(b.end(), static_cast<const std::byte*>(p), static_cast<const std::byte*>(p) + n);
    };
    auto u32 = [&](std::uint32_t v) { put(&v, 4); };
    auto u16 = [&](std::uint16_t v) { put(&v, 2); };
    put("RIFF", 4); u32(36 + 40000); put("WAVE", 4);
    put("fmt ", 4); u32(16); u16(1); u16(1); u32(rate); u32(rate * 2); u16(2); u16(16);
    put("data", 4); u32(40000); put(slow.data(), 40000);
    write_bytes(scratch_dir() / name, b);
    return scratch_dir() / name;
  };
  const auto wav = wav_at(1, "1hz.wav");
  auto message = message_of<io::io_error>([&] { (void)io::load_audio(wav, {.sample_rate = 16000, .max_bytes = 64 << 20}); });
  CHECK(message.find(wav.string()) != std::string::npos);
  CHECK(message.find("audio_options::max_bytes") != std::string::npos);
  CHECK(shape(io::load_audio(wav, {.window = io::time_window{0, 10}, .sample_rate = 16000})) ==
        std::vector<std::int64_t>{160000, 1});
  CHECK_THROWS_AS(io::load_audio(gap, {.num_frames = 1 << 30, .max_bytes = 1 << 20}), io::io_error);

  // A file claiming 10^8 Hz, resampled to 16 kHz: FFmpeg's resampler would build a filter bank
  // of most of a gigabyte (found by fuzzing). Refused by its ratio.
  const auto absurd = wav_at(100'000'007, "fast.wav");
  CHECK(message_of<io::io_error>([&] { (void)io::load_audio(absurd, {.sample_rate = 16000}); })
            .find("a ratio over 64") != std::string::npos);
  CHECK(shape(io::load_audio(absurd)) == std::vector<std::int64_t>{20000, 1});  // as stored: no resampler
}

TEST_CASE("load_audio holds the packets it reads to max_bytes too", "[audio][limits]") {
  // 2 s of 48 kHz stereo float: 768,000 bytes of packets, mixed down to 192,000 bytes of mono
  // int16. A limit between the two: the output would fit, the packets do not (a tracker module
  // that libopenmpt renders demuxes a few kilobytes into hundreds of megabytes so).
  const auto path = make_audio("packets.wav", stereo(), {.sample_rate = rate, .codec = "pcm_f32le"});
  const io::audio_options mono{.num_channels = 1, .format = io::sample_format::s16};
  auto limited = mono;
  limited.max_bytes = 400'000;
  const auto message = message_of<io::io_error>([&] { (void)io::load_audio(path, limited); });
  CHECK(message.find(path.string()) != std::string::npos);
  CHECK(message.find("bytes of packets") != std::string::npos);
  auto roomy = mono;
  roomy.max_bytes = 1 << 20;
  CHECK(shape(io::load_audio(path, roomy)) == std::vector<std::int64_t>{2 * rate, 1});
  io::demuxer d(path);
  CHECK_THROWS_AS(d.demux_audio({}, 1000), io::io_error);
  CHECK(d.demux_audio({}, 768'000).size() > 0);  // exactly the packets' bytes: allowed
}

TEST_CASE("a RIFF chunk that claims more than its file holds is refused before FFmpeg allocates it",
          "[audio][limits]") {
  // A mono s16 WAV of 1,000 silent samples at 8 kHz, then a LIST/INFO chunk claiming `list`
  // bytes whose one tag claims `tag` bytes, then `data_claim` as the data chunk's size.
  auto wav = [](std::uint32_t list, std::uint32_t tag, std::uint32_t data_claim) {
    std::vector<std::byte> b;
    auto put = [&](const void* p, std::size_t n) {
      b.insert(b.end(), static_cast<const std::byte*>(p), static_cast<const std::byte*>(p) + n);
    };
    auto u32 = [&](std::uint32_t v) { put(&v, 4); };
    auto u16 = [&](std::uint16_t v) { put(&v, 2); };
    put("RIFF", 4); u32(0); put("WAVE", 4);
    put("fmt ", 4); u32(16); u16(1); u16(1); u32(8000); u32(16000); u16(2); u16(16);
    put("LIST", 4); u32(list); put("INFO", 4);
    put("ISFT", 4); u32(tag); put("spdl test\0", 10);
    put("data", 4); u32(data_claim);
    const std::vector<std::byte> silence(2000);
    put(silence.data(), silence.size());
    return b;
  };
  // The LIST claims 2.7 GB, its tag 1.8 GB: FFmpeg would allocate and zero the tag's size
  // (found by fuzzing: a 7 KB file, 1.8 GB resident). From memory and from a file.
  const auto hostile = wav(0xA000001Au, 1'777'469'244u, 2000);
  const auto message = message_of<io::io_error>([&] { (void)io::load_audio(std::span(hostile)); });
  CHECK(message.find("<memory>") != std::string::npos);
  CHECK(message.find("chunk 'LIST' at byte 36 claims 2684354586 bytes") != std::string::npos);
  write_bytes(scratch_dir() / "list-claims-2.7gb.wav", hostile);
  CHECK(message_of<io::io_error>([&] { (void)io::load_audio(scratch_dir() / "list-claims-2.7gb.wav"); })
            .find("corrupt RIFF file") != std::string::npos);
  // A LIST that fits but a tag that claims more than the LIST holds: refused as well.
  const auto tag_over = wav(4 + 8 + 10, 1'000'000, 2000);
  CHECK(message_of<io::io_error>([&] { (void)io::load_audio(std::span(tag_over)); })
            .find("chunk 'ISFT' at byte 48 claims 1000000 bytes") != std::string::npos);
  // Sound chunks pass, and so does sample data cut short or of unknown size (a streamed WAV):
  // FFmpeg reads what is there.
  for (std::uint32_t data_claim : {2000u, 1'000'000u, 0xFFFFFFFFu}) {
    const auto fine = wav(4 + 8 + 10, 10, data_claim);
    CHECK(shape(io::load_audio(std::span(fine))) == std::vector<std::int64_t>{1000, 1});
  }
}
