// expect: f cannot be called with the item type of the previous stage
#include <spdl/pipeline.hpp>
#include <ranges>
#include <string>

int main() {
  auto p = spdl::pipeline_builder()
               .add_source(std::views::iota(0, 3))
               .pipe([](const std::string& s) { return s.size(); })
               .add_sink(1)
               .build();
}
