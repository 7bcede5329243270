// The readers that need no FFmpeg: WAV and NPY, on files the test writes byte by byte as the
// formats specify (and as Python's wave module and numpy.save write them).

#include <spdl/io/npy.hpp>
#include <spdl/io/wav.hpp>

#include "../support/images.hpp"

#include <catch2/catch.hpp>

#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

namespace io = spdl::io;
using namespace spdl::test;

namespace {

void put(bytes& b, const void* p, std::size_t n) {
  const auto* c = static_cast<const std::byte*>(p);
  b.insert(b.end(), c, c + n);
}
void put_str(bytes& b, const std::string& s) { put(b, s.data(), s.size()); }
void put16(bytes& b, std::uint16_t v) { put(b, &v, 2); }  // the test host is little-endian
void put32(bytes& b, std::uint32_t v) { put(b, &v, 4); }

// A RIFF/WAVE file: `format` 1 (PCM), 3 (float) or 0xFFFE (extensible, wrapping `sub`).
bytes wav(int format, int channels, int rate, int bits, const bytes& samples, int sub = 1,
          bool with_list = false) {
  bytes b;
  const bool extensible = format == 0xFFFE;
  const std::uint32_t fmt_len = extensible ? 40 : 16;
  put_str(b, "RIFF");
  put32(b, 0);  // patched below
  put_str(b, "WAVE");
  if (with_list) {  // a chunk readers must skip, with an odd length (padded)
    put_str(b, "LIST");
    put32(b, 5);
    put_str(b, "INFOx");
    b.push_back(std::byte{0});
  }
  put_str(b, "fmt ");
  put32(b, fmt_len);
  put16(b, static_cast<std::uint16_t>(format));
  put16(b, static_cast<std::uint16_t>(channels));
  put32(b, static_cast<std::uint32_t>(rate));
  put32(b, static_cast<std::uint32_t>(rate * channels * bits / 8));
  put16(b, static_cast<std::uint16_t>(channels * bits / 8));
  put16(b, static_cast<std::uint16_t>(bits));
  if (extensible) {
    put16(b, 22);
    put16(b, static_cast<std::uint16_t>(bits));
    put32(b, 0);
    put16(b, static_cast<std::uint16_t>(sub));
    put_str(b, std::string("\x00\x00\x00\x00\x10\x00\x80\x00\x00\xAA\x00\x38\x9B\x71", 14));
  }
  put_str(b, "data");
  put32(b, static_cast<std::uint32_t>(samples.size()));
  b.insert(b.end(), samples.begin(), samples.end());
  const auto riff = static_cast<std::uint32_t>(b.size() - 8);
  std::memcpy(b.data() + 4, &riff, 4);
  return b;
}

template <class T>
bytes raw(const std::vector<T>& v) {
  bytes b(v.size() * sizeof(T));
  std::memcpy(b.data(), v.data(), b.size());
  return b;
}

template <class T>
std::vector<T> values(const io::buffer& b) {
  std::vector<T> v(b.size_bytes() / sizeof(T));
  std::memcpy(v.data(), b.data(), b.size_bytes());
  return v;
}

std::vector<std::int64_t> shape_of(const io::buffer& b) { return {b.shape().begin(), b.shape().end()}; }

std::filesystem::path write_temp(const std::string& name, const bytes& b) {
  const auto path = std::filesystem::temp_directory_path() / name;
  std::ofstream out(path, std::ios::binary);
  out.write(reinterpret_cast<const char*>(b.data()), static_cast<std::streamsize>(b.size()));
  return path;
}

// A .npy file, as numpy.save writes it: header padded with spaces to a multiple of 64.
bytes npy(const std::string& descr, const std::string& shape, const bytes& data, bool fortran = false,
          int version = 1) {
  std::string dict = "{'descr': '" + descr + "', 'fortran_order': " + (fortran ? "True" : "False") +
                     ", 'shape': " + shape + ", }";
  const std::size_t prefix = version == 1 ? 10 : 12;
  while ((prefix + dict.size() + 1) % 64) dict += ' ';
  dict += '\n';
  bytes b;
  put_str(b, std::string("\x93NUMPY", 6));
  b.push_back(std::byte(version));
  b.push_back(std::byte{0});
  if (version == 1) put16(b, static_cast<std::uint16_t>(dict.size()));
  else put32(b, static_cast<std::uint32_t>(dict.size()));
  put_str(b, dict);
  b.insert(b.end(), data.begin(), data.end());
  return b;
}

}  // namespace

