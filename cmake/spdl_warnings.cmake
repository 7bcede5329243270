# Flags for spdl's own tests, examples and benchmarks (never imposed on consumers).
include_guard(GLOBAL)

add_library(spdl_dev_flags INTERFACE)
target_compile_options(spdl_dev_flags INTERFACE
  -Wall -Wextra -Wpedantic
  # GCC 12 warns about designated initialisers that leave defaulted members out, which is
  # exactly how spdl's option structs are meant to be used.
  -Wno-missing-field-initializers)

if(SPDL_SANITIZE)
  target_compile_options(spdl_dev_flags INTERFACE -fsanitize=${SPDL_SANITIZE}
                         -fno-omit-frame-pointer -fno-sanitize-recover=all)
  target_link_options(spdl_dev_flags INTERFACE -fsanitize=${SPDL_SANITIZE})
  if(SPDL_SANITIZE MATCHES "thread" AND CMAKE_CXX_COMPILER_ID STREQUAL "GNU")
    # g++ 12 warns that TSan cannot see Asio's std::atomic_thread_fence; the warning only.
    target_compile_options(spdl_dev_flags INTERFACE -Wno-tsan)
  endif()
endif()

find_program(SPDL_CCACHE ccache)
if(SPDL_CCACHE AND NOT CMAKE_CXX_COMPILER_LAUNCHER)
  set(CMAKE_CXX_COMPILER_LAUNCHER ${SPDL_CCACHE} CACHE STRING "" FORCE)
endif()
