// libFuzzer's entry point for the target named by SPDL_FUZZ_TARGET (a string, set per program by
// tests/fuzz/CMakeLists.txt). An exception other than spdl::error is not caught anywhere: it
// ends in std::terminate at the throw, whose abort libFuzzer reports as a crash, with the stack.

#include "targets.hpp"

#include <cstdint>
#include <cstdio>
#include <cstdlib>

#ifndef SPDL_FUZZ_TARGET
#error "compile with -DSPDL_FUZZ_TARGET=\"<target name>\""
#endif

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const spdl::fuzz::target* const target = [] {
    const auto* t = spdl::fuzz::find_target(SPDL_FUZZ_TARGET);
    if (!t) {
      std::fprintf(stderr, "no fuzz target named '%s' (tests/fuzz/targets.cpp)\n", SPDL_FUZZ_TARGET);
      std::abort();
    }
    return t;
  }();
  (void)target->run({reinterpret_cast<const std::byte*>(data), size});  // refused or loaded: both fine
  return 0;
}
