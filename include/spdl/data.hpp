#pragma once
/// \file
/// Data utilities on top of the engine (no media libraries): samplers (sharded, deterministic
/// from a seed and an epoch), the distributed environment, dataset folders on disk, interleaving
/// of sources, replaying cached items, and the dataloader with exact resume. Everything is in
/// spdl::data and also in spdl.

#include <spdl/data/cache.hpp>
#include <spdl/data/dataloader.hpp>
#include <spdl/data/distributed.hpp>
#include <spdl/data/files.hpp>
#include <spdl/data/interleave.hpp>
#include <spdl/data/loader_state.hpp>
#include <spdl/data/sampler.hpp>
