#pragma once
// The scheduler: how the engine's coroutines are suspended and resumed, and which thread runs
// them. One place for the three ways back onto the loop:
//
// - the ready queue, for coroutines another coroutine of the same loop wakes (a channel's send,
//   an epoch wait, a turn): resumed together from one posted handler per round;
// - the inbox, for coroutines another thread wakes (a pool call done, a merge's reader, the
//   consumer making room in the sink): a lock-guarded list the loop drains in batches, spinning
//   on its count before it sleeps;
// - a plain post, for a coroutine of another loop.
//
// Where items flow, three waits need none of them per item: a cheap source waiting for room
// makes its next item where a receiver makes room (channel::async_send_refilled,
// source_node.hpp), an aggregate takes items into its batch where they are sent, and the sink's
// writer, on the loop thread, takes items where the last stage sends them
// (channel::async_wait_taking: aggregate_node.hpp, sink_node.hpp).
//
// "The loop" is a role: the right to run the pipeline's io_context, and so every coroutine of
// its nodes. One thread holds it at a time, so the nodes' state needs no locks. The loop thread
// holds it while it runs handlers and while it sleeps. Where no stage needs the loop thread
// itself (no awaitable stage: runtime.hpp), a pool thread that finishes a call
// while completions wait undrained (the loop thread is not running: on a busy machine it waits
// for a core) takes the role and drains them itself, with what they make ready: the item goes
// on without waiting for the loop thread to be scheduled. The loop thread, finding that pool
// threads do its work, steps aside for a while (`loop_inbox::step_aside`), and every pool
// completion then drives (when the role is free); so does every completion while the loop
// thread yields its core in a spin (`loop_inbox::yield_core`).
//
// Where pool threads may drive, the loop thread with nothing to do does not sleep holding the
// role (a completion would then have to wake it, once per item): it lets the role go and dozes
// (`loop_inbox::doze`), and every pool completion drives. What else needs the loop wakes it: a
// push from a thread that does not drive, a post through the inbox (stop, a statistics
// snapshot), the end of the pipeline; anything else (a timer: the periodic statistics) waits at
// most `doze_limit`.
// On a busy machine this matters beyond the wake-ups saved: a thread woken once a millisecond
// sits runnable behind other programs' threads most of the time, and the kernel, counting it
// as load, then tends to put the pool's threads on one core (the image pipeline with one core
// busy ran 1.2-1.5x slower than plain threads in about a third of the runs).
//
// A pool thread that holds the role may run a cheap call of a plain stage itself, in the middle
// of a handler (pipe_node.hpp says when). The role is then lent (`loop_inbox::role_lent`): the
// call is expected to end in nanoseconds, but should it wait (on another call of the pipeline,
// say), the loop thread takes the role over after `take_over_after` (a dozing one, once its
// doze ends), with the rest of the lender's round (the drains resume a list of their own, and
// re-read its length). The lender gets the role back when the loop thread lets it go.
//
// The sink's consumer, waiting for an item where pool threads may drive, does the same
// (`loop_inbox::help`): it takes the role if it is free and runs the loop's handlers, carrying
// cheap calls on, until an item is there. TBB's caller works on the pipeline it waits for in
// the same way. On a busy machine this is what keeps a pipeline of cheap stages going: the item
// is made on the thread that reads it, and no thread waits for a core to be woken on.
//
// A user's hook (on_failure, on_stats) was promised the loop thread, but needs nobody to keep
// the loop's work there: where another thread holds the role, the hook's call is queued for
// the loop thread (`loop_inbox::on_loop_thread`), drivers and helpers let the role go while
// one waits, and the loop thread, woken, makes it holding the role. The end of the stream
// waits for them (`after_loop_thread_calls`).
//
// `run_loop` is the loop thread's body. The worker pool (`worker_pool.hpp`) runs blocking calls
// and comes back through the inbox.

#include <spdl/detail/asio.hpp>
#include <spdl/detail/clock.hpp>
#include <spdl/detail/spin.hpp>
#include <spdl/detail/worker_pool.hpp>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <thread>
#include <utility>
#include <vector>

namespace spdl::detail {

/// Coroutines made ready on a loop, resumed together from one posted handler instead of one post
/// (and two allocations) each. The thread that holds a loop's role (its loop thread, or a pool
/// thread doing its work) installs the loop's queue with `scope`; elsewhere a resumption is a
/// plain post.
///
/// Only the coroutines of this queue's own loop go through it (see `owns`): a loop thread may
/// wake a coroutine of another loop (a stage of one pipeline reading another pipeline's sink),
/// and that one must go back to its own loop, which may well be waiting for it.
class ready_queue {
 public:
  explicit ready_queue(asio::io_context& ctx) : ctx_(ctx) {}

  /// The queue of the loop whose role the calling thread holds, if any.
  static ready_queue*& current() noexcept {
    static thread_local ready_queue* q = nullptr;
    return q;
  }

