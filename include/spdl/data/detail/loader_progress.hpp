#pragma once
// What a dataloader has done of each epoch it has begun: the positions of its source that are
// delivered (the consumer got their batch) or resolved without a result (failed, dropped). Pool
// threads report what they resolve; the consumer reports what it delivers and asks for the state.

#include <spdl/data/loader_state.hpp>

#include <algorithm>
#include <cstddef>
#include <map>
#include <mutex>
#include <set>
#include <vector>

namespace spdl::data::detail {

/// Whether sorted `v` holds `x`.
inline bool contains(const std::vector<std::size_t>& v, std::size_t x) {
  return std::binary_search(v.begin(), v.end(), x);
}

/// The positions of a batch's items, in the order they came: a run of consecutive positions (the
/// common case, in input order with no item missing) is kept as two numbers, anything else is
/// listed. A list would cost a batch an allocation of its own, made on one thread and freed on
/// another.
class batch_positions {
 public:
  void add(std::size_t position) {
    if (listed_.empty()) {
      if (count_ == 0) first_ = position;
      if (position == first_ + count_) {
        ++count_;
        return;
      }
      for (std::size_t p = first_; p < first_ + count_; ++p) listed_.push_back(p);
      count_ = 0;
    }
    listed_.push_back(position);
  }

  template <class F>
  void for_each(F f) const {
    if (listed_.empty()) {
      for (std::size_t p = first_; p < first_ + count_; ++p) f(p);
    } else {
      for (std::size_t p : listed_) f(p);
    }
  }

 private:
  std::size_t first_ = 0;
  std::size_t count_ = 0;  // the run's length; 0 once the positions are listed
  std::vector<std::size_t> listed_;
};

class loader_progress {
 public:
  /// Starts from `resume`: its epoch is done up to its position, and at its `done` positions.
  explicit loader_progress(const loader_state& resume) {
    auto& e = epochs_[resume.epoch];
    e.prefix = resume.position;
    e.ahead.insert(resume.done.begin(), resume.done.end());
    settle(e);
  }

  /// Any thread: `position` of `epoch` ended without a result.
  void resolved(std::size_t epoch, std::size_t position) {
    std::lock_guard lock(mutex_);
    mark(epochs_[epoch], position);
  }

  /// The consumer: a batch of these positions was delivered.
  void delivered(std::size_t epoch, const batch_positions& positions) {
    std::lock_guard lock(mutex_);
    auto& e = epochs_[epoch];
    e.started = true;
    positions.for_each([&](std::size_t p) { mark(e, p); });
  }

  /// The consumer: `epoch` is over (its state is no longer asked for).
  void finish_epoch(std::size_t epoch) {
    std::lock_guard lock(mutex_);
    epochs_.erase(epoch);
  }

  /// Whether a batch of `epoch` was delivered.
  [[nodiscard]] bool started(std::size_t epoch) const {
    std::lock_guard lock(mutex_);
    auto it = epochs_.find(epoch);
    return it != epochs_.end() && it->second.started;
  }

  [[nodiscard]] loader_state state(std::size_t epoch) const {
    std::lock_guard lock(mutex_);
    loader_state s;
    s.epoch = epoch;
    auto it = epochs_.find(epoch);
    if (it != epochs_.end()) {
      s.position = it->second.prefix;
      s.done.assign(it->second.ahead.begin(), it->second.ahead.end());
    }
    return s;
  }

 private:
  struct epoch_progress {
    std::size_t prefix = 0;        // every position before it is done
    std::set<std::size_t> ahead;   // done positions after it (few: what is out of order)
    bool started = false;
  };

  static void mark(epoch_progress& e, std::size_t position) {
    if (position < e.prefix) return;
    if (position == e.prefix) {  // the common case (input order): no set to touch
      ++e.prefix;
      if (!e.ahead.empty()) settle(e);
      return;
    }
    e.ahead.insert(position);
  }

  static void settle(epoch_progress& e) {
    while (!e.ahead.empty() && *e.ahead.begin() <= e.prefix) {
      if (*e.ahead.begin() == e.prefix) ++e.prefix;
      e.ahead.erase(e.ahead.begin());
    }
  }

  mutable std::mutex mutex_;
  std::map<std::size_t, epoch_progress> epochs_;
};

}  // namespace spdl::data::detail
