// Status and Result: how every layer of rowjit reports failure without throwing.
#pragma once

#include <string>
#include <utility>
#include <variant>

namespace rowjit {

// Kinds of failure. User errors (bad pipeline text, bad tensors, bad parameters)
// are kept apart from internal errors (a bug in rowjit) and from environment
// errors (the system refused a resource).
enum class StatusCode {
  kOk = 0,
  kParseError,         // pipeline text is malformed
  kInvalidPipeline,    // the verifier rejected the pipeline
  kInvalidArgument,    // a tensor, parameter or option does not match the pipeline
  kOutOfRange,         // a run-time value is outside its domain (label index, k > n)
  kUnsupported,        // valid request that this build or CPU cannot do
  kIoError,            // a file could not be read or written
  kExecMemoryDenied,   // the system refused executable memory
  kInternal,           // a bug in rowjit
};

const char* status_code_name(StatusCode code);

class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(StatusCode code, std::string message) : code_(code), message_(std::move(message)) {}

  static Status ok() { return {}; }

  bool is_ok() const { return code_ == StatusCode::kOk; }
  explicit operator bool() const { return is_ok(); }
  StatusCode code() const { return code_; }
  const std::string& message() const { return message_; }

  // Formats the status as "<code name>: <message>" for logs and the command line.
  std::string to_string() const;

 private:
  StatusCode code_ = StatusCode::kOk;
  std::string message_;
};

// A value or the Status that explains why there is none.
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : state_(std::move(value)) {}
  Result(Status status) : state_(std::move(status)) {}

  bool is_ok() const { return std::holds_alternative<T>(state_); }
  explicit operator bool() const { return is_ok(); }

  const T& value() const& { return std::get<T>(state_); }
  T& value() & { return std::get<T>(state_); }
  T&& value() && { return std::get<T>(std::move(state_)); }
  const T& operator*() const& { return value(); }
  T& operator*() & { return value(); }
  const T* operator->() const { return &value(); }
  T* operator->() { return &value(); }

  Status status() const { return is_ok() ? Status::ok() : std::get<Status>(state_); }

 private:
  std::variant<T, Status> state_;
};

}  // namespace rowjit

// Returns early from the enclosing function when `expr` yields a failed Status.
#define ROWJIT_TRY(expr)                      \
  do {                                        \
    ::rowjit::Status rowjit_try_status = (expr); \
    if (!rowjit_try_status.is_ok()) return rowjit_try_status; \
  } while (0)