  struct scope {
    explicit scope(ready_queue& q) noexcept : previous(current()) { current() = &q; }
    ~scope() { current() = previous; }
    scope(const scope&) = delete;
    scope& operator=(const scope&) = delete;
    ready_queue* previous;
  };

  /// Whether `h` resumes a coroutine of this queue's loop. Per resumption, so kept cheap: a
  /// copy of the handler's executor (two words) and one query.
  [[nodiscard]] bool owns(const resume_handler& h) const {
    const auto ex = asio::get_associated_executor(h);
    return &asio::query(ex, asio::execution::context) ==
           static_cast<asio::execution_context*>(&ctx_);
  }

  /// Resumes `h` (a coroutine of this loop: see `owns`) in the next round.
  void push(resume_handler h) {
    ready_.push_back(std::move(h));
    if (!scheduled_) {
      scheduled_ = true;
      asio::post(ctx_, [this] { drain(); });
    }
  }

 private:
  // Resumes the coroutines ready now; those they make ready wait for the next round, so that
  // other handlers (pool completions, timers, stop requests) get their turn in between. The
  // next round is scheduled as soon as one is made ready, and the round's list is this call's
  // own: a resumed coroutine may lend the role to another thread (loop_inbox::role_lent), which
  // then drains the queue while this call is still under way.
  void drain() {
    if (!lendable_) {  // the plain form: nobody lends the role (loop_inbox::allow_drivers)
      running_.swap(ready_);
      for (auto& h : running_) h();
      running_.clear();
      if (ready_.empty())
        scheduled_ = false;
      else
        asio::post(ctx_, [this] { drain(); });
      return;
    }
    std::vector<resume_handler> running = std::move(running_);
    running.swap(ready_);
    scheduled_ = false;
    run_round(running);
    running.clear();
    running_ = std::move(running);
  }

 public:
  /// The drains' round: the handlers being resumed one after the other on the role's holder.
  struct round {
    std::vector<resume_handler>* list;
    std::size_t next;  // the one after the handler running now
  };

  /// Resumes every handler of `list` in turn (the drains: this queue's, the loop inbox's),
  /// re-reading its length: a thread that takes over a lent role hands the rest over to its own
  /// round (`take_over`).
  static void run_round(std::vector<resume_handler>& list) {
    round r{&list, 0};
    round* const outer = std::exchange(current_round(), &r);
    struct restore {
      round* outer;
      ~restore() { current_round() = outer; }
    } const guard{outer};
    while (r.next < list.size()) list[r.next++]();
  }

  /// Before the loop starts: whether a pool thread holding the role may lend it
  /// (loop_inbox::role_lent), and so another thread drain this queue while a drain is under way.
  void allow_lending(bool lendable) noexcept { lendable_ = lendable; }

  /// The round being resumed on the calling thread, if any.
  static round*& current_round() noexcept {
    static thread_local round* r = nullptr;
    return r;
  }

  /// The thread that takes over the role from a holder stuck in a call it lent the role for
  /// (loop_inbox::role_lent): the handlers of that holder's round after the one running are
  /// queued here instead, and a drain is posted for whatever waits. (One the holder posted
  /// itself may sit in its thread's private queue until its handler ends: Asio's concurrency
  /// hint 1.) A later, redundant drain finds nothing and does nothing.
  void take_over(round* stuck) {
    if (stuck != nullptr) {
      for (std::size_t i = stuck->next; i < stuck->list->size(); ++i)
        ready_.push_back(std::move((*stuck->list)[i]));
      while (stuck->list->size() > stuck->next) stuck->list->pop_back();  // moved from
    }
    scheduled_ = !ready_.empty();
    if (scheduled_) asio::post(ctx_, [this] { drain(); });
  }

 private:
  asio::io_context& ctx_;
  std::vector<resume_handler> ready_;
  // The round being resumed; where the role may be lent, a drained round's list, kept for its
  // capacity (each drain then resumes a list of its own).
  std::vector<resume_handler> running_;
  bool scheduled_ = false;
  bool lendable_ = false;
};

/// Schedules `h` to continue on its own executor, never inline: through the calling loop
/// thread's ready queue when it is one of that loop's coroutines, else with a post.
inline void resume_later(resume_handler h) {
  ready_queue* q = ready_queue::current();
  if (q != nullptr && q->owns(h))
    q->push(std::move(h));
  else
    asio::post(std::move(h));
}

/// A slot for one suspended coroutine. `suspend(slot)` parks the calling coroutine in it;
/// `resume(slot)` schedules it to continue on its own executor (never inline, so a waker never
/// runs the woken coroutine on its own stack, and never on the waker's loop when that is not
/// its own). Thread-safety is the owner's business.
struct parked {
  std::optional<resume_handler> handler;

  [[nodiscard]] bool waiting() const noexcept { return handler.has_value(); }

