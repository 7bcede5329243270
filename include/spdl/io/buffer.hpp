#pragma once
/// \file
/// spdl::io::buffer: contiguous, C-order, 64-byte aligned storage with a shape and a dtype,
/// shared by its copies and exported to DLPack without a copy.

#include <dlpack/dlpack.h>

#if defined(__SANITIZE_ADDRESS__)
#define SPDL_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SPDL_ASAN 1
#endif
#endif
#if defined(SPDL_ASAN)
#include <sanitizer/asan_interface.h>
#else
#define SPDL_ASAN 0
#endif

#if defined(__linux__)
#include <sys/mman.h>
#endif

#include <spdl/io/error.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <memory>
#include <mutex>
#include <new>
#include <span>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace spdl::io {

/// Element types of a buffer.
enum class dtype { uint8, uint16, int16, int32, int64, float32, float64 };

/// Bytes per element.
constexpr std::size_t dtype_size(dtype t) noexcept {
  switch (t) {
    case dtype::uint8: return 1;
    case dtype::uint16:
    case dtype::int16: return 2;
    case dtype::int32:
    case dtype::float32: return 4;
    case dtype::int64:
    case dtype::float64: return 8;
  }
  return 0;
}

/// Where buffer storage comes from. Replace it (before any buffer is made) to allocate, for
/// example, pinned memory for transfers to a GPU. Both functions must be thread-safe.
struct storage_allocator {
  void* (*allocate)(std::size_t bytes, std::size_t alignment);
  void (*deallocate)(void* p, std::size_t bytes, std::size_t alignment) noexcept;
};

/// The alignment of every buffer's storage.
inline constexpr std::size_t buffer_alignment = 64;

namespace detail {
// Storage of 4 MiB and more (a decoded clip, a batch) is aligned to 2 MiB and offered to the
// kernel for transparent huge pages: first touching 200 MB in 4 KiB pages costs ~50,000 page
// faults, which on a virtual machine took 600 ms where huge pages took 140 ms.
inline constexpr std::size_t huge_storage = std::size_t{4} << 20, huge_page = std::size_t{2} << 20;

inline std::size_t storage_alignment(std::size_t bytes, std::size_t alignment) noexcept {
  return bytes >= huge_storage ? std::max(alignment, huge_page) : alignment;
}

// Large blocks lately freed, kept for the next allocation of the same size. A loader makes batch
// after batch of one size, and a fresh block of 4 MiB or more comes from the kernel: its page
// faults and the kernel's zeroing cost again every time (the demo spent 5% of its CPU time in
// clear_page), where a kept block is still mapped. At most 8 blocks of up to 64 MiB and 128 MiB
// in all are kept, the oldest given back first; `release_cached_storage()` gives them all back.
// Under AddressSanitizer a kept block is poisoned, so a buffer used after it is freed is still
// reported.
class block_cache {
 public:
  static constexpr std::size_t max_blocks = 8;
  static constexpr std::size_t max_block = std::size_t{64} << 20;
  static constexpr std::size_t max_total = std::size_t{128} << 20;

  // Never destroyed: buffers may be freed during static destruction.
  static block_cache& instance() {
    static block_cache* cache = new block_cache;
    return *cache;
  }

  [[nodiscard]] static bool cacheable(std::size_t bytes) noexcept {
    return bytes >= huge_storage && bytes <= max_block;
  }

  /// A kept block of exactly `bytes`, or null.
  void* take(std::size_t bytes) noexcept {
    void* p = nullptr;
    {
      std::lock_guard lock(mutex_);
      for (std::size_t i = 0; i < count_ && !p; ++i)
        if (blocks_[i].bytes == bytes) p = erase(i).p;
    }
    if (p) unpoison(p, bytes);
    return p;
  }

  /// Keeps `p`, giving back the oldest blocks while over a limit.
  void keep(void* p, std::size_t bytes) noexcept {
    poison(p, bytes);
    block evicted[max_blocks + 1];
    std::size_t n = 0;
    {
      std::lock_guard lock(mutex_);
      blocks_[count_++] = {p, bytes};
      total_ += bytes;
      while (count_ > max_blocks || total_ > max_total) evicted[n++] = erase(0);
    }
    for (std::size_t i = 0; i < n; ++i) give_back(evicted[i]);
  }

  /// Gives every kept block back.
  void release() noexcept {
    block all[max_blocks + 1];
    std::size_t n = 0;
    {
      std::lock_guard lock(mutex_);
      while (count_ > 0) all[n++] = erase(0);
    }
    for (std::size_t i = 0; i < n; ++i) give_back(all[i]);
  }

 private:
  struct block {
    void* p = nullptr;
    std::size_t bytes = 0;
  };

