#include "tools/inspect_kernel.h"

#include <vector>

#include "ir/planner.h"
#include "runtime/cpu_features.h"
#include "tools/plan_choice_option.h"

namespace rowjit::cli {
namespace {

// Counts above 2^40 cannot fit in memory as f32 rows, as in `rowjit run`.
constexpr int64_t kMaxCount = int64_t{1} << 40;

constexpr ir::SoftmaxForm kSoftmaxForms[] = {
    ir::SoftmaxForm::kThreePassRecompute,
    ir::SoftmaxForm::kThreePassReload,
    ir::SoftmaxForm::kTwoPassOnline,
    ir::SoftmaxForm::kTwoPassExtExp,
};

std::string softmax_form_names() {
  std::vector<std::string> names;
  for (ir::SoftmaxForm form : kSoftmaxForms) names.emplace_back(ir::softmax_form_name(form));
  return join_names(names);
}

CommandResult<int64_t> parse_count(const std::string& option, const std::string& text) {
  std::optional<int64_t> count = parse_integer(text);
  if (!count || *count < 0 || *count > kMaxCount) {
    return usage_error("invalid value for " + option, "'" + text + "'", "give an integer from 0 to 2^40");
  }
  return *count;
}

// Most compile messages end with what to do (refused executable memory). The
// others are bugs in rowjit.
CommandError compile_failure(const Status& status) {
  const std::string& message = status.message();
  if (message.find("; ") != std::string::npos) return CommandError{kExitRunFailure, "compile failed: " + message};
  return run_failure("compile failed", message, "this is a bug in rowjit, so please report it with the command line");
}

CommandResult<Isa> parse_isa_option(const std::string& text) {
  Result<Isa> isa = parse_isa(text);
  if (!isa || *isa == Isa::kNone) {
    return usage_error("invalid value for --isa", "'" + text + "'", "give avx512 or avx2");
  }
  return *isa;
}

CommandResult<ir::SoftmaxForm> parse_plan_option(const std::string& text) {
  std::optional<ir::SoftmaxForm> form = ir::parse_softmax_form(text);
  if (!form) {
    return usage_error("unknown plan variant for --plan", "'" + text + "'",
                       "give one of " + softmax_form_names());
  }
  return *form;
}

}  // namespace

CommandResult<bool> apply_kernel_option(const ParsedOption& option, std::optional<Isa>& isa,
                                       ir::PlanChoices& choices) {
  if (option.name == "--isa") {
    CommandResult<Isa> parsed = parse_isa_option(option.value);
    if (!parsed) return parsed.error();
    isa = *parsed;
  } else if (option.name == "--plan") {
    CommandResult<ir::SoftmaxForm> form = parse_plan_option(option.value);
    if (!form) return form.error();
    choices.softmax_form = *form;
  } else if (option.name == "--choice") {
    ROWJIT_CLI_TRY(apply_plan_choice(option.value, choices));
  } else {
    return false;
  }
  return true;
}

CommandResult<KernelChoice> read_kernel_choice(const ParsedArguments& parsed, const std::string& command) {
  KernelChoice choice;
  if (parsed.positionals.empty()) {
    return usage_error("missing argument", "PIPELINE",
                       "give the pipeline file first, for example rowjit " + command + " examples/softmax.rj");
  }
  if (parsed.positionals.size() > 1) {
    return usage_error("unexpected argument", "'" + parsed.positionals[1] + "'", "give one pipeline file");
  }
  choice.pipeline_path = parsed.positionals[0];

  for (const ParsedOption& option : parsed.options) {
    CommandResult<bool> applied = apply_kernel_option(option, choice.isa, choice.choices);
    if (!applied) return applied.error();
    if (*applied) continue;
    if (option.name == "--n" || option.name == "--rows") {
      CommandResult<int64_t> count = parse_count(option.name, option.value);
      if (!count) return count.error();
      if (option.name == "--n") choice.n_hint = *count;
      else choice.rows = *count;
    }
  }
  return choice;
}

CommandStatus check_isa_supported(std::optional<Isa> isa) {
  Isa best = best_isa(host_cpu());
  if (!isa || *isa <= best) return command_ok();
  std::string fix = best == Isa::kNone
                        ? "this CPU and OS support neither avx2 nor avx512, so only the reference interpreter "
                          "runs here"
                        : std::string("this CPU and OS support at most ") + isa_name(best) + ", so give --isa " +
                              isa_name(best) + " or leave --isa out";
  return run_failure("ISA not supported on this machine", isa_name(*isa), fix);
}

CommandResult<ir::Plan> plan_forced(const ir::Pipeline& pipeline, Isa isa, int64_t n_hint,
                                    const ir::PlanChoices& choices) {
  Result<ir::Plan> plan = ir::make_plan(pipeline, host_target(isa), n_hint, choices);
  if (!plan) {
    return usage_error("forced plan does not apply", plan.status().message(),
                       "give another --plan variant or --choice value, or leave them out");
  }
  return std::move(plan).value();
}

CommandResult<InspectedKernel> inspect_kernel(const ir::Pipeline& pipeline, const KernelChoice& choice) {
  InspectedKernel inspected;
  inspected.isa = choice.isa.value_or(host_isa());
  ROWJIT_CLI_TRY(check_isa_supported(choice.isa));

  // Planning first separates a forced form that does not apply, and a
  // pipeline the JIT cannot lower, from compile failures. compile() makes the
  // same plan from the same inputs.
  const ir::PlanChoices& choices = choice.choices;
  CommandResult<ir::Plan> plan = plan_forced(pipeline, inspected.isa, choice.n_hint, choices);
  if (!plan) return plan.error();
  if (!plan->jit_supported) {
    inspected.plan = std::move(plan).value();
    return inspected;
  }

  CompileOptions options;
  options.isa = choice.isa;
  options.n_hint = choice.n_hint;
  options.choices = choices;
  Result<std::shared_ptr<const Kernel>> kernel = compile(pipeline, options);
  if (!kernel) {
    inspected.plan = std::move(plan).value();
    inspected.compile_error = compile_failure(kernel.status());
    return inspected;
  }
  inspected.kernel = *kernel;
  inspected.plan = inspected.kernel->plan();
  return inspected;
}

std::string isa_origin(const KernelChoice& choice) {
  if (choice.isa) return "set by --isa";
  std::optional<Isa> cap = host_isa_cap();
  std::string origin = std::string("the best this CPU and OS support is ") + isa_name(best_isa(host_cpu()));
  if (cap) return origin + ", capped at " + isa_name(*cap) + " by ROWJIT_MAX_ISA";
  return origin + ", and ROWJIT_MAX_ISA is not set";
}

}  // namespace rowjit::cli
