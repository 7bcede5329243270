#pragma once
// The fuzz targets: each feeds bytes to one spdl::io entry point through its in-memory overload.
// spdl::error (input spdl refuses, with a message) is the expected end for most bytes; anything
// else (std::bad_alloc, std::invalid_argument, a signal, a sanitizer report) escapes: a crash to
// libFuzzer (entry.cpp), a failure to the replay (replay.cpp).

#include <cstddef>
#include <span>
#include <string>
#include <string_view>

namespace spdl::fuzz {

/// One entry point under test. `run` returns why spdl refused the input (the first
/// spdl::error's message), "" when it loaded.
struct target {
  std::string_view name;
  std::string (*run)(std::span<const std::byte> data);
};

/// Every target, in a fixed order.
std::span<const target> targets();

/// The target called `name`, or nullptr.
const target* find_target(std::string_view name);

}  // namespace spdl::fuzz