  // Under mutex_: removes block i, keeping the others in age order.
  block erase(std::size_t i) noexcept {
    const block b = blocks_[i];
    total_ -= b.bytes;
    for (std::size_t j = i + 1; j < count_; ++j) blocks_[j - 1] = blocks_[j];
    --count_;
    return b;
  }

  static void give_back(const block& b) noexcept {
    unpoison(b.p, b.bytes);
    ::operator delete(b.p, std::align_val_t(huge_page));
  }

  static void poison([[maybe_unused]] void* p, [[maybe_unused]] std::size_t bytes) noexcept {
#if SPDL_ASAN
    __asan_poison_memory_region(p, bytes);
#endif
  }
  static void unpoison([[maybe_unused]] void* p, [[maybe_unused]] std::size_t bytes) noexcept {
#if SPDL_ASAN
    __asan_unpoison_memory_region(p, bytes);
#endif
  }

  std::mutex mutex_;
  block blocks_[max_blocks + 1];
  std::size_t count_ = 0;
  std::size_t total_ = 0;
};

inline void* default_allocate(std::size_t bytes, std::size_t alignment) {
  const std::size_t align = storage_alignment(bytes, alignment);
  if (align == huge_page && block_cache::cacheable(bytes))
    if (void* p = block_cache::instance().take(bytes)) return p;
  void* p = ::operator new(bytes == 0 ? 1 : bytes, std::align_val_t(align));
#if defined(__linux__) && defined(MADV_HUGEPAGE)
  if (align == huge_page) ::madvise(p, bytes, MADV_HUGEPAGE);  // advice only: failure is harmless
#endif
  return p;
}
inline void default_deallocate(void* p, std::size_t bytes, std::size_t alignment) noexcept {
  const std::size_t align = storage_alignment(bytes, alignment);
  if (align == huge_page && block_cache::cacheable(bytes)) {
    block_cache::instance().keep(p, bytes);
    return;
  }
  ::operator delete(p, std::align_val_t(align));
}
struct allocator_slot {
  std::mutex mutex;
  storage_allocator value{&default_allocate, &default_deallocate};
};
inline allocator_slot& current_allocator() {
  static allocator_slot slot;
  return slot;
}
inline storage_allocator get_allocator() {
  auto& slot = current_allocator();
  std::lock_guard lock(slot.mutex);
  return slot.value;
}

// One allocation, freed by the allocator that made it when the last owner lets go.
struct storage {
  storage_allocator alloc;
  std::size_t bytes;
  void* data;

  explicit storage(std::size_t n)
      : alloc(get_allocator()), bytes(n), data(alloc.allocate(n, buffer_alignment)) {}
  ~storage() { alloc.deallocate(data, bytes, buffer_alignment); }
  storage(const storage&) = delete;
  storage& operator=(const storage&) = delete;
};
}  // namespace detail

/// Gives the large blocks the default allocator keeps for reuse (up to 128 MiB of storage of
/// freed buffers of 4 to 64 MiB) back to the system.
inline void release_cached_storage() noexcept { detail::block_cache::instance().release(); }

/// Installs the allocator for buffers made from now on; returns the previous one.
inline storage_allocator set_storage_allocator(storage_allocator a) {
  auto& slot = detail::current_allocator();
  std::lock_guard lock(slot.mutex);
  return std::exchange(slot.value, a);
}

/// An n-dimensional array of one dtype: contiguous, C order (the last dimension varies fastest),
/// 64-byte aligned. Copies share the storage (like a tensor); `clone()` copies the bytes.
///
///     spdl::io::buffer img = spdl::io::load_image("cat.jpg");   // {H, W, 3} uint8
///     DLManagedTensor* t = img.to_dlpack();                      // torch::fromDLPack(t): no copy
class buffer {
 public:
  /// An empty buffer (no storage, shape {0}).
  buffer() : buffer({0}, io::dtype::uint8) {}

  /// Allocates storage for `shape` (not initialised).
  buffer(std::vector<std::int64_t> shape, io::dtype type) : shape_(std::move(shape)), dtype_(type) {
    std::size_t n = 1;
    for (auto d : shape_) {
      if (d < 0) throw std::invalid_argument("spdl::io::buffer: negative dimension");
      n *= static_cast<std::size_t>(d);
    }
    bytes_ = n * dtype_size(type);
    storage_ = std::make_shared<detail::storage>(bytes_);
  }
  buffer(std::initializer_list<std::int64_t> shape, io::dtype type)
      : buffer(std::vector<std::int64_t>(shape), type) {}

