// The fuzzers' seeds: a handful of small valid inputs per target, made here rather than kept in
// the repository. Images and media through libjpeg-turbo and FFmpeg's encoders (spdl's muxer);
// WAV, NPY, NPZ and TAR written byte by byte as their formats specify.
//
//     spdl_fuzz_seeds DIR   ->   DIR/<target>/<seed>, each at most a few KB
//
// An encoder this FFmpeg lacks (libx264, libmp3lame, ...) is passed over with a note.

#include <spdl/io/buffer.hpp>
#include <spdl/io/ffmpeg_log.hpp>
#include <spdl/io/muxer.hpp>

#include <turbojpeg.h>
#include <zlib.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <initializer_list>
#include <iterator>
#include <stdexcept>
#include <string>
#include <vector>

namespace fs = std::filesystem;
namespace io = spdl::io;

namespace {

using bytes = std::vector<unsigned char>;

fs::path out_dir;

void write(const std::string& target, const std::string& name, const bytes& b) {
  fs::create_directories(out_dir / target);
  std::ofstream(out_dir / target / name, std::ios::binary)
      .write(reinterpret_cast<const char*>(b.data()), static_cast<std::streamsize>(b.size()));
}

bytes read(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// A file an encoder made (through a path: the muxer writes files), copied to each target.
void keep_encoded(const std::string& name, std::initializer_list<const char*> targets,
                  const std::function<void(const fs::path&)>& make) {
  const fs::path scratch = out_dir / ".scratch" / name;
  fs::create_directories(scratch.parent_path());
  try {
    make(scratch);
  } catch (const io::unsupported_error& e) {
    std::printf("  skipped %s: %s\n", name.c_str(), e.what());
    return;
  }
  const bytes b = read(scratch);
  for (const char* t : targets) write(t, name, b);
  fs::remove(scratch);
}

// ---- pixels and samples ---------------------------------------------------------------------

constexpr int width = 32, height = 24;

// {n, h, w, c} (n = 0: {h, w, c}): gradients that move from frame to frame.
io::buffer frames(int n, int c) {
  io::buffer b = n > 0 ? io::buffer({n, height, width, c}, io::dtype::uint8)
                       : io::buffer({height, width, c}, io::dtype::uint8);
  auto* p = reinterpret_cast<std::uint8_t*>(b.data());
  for (int i = 0; i < std::max(n, 1); ++i)
    for (int y = 0; y < height; ++y)
      for (int x = 0; x < width; ++x)
        for (int k = 0; k < c; ++k)
          *p++ = static_cast<std::uint8_t>(x * 8 * (k + 1) + y * 5 + i * 20 + (k == 3 ? 128 : 0));
  return b;
}

io::buffer picture(int c) { return frames(0, c); }

// {T, C} float32: a tone per channel, 0.1 s.
io::buffer tone(int rate, int channels) {
  const int n = rate / 10;
  io::buffer b({n, channels}, io::dtype::float32);
  auto* p = reinterpret_cast<float*>(b.data());
  for (int i = 0; i < n; ++i)
    for (int c = 0; c < channels; ++c) p[i * channels + c] = 0.5f * static_cast<float>((i * (c + 3)) % 40) / 40.0f;
  return b;
}

// ---- images -----------------------------------------------------------------------------------

constexpr std::initializer_list<const char*> image_targets = {
    "decode_image_automatic", "decode_image_stb", "decode_image_ffmpeg", "decode_image_turbojpeg"};

bytes jpeg(int pixel_format, int subsampling, int flags) {
  const int c = tjPixelSize[pixel_format];
  const auto px = picture(c);
  tjhandle tj = tjInitCompress();
  unsigned char* out = nullptr;
  unsigned long size = 0;
  const int rc = tjCompress2(tj, reinterpret_cast<const unsigned char*>(px.data()), width, 0, height,
                             pixel_format, &out, &size, subsampling, 75, flags);
  const bytes b(out, out + size);
  tjFree(out);
  tjDestroy(tj);
  if (rc != 0) throw std::runtime_error("tjCompress2 failed");
  return b;
}

void images() {
  const struct {
    const char* name;
    int pixel_format, subsampling, flags;
  } jpegs[] = {
      {"baseline-420.jpg", TJPF_RGB, TJSAMP_420, 0},
      {"baseline-422.jpg", TJPF_RGB, TJSAMP_422, 0},
      {"baseline-444.jpg", TJPF_RGB, TJSAMP_444, 0},
      {"progressive-420.jpg", TJPF_RGB, TJSAMP_420, TJFLAG_PROGRESSIVE},
      {"gray.jpg", TJPF_GRAY, TJSAMP_GRAY, 0},
      {"cmyk.jpg", TJPF_CMYK, TJSAMP_444, 0},
  };
  for (const auto& j : jpegs) {
    const bytes b = jpeg(j.pixel_format, j.subsampling, j.flags);
    for (const char* t : image_targets) write(t, j.name, b);
  }
  // The other formats to the backends that read them.
  const std::initializer_list<const char*> all_but_turbojpeg = {"decode_image_automatic", "decode_image_stb",
                                                                 "decode_image_ffmpeg"};
  const std::initializer_list<const char*> ffmpeg_only = {"decode_image_automatic", "decode_image_ffmpeg"};
  const struct {
    const char* name;
    int channels;
    io::pixel_format format;
    bool stb = true;
  } pictures[] = {
      {"rgb.png", 3, io::pixel_format::rgb24},  {"rgba.png", 4, io::pixel_format::rgba},
      {"gray.png", 1, io::pixel_format::gray8}, {"rgb.bmp", 3, io::pixel_format::rgb24},
      {"rgb.gif", 3, io::pixel_format::rgb24},  {"rgba.webp", 4, io::pixel_format::rgba, false},
      {"rgb.tiff", 3, io::pixel_format::rgb24, false},
  };
  for (const auto& p : pictures)
    keep_encoded(p.name, p.stb ? all_but_turbojpeg : ffmpeg_only, [&](const fs::path& path) { io::save_image(path, picture(p.channels), p.format); });
}

// ---- video and audio --------------------------------------------------------------------------

void video(const std::string& name, const std::string& codec, const std::string& pix_fmt = "",
           const std::string& audio_codec = "") {
  const std::initializer_list<const char*> video_only = {"load_video", "load_video_fps"};
  const std::initializer_list<const char*> with_audio = {"load_video", "load_video_fps", "load_audio"};
  keep_encoded(name, audio_codec.empty() ? video_only : with_audio, [&](const fs::path& path) {
    io::muxer out(path);
    const int v = out.add_video_stream(
        {.width = width, .height = height, .frame_rate = 10, .codec = codec, .pix_fmt = pix_fmt, .gop_size = 3});
    const int a = audio_codec.empty() ? -1 : out.add_audio_stream({.sample_rate = 8000, .num_channels = 1, .codec = audio_codec});
    out.open();
    out.write_video(v, frames(6, 3));
    if (a >= 0) out.write_audio(a, tone(8000, 1));
    out.close();
  });
}

void audio(const std::string& name, const std::string& codec, int rate, int channels) {
  keep_encoded(name, {"load_audio"}, [&](const fs::path& path) {
    io::muxer out(path);
    const int a = out.add_audio_stream({.sample_rate = rate, .num_channels = channels, .codec = codec});
    out.open();
    out.write_audio(a, tone(rate, channels));
    out.close();
  });
}

void media() {
  video("mpeg4.mp4", "mpeg4");
  video("h264.mkv", "libx264", "", "");
  video("mjpeg.avi", "mjpeg", "yuvj420p");
  video("vp9.webm", "libvpx-vp9");
  video("mpeg4-flac.mkv", "mpeg4", "", "flac");
  audio("s16.wav", "pcm_s16le", 8000, 1);
  audio("f32.wav", "pcm_f32le", 8000, 2);
  audio("mono.flac", "flac", 8000, 1);
  audio("stereo.mp3", "libmp3lame", 8000, 2);
  audio("mono.ogg", "libvorbis", 8000, 1);
  audio("stereo.m4a", "aac", 8000, 2);
}

// ---- byte by byte -----------------------------------------------------------------------------

void put(bytes& b, const std::string& s) { b.insert(b.end(), s.begin(), s.end()); }
void put_le(bytes& b, std::uint64_t v, int n) {
  for (int i = 0; i < n; ++i) b.push_back(static_cast<unsigned char>(v >> (8 * i)));
}

// A RIFF/WAVE file with `frames` samples per channel, as Python's wave module writes it (plus a
// LIST chunk of odd length before the data when asked, which readers must step over).
bytes wav(int format, int channels, int bits, int frames, bool list = false) {
  const bool extensible = format == 0xFFFE;
  bytes fmt;
  put_le(fmt, format, 2);
  put_le(fmt, channels, 2);
  put_le(fmt, 8000, 4);
  put_le(fmt, 8000 * channels * bits / 8, 4);
  put_le(fmt, channels * bits / 8, 2);
  put_le(fmt, bits, 2);
  if (extensible) {
    put_le(fmt, 22, 2);
    put_le(fmt, bits, 2);
    put_le(fmt, channels == 1 ? 4 : 3, 4);  // channel mask: FC, or FL|FR
    put_le(fmt, 1, 2);                      // the sub-format GUID: PCM
    const unsigned char guid[] = {0, 0, 0, 0, 0x10, 0, 0x80, 0, 0, 0xAA, 0, 0x38, 0x9B, 0x71};
    fmt.insert(fmt.end(), std::begin(guid), std::end(guid));
  }
  bytes data;
  for (int i = 0; i < frames * channels * bits / 8; ++i) data.push_back(static_cast<unsigned char>(i * 7));
  bytes b;
  put(b, "RIFF");
  put_le(b, 0, 4);  // patched below
  put(b, "WAVE");
  put(b, "fmt ");
  put_le(b, fmt.size(), 4);
  b.insert(b.end(), fmt.begin(), fmt.end());
  if (list) {
    put(b, "LIST");
    put_le(b, 5, 4);
    put(b, "INFOx");
    b.push_back(0);
  }
  put(b, "data");
  put_le(b, data.size(), 4);
  b.insert(b.end(), data.begin(), data.end());
  const auto riff = b.size() - 8;
  for (int i = 0; i < 4; ++i) b[4 + i] = static_cast<unsigned char>(riff >> (8 * i));
  return b;
}

void wavs() {
  write("load_wav", "u8-mono.wav", wav(1, 1, 8, 16));
  write("load_wav", "s16-stereo.wav", wav(1, 2, 16, 16, true));
  write("load_wav", "s24-mono.wav", wav(1, 1, 24, 16));
  write("load_wav", "s32-stereo.wav", wav(1, 2, 32, 8));
  write("load_wav", "f32-mono.wav", wav(3, 1, 32, 16));
  write("load_wav", "f64-stereo.wav", wav(3, 2, 64, 4));
  write("load_wav", "extensible-s16.wav", wav(0xFFFE, 2, 16, 8));
}

// A .npy file as numpy.save writes it: magic, version, the header dict padded with spaces to a
// multiple of 64 bytes and ended by '\n', then the data.
bytes npy(const std::string& descr, const std::string& shape, std::size_t data_bytes, bool fortran = false,
          int version = 1) {
  std::string dict = "{'descr': '" + descr + "', 'fortran_order': " + (fortran ? "True" : "False") +
                     ", 'shape': " + shape + ", }";
  const std::size_t prefix = version == 1 ? 10 : 12;
  while ((prefix + dict.size() + 1) % 64 != 0) dict += ' ';
  dict += '\n';
  bytes b;
  put(b, "\x93NUMPY");
  b.push_back(static_cast<unsigned char>(version));
  b.push_back(0);
  put_le(b, dict.size(), version == 1 ? 2 : 4);
  put(b, dict);
  for (std::size_t i = 0; i < data_bytes; ++i) b.push_back(static_cast<unsigned char>(i * 13 + 1));
  return b;
}

void npys() {
  write("load_npy", "f4-2x3.npy", npy("<f4", "(2, 3)", 24));
  write("load_npy", "i2-big-endian.npy", npy(">i2", "(5,)", 10));
  write("load_npy", "i4-fortran-3x2x2.npy", npy("<i4", "(3, 2, 2)", 48, true));
  write("load_npy", "bool.npy", npy("|b1", "(4,)", 4));
  write("load_npy", "u1-scalar.npy", npy("|u1", "()", 1));
  write("load_npy", "u2-empty.npy", npy("<u2", "(0, 3)", 0));
  write("load_npy", "i8-v2.npy", npy("<i8", "(2,)", 16, false, 2));
  write("load_npy", "f8-v3.npy", npy("<f8", "(1, 1)", 8, false, 3));
}

// A ZIP archive as numpy.savez writes it (stored or deflated members), optionally with ZIP64's
// end records.
struct member {
  std::string name;
  bytes data;
  bool deflate = false;
};

bytes deflated(const bytes& in) {
  z_stream z{};
  deflateInit2(&z, Z_BEST_COMPRESSION, Z_DEFLATED, -MAX_WBITS, 8, Z_DEFAULT_STRATEGY);
  bytes out(deflateBound(&z, static_cast<uLong>(in.size())));
  z.next_in = const_cast<Bytef*>(in.data());
  z.avail_in = static_cast<uInt>(in.size());
  z.next_out = out.data();
  z.avail_out = static_cast<uInt>(out.size());
  deflate(&z, Z_FINISH);
  out.resize(z.total_out);
  deflateEnd(&z);
  return out;
}

bytes zip(const std::vector<member>& members, bool zip64 = false) {
  bytes b, directory;
  for (const auto& m : members) {
    const bytes stored = m.deflate ? deflated(m.data) : m.data;
    const auto crc = crc32(0, m.data.data(), static_cast<uInt>(m.data.size()));
    const auto offset = b.size();
    auto common = [&](bytes& h) {  // from "version needed" to the name's length
      put_le(h, 20, 2);
      put_le(h, 0, 2);
      put_le(h, m.deflate ? 8 : 0, 2);
      put_le(h, 0, 4);  // DOS time and date
      put_le(h, crc, 4);
      put_le(h, stored.size(), 4);
      put_le(h, m.data.size(), 4);
      put_le(h, m.name.size(), 2);
      put_le(h, 0, 2);  // extra field
    };
    put_le(b, 0x04034b50, 4);
    common(b);
    put(b, m.name);
    b.insert(b.end(), stored.begin(), stored.end());
    put_le(directory, 0x02014b50, 4);
    put_le(directory, 20, 2);  // version made by
    common(directory);
    put_le(directory, 0, 2);  // comment
    put_le(directory, 0, 2);  // disk
    put_le(directory, 0, 2);  // internal attributes
    put_le(directory, 0, 4);  // external attributes
    put_le(directory, offset, 4);
    put(directory, m.name);
  }
  const auto dir_offset = b.size();
  b.insert(b.end(), directory.begin(), directory.end());
  if (zip64) {
    const auto record = b.size();
    put_le(b, 0x06064b50, 4);
    put_le(b, 44, 8);
    put_le(b, 45, 2);
    put_le(b, 45, 2);
    put_le(b, 0, 4);
    put_le(b, 0, 4);
    put_le(b, members.size(), 8);
    put_le(b, members.size(), 8);
    put_le(b, directory.size(), 8);
    put_le(b, dir_offset, 8);
    put_le(b, 0x07064b50, 4);  // the locator
    put_le(b, 0, 4);
    put_le(b, record, 8);
    put_le(b, 1, 4);
  }
  put_le(b, 0x06054b50, 4);
  put_le(b, 0, 4);  // disks
  put_le(b, zip64 ? 0xFFFF : members.size(), 2);
  put_le(b, zip64 ? 0xFFFF : members.size(), 2);
  put_le(b, zip64 ? 0xFFFFFFFF : directory.size(), 4);
  put_le(b, zip64 ? 0xFFFFFFFF : dir_offset, 4);
  put_le(b, 0, 2);  // comment
  return b;
}

void npzs() {
  const bytes x = npy("<f4", "(2, 3)", 24), y = npy(">i2", "(3, 2)", 12, true), z = npy("|u1", "(64,)", 64);
  write("load_npz", "stored.npz", zip({{"x.npy", x}, {"y.npy", y}}));
  write("load_npz", "deflated.npz", zip({{"x.npy", x, true}, {"y.npy", y, true}, {"z.npy", z, true}}));
  write("load_npz", "zip64.npz", zip({{"x.npy", x}, {"z.npy", z, true}}, true));
}

// A TAR header block (ustar), its checksum filled in.
bytes tar_header(const std::string& name, std::size_t size, char type, const std::string& prefix = "") {
  bytes h(512, 0);
  auto field = [&](std::size_t at, const std::string& s) { std::memcpy(h.data() + at, s.data(), s.size()); };
  auto octal = [&](std::size_t at, std::size_t width, std::uint64_t v) {
    char text[24];
    std::snprintf(text, sizeof text, "%0*llo", static_cast<int>(width - 1), static_cast<unsigned long long>(v));
    field(at, text);
  };
  field(0, name.substr(0, 100));
  octal(100, 8, 0644);
  octal(108, 8, 1000);
  octal(116, 8, 1000);
  octal(124, 12, size);
  octal(136, 12, 1700000000);
  h[156] = static_cast<unsigned char>(type);
  field(257, std::string("ustar\0" "00", 8));
  field(265, "user");
  field(297, "group");
  field(345, prefix);
  std::uint32_t sum = 0;
  for (std::size_t i = 0; i < 512; ++i) sum += (i >= 148 && i < 156) ? ' ' : h[i];
  octal(148, 7, sum);
  return h;
}

// One entry: its header, then its data padded to whole blocks.
void tar_entry(bytes& b, const std::string& name, const std::string& data, char type = '0',
               const std::string& prefix = "") {
  const bytes h = tar_header(name, data.size(), type, prefix);
  b.insert(b.end(), h.begin(), h.end());
  put(b, data);
  b.resize((b.size() + 511) / 512 * 512, 0);
}

// "<length> <key>=<value>\n", the length counting itself.
std::string pax_record(const std::string& key, const std::string& value) {
  const std::string body = " " + key + "=" + value + "\n";
  std::size_t length = body.size() + 1;
  while (std::to_string(length).size() + body.size() != length) ++length;
  return std::to_string(length) + body;
}

bytes tar_end(bytes b) {
  b.resize(b.size() + 1024, 0);
  return b;
}

void tars() {
  bytes plain;
  tar_entry(plain, "000001.txt", "a label\n");
  tar_entry(plain, "dir/", "", '5');
  tar_entry(plain, "000001.cls", "7");
  write("tar_reader", "ustar.tar", tar_end(plain));

  const std::string long_name = std::string(120, 'n') + ".json";
  bytes gnu;
  tar_entry(gnu, "././@LongLink", long_name + '\0', 'L');
  tar_entry(gnu, long_name.substr(0, 100), "{}");
  tar_entry(gnu, "name", "in/a/ustar/prefix", '0', "shard-000");
  write("tar_reader", "gnu-long-name.tar", tar_end(gnu));

  bytes pax;
  const std::string records = pax_record("path", "pax/a-path-from-pax.txt") + pax_record("size", "5");
  tar_entry(pax, "PaxHeaders/x", records, 'x');
  tar_entry(pax, "x", "hello");
  tar_entry(pax, "link", "", '2');
  write("tar_reader", "pax.tar", tar_end(pax));

  write("tar_reader", "no-end-marker.tar", plain);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s DIR   (writes DIR/<target>/<seed>)\n", argv[0]);
    return 2;
  }
  out_dir = argv[1];
  io::set_ffmpeg_log_level(io::ffmpeg_log_level::error);
  images();
  media();
  wavs();
  npys();
  npzs();
  tars();
  fs::remove_all(out_dir / ".scratch");
  std::size_t count = 0;
  for (const auto& e : fs::recursive_directory_iterator(out_dir)) count += e.is_regular_file();
  std::printf("%zu seeds in %s\n", count, out_dir.c_str());
  return 0;
}
