// spdl::channel on a plain io_context: FIFO, capacity, close and cancel semantics, epoch
// boundaries.

#include <spdl/async/channel.hpp>

#include <catch2/catch.hpp>

#include <algorithm>
#include <cstdint>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace {
template <class F>
void run(F make) {
  asio::io_context ctx{1};
  asio::co_spawn(ctx, make(), [](std::exception_ptr e) {
    if (e) std::rethrow_exception(e);
  });
  ctx.run();
}
}  // namespace

TEST_CASE("channel: FIFO with a bounded buffer and in-band end of stream", "[channel]") {
  asio::io_context ctx{1};
  spdl::channel<std::unique_ptr<int>> ch{2};
  std::vector<int> got;
  std::size_t most_buffered = 0;
  auto producer = [&]() -> asio::awaitable<void> {
    for (int i = 0; i < 10; ++i) {
      bool ok = co_await ch.async_send(std::make_unique<int>(i));
      CHECK(ok);
      most_buffered = std::max(most_buffered, ch.size());
    }
    ch.close();
  };
  auto consumer = [&]() -> asio::awaitable<void> {
    for (;;) {
      auto v = co_await ch.async_receive();
      if (!v) break;
      got.push_back(**v);
    }
  };
  asio::co_spawn(ctx, consumer(), asio::detached);
  asio::co_spawn(ctx, producer(), asio::detached);
  ctx.run();
  CHECK(got == std::vector<int>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9});
  CHECK(most_buffered <= 2);
  CHECK(ch.finished());
  CHECK(ch.counters().items == 10);
}

TEST_CASE("channel: try_send / try_receive never suspend", "[channel]") {
  spdl::channel<int> ch{2};
  int a = 1, b = 2, c = 3;
  CHECK(ch.try_send(a));
  CHECK(ch.try_send(b));
  CHECK(!ch.try_send(c));  // full
  CHECK(ch.try_receive() == 1);
  CHECK(ch.try_receive() == 2);
  CHECK(!ch.try_receive());
  ch.close();
  CHECK(!ch.try_send(c));
  CHECK(ch.finished());
}

TEST_CASE("channel: set_capacity while empty; in use, an error that loses nothing", "[channel]") {
  spdl::channel<int> ch{2};
  ch.set_capacity(3);
  CHECK(ch.capacity() == 3);
  int a = 1, b = 2, c = 3, d = 4;
  CHECK(ch.try_send(a));
  CHECK(ch.try_send(b));
  CHECK(ch.try_send(c));
  CHECK(!ch.try_send(d));  // full at 3
  CHECK_THROWS_AS(ch.set_capacity(8), std::logic_error);
  CHECK(ch.capacity() == 3);
  CHECK(ch.try_receive() == 1);  // nothing lost
  CHECK(ch.try_receive() == 2);
  CHECK(ch.try_receive() == 3);
  CHECK_THROWS_AS(ch.set_capacity(0), std::invalid_argument);
}

TEST_CASE("channel: close lets receivers drain; cancel drops and wakes everyone", "[channel]") {
  SECTION("close") {
    spdl::channel<int> ch{3};
    std::vector<int> got;
    run([&]() -> asio::awaitable<void> {
      co_await ch.async_send(1);
      co_await ch.async_send(2);
      ch.close();
      CHECK(!co_await ch.async_send(3));
      while (auto v = co_await ch.async_receive()) got.push_back(*v);
    });
    CHECK(got == std::vector<int>{1, 2});
  }
  SECTION("cancel wakes a blocked sender and a blocked receiver") {
    asio::io_context ctx{1};
    spdl::channel<int> full{1}, empty{1};
    bool sent = true, received_something = true;
    asio::co_spawn(
        ctx,
        [&]() -> asio::awaitable<void> {
          co_await full.async_send(1);
          sent = co_await full.async_send(2);  // blocks: full
        },
        asio::detached);
    asio::co_spawn(
        ctx,
        [&]() -> asio::awaitable<void> {
          auto v = co_await empty.async_receive();  // blocks: empty
          received_something = v.has_value();
        },
        asio::detached);
    asio::co_spawn(
        ctx,
        [&]() -> asio::awaitable<void> {
          full.cancel();
          empty.cancel();
          co_return;
        },
        asio::detached);
    ctx.run();
    CHECK(!sent);
    CHECK(!received_something);
    CHECK(full.size() == 0);
  }
}

