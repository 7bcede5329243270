// The smallest useful pipeline: a source, one stage on the worker pool, a sink, range-for.
#include <spdl/pipeline.hpp>

#include <cstdio>
#include <ranges>

int main() {
  auto square = [](int x) { return x * x; };  // a plain function: runs on the worker pool

  auto p = spdl::pipeline_builder()
               .add_source(std::views::iota(1, 11))
               .pipe(square, {.concurrency = 4, .order = spdl::output_order::input})
               .add_sink(4)
               .build();
  for (int x : p) std::printf("%d ", x);
  std::printf("\n");
}
