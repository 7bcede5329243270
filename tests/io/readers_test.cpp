// The readers that need no FFmpeg: WAV and NPY, on files the test writes byte by byte as the
// formats specify (and as Python's wave module and numpy.save write them).

#include <spdl/io/npy.hpp>
#include <spdl/io/npz.hpp>
#include <spdl/io/tar.hpp>
#include <spdl/io/wav.hpp>

#include "../support/images.hpp"

#include <catch2/catch.hpp>

#include <zlib.h>

#include <array>
#include <cstdint>
#include <cstdio>
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
  // Bytes from the file reach the message escaped: no control character, quote or broken UTF-8.
  CHECK(message(npy("<f4", "(\x1b[2J\xff, 3)", raw(f))).find("bad shape '(\\x1b[2J\\xff, 3)'") !=
        std::string::npos);
  CHECK(message_of<io::unsupported_error>([&] { (void)io::load_npy(npy("<\x07\x07", "(1,)", bytes(2))); })
            .find("element type '<\\x07\\x07'") != std::string::npos);

  const auto missing = std::filesystem::temp_directory_path() / "spdl-no-such.npy";
  CHECK(message_of<io::io_error>([&] { (void)io::load_npy(missing); }).find(missing.string()) !=
        std::string::npos);
}

namespace {

struct zip_file {
  std::string name;
  bytes data;
  bool deflate = false;
  std::uint16_t method_override = 0xFFFF;
};

bytes deflate_raw(const bytes& in) {
  z_stream z{};
  REQUIRE(deflateInit2(&z, 6, Z_DEFLATED, -MAX_WBITS, 8, Z_DEFAULT_STRATEGY) == Z_OK);
  bytes out(deflateBound(&z, static_cast<uLong>(in.size())));
  z.next_in = reinterpret_cast<Bytef*>(const_cast<std::byte*>(in.data()));
  z.avail_in = static_cast<uInt>(in.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = static_cast<uInt>(out.size());
  REQUIRE(deflate(&z, Z_FINISH) == Z_STREAM_END);
  out.resize(z.total_out);
  deflateEnd(&z);
  return out;
}

void put64(bytes& b, std::uint64_t v) { put(b, &v, 8); }

// A ZIP archive as Python's zipfile writes numpy's .npz; `zip64` writes the 64-bit records
// (central directory extra fields, ZIP64 end record and locator) that archives over 4 GiB need.
bytes zip(const std::vector<zip_file>& files, bool zip64 = false) {
  bytes out, dir;
  for (const auto& f : files) {
    const bytes stored = f.deflate ? deflate_raw(f.data) : f.data;
    const auto crc = static_cast<std::uint32_t>(
        crc32(0, reinterpret_cast<const Bytef*>(f.data.data()), static_cast<uInt>(f.data.size())));
    const std::uint16_t method = f.method_override != 0xFFFF ? f.method_override : f.deflate ? 8 : 0;
    const auto offset = static_cast<std::uint32_t>(out.size());
    put32(out, 0x04034b50);
    put16(out, 20); put16(out, 0); put16(out, method); put16(out, 0); put16(out, 0x21);
    put32(out, crc); put32(out, static_cast<std::uint32_t>(stored.size()));
    put32(out, static_cast<std::uint32_t>(f.data.size()));
    put16(out, static_cast<std::uint16_t>(f.name.size())); put16(out, 4);
    put_str(out, f.name);
    put16(out, 0xcafe); put16(out, 0);  // an extra field readers must step over
    out.insert(out.end(), stored.begin(), stored.end());

    put32(dir, 0x02014b50);
    put16(dir, 45); put16(dir, 20); put16(dir, 0); put16(dir, method); put16(dir, 0); put16(dir, 0x21);
    put32(dir, crc);
    put32(dir, zip64 ? 0xFFFFFFFF : static_cast<std::uint32_t>(stored.size()));
    put32(dir, zip64 ? 0xFFFFFFFF : static_cast<std::uint32_t>(f.data.size()));
    put16(dir, static_cast<std::uint16_t>(f.name.size())); put16(dir, zip64 ? 28 : 0); put16(dir, 0);
    put16(dir, 0); put16(dir, 0); put32(dir, 0);
    put32(dir, zip64 ? 0xFFFFFFFF : offset);
    put_str(dir, f.name);
    if (zip64) {
      put16(dir, 0x0001); put16(dir, 24);
      put64(dir, f.data.size()); put64(dir, stored.size()); put64(dir, offset);
    }
  }
  const auto dir_offset = out.size();
  out.insert(out.end(), dir.begin(), dir.end());
  if (zip64) {
    const auto end64 = out.size();
    put32(out, 0x06064b50); put64(out, 44); put16(out, 45); put16(out, 45); put32(out, 0); put32(out, 0);
    put64(out, files.size()); put64(out, files.size()); put64(out, dir.size()); put64(out, dir_offset);
    put32(out, 0x07064b50); put32(out, 0); put64(out, end64); put32(out, 1);
  }
  put32(out, 0x06054b50); put16(out, 0); put16(out, 0);
  put16(out, zip64 ? 0xFFFF : static_cast<std::uint16_t>(files.size()));
  put16(out, zip64 ? 0xFFFF : static_cast<std::uint16_t>(files.size()));
  put32(out, zip64 ? 0xFFFFFFFF : static_cast<std::uint32_t>(dir.size()));
  put32(out, zip64 ? 0xFFFFFFFF : static_cast<std::uint32_t>(dir_offset));
  put16(out, 0);
  return out;
}

}  // namespace

TEST_CASE("NPZ: stored, deflated and ZIP64 archives give their arrays by name", "[io][npz]") {
  std::vector<float> x(600);
  for (std::size_t i = 0; i < x.size(); ++i) x[i] = static_cast<float>(i % 17) * 0.5f;
  const std::vector<std::int64_t> y{1, -2, 3, 1LL << 40};
  const std::vector<std::int16_t> z{1, 2, 3, 4, 5, 6};
  for (const bool compressed : {false, true})
    for (const bool zip64 : {false, true}) {
      DYNAMIC_SECTION((compressed ? "deflate" : "stored") << (zip64 ? ", ZIP64" : "")) {
        const auto archive = zip({{"x.npy", npy("<f4", "(20, 30)", raw(x)), compressed},
                                  {"y.npy", npy("<i8", "(4,)", raw(y)), compressed},
                                  {"sub/z.npy", npy("<i2", "(2, 3)", raw(z), true), compressed}},
                                 zip64);
        auto arrays = io::load_npz(archive);
        REQUIRE(arrays.size() == 3);
        CHECK(shape_of(arrays.at("x")) == std::vector<std::int64_t>{20, 30});
        CHECK(values<float>(arrays.at("x")) == x);
        CHECK(values<std::int64_t>(arrays.at("y")) == y);
        CHECK(values<std::int16_t>(arrays.at("sub/z")) == std::vector<std::int16_t>{1, 3, 5, 2, 4, 6});
        const auto path = write_temp("spdl-test.npz", archive);
        CHECK(values<float>(io::load_npz(path).at("x")) == x);
      }
    }
}

TEST_CASE("NPZ: bad input names the archive, the member and the reason", "[io][npz][errors]") {
  const std::vector<float> f(64, 2.f);
  const auto good = zip({{"a.npy", npy("<f4", "(64,)", raw(f))}});
  auto message = [](const bytes& b) { return message_of<io::io_error>([&] { (void)io::load_npz(b); }); };
  CHECK(message({}) == "load_npz: '<memory>': empty input (0 bytes)");
  CHECK(message(raw(f)).find("not a ZIP archive") != std::string::npos);
  auto cut = good;
  cut.erase(cut.begin() + 40, cut.begin() + 140);  // the directory now points past its members
  CHECK_THROWS_AS(io::load_npz(cut), io::io_error);
  auto flipped = good;
  flipped[34 + 4 + 5 + 128 + 8] ^= std::byte{1};  // a byte of the array's data
  CHECK(message(flipped).find("CRC-32 mismatch") != std::string::npos);
  const auto bad_member = zip({{"bad.npy", raw(f)}});
  CHECK(message(bad_member).find("<memory>: bad.npy") != std::string::npos);
  CHECK_THROWS_AS(io::load_npz(zip({{"a.npy", npy("<f4", "(64,)", raw(f)), false, 12}})), io::unsupported_error);
  auto broken = zip({{"a.npy", npy("<f4", "(64,)", raw(f)), true}});
  broken[34 + 4 + 5] ^= std::byte{0xff};  // the first byte of the deflate stream
  CHECK_THROWS_AS(io::load_npz(broken), io::io_error);
  const auto missing = std::filesystem::temp_directory_path() / "spdl-no-such.npz";
  CHECK(message_of<io::io_error>([&] { (void)io::load_npz(missing); }).find(missing.string()) != std::string::npos);
}

namespace {

// One 512-byte ustar header (checksum filled in) followed by `data` padded to 512 bytes.
void tar_add(bytes& out, const std::string& name, const bytes& data, char type = '0',
             const std::string& prefix = "") {
  std::array<char, 512> h{};
  std::memcpy(h.data(), name.data(), std::min<std::size_t>(name.size(), 100));
  std::snprintf(h.data() + 100, 8, "%07o", 0644);
  std::snprintf(h.data() + 124, 12, "%011llo", static_cast<unsigned long long>(data.size()));
  std::snprintf(h.data() + 136, 12, "%011o", 0);
  h[156] = type;
  std::memcpy(h.data() + 257, "ustar", 6);
  h[263] = '0';
  h[264] = '0';
  std::memcpy(h.data() + 345, prefix.data(), std::min<std::size_t>(prefix.size(), 155));
  std::memset(h.data() + 148, ' ', 8);
  unsigned sum = 0;
  for (char c : h) sum += static_cast<unsigned char>(c);
  std::snprintf(h.data() + 148, 8, "%06o", sum);
  put(out, h.data(), 512);
  out.insert(out.end(), data.begin(), data.end());
  out.resize((out.size() + 511) / 512 * 512);
}

bytes text(const std::string& s) { return bytes(reinterpret_cast<const std::byte*>(s.data()), reinterpret_cast<const std::byte*>(s.data()) + s.size()); }

std::string pax_record(const std::string& key, const std::string& value) {
  const std::string body = " " + key + "=" + value + "\n";
  std::size_t len = body.size() + 1;
  while (std::to_string(len).size() + body.size() != len) ++len;
  return std::to_string(len) + body;
}

}  // namespace

TEST_CASE("TAR: regular files in order, with ustar, GNU and PAX names", "[io][tar]") {
  const std::string long_name(180, 'n');
  bytes t;
  tar_add(t, "dir/", {}, '5');
  tar_add(t, "000001.jpg", text("jpeg bytes"));
  tar_add(t, "000001.cls", text("7"));
  tar_add(t, "file.txt", text("in a prefix"), '0', "some/deep/path");
  tar_add(t, "././@LongLink", text(long_name + "/gnu.bin"), 'L');
  tar_add(t, "gnu.bin", bytes(1000, std::byte{3}));
  tar_add(t, "PaxHeaders/x", text(pax_record("path", "pax/ünïcode name.json") + pax_record("mtime", "1.5")), 'x');
  tar_add(t, "short", text("{}"));
  tar_add(t, "link", {}, '2');
  tar_add(t, "empty", {});
  t.resize(t.size() + 1024);  // the end marker: two zero blocks

  io::tar_reader tar(t);
  const auto entries = tar.entries();
  REQUIRE(entries.size() == 6);
  CHECK(entries[0].name == "000001.jpg");
  CHECK(std::string(reinterpret_cast<const char*>(entries[0].data.data()), entries[0].data.size()) == "jpeg bytes");
  CHECK(entries[0].data.data() == t.data() + 2 * 512);  // a view: after the directory's header and its own
  CHECK(entries[1].name == "000001.cls");
  CHECK(entries[2].name == "some/deep/path/file.txt");
  CHECK(entries[3].name == long_name + "/gnu.bin");
  CHECK(entries[3].data.size() == 1000);
  CHECK(entries[4].name == "pax/ünïcode name.json");
  CHECK(entries[5].name == "empty");
  CHECK(entries[5].data.empty());
  CHECK_FALSE(tar.next());

  bytes unterminated;  // no end marker: the bytes simply end
  tar_add(unterminated, "a", text("1"));
  CHECK(io::tar_reader(unterminated).entries().size() == 1);
  CHECK(io::tar_reader(bytes{}).entries().empty());
}

TEST_CASE("TAR: bad input names the source and the reason", "[io][tar][errors]") {
  bytes t;
  tar_add(t, "a.bin", bytes(2000, std::byte{1}));
  auto message = [](const bytes& b) {
    return message_of<io::io_error>([&] { (void)io::tar_reader(b, "shard.tar").entries(); });
  };
  CHECK(message(bytes(t.begin(), t.begin() + 1500)).find("'shard.tar': truncated: 'a.bin' needs 2000 bytes") !=
        std::string::npos);
  CHECK(message(bytes(t.begin(), t.begin() + 300)).find("truncated: 300 bytes where a 512-byte header belongs") !=
        std::string::npos);
  bytes hostile;
  tar_add(hostile, "\x1b]0;x\x07'.bin", bytes(2000, std::byte{1}));
  CHECK(message(bytes(hostile.begin(), hostile.begin() + 1500))
            .find("truncated: '\\x1b]0;x\\x07\\x27.bin' needs 2000 bytes") != std::string::npos);
  auto corrupt = t;
  corrupt[10] = std::byte{'X'};
  CHECK(message(corrupt).find("corrupt header (checksum") != std::string::npos);
  auto bad_size = t;
  bad_size[124] = std::byte{'9'};
  CHECK_THROWS_AS(io::tar_reader(bad_size).entries(), io::io_error);
  bytes bad_pax;
  tar_add(bad_pax, "x", text("garbage without a length\n"), 'x');
  tar_add(bad_pax, "a", text("1"));
  CHECK(message(bad_pax).find("malformed PAX record") != std::string::npos);
}

TEST_CASE("NPZ: members cannot claim more than deflate makes or than max_bytes allows", "[io][npz][limits]") {
  const std::vector<float> f(600, 1.5f);
  const auto good = zip({{"a.npy", npy("<f4", "(600,)", raw(f)), true}});
  REQUIRE(values<float>(io::load_npz(good).at("a")) == f);
  // The directory's uncompressed size (at 24 in the central directory entry) raised to 3.75 GB:
  // refused from the sizes alone, before any allocation (it used to be zero-filled first).
  const auto dir = static_cast<std::size_t>(good.size() - 22 - (46 + 5));
  REQUIRE(good[dir] == std::byte{0x50});
  auto claim = good;
  for (int i = 0; i < 4; ++i) claim[dir + 24 + i] = std::byte(i == 3 ? 0xF0 : 0x00);
  auto message = message_of<io::io_error>([&] { (void)io::load_npz(claim); });
  CHECK(message.find("more than deflate can expand to") != std::string::npos);
  CHECK(message.find("<memory>: a.npy") != std::string::npos);
  // ZIP64: 2^40 bytes claimed (it used to end in std::bad_alloc).
  auto claim64 = zip({{"a.npy", npy("<f4", "(600,)", raw(f)), true}}, true);
  const std::size_t extra = claim64.size() - 22 - 20 - 56 - 28;  // the ZIP64 extra field
  REQUIRE(claim64[extra] == std::byte{0x01});
  for (int i = 0; i < 8; ++i) claim64[extra + 4 + i] = std::byte(i == 5 ? 0x01 : 0x00);
  CHECK(message_of<io::io_error>([&] { (void)io::load_npz(claim64); }).find("more than deflate") != std::string::npos);

  // A genuine array over the limit, stored or deflated; a limit it fits.
  for (const bool deflated : {false, true}) {
    const auto archive = zip({{"a.npy", npy("<f4", "(600,)", raw(f)), deflated}});
    message = message_of<io::io_error>([&] { (void)io::load_npz(archive, {.max_bytes = 2399}); });
    CHECK(message.find("2400 bytes, over the limit of 2399 (npz_options::max_bytes)") != std::string::npos);
    CHECK(io::load_npz(archive, {.max_bytes = 2400}).at("a").size_bytes() == 2400);
  }
  // Zeros deflate about 1000:1, near deflate's limit: still read, straight into the buffer.
  const std::vector<std::int64_t> zeros(1 << 17, 0);
  const auto dense = zip({{"z.npy", npy("<i8", "(131072,)", raw(zeros)), true}});
  CHECK(dense.size() < 4096);
  CHECK(values<std::int64_t>(io::load_npz(dense).at("z")) == zeros);
  // A big-endian Fortran-order array deflated: fixed in place / through its copy as before.
  const std::vector<std::int16_t> z{1, 2, 3, 4, 5, 6};
  const auto fortran = zip({{"f.npy", npy("<i2", "(2, 3)", raw(z), true), true}});
  CHECK(values<std::int16_t>(io::load_npz(fortran).at("f")) == std::vector<std::int16_t>{1, 3, 5, 2, 4, 6});
  // Trailing bytes inflated past the array are accepted (as before); a stream cut short is not.
  auto truncated = good;
  truncated[dir + 20] = std::byte{0x08};  // compressed size 8: the stream ends early
  CHECK_THROWS_AS(io::load_npz(truncated), io::io_error);
}
