#include "tools/plan_choice_option.h"

#include <optional>
#include <vector>

#include "tools/args.h"

namespace rowjit::cli {
namespace {

// A choice is an integer or an on/off flag: the one member pointer that is
// set names its field in ir::PlanChoices.
struct ChoiceSpec {
  std::string_view name;
  std::optional<int> ir::PlanChoices::*integer_field;
  std::optional<bool> ir::PlanChoices::*flag_field;
  std::string_view values;  // what the planner accepts, for messages
};

// In the order of ir::PlanChoices, the softmax form aside.
constexpr ChoiceSpec kChoices[] = {
    {"unroll", &ir::PlanChoices::unroll, nullptr, "an integer from 1 to 8"},
    {"nontemporal_stores", nullptr, &ir::PlanChoices::nontemporal_stores, "on or off"},
    {"resident_vectors", &ir::PlanChoices::resident_vectors, nullptr, "an integer from 0 (never) to 16"},
    {"prefetch_bytes", &ir::PlanChoices::prefetch_bytes, nullptr, "an integer from 0 (none) to 1048576"},
    {"blocked_exp", nullptr, &ir::PlanChoices::blocked_exp, "on or off"},
    {"speculative_max", nullptr, &ir::PlanChoices::speculative_max, "on or off"},
    {"exp_group", &ir::PlanChoices::exp_group, nullptr, "a divisor of the unroll from 1 to 6"},
};

std::optional<bool> parse_flag(std::string_view text) {
  if (text == "on") return true;
  if (text == "off") return false;
  return std::nullopt;
}

}  // namespace

std::string plan_choice_names() {
  std::vector<std::string> names;
  for (const ChoiceSpec& spec : kChoices) names.emplace_back(spec.name);
  return join_names(names);
}

CommandStatus apply_plan_choice(std::string_view argument, ir::PlanChoices& choices) {
  size_t equals = argument.find('=');
  if (equals == std::string_view::npos || equals == 0 || equals + 1 == argument.size()) {
    return usage_error("invalid --choice argument", "'" + std::string(argument) + "'",
                       "write it as --choice NAME=VALUE, for example --choice unroll=2");
  }
  std::string_view name = argument.substr(0, equals);
  std::string_view text = argument.substr(equals + 1);
  const ChoiceSpec* spec = nullptr;
  for (const ChoiceSpec& candidate : kChoices) {
    if (candidate.name == name) spec = &candidate;
  }
  if (spec == nullptr) {
    return usage_error("unknown plan choice for --choice", "'" + std::string(name) + "'",
                       "give one of " + plan_choice_names() + " (--plan forces the softmax form)");
  }

  bool already = spec->flag_field ? (choices.*spec->flag_field).has_value()
                                  : (choices.*spec->integer_field).has_value();
  if (already) {
    return usage_error("plan choice given twice", "'" + std::string(name) + "'", "give each --choice once");
  }
  if (spec->flag_field) {
    std::optional<bool> flag = parse_flag(text);
    if (!flag) {
      return usage_error("invalid value for --choice " + std::string(name), "'" + std::string(text) + "'",
                         "give " + std::string(spec->values));
    }
    choices.*spec->flag_field = *flag;
    return command_ok();
  }
  // Values beyond an int are out of every range. The planner checks the
  // ranges themselves.
  std::optional<int64_t> integer = parse_integer(text);
  if (!integer || *integer < 0 || *integer > (int64_t{1} << 30)) {
    return usage_error("invalid value for --choice " + std::string(name), "'" + std::string(text) + "'",
                       "give " + std::string(spec->values));
  }
  choices.*spec->integer_field = static_cast<int>(*integer);
  return command_ok();
}

}  // namespace rowjit::cli
