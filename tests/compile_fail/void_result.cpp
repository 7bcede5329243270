// expect: f must return the next item
#include <spdl/pipeline.hpp>
#include <ranges>

int main() {
  spdl::pipeline_builder().add_source(std::views::iota(0, 3)).pipe([](int) {}).add_sink(1);
}
