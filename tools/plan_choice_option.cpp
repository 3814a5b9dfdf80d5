#include "tools/plan_choice_option.h"

#include <optional>
#include <vector>

#include "tools/args.h"

namespace rowjit::cli {
namespace {

enum class ChoiceKind { kInteger, kFlag };

struct ChoiceSpec {
  std::string_view name;
  ChoiceKind kind;
  std::string_view values;  // what the planner accepts, for messages
};

// In the order of ir::PlanChoices, the softmax form aside.
constexpr ChoiceSpec kChoices[] = {
    {"unroll", ChoiceKind::kInteger, "an integer from 1 to 8"},
    {"nontemporal_stores", ChoiceKind::kFlag, "on or off"},
    {"resident_vectors", ChoiceKind::kInteger, "an integer from 0 (never) to 16"},
    {"prefetch_bytes", ChoiceKind::kInteger, "an integer from 0 (none) to 1048576"},
    {"blocked_exp", ChoiceKind::kFlag, "on or off"},
    {"speculative_max", ChoiceKind::kFlag, "on or off"},
    {"exp_group", ChoiceKind::kInteger, "a divisor of the unroll from 1 to 6"},
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

  std::optional<int64_t> integer;
  std::optional<bool> flag;
  if (spec->kind == ChoiceKind::kFlag) {
    flag = parse_flag(text);
  } else {
    integer = parse_integer(text);
    // Values beyond an int are out of every range; the planner checks the
    // ranges themselves.
    if (integer && (*integer < 0 || *integer > (int64_t{1} << 30))) integer.reset();
  }
  if (!flag && !integer) {
    return usage_error("invalid value for --choice " + std::string(name), "'" + std::string(text) + "'",
                       "give " + std::string(spec->values));
  }
  bool already = (name == "unroll" && choices.unroll) ||
                 (name == "nontemporal_stores" && choices.nontemporal_stores) ||
                 (name == "resident_vectors" && choices.resident_vectors) ||
                 (name == "prefetch_bytes" && choices.prefetch_bytes) ||
                 (name == "blocked_exp" && choices.blocked_exp) ||
                 (name == "speculative_max" && choices.speculative_max) ||
                 (name == "exp_group" && choices.exp_group);
  if (already) {
    return usage_error("plan choice given twice", "'" + std::string(name) + "'", "give each --choice once");
  }
  int value = integer ? static_cast<int>(*integer) : 0;
  if (name == "unroll") choices.unroll = value;
  else if (name == "nontemporal_stores") choices.nontemporal_stores = *flag;
  else if (name == "resident_vectors") choices.resident_vectors = value;
  else if (name == "prefetch_bytes") choices.prefetch_bytes = value;
  else if (name == "blocked_exp") choices.blocked_exp = *flag;
  else if (name == "speculative_max") choices.speculative_max = *flag;
  else choices.exp_group = value;
  return command_ok();
}

}  // namespace rowjit::cli