TEST_CASE("WAV: every sample format read as stored, {T, C}", "[io][wav]") {
  const std::vector<std::int16_t> s16{0, -1, 32767, -32768, 1000, -1000};  // 3 frames x 2
  auto h = io::parse_wav_header(wav(1, 2, 16000, 16, raw(s16)));
  CHECK(h.sample_rate == 16000);
  CHECK(h.num_channels == 2);
  CHECK(h.bits_per_sample == 16);
  CHECK_FALSE(h.is_float);
  CHECK(h.num_frames == 3);
  CHECK(h.dtype == io::dtype::int16);
  auto pcm = io::load_wav(wav(1, 2, 16000, 16, raw(s16), 1, true));
  CHECK(shape_of(pcm) == std::vector<std::int64_t>{3, 2});
  CHECK(values<std::int16_t>(pcm) == s16);

  const std::vector<float> f32{0.f, 0.5f, -1.f, 1.f};
  auto f = io::load_wav(wav(3, 1, 44100, 32, raw(f32)));
  CHECK(f.dtype() == io::dtype::float32);
  CHECK(shape_of(f) == std::vector<std::int64_t>{4, 1});
  CHECK(values<float>(f) == f32);

  const std::vector<double> f64{0.25, -0.125};
  CHECK(values<double>(io::load_wav(wav(3, 2, 8000, 64, raw(f64)))) == f64);

  const std::vector<std::int32_t> s32{1, -2, 2147483647};
  CHECK(values<std::int32_t>(io::load_wav(wav(0xFFFE, 3, 48000, 32, raw(s32), 1))) == s32);
  CHECK(values<float>(io::load_wav(wav(0xFFFE, 1, 48000, 32, raw(f32), 3))) == f32);

  const std::vector<std::uint8_t> u8{0, 128, 255};
  auto eight = io::load_wav(wav(1, 1, 8000, 8, raw(u8)));
  CHECK(eight.dtype() == io::dtype::uint8);
  CHECK(values<std::uint8_t>(eight) == u8);

  // 24-bit: widened to int32 with the sample in the top three bytes.
  bytes s24{std::byte{0x01}, std::byte{0x02}, std::byte{0x03}, std::byte{0xFF}, std::byte{0xFF},
            std::byte{0xFF}};
  auto wide = io::load_wav(wav(1, 1, 8000, 24, s24));
  CHECK(wide.dtype() == io::dtype::int32);
  CHECK(values<std::int32_t>(wide) == std::vector<std::int32_t>{0x03020100, -256});

  // From a file: the same samples (16-bit read straight into the buffer, 24-bit widened).
  for (const bytes& file : {wav(1, 2, 16000, 16, raw(s16), 1, true), wav(1, 1, 8000, 24, s24)}) {
    const auto path = write_temp("spdl-test.wav", file);
    const auto from_file = io::load_wav(path);
    const auto from_memory = io::load_wav(file);
    CHECK(shape_of(from_file) == shape_of(from_memory));
    CHECK(as_vector(from_file) == as_vector(from_memory));
    std::filesystem::remove(path);
  }
}

TEST_CASE("WAV: bad input names the source and the reason", "[io][wav][errors]") {
  const std::vector<std::int16_t> s16(100, 7);
  const auto good = wav(1, 2, 16000, 16, raw(s16));
  auto message = [](const bytes& b) { return message_of<io::io_error>([&] { (void)io::load_wav(b); }); };
  CHECK(message({}) == "load_wav: '<memory>': empty input");
  CHECK(message(bytes(good.begin(), good.begin() + 30)).find("truncated fmt chunk") != std::string::npos);
  CHECK(message(bytes(good.begin(), good.begin() + 44 + 50)).find("truncated: the data chunk claims 200 bytes, 50 are present") !=
        std::string::npos);
  CHECK(message(bytes(good.begin(), good.begin() + 36)).find("no data chunk") != std::string::npos);
  auto garbage = good;
  garbage[0] = std::byte{'X'};
  CHECK(message(garbage).find("not a RIFF/WAVE file") != std::string::npos);
  CHECK(message(wav(1, 0, 16000, 16, raw(s16))).find("no channels") != std::string::npos);
  CHECK_THROWS_AS(io::load_wav(wav(2, 1, 8000, 4, raw(s16))), io::unsupported_error);  // ADPCM
  CHECK_THROWS_AS(io::load_wav(wav(1, 1, 8000, 12, raw(s16))), io::unsupported_error);
  auto bad_align = good;
  bad_align[32] = std::byte{3};  // block align 3 for 2 x 16 bits
  CHECK(message(bad_align).find("block align 3") != std::string::npos);

  const auto missing = std::filesystem::temp_directory_path() / "spdl-no-such.wav";
  const auto m = message_of<io::io_error>([&] { (void)io::load_wav(missing); });
  CHECK(m.find(missing.string()) != std::string::npos);
  const auto path = write_temp("spdl-test-cut.wav", bytes(good.begin(), good.begin() + 100));
  CHECK(message_of<io::io_error>([&] { (void)io::load_wav(path); }).find("truncated") != std::string::npos);
  std::filesystem::remove(path);
}