  void resume() {
    auto h = std::move(*handler);
    handler.reset();
    resume_later(std::move(h));
  }
};

struct park_initiation {
  parked* slot;
  void operator()(resume_handler h) const { slot->handler.emplace(std::move(h)); }
};

/// Suspends the calling coroutine and hands its resume_handler to `init` (called once the
/// coroutine is suspended, on the same thread). `init` must be movable and must arrange for the
/// handler to be posted exactly once.
template <class Init>
asio::awaitable<void> suspend_with(Init init) {
  return asio::async_initiate<const asio::use_awaitable_t<>&, void()>(std::move(init),
                                                                       asio::use_awaitable);
}

/// Suspends the calling coroutine until `slot.resume()`. The slot must outlive the wait.
inline asio::awaitable<void> suspend(parked& slot) { return suspend_with(park_initiation{&slot}); }

// ---- resumptions from other threads -----------------------------------------------------------

class loop_inbox {
 public:
  loop_inbox(asio::io_context& loop, ready_queue& ready) : loop_(loop), ready_(ready) {}
  loop_inbox(const loop_inbox&) = delete;
  loop_inbox& operator=(const loop_inbox&) = delete;

  /// Any thread: resume `h` on the loop (waking the loop thread, however it waits).
  ///
  /// Once `h` is in the list, the loop may resume its coroutine, the pipeline may finish and
  /// this inbox be destroyed: so the count goes up first, and the unlock is the last touch.
  void push(resume_handler h) { push(std::move(h), /*wake_dozer_too=*/true); }

  /// Any thread: run `f` on the loop, waking a dozing loop thread for it. Counted until it
  /// runs, so that neither a dozing loop thread nor a driver that lets the role go leaves it.
  template <class F>
  void post(F&& f) {
    posts_.fetch_add(1, std::memory_order_seq_cst);
    asio::post(loop_, [this, f = std::forward<F>(f)]() mutable {
      posts_.fetch_sub(1, std::memory_order_seq_cst);
      f();
    });
    wake();
  }

  /// The role's holder: runs `f` on the loop thread itself, holding the role, after any call
  /// queued so before it: a user's hook (build_options::on_failure, on_stats), which was
  /// promised the loop thread, where pool threads or the consumer may hold the role. Now where
  /// this is the loop thread (always, where nobody else drives) and none waits; else queued,
  /// and the loop thread woken for it.
  void on_loop_thread(std::function<void()> f) {
    if (calls_waiting() == 0 && loop_thread_here() && ready_queue::current() == &ready_) {
      f();
      return;
    }
    queue_call(std::move(f));
  }

  /// The role's holder: runs `f` now, or where calls wait for the loop thread
  /// (`on_loop_thread`), after them, on it: the end of the stream comes after every failure
  /// reported to the hook.
  void after_loop_thread_calls(std::function<void()> f) {
    if (calls_waiting() == 0) {
      f();
      return;
    }
    queue_call(std::move(f));
  }

  /// The loop thread, holding the role: runs what `on_loop_thread` queued, in order. Returns
  /// how many ran.
  std::size_t run_loop_thread_calls() {
    if (calls_waiting() == 0) return 0;
    std::vector<std::function<void()>> calls;
    {
      std::lock_guard lock(calls_mutex_);
      calls.swap(calls_);
    }
    making_calls_here() = true;
    for (auto& f : calls) {
      f();
      calls_waiting_.fetch_sub(1, std::memory_order_seq_cst);
    }
    making_calls_here() = false;
    return calls.size();
  }

  /// Whether the calling thread makes the calls `on_loop_thread` queued: the loop thread, holding
  /// the role, outside any handler (what a hook asks of the pipeline, its statistics, is
  /// answered here and now).
  static bool& making_calls_here() noexcept {
    static thread_local bool making = false;
    return making;
  }

  /// Calls queued for the loop thread (`on_loop_thread`), not yet run.
  [[nodiscard]] std::size_t calls_waiting() const noexcept {
    return calls_waiting_.load(std::memory_order_seq_cst);
  }

  /// Any thread: a dozing loop thread looks at the loop now.
  void wake() {
    if (dozing_.load(std::memory_order_seq_cst)) wake_dozer();
  }

