#pragma once
// Failure accounting, on the loop: each node's calls and failed calls judged against its
// budget (its own, or the one the pipeline's stages share), each failed item reported (to
// build_options::on_failure, or logged), and the failures that ended stages, for the consumer.

#include <spdl/detail/node.hpp>
#include <spdl/detail/scheduler.hpp>
#include <spdl/error.hpp>
#include <spdl/pipeline/failure_budget.hpp>

#include <cstddef>
#include <cstdio>
#include <exception>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace spdl::detail {

class failure_ledger {
 public:
  using hook = std::function<void(const stage_failure&)>;

  /// Gives each of `nodes` its budget: its own, or `shared`. `on_failure` (may be empty) must
  /// outlive the ledger; it is called on the loop thread, through `inbox` (which must outlive
  /// the ledger; it need not be constructed yet).
  failure_ledger(const std::vector<std::unique_ptr<node>>& nodes, failure_budget shared,
                 const hook& on_failure, loop_inbox& inbox)
      : on_failure_(on_failure), inbox_(inbox) {
    shared_.budget = shared;
    for (const auto& n : nodes) {
      if (n->own_budget) {
        own_.push_back(std::make_unique<failure_counter>());
        own_.back()->budget = *n->own_budget;
        n->budget = own_.back().get();
      } else {
        n->budget = &shared_;
      }
    }
  }

  failure_ledger(const failure_ledger&) = delete;
  failure_ledger& operator=(const failure_ledger&) = delete;

  /// Counts one call of node `n`'s function.
  static void count_call(node& n) noexcept { ++n.budget->calls; }

  /// Counts and reports a failed call of node `n`. True when it exceeds the budget.
  bool count_failure(node& n, const std::exception_ptr& e) {
    ++n.counters.failures;
    ++n.budget->failures;
    report(n, e);
    return n.budget->budget.exceeded(n.budget->failures, n.budget->calls);
  }

  /// A stage ended in failure (or the engine itself did: never silent).
  void add(stage_failure f) { failures_.push_back(std::move(f)); }

  /// The failures that ended stages, in the order they happened.
  [[nodiscard]] const std::vector<stage_failure>& failures() const noexcept { return failures_; }

 private:
  void report(const node& n, const std::exception_ptr& e) const {
    if (on_failure_) {
      inbox_.on_loop_thread([&hook = on_failure_, f = stage_failure{n.counters.name, e}] {
        try {
          hook(f);
        } catch (...) {
          // A hook that throws must not take the pipeline down.
        }
      });
      return;
    }
    constexpr std::size_t logged = 10;
    if (n.counters.failures > logged) return;
    std::string what = "non-standard exception";
    try {
      std::rethrow_exception(e);
    } catch (const std::exception& x) {
      what = x.what();
    } catch (...) {
    }
    std::fprintf(stderr, "spdl: stage '%s': an item failed: %s%s\n", n.counters.name.c_str(),
                 what.c_str(),
                 n.counters.failures == logged ? " (further failures are counted, not logged)"
                                               : "");
  }

  const hook& on_failure_;
  loop_inbox& inbox_;
  failure_counter shared_;
  std::vector<std::unique_ptr<failure_counter>> own_;
  std::vector<stage_failure> failures_;
};

}  // namespace spdl::detail
