#pragma once
/// \file
/// The pipeline engine: everything a program needs to build and run pipelines (Asio and
/// threads; no media libraries). Also makes `asio::awaitable` available for loop stages.

#include <spdl/async/channel.hpp>
#include <spdl/detail/asio.hpp>
#include <spdl/error.hpp>
#include <spdl/pipeline/builder.hpp>
#include <spdl/pipeline/failure_budget.hpp>
#include <spdl/pipeline/merge.hpp>
#include <spdl/pipeline/options.hpp>
#include <spdl/pipeline/pipeline.hpp>
#include <spdl/pipeline/stats.hpp>
