#pragma once
/// \file
/// Everything spdl offers. For now that is the pipeline engine; media I/O joins here.

#include <spdl/pipeline.hpp>
