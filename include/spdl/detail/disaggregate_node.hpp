#pragma once
// disaggregate(): sends each element of a range item on as an item of its own.

#include <spdl/detail/runtime.hpp>
#include <spdl/detail/stage_io.hpp>

#include <iterator>
#include <optional>
#include <ranges>
#include <utility>

namespace spdl::detail {

template <class R>
class disaggregate_node final : public producer_node<std::ranges::range_value_t<R>> {
  using Out = std::ranges::range_value_t<R>;

 public:
  explicit disaggregate_node(channel<R>& in) : in_(in) { this->counters.name = "disaggregate"; }

  void spawn(runtime& rt) override { rt.spawn(run(rt)); }

 private:
  asio::awaitable<void> run(runtime& rt) {
    bool open = true;
    while (open) {
      std::optional<R> group;
      taken got = take_next(in_, group);
      if (got == taken::nothing_yet) got = co_await receive_next(in_, group);
      if (got == taken::end) break;
      if (got == taken::boundary) {
        open = co_await this->send_boundary();
        continue;
      }
      this->counters.record_instant();
      for (auto it = std::ranges::begin(*group); it != std::ranges::end(*group); ++it) {
        Out v = std::ranges::iter_move(it);
        bool must_wait;
        if (this->fast_send(this->out_, v, must_wait)) continue;
        open = must_wait;
        if (open) open = co_await this->out_.async_send(std::move(v));
        if (!open || rt.stopping()) break;
      }
    }
    this->out_.close();
  }

  channel<R>& in_;
};

}  // namespace spdl::detail
