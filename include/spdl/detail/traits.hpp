#pragma once
#include <spdl/detail/asio.hpp>

#include <optional>
#include <type_traits>

namespace spdl::detail {

template <class... T>
inline constexpr bool always_false = false;

template <class T>
struct optional_traits {
  static constexpr bool is_optional = false;
  using value_type = T;
};
template <class U>
struct optional_traits<std::optional<U>> {
  static constexpr bool is_optional = true;
  using value_type = U;
};

template <class T>
struct awaitable_traits {
  static constexpr bool is_awaitable = false;
  using value_type = T;
};
template <class U, class E>
struct awaitable_traits<asio::awaitable<U, E>> {
  static constexpr bool is_awaitable = true;
  using value_type = U;
};

// What a stage function returns, seen through asio::awaitable and std::optional:
//   U, std::optional<U>, asio::awaitable<U>, asio::awaitable<std::optional<U>>  ->  item type U.
template <class F, class In>
struct stage_result {
  using raw = std::invoke_result_t<F&, In&&>;
  static constexpr bool on_loop = awaitable_traits<raw>::is_awaitable;
  using produced = typename awaitable_traits<raw>::value_type;  // what a call yields
  static constexpr bool may_drop = optional_traits<produced>::is_optional;
  using type = typename optional_traits<produced>::value_type;  // the next stage's item type
};

}  // namespace spdl::detail
