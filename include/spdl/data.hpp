#pragma once
/// \file
/// Data utilities that need only the standard library: samplers (sharded, deterministic from a
/// seed and an epoch), the distributed environment, dataset folders on disk, interleaving of
/// sources, and replaying cached items. Everything is in spdl::data and also in spdl.

#include <spdl/data/cache.hpp>
#include <spdl/data/distributed.hpp>
#include <spdl/data/files.hpp>
#include <spdl/data/interleave.hpp>
#include <spdl/data/sampler.hpp>
