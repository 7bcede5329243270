#pragma once
/// \file
/// The error hierarchy shared by every part of spdl: everything spdl throws on purpose derives
/// from spdl::error (itself a std::runtime_error), except misconfiguration, which is
/// std::invalid_argument at the call that wrote it.

#include <cstddef>
#include <exception>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace spdl {

/// The root of spdl's errors.
class error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// A wait with a deadline (`pipeline::get_item(timeout)`, `pipeline::stop(timeout)`) expired.
class timeout_error : public error {
 public:
  using error::error;
};

/// One stage that failed, with the exception that made it fail (the original one, as thrown).
struct stage_failure {
  std::string stage;
  std::exception_ptr exception;
};

/// The stream ended because one or more stages failed: a source threw, or a stage exceeded its
/// failure budget. Thrown to the consumer after every item produced before the failure.
///
///     try { for (auto& x : p) use(x); }
///     catch (const spdl::pipeline_failure& e) {
///       for (auto& f : e.failures()) log(f.stage);   // rethrow f.exception for the original
///     }
class pipeline_failure : public error {
 public:
  explicit pipeline_failure(std::vector<stage_failure> failures)
      : error(describe(failures)), failures_(std::move(failures)) {}

  /// Each failed stage, in the order the failures happened.
  [[nodiscard]] const std::vector<stage_failure>& failures() const noexcept { return failures_; }

 private:
  static std::string describe(const std::vector<stage_failure>& failures) {
    std::string text = "pipeline failed:";
    for (const auto& f : failures) {
      text += " stage '" + f.stage + "': ";
      try {
        if (f.exception) std::rethrow_exception(f.exception);
        text += "unknown error";
      } catch (const std::exception& e) {
        text += e.what();
      } catch (...) {
        text += "non-standard exception";
      }
      text += ';';
    }
    if (!failures.empty()) text.pop_back();
    return text;
  }

  std::vector<stage_failure> failures_;
};

}  // namespace spdl
