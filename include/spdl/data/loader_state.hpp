#pragma once
/// \file
/// spdl::loader_state: where a dataloader stands, as text to keep with a checkpoint.

#include <spdl/error.hpp>

#include <algorithm>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace spdl::data {

/// Where a dataloader stands: the epoch it reads and how far into it. `serialize()` writes a
/// short text that starts with its format's version; `deserialize` reads it back.
///
///     std::ofstream("loader.state") << loader.state().serialize();
///     ...
///     loader.restore(spdl::loader_state::deserialize(text));
struct loader_state {
  /// The epoch being read (or to be read next, when taken at an epoch's end).
  std::size_t epoch = 0;
  /// Every position of the epoch's source before this one is done: delivered in a batch,
  /// failed, or dropped.
  std::size_t position = 0;
  /// Positions after `position` that are done too (sorted).
  std::vector<std::size_t> done;
  /// The epoch's number of items, when the source knows it (checked on restore).
  std::optional<std::size_t> source_size;

  [[nodiscard]] std::string serialize() const {
    std::string text = "spdl-loader-state 1\nepoch " + std::to_string(epoch) + "\nposition " +
                       std::to_string(position) + "\nsource_size " +
                       (source_size ? std::to_string(*source_size) : std::string("-")) +
                       "\ndone " + std::to_string(done.size());
    for (std::size_t p : done) text += ' ' + std::to_string(p);
    text += '\n';
    return text;
  }

  /// Reads what serialize() wrote; anything else throws spdl::error.
  static loader_state deserialize(std::string_view text) {
    reader in{text};
    loader_state s;
    in.expect("spdl-loader-state 1\nepoch ");
    s.epoch = in.number();
    in.expect("\nposition ");
    s.position = in.number();
    in.expect("\nsource_size ");
    if (in.accept('-'))
      s.source_size.reset();
    else
      s.source_size = in.number();
    in.expect("\ndone ");
    const std::size_t n = in.number();
    if (n > text.size()) in.fail("more positions than the text can hold");
    s.done.reserve(n);
    for (std::size_t i = 0; i < n; ++i) {
      in.expect(" ");
      s.done.push_back(in.number());
      if (s.done.back() <= s.position || (i > 0 && s.done[i - 1] >= s.done.back()))
        in.fail("done positions must be increasing and after the position");
    }
    in.expect("\n");
    if (!in.at_end()) in.fail("trailing text");
    return s;
  }

  friend bool operator==(const loader_state&, const loader_state&) = default;

 private:
  struct reader {
    std::string_view text;
    std::size_t at = 0;

    [[noreturn]] void fail(const std::string& why) const {
      throw spdl::error("spdl::loader_state::deserialize: malformed state at byte " +
                        std::to_string(at) + ": " + why);
    }
    void expect(std::string_view s) {
      if (text.substr(at, s.size()) != s) fail("expected '" + escape(s) + "'");
      at += s.size();
    }
    bool accept(char c) {
      if (at < text.size() && text[at] == c) {
        ++at;
        return true;
      }
      return false;
    }
    std::size_t number() {
      const std::size_t start = at;
      std::size_t v = 0;
      while (at < text.size() && text[at] >= '0' && text[at] <= '9') {
        const auto digit = static_cast<std::size_t>(text[at] - '0');
        if (v > (static_cast<std::size_t>(-1) - digit) / 10) fail("number out of range");
        v = v * 10 + digit;
        ++at;
      }
      if (at == start) fail("expected a number");
      return v;
    }
    [[nodiscard]] bool at_end() const { return at == text.size(); }
    static std::string escape(std::string_view s) {
      std::string out;
      for (char c : s) out += c == '\n' ? std::string("\\n") : std::string(1, c);
      return out;
    }
  };
};

}  // namespace spdl::data

namespace spdl {
using data::loader_state;
}  // namespace spdl