  /// A pool thread: resume `h`, the coroutine whose call it just ran. As `push`; then, where
  /// pool threads may drive (`allow_drivers`), completions were already waiting when this one
  /// came (or the loop thread stands aside, dozes or yields its core in a spin), and the loop's
  /// role is free, this thread drains them and runs what they make ready, for a bounded while
  /// (or until the work runs out, while no job waits for a pool thread: `max_drives`). (A pool
  /// thread outlives the inbox's last push: the runtime joins the pool before it goes, so
  /// touching the inbox after the push is safe here.)
  void complete(resume_handler h) {
    const bool drive = drivers_allowed_ && calls_waiting() == 0 &&
                       (aside_.load(std::memory_order_relaxed) ||
                        pending_.load(std::memory_order_seq_cst) >= drive_after);
    push(std::move(h), !drive);
    if (!drive) return;
    bool left = false;  // the last turn ended at its handler limit: handlers may be waiting
    for (unsigned turn = 0; turn < max_drives || !worker_pool::jobs_waiting(); ++turn) {
      if (loop_.stopped()) break;
      if (!left && !work_waiting()) return;
      if (calls_waiting() > 0) break;  // the loop thread's turn (on_loop_thread): it is woken
      // With the role held elsewhere, its holder runs what waits: it looks at the counts after
      // it lets the role go (all seq_cst), and wakes the loop thread if it leaves anything.
      if (role_.load(std::memory_order_seq_cst) || !try_take_role()) return;
      if (turn == 0) worker_pool::step_out();  // the loop's work may block: a source's read
      drives_.fetch_add(1, std::memory_order_relaxed);
      role_guard held(*this);
      ready_queue::scope local(ready_);
      bool ran_out = false;
      run_handlers([] { return true; }, ran_out);
      left = !ran_out;
      if (ran_out) {
        // Out of work with the loop thread dozing: do what it does before it sleeps. The
        // fence pairs this look with the dozing thread's store of dozing_ and its flush: the
        // sink's puts before it are release stores (sink_queue.hpp), not seq_cst.
        std::atomic_thread_fence(std::memory_order_seq_cst);
        if (dozing_.load(std::memory_order_seq_cst) && before_doze_) before_doze_();
      }
    }
    // Turns used up with work left, or the loop stopped: a dozing loop thread takes the work,
    // or sees the end.
    if (left || work_waiting() || loop_.stopped()) wake();
  }

  /// A thread that waits for what the pipeline makes (the sink's consumer), where pool threads
  /// may drive: if the role is free, it runs the loop's handlers itself, as a driving pool
  /// thread does, until `waits(ctx)` says it no longer waits, `max_drive_handlers` have run or
  /// they run out; true if it ran any. TBB's caller works on the pipeline it waits for in the
  /// same way: an item made here is read here, without a hand-off between cores or a wake-up,
  /// and nobody waits for a core to be scheduled to make it. Not from a thread that holds a
  /// loop's role (the consumer is then a stage of another pipeline) or lends one. noexcept: a
  /// handler that throws ends the program here as it does on the loop thread or a pool thread,
  /// rather than leave the loop's work half drained behind a consumer that goes on.
  bool help(bool (*waits)(const void*), const void* ctx) noexcept {
    if (!drivers_allowed_ || ready_queue::current() != nullptr || lending_here()) return false;
    if (calls_waiting() > 0) return false;  // the loop thread's turn (on_loop_thread)
    // No look at loop_.stopped() first: it takes the lock of Asio's scheduler, which a
    // spinning loop thread and the role's holder take too. A stopped loop runs no handler, and
    // then none ran. (Below it is asked only when the handlers ran out with none waiting.)
    if (role_.load(std::memory_order_relaxed) || !try_take_role()) return false;
    bool ran_out = false;
    int ran = 0;
    {
      role_guard held(*this);
      ready_queue::scope local(ready_);
      const helping here(waits, ctx);
      ran = run_handlers([&] { return waits(ctx); }, ran_out);
    }
    if (ran > 0) drives_.fetch_add(1, std::memory_order_relaxed);
    // As a driving pool thread: what it stopped before, or what arrived while it held the
    // role, is left to a dozing loop thread.
    if (!ran_out || work_waiting() || loop_.stopped()) wake();
    return ran > 0;
  }

  /// Whether the calling thread runs the loop's handlers as a helper (`help`) that still waits
  /// for an item: it may then carry a cheap call on, as a driving pool thread does
  /// (pipe_node.hpp). Not once an item waits for it: should the call prove long, or wait for
  /// other calls of the pipeline, the items behind it would wait with it, and the calls
  /// that need them to move on too.
  static bool helper_waits() noexcept {
    const helping* h = helping::here();
    return h != nullptr && h->waits(h->ctx);
  }

  /// Before the loop starts: whether pool threads may take the loop's role (`complete`), and
  /// what the loop thread does as it starts to doze, and a pool thread that runs out of the
  /// loop's work while it dozes: hand the sink's items to a waiting consumer (thread-safe).
  void allow_drivers(bool allow, std::function<void()> before_doze = {}) {
    drivers_allowed_ = allow;
    ready_.allow_lending(allow);
    before_doze_ = std::move(before_doze);
  }
  [[nodiscard]] bool drivers_allowed() const noexcept { return drivers_allowed_; }

  /// Whether completions wait to be drained.
  [[nodiscard]] bool pending() const noexcept {
    return pending_.load(std::memory_order_acquire) > 0;
  }

