#include <spdl/spdl.hpp>

#include <cstdio>
#include <ranges>

int main() {
  auto p = spdl::pipeline_builder()
               .add_source(std::views::iota(1, 11))
               .pipe([](int x) { return x * x; }, {.concurrency = 2})
               .add_sink(2)
               .build({.num_threads = 2});
  int sum = 0;
  for (int x : p) sum += x;
  std::printf("sum of squares 1..10 = %d\n", sum);
  spdl::io::buffer batch({2, 3}, spdl::io::dtype::uint8);  // media I/O links too
  DLManagedTensor* t = batch.to_dlpack();
  const bool shared = t->dl_tensor.data == batch.data();
  t->deleter(t);
  return sum == 385 && shared ? 0 : 1;
}
