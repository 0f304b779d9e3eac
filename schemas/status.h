// Status and Result<T>: how errors cross component boundaries in palaver.
//
// A Status is either OK or an error with
//   - a stable machine code (ErrorCode, printed by CodeName() as e.g.
//     "too_large"); callers branch on it and the HTTP layer maps it to a
//     status code, so values are never renumbered or renamed;
//   - a sentence a person can act on ("payload is 2000000 bytes; the limit is
//     1048576"), and
//   - optionally the field at fault ("body.text"), for input errors;
//   - optionally a stable, more specific reason ("discount_inactive",
//     "not_found.conversation") that a component documents for its refusals;
//     the HTTP layer shows it next to CodeName(code()). Like the codes,
//     published reasons are never renamed.
//
// Exceptions from third-party libraries (cereal, JSON parsing, Beast) are
// caught at the edge of the component that calls them and become a Status.
// Status and Result are values: cheap to move, safe to copy, no shared state.
#pragma once

#include <cassert>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace palaver {

// Stable error codes. Append only: never renumber, rename or reuse a value.
enum class ErrorCode : int {
  kOk = 0,
  kInvalidArgument = 1,      // the caller sent something malformed
  kNotFound = 2,             // a named thing does not exist (or is not visible)
  kAlreadyExists = 3,        // a create found the thing already there
  kFailedPrecondition = 4,   // the request is well formed but the state forbids it
  kPermissionDenied = 5,     // the actor may not do this
  kUnavailable = 6,          // a dependency (broker, disk) is down; retrying may help
  kTimeout = 7,              // a bounded wait ran out
  kTooLarge = 8,             // a payload is over a configured limit
  kCorruption = 9,           // stored bytes do not decode
  kIoError = 10,             // the operating system refused a file or socket operation
  kInternal = 11,            // a bug in palaver; the message says where
  kSchemaViolation = 12,     // a document does not match its JSON Schema
  kUnsupportedVersion = 13,  // an event or schema version this build does not know
  kConflict = 14,            // e.g. an idempotency key reused with a different body
};

// The stable lower_snake_case name of `code`, e.g. "schema_violation".
std::string_view CodeName(ErrorCode code);

class Status {
 public:
  // An OK status.
  Status() = default;

  static Status Ok() { return Status(); }
  // `code` must not be kOk. `field` names the input field at fault, if any.
  static Status Error(ErrorCode code, std::string message, std::string field = {}) {
    assert(code != ErrorCode::kOk);
    Status s;
    s.code_ = code;
    s.message_ = std::move(message);
    s.field_ = std::move(field);
    return s;
  }

  bool ok() const { return code_ == ErrorCode::kOk; }
  ErrorCode code() const { return code_; }
  const std::string& message() const { return message_; }
  const std::string& field() const { return field_; }
  // The specific reason, e.g. "conversation_closed"; empty when none was given.
  const std::string& reason() const { return reason_; }

  // Returns a copy carrying `reason`. An OK status is returned unchanged.
  Status WithReason(std::string reason) const {
    if (ok()) return *this;
    Status s = *this;
    s.reason_ = std::move(reason);
    return s;
  }

  // "code: message (field: f)" for logs and command-line output.
  std::string ToString() const;

  // Returns a copy whose message is prefixed with `context + ": "`.
  Status WithContext(std::string_view context) const;

 private:
  ErrorCode code_ = ErrorCode::kOk;
  std::string message_;
  std::string field_;
  std::string reason_;
};

// Either a value or a non-OK Status.
template <typename T>
class Result {
 public:
  Result(T value) : data_(std::move(value)) {}        // NOLINT: implicit by design
  Result(Status status) : data_(std::move(status)) {  // NOLINT: implicit by design
    assert(!std::get<Status>(data_).ok() && "Result needs a value or an error");
  }

  bool ok() const { return std::holds_alternative<T>(data_); }
  // The error; OK when the result holds a value.
  Status status() const { return ok() ? Status::Ok() : std::get<Status>(data_); }

  // Precondition: ok().
  T& value() & { return std::get<T>(data_); }
  const T& value() const& { return std::get<T>(data_); }
  T&& value() && { return std::get<T>(std::move(data_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

 private:
  std::variant<T, Status> data_;
};

}  // namespace palaver

// Returns the Status of `expr` from the enclosing function when it is not OK.
#define PALAVER_RETURN_IF_ERROR(expr)                  \
  do {                                                 \
    ::palaver::Status palaver_status_ = (expr);        \
    if (!palaver_status_.ok()) return palaver_status_; \
  } while (false)