  /// Any thread: make sure a drain runs on the loop soon (one outstanding at a time).
  void schedule() {
    if (!scheduled_.exchange(true, std::memory_order_acq_rel))
      asio::post(loop_, [this] { drain(); });
  }

  // ---- the loop's role ----------------------------------------------------------------------

  [[nodiscard]] bool try_take_role() noexcept {
    return !role_.load(std::memory_order_relaxed) &&
           !role_.exchange(true, std::memory_order_acquire);
  }
  void release_role() noexcept { role_.store(false, std::memory_order_seq_cst); }
  [[nodiscard]] bool role_taken() const noexcept { return role_.load(std::memory_order_relaxed); }

  /// A pool thread holding the role, around a call it runs itself (pipe_node carries a cheap
  /// call on). The call is expected to be over in nanoseconds, and the role stays with this
  /// thread; but it is lent: should the call prove long (or wait for another call of the
  /// pipeline), the loop thread takes the role over (`take_lent_role`) with the rest of this
  /// thread's round, and the pipeline goes on meanwhile. At the end of the scope the role comes
  /// back: at once if nobody took it over, else once its new holder lets it go (no holder waits
  /// for this thread: the coroutine that runs the call is neither suspended nor queued).
  ///
  /// `taken_over`, where given, is set when the role was taken over (the call proved long).
  struct role_lent {
    loop_inbox& inbox;
    bool* taken_over;
    std::uint64_t lent;
    explicit role_lent(loop_inbox& i, bool* taken = nullptr) noexcept
        : inbox(i), taken_over(taken) {
      inbox.lent_round_ = ready_queue::current_round();
      lent = inbox.lent_.fetch_add(1, std::memory_order_acq_rel) + 1;  // odd: lent
      lending_here() = true;
    }
    ~role_lent() {
      lending_here() = false;
      std::uint64_t expected = lent;
      if (inbox.lent_.compare_exchange_strong(expected, lent + 1, std::memory_order_acq_rel))
        return;  // never taken over
      if (taken_over != nullptr) *taken_over = true;
      // Taken over: its holder may keep it a while (a source that blocks). Spin briefly, then
      // look every `take_over_after` without holding a core.
      while (!spin_until([this] { return inbox.try_take_role(); }, take_over_after))
        std::this_thread::sleep_for(take_over_after);
    }
    role_lent(const role_lent&) = delete;
    role_lent& operator=(const role_lent&) = delete;
  };

  /// Whether the calling thread is a pipeline's loop thread (set by the runtime as it starts
  /// one). The loop thread never lends its role nor carries a call: a handler it runs ends
  /// without waiting on another thread (unless a source or an awaitable stage blocks it).
  static bool& loop_thread_here() noexcept {
    static thread_local bool here = false;
    return here;
  }

  /// Whether the calling thread runs a call with the role lent (`role_lent`): it is inside the
  /// loop's io_context, but must not touch the loop's state, which another thread may hold.
  static bool& lending_here() noexcept {
    static thread_local bool lending = false;
    return lending;
  }

  /// What the loop thread saw of a lent role when it last looked.
  struct lent_watch {
    std::uint64_t lent = 0;
    clock::time_point since{};
  };

  /// The loop thread, not holding the role: takes it over (true) from a pool thread that has
  /// lent it for one call (`role_lent`) for `take_over_after` or more, and queues the rest of
  /// that thread's round for itself. It then holds the role as if it had taken it. A lent role
  /// is seen first and taken over at a later look, `take_over_after` on: a call that proves
  /// long while the loop thread dozes holds the loop's work until that doze ends (`doze_limit`
  /// at most), and then `take_over_after` more (`doze`).
  bool take_lent_role(lent_watch& w) {
    std::uint64_t lent = lent_.load(std::memory_order_acquire);
    if (lent % 2 == 0) return false;
    const auto now = clock::now();
    if (lent != w.lent) {
      w = {lent, now};
      return false;
    }
    if (now - w.since < take_over_after) return false;
    if (!lent_.compare_exchange_strong(lent, lent + 1, std::memory_order_acq_rel)) return false;
    ready_.take_over(lent_round_);
    return true;
  }

  /// Where the loop thread and the sink's consumer run while each may be waited for by the
  /// other (core_mark): a spin of one on the other's core yields at once.
  [[nodiscard]] core_mark& loop_core() noexcept { return loop_core_; }
  [[nodiscard]] core_mark& consumer_core() noexcept { return consumer_core_; }

  /// How many times a pool thread has taken the role (the loop thread compares two readings).
  [[nodiscard]] std::size_t drives() const noexcept {
    return drives_.load(std::memory_order_relaxed);
  }

