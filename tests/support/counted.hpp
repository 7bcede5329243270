#pragma once
// Lifetime- and copy-counting payloads: they prove what the engine keeps alive and copies.

#include <atomic>
#include <cstddef>

namespace spdl::test {

struct counts {
  std::atomic<long> live{0};    // instances that own a value (moved-from shells do not)
  std::atomic<long> copies{0};
};

/// Counts owning instances and copies into the `counts` it points to.
struct counted {
  counts* c;
  int value;
  bool owns = true;

  counted(counts& cs, int v) : c(&cs), value(v) { c->live.fetch_add(1); }
  counted(const counted& o) : c(o.c), value(o.value), owns(o.owns) {
    c->copies.fetch_add(1);
    if (owns) c->live.fetch_add(1);
  }
  counted(counted&& o) noexcept : c(o.c), value(o.value), owns(o.owns) { o.owns = false; }
  counted& operator=(const counted& o) {
    release();
    value = o.value;
    owns = o.owns;
    c->copies.fetch_add(1);
    if (owns) c->live.fetch_add(1);
    return *this;
  }
  counted& operator=(counted&& o) noexcept {
    release();
    value = o.value;
    owns = o.owns;
    o.owns = false;
    return *this;
  }
  ~counted() { release(); }

 private:
  void release() {
    if (owns) c->live.fetch_sub(1);
    owns = false;
  }
};

}  // namespace spdl::test
