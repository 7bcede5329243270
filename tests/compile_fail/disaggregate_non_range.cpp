// expect: disaggregate() needs items that are ranges
#include <spdl/pipeline.hpp>
#include <ranges>

int main() { spdl::pipeline_builder().add_source(std::views::iota(0, 3)).disaggregate(); }