TEST_CASE("NPY: arrays of every supported type, versions, orders and byte orders", "[io][npy]") {
  const std::vector<float> f{1.5f, -2.f, 3.25f, 0.f, 7.f, 8.f};
  auto a = io::load_npy(npy("<f4", "(2, 3)", raw(f)));
  CHECK(a.dtype() == io::dtype::float32);
  CHECK(shape_of(a) == std::vector<std::int64_t>{2, 3});
  CHECK(values<float>(a) == f);

  const std::vector<std::int64_t> i64{-1, 2, 3};
  auto b = io::load_npy(npy("<i8", "(3,)", raw(i64), false, 2));
  CHECK(shape_of(b) == std::vector<std::int64_t>{3});
  CHECK(values<std::int64_t>(b) == i64);

  CHECK(io::load_npy(npy("|u1", "(2, 2)", raw(std::vector<std::uint8_t>{1, 2, 3, 4}))).dtype() ==
        io::dtype::uint8);
  CHECK(io::load_npy(npy("|b1", "(2,)", raw(std::vector<std::uint8_t>{0, 1}))).dtype() == io::dtype::uint8);
  CHECK(io::load_npy(npy("<u2", "(1,)", raw(std::vector<std::uint16_t>{9}))).dtype() == io::dtype::uint16);
  CHECK(io::load_npy(npy("<i2", "(1,)", raw(std::vector<std::int16_t>{9}))).dtype() == io::dtype::int16);
  CHECK(io::load_npy(npy("<i4", "(1,)", raw(std::vector<std::int32_t>{9}))).dtype() == io::dtype::int32);
  CHECK(io::load_npy(npy("<f8", "(1,)", raw(std::vector<double>{9}))).dtype() == io::dtype::float64);

  // A scalar and an empty array.
  auto scalar = io::load_npy(npy("<f8", "()", raw(std::vector<double>{4.5})));
  CHECK(scalar.shape().empty());
  CHECK(values<double>(scalar) == std::vector<double>{4.5});
  CHECK(io::load_npy(npy("<f4", "(0, 5)", {})).size_bytes() == 0);

  // Fortran order: stored column by column, returned in C order.
  const std::vector<std::int32_t> column_major{1, 4, 2, 5, 3, 6};  // [[1, 2, 3], [4, 5, 6]]
  auto fo = io::load_npy(npy("<i4", "(2, 3)", raw(column_major), true));
  CHECK(shape_of(fo) == std::vector<std::int64_t>{2, 3});
  CHECK(values<std::int32_t>(fo) == std::vector<std::int32_t>{1, 2, 3, 4, 5, 6});
  // Three axes: element (i, j, k) stored at i + 2j + 4k.
  std::vector<std::int16_t> f3(2 * 2 * 3), c3(f3.size());
  for (int i = 0; i < 2; ++i)
    for (int j = 0; j < 2; ++j)
      for (int k = 0; k < 3; ++k) {
        const auto v = static_cast<std::int16_t>(100 * i + 10 * j + k);
        f3[std::size_t(i + 2 * j + 4 * k)] = v;
        c3[std::size_t(i * 6 + j * 3 + k)] = v;
      }
  CHECK(values<std::int16_t>(io::load_npy(npy("<i2", "(2, 2, 3)", raw(f3), true))) == c3);

  // Big-endian: swapped on the way in.
  bytes be{std::byte{0x00}, std::byte{0x00}, std::byte{0x01}, std::byte{0x02}};
  CHECK(values<std::int32_t>(io::load_npy(npy(">i4", "(1,)", be))) == std::vector<std::int32_t>{0x0102});

  // From a file: the same arrays.
  for (const bytes& file : {npy("<f4", "(2, 3)", raw(f)), npy("<i4", "(2, 3)", raw(column_major), true),
                            npy(">i4", "(1,)", be), npy("<i8", "(3,)", raw(i64), false, 3)}) {
    const auto path = write_temp("spdl-test.npy", file);
    const auto from_file = io::load_npy(path);
    const auto from_memory = io::load_npy(file);
    CHECK(shape_of(from_file) == shape_of(from_memory));
    CHECK(as_vector(from_file) == as_vector(from_memory));
    std::filesystem::remove(path);
  }
}

TEST_CASE("NPY: bad input names the source and the reason", "[io][npy][errors]") {
  const std::vector<float> f(6, 1.f);
  const auto good = npy("<f4", "(2, 3)", raw(f));
  auto message = [](const bytes& b) { return message_of<io::io_error>([&] { (void)io::load_npy(b); }); };
  CHECK(message({}) == "load_npy: '<memory>': empty input");
  CHECK(message(bytes(good.begin(), good.begin() + 20)).find("truncated header") != std::string::npos);
  CHECK(message(bytes(good.begin(), good.end() - 4)).find("truncated: the shape needs 24 bytes of data, 20 are present") !=
        std::string::npos);
  auto garbage = good;
  garbage[1] = std::byte{'X'};
  CHECK(message(garbage).find("bad magic") != std::string::npos);
  CHECK_THROWS_AS(io::load_npy(npy("<c8", "(1,)", bytes(8))), io::unsupported_error);
  CHECK_THROWS_AS(io::load_npy(npy("<f2", "(1,)", bytes(2))), io::unsupported_error);
  CHECK(message(npy("<f4", "(a, 3)", raw(f))).find("bad shape") != std::string::npos);
  CHECK(message(npy("<f4", "(99999999999, 99999999999)", raw(f))).find("absurd shape") != std::string::npos);

  const auto missing = std::filesystem::temp_directory_path() / "spdl-no-such.npy";
  CHECK(message_of<io::io_error>([&] { (void)io::load_npy(missing); }).find(missing.string()) !=
        std::string::npos);
}