  /// The loop thread, not holding the role, when pool threads have been doing its work: keeps
  /// out of their way (off the core they need) for a while. Meanwhile every pool completion
  /// drives; anything else posted (a timer, a merge reader's item, stop) runs when a pool thread
  /// next takes the role, or when the loop thread comes back.
  void step_aside() {
    aside_.store(true, std::memory_order_relaxed);
    if (!drivers_allowed_) loop_core_.clear();  // the marks are looked at only then
    std::this_thread::sleep_for(aside);
    if (!drivers_allowed_) loop_core_.set();
    aside_.store(false, std::memory_order_relaxed);
  }

  /// The loop thread, spinning without the role, gives its core up for a moment. Where pool
  /// threads may drive, it stands aside meanwhile, as when it dozes: on a busy machine the
  /// yield can last another program's time slice (milliseconds), and completions that wait for
  /// a loop thread that counts as awake wait that long. (They did: with one core busy, epochs
  /// of 1,000 items through a pool stage and a batch took 4-6 ms each, against 0.3-0.8 ms with
  /// completions driving meanwhile; 300,000 items in one epoch, 0.4-2.2 s against 0.06-0.15.)
  void yield_core() {
    if (drivers_allowed_) aside_.store(true, std::memory_order_relaxed);
    std::this_thread::yield();
    if (drivers_allowed_) aside_.store(false, std::memory_order_relaxed);
  }

  /// The loop thread, not holding the role, with nothing to do, where pool threads may drive:
  /// sleeps until something needs it (a push or post from a thread that does not drive, the
  /// pipeline's end) or `doze_limit` passes. Meanwhile every pool completion drives.
  ///
  /// `seen`: what the loop thread last saw of a lent role (`take_lent_role`). A role still lent
  /// for the same call is taken over at the next look, so the doze then lasts only
  /// `take_over_after`.
  void doze(const lent_watch& seen) {
    aside_.store(true, std::memory_order_relaxed);
    dozing_.store(true, std::memory_order_seq_cst);
    // A driver that filled the sink before it saw this thread dozing left the flush to it
    // (this store and the driver's fence before its look at dozing_ are seq_cst). Outside
    // doze_mutex_: the consumer's push takes it under the sink's.
    if (before_doze_) before_doze_();
    std::unique_lock guard(doze_mutex_);
    // Work waiting with the role free is this thread's to run now; with the role held, its
    // holder runs it (or wakes this thread when it leaves some: complete). A stopped loop: the
    // end, which this thread must see.
    // Calls queued for this thread (on_loop_thread) are work too: a holder that lets the role
    // go with some waiting wakes this thread (role_guard).
    const bool idle = !loop_.stopped() && ((!work_waiting() && calls_waiting() == 0) ||
                                           role_.load(std::memory_order_seq_cst));
    const std::uint64_t lent = lent_.load(std::memory_order_acquire);
    const auto limit = lent % 2 == 1 && lent == seen.lent
                           ? std::chrono::duration_cast<std::chrono::microseconds>(take_over_after)
                           : std::chrono::duration_cast<std::chrono::microseconds>(doze_limit);
    if (idle && !woken_) doze_cv_.wait_for(guard, limit, [this] { return woken_; });
    woken_ = false;
    dozing_.store(false, std::memory_order_relaxed);
    aside_.store(false, std::memory_order_relaxed);
  }

  /// The loop thread, holding the role, around a blocking wait: a push while it sleeps posts a
  /// drain (a wake-up). Returns false (and stays awake) if something arrived meanwhile.
  bool go_to_sleep() noexcept {
    sleeping_.store(true, std::memory_order_seq_cst);
    if (pending_.load(std::memory_order_seq_cst) > 0) {
      sleeping_.store(false, std::memory_order_relaxed);
      return false;
    }
    return true;
  }
  void wake_up() noexcept { sleeping_.store(false, std::memory_order_relaxed); }

 private:
  // Completions already waiting when a pool thread brings one: the loop thread is not keeping
  // up (not scheduled, or busy), and the pool thread takes the role if it is free. One waiting
  // is normal between two looks of a running loop thread; two are not.
  static constexpr std::size_t drive_after = 2;
  // A pool thread runs at most this many handlers with the role, and takes it at most this many
  // times in a row while jobs wait for a pool thread, then goes back to its calls. (With none
  // waiting it keeps going: it would only spin or sleep, and a thread that carries cheap calls
  // on, pipe_node.hpp, then keeps the items moving without handing the role round.)
  static constexpr int max_drive_handlers = 64;
  static constexpr unsigned max_drives = 4;
  static constexpr std::chrono::microseconds aside{200};
  // The longest doze. What needs the loop wakes it sooner; this bounds what does not: a timer
  // (the periodic statistics), and jobs queued behind a call that proved long
  // (worker_pool::watch runs on the loop).
  static constexpr std::chrono::milliseconds doze_limit{20};
  // A role lent for one call this long is taken over: the call is not the nanoseconds it was
  // expected to be.
  static constexpr std::chrono::microseconds take_over_after{50};

