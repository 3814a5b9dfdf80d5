// Errors of the rowjit subcommands and the exit codes they map to.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <variant>

#include "ir/status.h"

namespace rowjit::cli {

inline constexpr int kExitSuccess = 0;
inline constexpr int kExitRunFailure = 1;  // a file, the pipeline or the run failed
inline constexpr int kExitUsage = 2;       // the command line is wrong

// A failure that ends a subcommand. The message has the form
// "<what failed>: <value>; <what to do>", and the command prints it after
// "rowjit <command>: ".
struct CommandError {
  int exit_code = kExitRunFailure;
  std::string message;
};

// Makes an error about the command line itself (exit code 2).
CommandError usage_error(std::string_view what, std::string_view value, std::string_view fix);
// Makes an error about files, the pipeline or the run (exit code 1).
CommandError run_failure(std::string_view what, std::string_view value, std::string_view fix);
// Wraps a library Status whose message already names the value and the fix.
CommandError run_failure(const Status& status);

// Prints "rowjit <command>: <message>" to stderr, or "rowjit: <message>" when
// `command` is empty, and returns the exit code.
int report_error(std::string_view command, const CommandError& error);

// A value, or the CommandError that explains why there is none.
template <typename T>
class [[nodiscard]] CommandResult {
 public:
  CommandResult(T value) : state_(std::move(value)) {}
  CommandResult(CommandError error) : state_(std::move(error)) {}

  bool is_ok() const { return std::holds_alternative<T>(state_); }
  explicit operator bool() const { return is_ok(); }

  T& value() & { return std::get<T>(state_); }
  const T& value() const& { return std::get<T>(state_); }
  T&& value() && { return std::get<T>(std::move(state_)); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

  const CommandError& error() const { return std::get<CommandError>(state_); }

 private:
  std::variant<T, CommandError> state_;
};

// The result of a step that returns no value.
struct Done {};
using CommandStatus = CommandResult<Done>;
inline CommandStatus command_ok() { return Done{}; }

}  // namespace rowjit::cli

// Returns the CommandError of `expr` from the enclosing function, if it failed.
#define ROWJIT_CLI_TRY(expr)                                        \
  do {                                                              \
    auto rowjit_cli_try_result = (expr);                            \
    if (!rowjit_cli_try_result) return rowjit_cli_try_result.error(); \
  } while (0)
