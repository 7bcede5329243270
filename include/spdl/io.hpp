#pragma once
/// \file
/// Media I/O: buffers (DLPack), image decoding. Needs libjpeg-turbo, stb and DLPack.

#include <spdl/io/buffer.hpp>
#include <spdl/io/error.hpp>
#include <spdl/io/image.hpp>
