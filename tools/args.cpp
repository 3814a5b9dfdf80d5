#include "tools/args.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <set>

namespace rowjit::cli {
namespace {

std::string option_names(std::span<const OptionSpec> specs) {
  std::vector<std::string> names;
  for (const OptionSpec& spec : specs) names.emplace_back(spec.name);
  return join_names(names);
}

const OptionSpec* find_spec(std::span<const OptionSpec> specs, std::string_view name) {
  for (const OptionSpec& spec : specs) {
    if (spec.name == name) return &spec;
  }
  return nullptr;
}

bool is_pipeline_name(std::string_view name) {
  if (name.empty() || std::isdigit(static_cast<unsigned char>(name[0]))) return false;
  for (char c : name) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_') return false;
  }
  return true;
}

}  // namespace

CommandResult<ParsedArguments> parse_arguments(std::span<const std::string> args,
                                               std::span<const OptionSpec> specs) {
  ParsedArguments parsed;
  std::set<std::string> seen;
  bool options_ended = false;

  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (options_ended || arg.size() < 2 || arg[0] != '-') {
      parsed.positionals.push_back(arg);
      continue;
    }
    if (arg == "--") {
      options_ended = true;
      continue;
    }

    std::string name = arg;
    std::optional<std::string> inline_value;
    size_t equals = arg.find('=');
    if (arg.starts_with("--") && equals != std::string::npos) {
      name = arg.substr(0, equals);
      inline_value = arg.substr(equals + 1);
    }
    if (name == "-h") name = "--help";

    const OptionSpec* spec = find_spec(specs, name);
    if (spec == nullptr) {
      return usage_error("unknown option", arg, "valid options are " + option_names(specs));
    }
    if (!spec->repeatable && !seen.insert(name).second) {
      return usage_error("option given twice", name, "give " + name + " once");
    }

    ParsedOption option{name, ""};
    if (spec->value_name.empty()) {
      if (inline_value) {
        return usage_error("unexpected value for option", arg,
                           std::string(name) + " takes no value");
      }
    } else if (inline_value) {
      option.value = *inline_value;
    } else if (i + 1 < args.size()) {
      option.value = args[++i];
    } else {
      return usage_error("missing value for option", name,
                         "give " + name + " " + std::string(spec->value_name));
    }
    parsed.options.push_back(std::move(option));
  }
  return parsed;
}

std::string format_options_help(std::span<const OptionSpec> specs) {
  size_t width = 0;
  for (const OptionSpec& spec : specs) {
    width = std::max(width, spec.name.size() + 1 + spec.value_name.size());
  }
  // Help words wrap at 80 columns, under the start of the first help line.
  const size_t indent = 2 + width + 2;
  const size_t line_limit = 80;
  std::string text;
  for (const OptionSpec& spec : specs) {
    std::string line = "  " + std::string(spec.name);
    if (!spec.value_name.empty()) line += " " + std::string(spec.value_name);
    line.resize(indent, ' ');

    size_t line_start = line.size();
    std::string_view help = spec.help;
    while (!help.empty()) {
      size_t end = help.find(' ');
      std::string_view word = help.substr(0, end);
      help = end == std::string_view::npos ? std::string_view() : help.substr(end + 1);
      if (line.size() > line_start && line.size() + 1 + word.size() > line_limit) {
        text += line + "\n";
        line = std::string(indent, ' ');
        line_start = line.size();
      }
      if (line.size() > line_start) line += " ";
      line += word;
    }
    text += line + "\n";
  }
  return text;
}

std::string join_names(const std::vector<std::string>& names, std::string_view none) {
  if (names.empty()) return std::string(none);
  std::string text = names[0];
  for (size_t i = 1; i < names.size(); ++i) {
    text += (i + 1 == names.size() ? " and " : ", ") + names[i];
  }
  return text;
}

CommandResult<NameValue> split_name_value(std::string_view option, std::string_view argument,
                                          std::string_view value_word) {
  std::string form = std::string(option) + " NAME=" + std::string(value_word);
  size_t equals = argument.find('=');
  if (equals == std::string_view::npos) {
    return usage_error("invalid " + std::string(option) + " argument", "'" + std::string(argument) + "'",
                       "write it as " + form);
  }
  NameValue result{std::string(argument.substr(0, equals)),
                   std::string(argument.substr(equals + 1))};
  if (!is_pipeline_name(result.name)) {
    return usage_error("invalid name in " + std::string(option) + " argument",
                       "'" + std::string(argument) + "'",
                       "write it as " + form + ", with NAME as declared in the pipeline");
  }
  if (result.value.empty()) {
    return usage_error("missing " + std::string(value_word) + " in " + std::string(option) +
                           " argument",
                       "'" + std::string(argument) + "'", "write it as " + form);
  }
  return result;
}

std::optional<double> parse_real(std::string_view text) {
  // from_chars rejects a leading '+', which people write for exponents and signs.
  if (text.starts_with('+')) text.remove_prefix(1);
  if (text.empty() || text.starts_with('+')) return std::nullopt;
  double value = 0;
  auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return value;
}

std::optional<int64_t> parse_integer(std::string_view text) {
  if (text.starts_with('+')) text.remove_prefix(1);
  if (text.empty() || text.starts_with('+')) return std::nullopt;
  int64_t value = 0;
  auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return value;
}

}  // namespace rowjit::cli