  struct role_guard {
    loop_inbox& inbox;
    explicit role_guard(loop_inbox& i) noexcept : inbox(i) {}
    ~role_guard() {
      inbox.release_role();
      if (inbox.calls_waiting() > 0) inbox.wake();  // they wait for the loop thread (doze)
    }
    role_guard(const role_guard&) = delete;
    role_guard& operator=(const role_guard&) = delete;
  };

  // The role's holder off the loop thread (a driving pool thread, a helping consumer): runs the
  // loop's handlers, completions drained first, up to `max_drive_handlers` and while
  // `go_on()`. Returns how many ran; `ran_out`: the handlers ran out (none was left to run).
  template <class GoOn>
  int run_handlers(GoOn go_on, bool& ran_out) {
    int ran = 0;
    // Calls queued for the loop thread (a hook's) end the run: they need the role.
    for (; ran < max_drive_handlers && calls_waiting() == 0 && go_on(); ++ran) {
      if (pending()) schedule();
      if (loop_.poll_one() == 0) {
        ran_out = true;
        break;
      }
    }
    return ran;
  }

  struct helping {
    bool (*waits)(const void*);
    const void* ctx;
    helping(bool (*w)(const void*), const void* c) noexcept : waits(w), ctx(c) { here() = this; }
    ~helping() { here() = nullptr; }
    helping(const helping&) = delete;
    helping& operator=(const helping&) = delete;
    static const helping*& here() noexcept {
      static thread_local const helping* h = nullptr;
      return h;
    }
  };

  // Completions to drain, or posts to run.
  [[nodiscard]] bool work_waiting() const noexcept {
    return pending_.load(std::memory_order_seq_cst) > 0 ||
           posts_.load(std::memory_order_seq_cst) > 0;
  }

  // A pool thread that will drive does not wake a dozing loop thread (`complete`).
  void push(resume_handler h, bool wake_dozer_too) {
    pending_.fetch_add(1, std::memory_order_seq_cst);
    std::lock_guard lock(lock_);
    items_.push_back(std::move(h));
    if (sleeping_.load(std::memory_order_seq_cst))
      schedule();
    else if (wake_dozer_too && dozing_.load(std::memory_order_seq_cst))
      wake_dozer();
  }

  void queue_call(std::function<void()> f) {
    {
      std::lock_guard lock(calls_mutex_);
      calls_.push_back(std::move(f));
    }
    calls_waiting_.fetch_add(1, std::memory_order_seq_cst);
    wake();
  }

  void wake_dozer() {
    std::lock_guard guard(doze_mutex_);
    woken_ = true;
    doze_cv_.notify_one();
  }

  // The role holder, inside a handler: resumes every completion that has arrived. The list is
  // this call's own, as in ready_queue::drain.
  void drain() {
    scheduled_.store(false, std::memory_order_release);
    std::vector<resume_handler> draining = std::move(spare_);
    {
      std::lock_guard lock(lock_);
      draining.swap(items_);
    }
    pending_.fetch_sub(draining.size(), std::memory_order_acq_rel);
    ready_queue::run_round(draining);
    draining.clear();
    spare_ = std::move(draining);
  }

