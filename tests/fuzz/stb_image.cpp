// stb_image's implementation, compiled into the fuzzers (tests/fuzz/CMakeLists.txt) so that the
// sanitizers and libFuzzer's coverage reach inside it. The same header as Debian's libstb.so
// (2.27); the definitions here take precedence over the library's in the fuzz programs.

#define STB_IMAGE_IMPLEMENTATION
#include <stb_image.h>
