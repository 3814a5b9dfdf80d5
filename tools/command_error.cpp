#include "tools/command_error.h"

#include <cstdio>

namespace rowjit::cli {
namespace {

std::string format_message(std::string_view what, std::string_view value, std::string_view fix) {
  return std::string(what) + ": " + std::string(value) + "; " + std::string(fix);
}

}  // namespace

CommandError usage_error(std::string_view what, std::string_view value, std::string_view fix) {
  return {kExitUsage, format_message(what, value, fix)};
}

CommandError run_failure(std::string_view what, std::string_view value, std::string_view fix) {
  return {kExitRunFailure, format_message(what, value, fix)};
}

CommandError run_failure(const Status& status) { return {kExitRunFailure, status.message()}; }

int report_error(std::string_view command, const CommandError& error) {
  if (command.empty()) {
    std::fprintf(stderr, "rowjit: %s\n", error.message.c_str());
  } else {
    std::fprintf(stderr, "rowjit %.*s: %s\n", static_cast<int>(command.size()), command.data(),
                 error.message.c_str());
  }
  return error.exit_code;
}

}  // namespace rowjit::cli
