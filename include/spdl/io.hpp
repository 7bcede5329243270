#pragma once
/// \file
/// Media I/O: buffers (DLPack), image decoding; video and audio on FFmpeg (demux, decode, filter,
/// convert, encode, mux); WAV, NPY and NPZ readers; TAR archives. Needs libjpeg-turbo, stb, FFmpeg and DLPack.

#include <spdl/io/audio.hpp>
#include <spdl/io/buffer.hpp>
#include <spdl/io/convert.hpp>
#include <spdl/io/decoder.hpp>
#include <spdl/io/demuxer.hpp>
#include <spdl/io/encoder.hpp>
#include <spdl/io/error.hpp>
#include <spdl/io/ffmpeg_log.hpp>
#include <spdl/io/filter_graph.hpp>
#include <spdl/io/frames.hpp>
#include <spdl/io/image.hpp>
#include <spdl/io/limits.hpp>
#include <spdl/io/muxer.hpp>
#include <spdl/io/npy.hpp>
#include <spdl/io/npz.hpp>
#include <spdl/io/packets.hpp>
#include <spdl/io/sample_decode.hpp>
#include <spdl/io/tar.hpp>
#include <spdl/io/video.hpp>
#include <spdl/io/wav.hpp>