  [[nodiscard]] std::span<const std::int64_t> shape() const noexcept { return shape_; }
  [[nodiscard]] io::dtype dtype() const noexcept { return dtype_; }
  [[nodiscard]] std::byte* data() noexcept { return static_cast<std::byte*>(storage_->data); }
  [[nodiscard]] const std::byte* data() const noexcept {
    return static_cast<const std::byte*>(storage_->data);
  }
  [[nodiscard]] std::size_t size_bytes() const noexcept { return bytes_; }
  [[nodiscard]] std::size_t num_elements() const noexcept {
    return bytes_ / dtype_size(dtype_);
  }
  /// The bytes of one slice along the first dimension: `index`-th image of a batch.
  [[nodiscard]] std::span<std::byte> slice(std::size_t index) {
    if (shape_.empty() || index >= static_cast<std::size_t>(shape_[0]))
      throw std::out_of_range("spdl::io::buffer::slice: index " + std::to_string(index) +
                              " outside the first dimension");
    const std::size_t n = size_bytes() / static_cast<std::size_t>(shape_[0]);
    return {data() + index * n, n};
  }

  /// The first `n` entries along the first dimension, sharing this buffer's storage (like
  /// `tensor[:n]`): no copy is made, and the storage lives as long as either buffer.
  [[nodiscard]] buffer first(std::int64_t n) const {
    if (shape_.empty() || n < 0 || n > shape_[0])
      throw std::out_of_range("spdl::io::buffer::first: " + std::to_string(n) +
                              " outside the first dimension");
    buffer view(*this);
    view.bytes_ = shape_[0] == 0 ? 0 : bytes_ / static_cast<std::size_t>(shape_[0]) * static_cast<std::size_t>(n);
    view.shape_[0] = n;
    return view;
  }

  /// A deep copy.
  [[nodiscard]] buffer clone() const {
    buffer copy(shape_, dtype_);
    std::copy(data(), data() + size_bytes(), copy.data());
    return copy;
  }

  /// Exports to DLPack without a copy: the tensor keeps the storage alive until its deleter
  /// runs (exactly once, by whoever consumes it). Strides are null (compact, C order); the
  /// device is the CPU.
  [[nodiscard]] DLManagedTensor* to_dlpack() const {
    struct context {
      std::shared_ptr<detail::storage> keep;
      std::vector<std::int64_t> shape;
      DLManagedTensor tensor;
    };
    auto ctx = std::make_unique<context>(context{storage_, shape_, {}});
    DLManagedTensor& t = ctx->tensor;
    t.dl_tensor.data = storage_->data;
    t.dl_tensor.device = DLDevice{kDLCPU, 0};
    t.dl_tensor.ndim = static_cast<std::int32_t>(ctx->shape.size());
    t.dl_tensor.dtype = dl_type(dtype_);
    t.dl_tensor.shape = ctx->shape.data();
    t.dl_tensor.strides = nullptr;
    t.dl_tensor.byte_offset = 0;
    t.manager_ctx = ctx.get();
    t.deleter = [](DLManagedTensor* self) {
      delete static_cast<context*>(self->manager_ctx);  // NOLINT: DLPack's C ownership protocol
    };
    return &ctx.release()->tensor;
  }

 private:
  static DLDataType dl_type(io::dtype t) noexcept {
    const auto bits = static_cast<std::uint8_t>(dtype_size(t) * 8);
    switch (t) {
      case io::dtype::uint8:
      case io::dtype::uint16: return {kDLUInt, bits, 1};
      case io::dtype::int16:
      case io::dtype::int32:
      case io::dtype::int64: return {kDLInt, bits, 1};
      case io::dtype::float32:
      case io::dtype::float64: return {kDLFloat, bits, 1};
    }
    return {kDLUInt, bits, 1};
  }

  std::vector<std::int64_t> shape_;
  io::dtype dtype_;
  std::size_t bytes_ = 0;  // of the shape (the storage may hold more: see first())
  std::shared_ptr<detail::storage> storage_;
};

/// Stacks buffers of one shape and dtype into a new leading dimension: {N, ...}. Throws
/// std::invalid_argument on an empty list or mismatched shapes or dtypes.
inline buffer stack(std::span<const buffer> items) {
  if (items.empty()) throw std::invalid_argument("spdl::io::stack: no buffers to stack");
  const auto& first = items.front();
  std::vector<std::int64_t> shape{static_cast<std::int64_t>(items.size())};
  shape.insert(shape.end(), first.shape().begin(), first.shape().end());
  for (std::size_t i = 1; i < items.size(); ++i) {
    const auto& b = items[i];
    if (b.dtype() != first.dtype() ||
        !std::equal(b.shape().begin(), b.shape().end(), first.shape().begin(), first.shape().end()))
      throw std::invalid_argument("spdl::io::stack: buffer " + std::to_string(i) +
                                  " differs in shape or dtype from buffer 0");
  }
  buffer out(std::move(shape), first.dtype());
  for (std::size_t i = 0; i < items.size(); ++i)
    std::copy(items[i].data(), items[i].data() + items[i].size_bytes(), out.slice(i).data());
  return out;
}

}  // namespace spdl::io
