// The rowjit command: a dispatcher over the subcommands of tools/commands.h.
#include <cstdio>
#include <exception>
#include <new>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "runtime/version.h"
#include "tools/args.h"
#include "tools/command_error.h"
#include "tools/commands.h"

namespace rowjit::cli {
namespace {

struct Command {
  std::string_view name;
  std::string_view summary;
  int (*main)(std::span<const std::string> args);
};

// Each subcommand is one file tools/cmd_<name>.cpp and one line here.
constexpr Command kCommands[] = {
    {"run", "run a pipeline on .npy files", run_command},
    {"dump", "print the machine code of a pipeline's kernel", dump_command},
    {"plan", "print how a pipeline is scheduled and lowered", plan_command},
    {"cpu", "print the detected CPU features and the ISA in use", cpu_command},
    {"tune", "measure a pipeline's plans on this CPU and write a tuning file", tune_command},
};

std::vector<std::string> command_names() {
  std::vector<std::string> names;
  for (const Command& command : kCommands) names.emplace_back(command.name);
  return names;
}

void print_help() {
  std::printf("Usage: rowjit COMMAND [ARGS...]\n"
              "       rowjit --help | --version\n"
              "\n"
              "rowjit compiles and runs row kernels: softmax and its relatives, mixture-of-\n"
              "experts gating and quantization, written as pipelines in the text format of\n"
              "docs/ir.md.\n"
              "\n"
              "Commands:\n");
  for (const Command& command : kCommands) {
    std::printf("  %-6.*s  %.*s\n", static_cast<int>(command.name.size()), command.name.data(),
                static_cast<int>(command.summary.size()), command.summary.data());
  }
  std::printf("\n"
              "Options:\n"
              "  --help     print this help and exit\n"
              "  --version  print the version and exit\n"
              "\n"
              "Run 'rowjit COMMAND --help' for the options of a command.\n");
}

int dispatch(const std::vector<std::string>& args) {
  if (args.empty()) {
    return report_error("", usage_error("missing command", "no arguments",
                                        "give one of the commands " +
                                            join_names(command_names()) +
                                            ", or --help for usage"));
  }
  const std::string& first = args[0];
  if (first == "--help" || first == "-h" || first == "help") {
    print_help();
    return kExitSuccess;
  }
  if (first == "--version") {
    std::printf("rowjit %s\n", version_string());
    return kExitSuccess;
  }
  for (const Command& command : kCommands) {
    if (command.name == first) {
      return command.main(std::span<const std::string>(args).subspan(1));
    }
  }
  if (first.starts_with("-")) {
    return report_error("", usage_error("unknown option", first,
                                        "valid options are --help and --version"));
  }
  return report_error("", usage_error("unknown command", first,
                                      "valid commands are " + join_names(command_names())));
}

}  // namespace
}  // namespace rowjit::cli

int main(int argc, char** argv) {
  using namespace rowjit::cli;
  // The library reports errors as Status values; only the standard library
  // throws, for an allocation that fails or a container bug.
  try {
    return dispatch(std::vector<std::string>(argv + 1, argv + argc));
  } catch (const std::bad_alloc&) {
    return report_error("", run_failure("out of memory", "an allocation failed",
                                        "run on fewer rows or free memory"));
  } catch (const std::exception& error) {
    return report_error("", run_failure("internal error", error.what(),
                                        "this is a bug in rowjit, so please report it"));
  }
}
