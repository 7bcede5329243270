#pragma once
// The stage nodes, one header per kind. An item's way: source_node -> pipe_node /
// aggregate_node / disaggregate_node -> sink_node -> the consumer's sink_queue; stage_io.hpp has
// what they share, scheduler.hpp how their coroutines wait and resume, runtime.hpp what drives
// them.

#include <spdl/detail/aggregate_node.hpp>
#include <spdl/detail/disaggregate_node.hpp>
#include <spdl/detail/pipe_node.hpp>
#include <spdl/detail/sink_node.hpp>
#include <spdl/detail/source_node.hpp>
#include <spdl/detail/stage_io.hpp>
