// expect: a pipeline has exactly one source
#include <spdl/pipeline.hpp>
#include <ranges>

int main() {
  spdl::pipeline_builder().add_source(std::views::iota(0, 3)).add_source(std::views::iota(0, 3));
}
