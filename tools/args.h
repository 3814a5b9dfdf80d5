// Command-line parsing shared by the rowjit subcommands.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "tools/command_error.h"

namespace rowjit::cli {

// An option a subcommand accepts, as shown by --help.
struct OptionSpec {
  std::string_view name;        // with the dashes: "--input"
  std::string_view value_name;  // "NAME=FILE.npy", or "" for a flag
  std::string_view help;        // what the option sets, and its unit
  bool repeatable = false;
};

struct ParsedOption {
  std::string name;   // as in its OptionSpec
  std::string value;  // "" for a flag
};

struct ParsedArguments {
  std::vector<ParsedOption> options;  // in command-line order
  std::vector<std::string> positionals;
};

// Splits `args` into options and positional arguments. An option's value is
// the next argument or follows '=' ("--input x=a.npy" or "--input=x=a.npy");
// "-h" means "--help"; everything after "--" is positional. Unknown options,
// missing values and a non-repeatable option given twice are usage errors
// that list the valid options.
CommandResult<ParsedArguments> parse_arguments(std::span<const std::string> args,
                                               std::span<const OptionSpec> specs);

// Formats the option list of --help, one aligned line per option.
std::string format_options_help(std::span<const OptionSpec> specs);

// Joins names as "a, b and c"; `none` when there are no names.
std::string join_names(const std::vector<std::string>& names, std::string_view none = "none");

struct NameValue {
  std::string name;
  std::string value;
};

// Splits the value of `option` ("x=logits.npy") at its first '='. The name
// must be a pipeline name and the value non-empty; `value_word` names the
// value in the error message ("FILE.npy", "VALUE").
CommandResult<NameValue> split_name_value(std::string_view option, std::string_view argument,
                                          std::string_view value_word);

// Parses a whole string as a decimal or exponent-form number, or "inf" and
// "nan"; nullopt on anything else, trailing characters included.
std::optional<double> parse_real(std::string_view text);
// Parses a whole string as a decimal integer that fits in int64_t.
std::optional<int64_t> parse_integer(std::string_view text);

}  // namespace rowjit::cli
