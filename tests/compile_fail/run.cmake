# Compiles SOURCE, which must fail, with the message its first line names ("// expect: ...").
file(STRINGS "${SOURCE}" first LIMIT_COUNT 1)
string(REGEX REPLACE "^// expect: " "" expected "${first}")
# What the spdl::asio target adds for clang (Asio 1.22 does not detect its coroutines).
set(defines "")
if(CXX_ID STREQUAL "Clang")
  set(defines -DASIO_HAS_CO_AWAIT=1 -DASIO_HAS_STD_COROUTINE=1)
endif()
execute_process(
  COMMAND "${CXX}" -std=c++20 -fsyntax-only ${defines} "-I${INCLUDE_DIR}" "-I${ASIO_DIR}" "${SOURCE}"
  RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE out)
if(rc EQUAL 0)
  message(FATAL_ERROR "${SOURCE} compiled, but must not")
endif()
string(FIND "${out}" "${expected}" at)
if(at EQUAL -1)
  message(FATAL_ERROR "${SOURCE} failed without the expected message '${expected}':\n${out}")
endif()
message(STATUS "rejected as expected: ${expected}")
