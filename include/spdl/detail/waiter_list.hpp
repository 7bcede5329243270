#pragma once
// An intrusive FIFO of waiters that live in suspended coroutine frames: no allocation.

namespace spdl::detail {

template <class W>  // W has a `W* next` member
class waiter_list {
 public:
  [[nodiscard]] bool empty() const noexcept { return head_ == nullptr; }
  [[nodiscard]] W* front() const noexcept { return head_; }

  void push_back(W* w) noexcept {
    w->next = nullptr;
    if (tail_)
      tail_->next = w;
    else
      head_ = w;
    tail_ = w;
  }

  W* pop_front() noexcept {
    W* w = head_;
    if (w) {
      head_ = w->next;
      if (!head_) tail_ = nullptr;
    }
    return w;
  }

 private:
  W* head_ = nullptr;
  W* tail_ = nullptr;
};

}  // namespace spdl::detail
