#pragma once
/// \file
/// The machinery of the single-pass ranges in spdl::data (interleaved, cached): an iterator
/// that is a handle on its range, which holds the iteration state; and the member holding that
/// state, which copies and moves do not carry. The end is a default-constructed iterator of
/// the same type, so the ranges are common ranges and also work with iterator-pair APIs
/// (`std::vector<T>(r.begin(), r.end())`).

#include <cstddef>
#include <iterator>
#include <memory>
#include <type_traits>

namespace spdl::data::detail {

/// `Range` provides `value_type`, `reference`, `reference current()`, `void advance()` and
/// `bool done() const`.
template <class Range>
class cursor_iterator {
 public:
  using iterator_concept = std::input_iterator_tag;
  using iterator_category = std::input_iterator_tag;
  using value_type = typename Range::value_type;
  using reference = typename Range::reference;
  using difference_type = std::ptrdiff_t;
  using pointer = std::conditional_t<std::is_lvalue_reference_v<reference>,
                                     std::add_pointer_t<reference>, void>;

  cursor_iterator() = default;
  explicit cursor_iterator(Range* range) noexcept : range_(range) {}

  reference operator*() const { return range_->current(); }
  pointer operator->() const
    requires std::is_lvalue_reference_v<reference>
  {
    return std::addressof(range_->current());
  }
  cursor_iterator& operator++() {
    range_->advance();
    return *this;
  }
  void operator++(int) { range_->advance(); }

  /// Two iterators are equal when both are at the end, or both are live on the same range.
  friend bool operator==(const cursor_iterator& a, const cursor_iterator& b) noexcept {
    const bool a_end = a.at_end(), b_end = b.at_end();
    return a_end || b_end ? a_end == b_end : a.range_ == b.range_;
  }

 private:
  [[nodiscard]] bool at_end() const noexcept { return range_ == nullptr || range_->done(); }

  Range* range_ = nullptr;
};

/// A member that a copy or a move of its owner does not carry over: the owner's iteration
/// state, whose iterators point into the original. Both copies start afresh (at begin()).
template <class T>
struct reset_on_copy {
  T value{};

  reset_on_copy() = default;
  reset_on_copy(const reset_on_copy&) {}
  reset_on_copy(reset_on_copy&& other) noexcept(std::is_nothrow_move_assignable_v<T>) {
    other.value = T{};
  }
  reset_on_copy& operator=(const reset_on_copy&) {
    value = T{};
    return *this;
  }
  reset_on_copy& operator=(reset_on_copy&& other) noexcept(std::is_nothrow_move_assignable_v<T>) {
    value = T{};
    other.value = T{};
    return *this;
  }
  ~reset_on_copy() = default;
};

}  // namespace spdl::data::detail
