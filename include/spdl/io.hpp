#pragma once
/// \file
/// Media I/O: buffers (DLPack), image decoding, WAV and NPY readers. Needs libjpeg-turbo, stb, FFmpeg and DLPack.

#include <spdl/io/buffer.hpp>
#include <spdl/io/error.hpp>
#include <spdl/io/ffmpeg_log.hpp>
#include <spdl/io/image.hpp>
#include <spdl/io/npy.hpp>
#include <spdl/io/wav.hpp>
