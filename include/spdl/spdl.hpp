#pragma once
/// \file
/// Everything spdl offers: the pipeline engine and media I/O.

#include <spdl/io.hpp>
#include <spdl/pipeline.hpp>
