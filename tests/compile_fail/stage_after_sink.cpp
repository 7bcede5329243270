// expect: no stage can follow add_sink
#include <spdl/pipeline.hpp>
#include <ranges>

int main() {
  spdl::pipeline_builder().add_source(std::views::iota(0, 3)).add_sink(1).pipe([](int x) {
    return x;
  });
}
