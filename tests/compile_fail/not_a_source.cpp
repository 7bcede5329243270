// expect: add_source needs a std::ranges::input_range
#include <spdl/pipeline.hpp>

int main() { spdl::pipeline_builder().add_source(42); }
