# Compiles the C++ block that follows "<!-- readme-test: NAME -->" in README, so the README's
# code keeps compiling as written.
file(READ "${README}" text)
string(FIND "${text}" "<!-- readme-test: ${NAME} -->" at)
if(at EQUAL -1)
  message(FATAL_ERROR "README has no block marked '${NAME}'")
endif()
string(SUBSTRING "${text}" ${at} -1 text)
string(FIND "${text}" "```cpp\n" open)
string(FIND "${text}" "\n```\n" close)
if(open EQUAL -1 OR close EQUAL -1 OR close LESS open)
  message(FATAL_ERROR "README's block '${NAME}' is not a ```cpp block")
endif()
math(EXPR begin "${open} + 7")
math(EXPR length "${close} - ${begin} + 1")
string(SUBSTRING "${text}" ${begin} ${length} code)
file(WRITE "${WORK_DIR}/${NAME}.cpp" "${code}")
# What the spdl::asio target adds for clang (Asio 1.22 does not detect its coroutines).
set(defines "")
if(CXX_ID STREQUAL "Clang")
  set(defines -DASIO_HAS_CO_AWAIT=1 -DASIO_HAS_STD_COROUTINE=1)
endif()
execute_process(
  COMMAND "${CXX}" -std=c++20 -fsyntax-only -Wall -Wextra -Wno-missing-field-initializers
          ${defines} "-I${INCLUDE_DIR}" "-I${ASIO_DIR}" "${WORK_DIR}/${NAME}.cpp"
  RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE out)
if(NOT rc EQUAL 0 OR NOT out STREQUAL "")
  message(FATAL_ERROR "README's block '${NAME}' does not compile cleanly:\n${out}")
endif()
message(STATUS "README's block '${NAME}' compiles")
