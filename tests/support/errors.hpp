#pragma once
// What a test asks of an exception: its message.

#include <catch2/catch.hpp>

#include <functional>
#include <string>

namespace spdl::test {

/// The message of the exception `f` throws, which must be an E.
template <class E>
std::string message_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const E& e) {
    return e.what();
  }
  FAIL("no exception of the expected type");
  return {};
}

}  // namespace spdl::test