  asio::io_context& loop_;
  ready_queue& ready_;
  bool drivers_allowed_ = false;  // set before the loop starts
  std::function<void()> before_doze_;  // likewise
  spin_lock lock_;  // a push or a swap: a few instructions (spin.hpp says why not a mutex)
  std::vector<resume_handler> items_;     // guarded by lock_
  std::vector<resume_handler> spare_;     // the role holder's: a drained list, for its capacity
  std::atomic<std::size_t> pending_{0};
  std::atomic<bool> scheduled_{false};
  std::atomic<bool> sleeping_{false};
  alignas(64) std::atomic<bool> role_{false};
  std::atomic<std::size_t> drives_{0};
  std::atomic<std::uint64_t> lent_{0};  // odd: the role's holder lent it for a call (role_lent)
  ready_queue::round* lent_round_ = nullptr;  // that holder's round (lent_ orders it)
  std::atomic<bool> aside_{false};   // the loop thread stands aside, dozes or yields: they drive
  std::atomic<bool> dozing_{false};  // the loop thread dozes: a push or post wakes it
  std::atomic<std::size_t> posts_{0};  // `post`s not yet run
  std::mutex calls_mutex_;                        // on_loop_thread's queue: rare (a hook's call)
  std::vector<std::function<void()>> calls_;      // guarded by calls_mutex_
  std::atomic<std::size_t> calls_waiting_{0};     // queued and not yet run
  std::mutex doze_mutex_;
  std::condition_variable doze_cv_;
  bool woken_ = false;  // guarded by doze_mutex_
  // Set and looked at only where pool threads may not drive (the loop thread dozes only then).
  core_mark loop_core_;      // the loop thread's, but while it sleeps in run_loop
  core_mark consumer_core_;  // the sink's consumer's, but while it sleeps in sink_queue::get
};

/// The loop thread, holding the role: runs the loop's ready handlers, as `poll()` does, and the
/// calls queued for this thread (loop_inbox::on_loop_thread) after every 64 of them and at the
/// end; every 64, too, a drain of the completions that wait. Returns how many ran. (A stream
/// that never waits posts handlers as fast as they run: `poll()` would not return while it goes
/// on, nor a hook's calls be made, nor pool threads' completions be drained: a push schedules a
/// drain only while the loop thread sleeps, and a pool thread drives only with the role free.)
inline std::size_t poll_with_calls(asio::io_context& loop, loop_inbox& inbox) {
  constexpr std::size_t calls_every = 64;
  std::size_t ran = 0;
  for (;;) {
    std::size_t handlers = 0;
    while (handlers < calls_every && loop.poll_one() > 0) ++handlers;
    ran += handlers + inbox.run_loop_thread_calls();
    if (handlers < calls_every) return ran;
    if (inbox.pending()) inbox.schedule();
  }
}

/// Runs the loop until it stops: handlers, then the inbox, spinning briefly before it sleeps;
/// it holds the loop's role while it runs them and while it sleeps (where pool threads may
/// drive, it dozes instead, without the role). `idle()` runs now and then while it spins with
/// nothing to do (and every 64 rounds of handlers when it never has nothing to do);
/// `before_sleep()` each time it is about to block.
template <class Idle, class BeforeSleep>
void run_loop(asio::io_context& loop, loop_inbox& inbox, Idle idle, BeforeSleep before_sleep) {
  unsigned busy_rounds = 0;
  bool dozed = false;  // pool threads did the loop's work while this thread last dozed
  loop_inbox::lent_watch lent;  // a role lent for a call that proves long is taken over
  while (!loop.stopped()) {
    std::size_t ran = 0;
    if (inbox.try_take_role() || inbox.take_lent_role(lent)) {
      ran = poll_with_calls(loop, inbox);
      if (ran == 0 && inbox.pending()) {
        inbox.schedule();
        ran = poll_with_calls(loop, inbox);
      }
      inbox.release_role();
    }
    if (ran > 0) {
      if (++busy_rounds % 64 == 0) idle();  // a loop that is never idle still looks now and then
      continue;
    }
    const std::size_t drives = inbox.drives();
    if (dozed) {
      // Pool threads did the loop's work while this thread dozed: doze again without spinning
      // (a spin on a busy core keeps this thread runnable for a whole time slice).
      if (inbox.try_take_role()) {
        before_sleep();
        inbox.release_role();
      }
      inbox.doze(lent);
      dozed = inbox.drives() != drives;
      continue;
    }
    // Where the loop thread alone does the loop's work, it does not spin for a while after a
    // yield of its own proved long: another program holds its core (contended_core).
    const bool spin = inbox.drivers_allowed() || !contended_core::recently();
    // The consumer runnable on this very core: this spin would hold the core it needs.
    if (spin && !inbox.drivers_allowed() && inbox.consumer_core().on(inbox.loop_core().set()))
      inbox.yield_core();
    unsigned round = 0;
    const bool busy = spin && spin_until([&] {
      // The inbox is an atomic read; the loop's own queue and its stopped() take the lock of
      // Asio's scheduler, which the role's holder takes per handler, so look less often. A
      // completion that a pool thread is draining with the role is not the loop thread's.
      if ((inbox.pending() || inbox.calls_waiting() > 0) && !inbox.role_taken()) return true;
      if (++round % 8 != 0) return false;
      if (loop.stopped()) return true;
      idle();
      // A pool thread runs the loop's work now (unless stuck in a call it lent the role for).
      if (!inbox.try_take_role() && !inbox.take_lent_role(lent)) return false;
      const bool got = poll_with_calls(loop, inbox) > 0;
      inbox.release_role();
      return got;
    }, default_spin, [&] { inbox.yield_core(); });
    if (busy) continue;
    const bool pool_drove = inbox.drives() != drives;
    if (pool_drove || !inbox.try_take_role()) {
      // Pool threads did the loop's work while it spun, or one holds the role now (perhaps for
      // long: a source that blocks): keep off their core, with the consumer served first.
      if (inbox.try_take_role()) {
        before_sleep();
        inbox.release_role();
      }
      inbox.step_aside();
      continue;
    }
    before_sleep();
    if (inbox.drivers_allowed()) {
      // Pool threads may do the loop's work: let them, and doze meanwhile.
      inbox.release_role();
      inbox.doze(lent);
      dozed = inbox.drives() != drives;
      continue;
    }
    if (!inbox.go_to_sleep()) {
      inbox.release_role();
      continue;
    }
    inbox.loop_core().clear();
    loop.run_one();
    inbox.loop_core().set();
    inbox.wake_up();
    inbox.release_role();
  }
}

}  // namespace spdl::detail
