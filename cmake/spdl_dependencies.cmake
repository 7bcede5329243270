# What spdl's targets need, found the same way in the build tree and in spdlConfig.cmake.
include_guard(GLOBAL)
find_package(Threads REQUIRED)

# Standalone Asio (Debian's libasio-dev, 1.22) ships no CMake package: an imported-free interface
# target that carries its include directory and the switches spdl relies on.
if(NOT TARGET spdl_asio)
  find_path(SPDL_ASIO_INCLUDE_DIR asio.hpp REQUIRED)
  add_library(spdl_asio INTERFACE)
  add_library(spdl::asio ALIAS spdl_asio)
  set_target_properties(spdl_asio PROPERTIES EXPORT_NAME asio)
  target_include_directories(spdl_asio SYSTEM INTERFACE
    $<BUILD_INTERFACE:${SPDL_ASIO_INCLUDE_DIR}>)
  # Asio 1.22 does not see clang 14's coroutine support on its own.
  target_compile_definitions(spdl_asio INTERFACE
    "$<$<CXX_COMPILER_ID:Clang>:ASIO_HAS_CO_AWAIT=1>"
    "$<$<CXX_COMPILER_ID:Clang>:ASIO_HAS_STD_COROUTINE=1>")
endif()

# spdl::io: libjpeg-turbo, stb and FFmpeg through pkg-config (Debian: libturbojpeg0-dev,
# libstb-dev, libavcodec-dev, libavformat-dev, libavfilter-dev, libavutil-dev, libswscale-dev, zlib1g-dev), DLPack through its
# CMake package (libdlpack-dev).
if(SPDL_BUILD_IO)
  find_package(PkgConfig REQUIRED)
  pkg_check_modules(spdl_turbojpeg REQUIRED IMPORTED_TARGET GLOBAL libturbojpeg)
  pkg_check_modules(spdl_stb REQUIRED IMPORTED_TARGET GLOBAL stb)
  pkg_check_modules(spdl_ffmpeg REQUIRED IMPORTED_TARGET GLOBAL
                    libavcodec libavformat libavfilter libavutil libswscale)
  pkg_check_modules(spdl_zlib REQUIRED IMPORTED_TARGET GLOBAL zlib)
  find_package(dlpack REQUIRED)
endif()
