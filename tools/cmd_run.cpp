// `rowjit run PIPELINE --input NAME=FILE.npy ... --output NAME=FILE.npy ...`:
// runs a pipeline on tensors stored in .npy files.
#include <cstdio>

#include "tools/args.h"
#include "tools/commands.h"
#include "tools/execute.h"
#include "tools/inspect_kernel.h"
#include "tools/output_files.h"
#include "tools/pipeline_file.h"
#include "tools/run_binding.h"
#include "tools/run_summary.h"

namespace rowjit::cli {
namespace {

constexpr OptionSpec kRunOptions[] = {
    {"--input", "NAME=FILE.npy",
     "read input NAME, or vector parameter NAME, from FILE.npy; repeat once per input", true},
    {"--param", "NAME=VALUE",
     "set scalar parameter NAME to the number VALUE (an integer for s32); repeat once per "
     "parameter",
     true},
    {"--output", "NAME=FILE.npy",
     "write output NAME to FILE.npy; repeat once per output to keep, the others are discarded",
     true},
    {"--rows-from", "NAME",
     "take the row count from input NAME and check the other inputs against it (default: the "
     "first per-row input)",
     false},
    {"--rows", "N", "number of rows, for pipelines with no per-row input", false},
    {"--n", "N", "row length n, for pipelines with no input of shape [n]", false},
    {"--isa", "ISA", "instruction set to compile for: avx512 or avx2 (default: the best this machine supports, "
     "after ROWJIT_MAX_ISA)", false},
    {"--plan", "VARIANT",
     "force the softmax form: three_pass_recompute, three_pass_reload, two_pass_online or two_pass_extexp "
     "(default: the planner's choice)", false},
    {"--choice", "NAME=VALUE",
     "force another plan choice, as rowjit plan and dump take it (rowjit plan --help lists them); repeat once "
     "per choice", true},
    {"--help", "", "print this help and exit", false},
};

constexpr const char* kRunHelpIntro =
    "Usage: rowjit run PIPELINE --input NAME=FILE.npy ... [--param NAME=VALUE ...]\n"
    "                  --output NAME=FILE.npy ... [--rows-from NAME] [--rows N] [--n N]\n"
    "                  [--isa avx512|avx2] [--plan VARIANT] [--choice NAME=VALUE]...\n"
    "\n"
    "Runs the pipeline in the text file PIPELINE on the rows of .npy files and writes\n"
    "the requested outputs as .npy files. An input of shape (rows, n) holds one row of\n"
    "the pipeline per array row, and a 1-D input of shape (n,) is a single row. A per-row\n"
    "scalar input is 1-D of length rows. Outputs are written only after the whole run\n"
    "succeeds.\n"
    "\n"
    "Examples:\n"
    "  rowjit run examples/softmax.rj --input x=examples/logits.npy --output y=probs.npy\n"
    "  rowjit run examples/softmax.rj --input x=examples/logits.npy --output y=probs.npy \\\n"
    "      --isa avx2 --plan two_pass_online --choice speculative_max=off\n"
    "\n"
    "Options:\n";

constexpr const char* kRunHelpOutro =
    "\n"
    "Exit status: 0 on success, 1 when a file, the pipeline or the run fails, 2 for an\n"
    "invalid command line (a --plan variant or --choice that does not apply to the\n"
    "pipeline included). docs/cli.md lists the .npy dtype and shape of every element\n"
    "type.\n";

void print_run_help() {
  std::fputs(kRunHelpIntro, stdout);
  std::fputs(format_options_help(kRunOptions).c_str(), stdout);
  std::fputs(kRunHelpOutro, stdout);
}

// Counts above 2^40 cannot fit in memory as f32 rows, and the cap keeps the
// size arithmetic of later steps far from int64_t overflow.
constexpr int64_t kMaxCount = int64_t{1} << 40;

CommandResult<int64_t> parse_count(const std::string& option, const std::string& text) {
  std::optional<int64_t> count = parse_integer(text);
  if (!count || *count < 0 || *count > kMaxCount) {
    return usage_error("invalid value for " + option, "'" + text + "'",
                       "give an integer from 0 to 2^40");
  }
  return *count;
}

CommandResult<RunRequest> make_request(const ParsedArguments& parsed) {
  RunRequest request;
  if (parsed.positionals.empty()) {
    return usage_error("missing argument", "PIPELINE",
                       "give the pipeline file first, for example rowjit run "
                       "examples/softmax.rj --input x=FILE.npy --output y=FILE.npy");
  }
  if (parsed.positionals.size() > 1) {
    return usage_error("unexpected argument", "'" + parsed.positionals[1] + "'",
                       "give one pipeline file, and inputs with --input NAME=FILE.npy");
  }
  request.pipeline_path = parsed.positionals[0];

  for (const ParsedOption& option : parsed.options) {
    CommandResult<bool> applied = apply_kernel_option(option, request.isa, request.choices);
    if (!applied) return applied.error();
    if (*applied) continue;
    if (option.name == "--input" || option.name == "--output" || option.name == "--param") {
      CommandResult<NameValue> pair = split_name_value(
          option.name, option.value, option.name == "--param" ? "VALUE" : "FILE.npy");
      if (!pair) return pair.error();
      auto& list = option.name == "--input"    ? request.inputs
                   : option.name == "--output" ? request.outputs
                                               : request.params;
      list.push_back(*pair);
    } else if (option.name == "--rows-from") {
      request.rows_from = option.value;
    } else if (option.name == "--rows" || option.name == "--n") {
      CommandResult<int64_t> count = parse_count(option.name, option.value);
      if (!count) return count.error();
      (option.name == "--rows" ? request.rows : request.n) = *count;
    }
  }
  return request;
}

std::string run_failure_fix(StatusCode code) {
  switch (code) {
    case StatusCode::kOutOfRange: return "check the input values and parameters";
    case StatusCode::kInvalidArgument: return "check the inputs and parameters against the pipeline";
    case StatusCode::kUnsupported: return "this build cannot run this pipeline";
    default: return "this is a bug in rowjit, so please report it with the command line";
  }
}

// Runs the request and returns the summary line.
CommandResult<std::string> run_request(const RunRequest& request) {
  CommandResult<ir::Pipeline> pipeline = load_pipeline(request.pipeline_path);
  if (!pipeline) return pipeline.error();

  ROWJIT_CLI_TRY(check_request_names(*pipeline, request));
  BoundRun run;
  ROWJIT_CLI_TRY(bind_params(*pipeline, request, run.args));
  ROWJIT_CLI_TRY(bind_inputs(*pipeline, request, run));
  ROWJIT_CLI_TRY(bind_outputs(*pipeline, run));

  // A forced ISA or plan that cannot run fails before any file is created.
  ROWJIT_CLI_TRY(check_isa_supported(request.isa));
  CommandResult<ir::Plan> plan = plan_forced(*pipeline, request.isa.value_or(host_isa()), run.args.n, request.choices);
  if (!plan) return plan.error();

  // Creating the output files first makes a missing folder fail before the run.
  CommandResult<OutputFiles> files = OutputFiles::create(request.outputs);
  if (!files) return files.error();

  Result<Execution> execution = execute_pipeline(*pipeline, run.args, request.isa, request.choices);
  if (!execution) {
    // Most run-time messages already end with what to do. The others get a
    // generic fix by status code.
    std::string message = execution.status().message();
    if (message.find("; ") != std::string::npos) {
      return CommandError{kExitRunFailure, "run failed: " + message};
    }
    return run_failure("run failed", message, run_failure_fix(execution.status().code()));
  }
  ROWJIT_CLI_TRY(files->commit(run.outputs));
  if (execution->engine == Engine::kInterpreter && request.choices != ir::PlanChoices{}) {
    // The runtime has already logged why the interpreter ran.
    std::fprintf(stderr, "rowjit run: note: --plan and --choice had no effect, because the reference "
                         "interpreter ran the pipeline\n");
  }
  return format_run_summary(*pipeline, request, run, *execution);
}

}  // namespace

int run_command(std::span<const std::string> args) {
  CommandResult<ParsedArguments> parsed = parse_arguments(args, kRunOptions);
  if (!parsed) return report_error("run", parsed.error());
  for (const ParsedOption& option : parsed->options) {
    if (option.name == "--help") {
      print_run_help();
      return kExitSuccess;
    }
  }

  CommandResult<RunRequest> request = make_request(*parsed);
  if (!request) return report_error("run", request.error());
  CommandResult<std::string> summary = run_request(*request);
  if (!summary) return report_error("run", summary.error());
  std::printf("%s\n", summary->c_str());
  return kExitSuccess;
}

}  // namespace rowjit::cli
