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

TEST_CASE("channel: a refilled sender makes its next value as receivers make room, and is "
          "resumed once it has none",
          "[channel]") {
  // A producer that keeps ahead of its receiver: async_send_refilled waits once; each receive
  // that makes room moves its value in and asks it for the next, on the receiver's turn.
  struct maker {
    int next = 0;
    int last = 9;
    int value = 0;
    int refills = 0;
    const spdl::channel<int>* ch = nullptr;
    std::size_t most_buffered = 0;  // what the channel held as each refill was asked for
    static int* refill(void* self) {
      auto& m = *static_cast<maker*>(self);
      ++m.refills;
      if (m.ch != nullptr) m.most_buffered = std::max(m.most_buffered, m.ch->size());
      if (m.next > m.last) return nullptr;
      m.value = m.next++;
      return &m.value;
    }
  };
  SECTION("every value arrives in order, within the capacity") {
    asio::io_context ctx{1};
    spdl::channel<int> ch{2};
    maker m;
    m.ch = &ch;
    std::vector<int> got;
    std::size_t most_buffered = 0;
    int sends = 0;
    // Named: a coroutine lambda's captures must outlive its coroutine.
    auto receiver = [&]() -> asio::awaitable<void> {
      while (auto v = co_await ch.async_receive()) {
        got.push_back(*v);
        most_buffered = std::max(most_buffered, ch.size());
      }
    };
    auto sender = [&]() -> asio::awaitable<void> {
      while (m.next <= m.last) {
        m.value = m.next++;
        ++sends;
        const bool sent = co_await ch.async_send_refilled(m.value, &maker::refill, &m);
        CHECK(sent);
      }
      ch.close();
    };
    asio::co_spawn(ctx, receiver(), asio::detached);
    asio::co_spawn(ctx, sender(), asio::detached);
    ctx.run();
    CHECK(got == std::vector<int>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9});
    CHECK(most_buffered <= 2);
    CHECK(m.most_buffered == 2);  // each refill finds the channel full again
    // 0 to the waiting receiver, 1 and 2 queued, 3 waits: 4..9 came from refills, and the
    // seventh refill had nothing.
    CHECK(sends == 4);
    CHECK(m.refills == 7);
    CHECK(ch.counters().items == 10);
  }
  SECTION("a refill with nothing at once: the sender resumes after one value") {
    asio::io_context ctx{1};
    spdl::channel<int> ch{1};
    maker m;
    m.last = 1;  // 0 is sent first, 1 waits; the refill after it has nothing
    std::vector<int> got;
    auto receiver = [&]() -> asio::awaitable<void> {
      while (auto v = co_await ch.async_receive()) got.push_back(*v);
    };
    auto sender = [&]() -> asio::awaitable<void> {
      int first = m.next++;
      CHECK(ch.try_send(first));
      m.value = m.next++;
      const bool sent = co_await ch.async_send_refilled(m.value, &maker::refill, &m);
      CHECK(sent);
      ch.close();
    };
    asio::co_spawn(ctx, sender(), asio::detached);
    asio::co_spawn(ctx, receiver(), asio::detached);
    ctx.run();
    CHECK(got == std::vector<int>{0, 1});
    CHECK(m.refills == 1);
  }
  SECTION("close or cancel wakes it with false, and its value is not sent") {
    const bool cancel = GENERATE(false, true);
    CAPTURE(cancel);
    asio::io_context ctx{1};
    spdl::channel<int> ch{1};
    maker m;
    bool sent = true;
    auto sender = [&]() -> asio::awaitable<void> {
      int first = 100;
      CHECK(ch.try_send(first));
      m.value = m.next++;
      sent = co_await ch.async_send_refilled(m.value, &maker::refill, &m);  // full: waits
    };
    auto ender = [&]() -> asio::awaitable<void> {
      if (cancel)
        ch.cancel();
      else
        ch.close();
      co_return;
    };
    asio::co_spawn(ctx, sender(), asio::detached);
    asio::co_spawn(ctx, ender(), asio::detached);
    ctx.run();
    CHECK(!sent);
    CHECK(m.refills == 0);
    if (cancel) {
      CHECK(ch.size() == 0);  // dropped
    } else {
      CHECK(ch.try_receive() == 100);  // what was queued stays readable
      CHECK(ch.finished());
    }
  }
}

TEST_CASE("channel: a waiter that takes items where they are sent; what it refuses is queued and "
          "wakes it",
          "[channel]") {
  struct taker {
    bool accept = true;
    std::vector<int> took;
    static bool take(void* self, int& v) {
      auto& t = *static_cast<taker*>(self);
      if (!t.accept) return false;
      t.took.push_back(v);
      return true;
    }
  };
  asio::io_context ctx{1};
  spdl::channel<int> ch{2};
  taker t;
  std::vector<int> looked;  // what the waiter found queued when it woke (-1: a boundary)
  int wakes = 0;
  auto waiter = [&]() -> asio::awaitable<void> {
    for (;;) {
      co_await ch.async_wait_taking(&taker::take, &t);
      ++wakes;
      for (;;) {
        if (auto v = ch.try_receive()) {
          looked.push_back(*v);
        } else if (ch.try_take_boundary()) {
          looked.push_back(-1);
        } else {
          break;
        }
      }
      if (ch.finished()) break;
    }
  };
  // co_await outside CHECK: GCC 12 evaluates a co_await in Catch's expression more than once.
  auto sender = [&]() -> asio::awaitable<void> {
    co_await asio::post(ctx, asio::use_awaitable);  // the waiter waits
    const bool sent1 = co_await ch.async_send(0);
    CHECK(sent1);
    const bool sent2 = co_await ch.async_send(1);
    CHECK(sent2);
    CHECK(ch.size() == 0);  // taken where they were sent
    t.accept = false;
    const bool sent3 = co_await ch.async_send(2);  // refused: queued, the waiter woken
    CHECK(sent3);
    const bool sent4 = co_await ch.async_send(3);  // behind it
    CHECK(sent4);
    CHECK(ch.size() == 2);
    co_await asio::post(ctx, asio::use_awaitable);  // the waiter takes 2 and 3, and waits again
    t.accept = true;
    const bool sent5 = co_await ch.async_send(4);
    CHECK(sent5);
    const bool sent6 = co_await ch.async_send_boundary();  // wakes it to look
    CHECK(sent6);
    const bool sent7 = co_await ch.async_send(5);  // behind the boundary: never taken past it
    CHECK(sent7);
    co_await asio::post(ctx, asio::use_awaitable);
    ch.close();
  };
  asio::co_spawn(ctx, waiter(), asio::detached);
  asio::co_spawn(ctx, sender(), asio::detached);
  ctx.run();
  CHECK(t.took == std::vector<int>{0, 1, 4});
  CHECK(looked == std::vector<int>{2, 3, -1, 5});
  CHECK(wakes == 3);
  CHECK(ch.counters().items == 6);
}