TEST_CASE("channel: epoch boundaries are queued in-band and never passed by a receive",
          "[channel][epochs]") {
  SECTION("try_* calls: items stamped with their epoch, the boundary taken explicitly") {
    spdl::channel<int> ch{4};
    int a = 1, b = 2;
    CHECK(ch.try_send(a));
    CHECK(ch.try_send_boundary());
    CHECK(ch.try_send(b));
    std::uint64_t index = 99, epoch = 99;
    CHECK(ch.try_receive(&index, &epoch) == 1);
    CHECK(index == 0);
    CHECK(epoch == 0);
    CHECK(!ch.try_receive());  // the boundary is next: not passed
    CHECK(ch.boundary_next());
    CHECK(ch.try_take_boundary(&index, &epoch));
    CHECK(index == 1);   // boundaries have places in the output order too
    CHECK(epoch == 0);   // the epoch it ends
    CHECK(ch.epoch() == 1);
    CHECK(ch.try_receive(&index, &epoch) == 2);
    CHECK(index == 2);
    CHECK(epoch == 1);
    CHECK(ch.counters().items == 2);  // boundaries are not items
  }
  SECTION("a full channel: the boundary waits for room like an item") {
    asio::io_context ctx{1};
    spdl::channel<int> ch{1};
    std::vector<std::string> events;
    asio::co_spawn(
        ctx,
        [&]() -> asio::awaitable<void> {
          co_await ch.async_send(1);
          const bool sent = co_await ch.async_send_boundary();  // waits: full
          events.push_back(sent ? "boundary sent" : "boundary refused");
          co_await ch.async_send(2);
          ch.close();
        },
        asio::detached);
    asio::co_spawn(
        ctx,
        [&]() -> asio::awaitable<void> {
          for (;;) {
            std::optional<int> v = co_await ch.async_receive();
            if (v) {
              events.push_back("item " + std::to_string(*v));
            } else if (ch.try_take_boundary()) {
              events.push_back("boundary");
            } else if (ch.finished()) {
              break;
            }
          }
        },
        asio::detached);
    ctx.run();
    // The boundary sits between 1 and 2, whichever side runs first.
    CHECK(std::count(events.begin(), events.end(), "boundary sent") == 1);
    std::vector<std::string> order;
    for (auto& e : events)
      if (e != "boundary sent") order.push_back(e);
    CHECK(order == std::vector<std::string>{"item 1", "boundary", "item 2"});
  }
  SECTION("a receiver waiting on an empty channel is woken for a boundary, and items behind it "
          "reach receivers that waited") {
    asio::io_context ctx{1};
    spdl::channel<int> ch{4};
    int boundaries = 0;
    std::vector<int> items;
    auto receiver = [&]() -> asio::awaitable<void> {
      for (;;) {
        std::optional<int> v = co_await ch.async_receive();
        if (v) {
          items.push_back(*v);
        } else if (ch.try_take_boundary()) {
          ++boundaries;
        } else if (ch.finished()) {
          break;
        }
      }
    };
    asio::co_spawn(ctx, receiver(), asio::detached);
    asio::co_spawn(ctx, receiver(), asio::detached);
    asio::co_spawn(
        ctx,
        [&]() -> asio::awaitable<void> {
          co_await ch.async_send_boundary();
          co_await ch.async_send(7);
          co_await ch.async_send(8);
          ch.close();
        },
        asio::detached);
    ctx.run();
    CHECK(boundaries == 1);
    std::sort(items.begin(), items.end());
    CHECK(items == std::vector<int>{7, 8});
  }
}
