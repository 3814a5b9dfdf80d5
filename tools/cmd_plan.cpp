// `rowjit plan PIPELINE --n N [--rows R] [--isa ISA] [--plan VARIANT]
// [--choice NAME=VALUE]...`: prints
// the planner's schedule of a pipeline and what the lowering made of it.
#include <cstdio>
#include <sstream>

#include "ir/planner.h"
#include "jit/math.h"
#include "tools/args.h"
#include "tools/commands.h"
#include "tools/inspect_kernel.h"
#include "tools/pipeline_file.h"

namespace rowjit::cli {
namespace {

constexpr OptionSpec kPlanOptions[] = {
    {"--n", "N", "row length in elements that the plan is chosen for (required; 0 means unknown)", false},
    {"--rows", "R", "row count, for the total memory traffic of a call (the plan does not depend on it)", false},
    {"--isa", "ISA",
     "instruction set to plan for: avx512 or avx2 (default: the best this machine supports, after "
     "ROWJIT_MAX_ISA)",
     false},
    {"--plan", "VARIANT",
     "force the softmax form: three_pass_recompute, three_pass_reload, two_pass_online or two_pass_extexp "
     "(default: the planner's choice)",
     false},
    {"--choice", "NAME=VALUE",
     "force another plan choice: unroll (1 to 8), nontemporal_stores, resident_vectors (0 to 16), "
     "prefetch_bytes (0 to 1048576), blocked_exp, speculative_max or exp_group (a divisor of the unroll up to 6); "
     "flags take on or off",
     true},
    {"--help", "", "print this help and exit", false},
};

constexpr const char* kPlanHelpIntro =
    "Usage: rowjit plan PIPELINE --n N [--rows R] [--isa avx512|avx2] [--plan VARIANT]\n"
    "                   [--choice NAME=VALUE]...\n"
    "\n"
    "Prints how the runtime would execute the pipeline in the text file PIPELINE on rows\n"
    "of N elements: the sweeps over the row, what each reads, writes and computes, the\n"
    "bytes moved per element, the reason for each choice, and what the lowering to\n"
    "machine code decided (ISA, unroll, code size).\n"
    "\n"
    "Example:\n"
    "  rowjit plan examples/softmax.rj --n 1000000 --rows 64\n"
    "\n"
    "Options:\n";

constexpr const char* kPlanHelpOutro =
    "\n"
    "Exit status: 0 on success, 1 when the file, the pipeline or the compilation fails\n"
    "(an ISA this machine lacks), 2 for an invalid command line (unknown option or\n"
    "value, missing --n, a --plan variant or --choice that does not apply).\n";

void print_plan_help() {
  std::fputs(kPlanHelpIntro, stdout);
  std::fputs(format_options_help(kPlanOptions).c_str(), stdout);
  std::fputs(kPlanHelpOutro, stdout);
}

CommandResult<KernelChoice> make_request(const ParsedArguments& parsed) {
  CommandResult<KernelChoice> choice = read_kernel_choice(parsed, "plan");
  if (!choice) return choice.error();
  bool has_n = false;
  for (const ParsedOption& option : parsed.options) has_n |= option.name == "--n";
  if (!has_n) {
    return usage_error("missing option", "--n", "give the row length, for example --n 4096 (0 for unknown)");
  }
  return choice;
}

// Describes what the lowering decided: the ISA, the unroll it used and the code size.
std::string describe_lowering(const KernelChoice& choice, const InspectedKernel& inspected) {
  std::ostringstream out;
  out << "lowering:\n";
  out << "  isa: " << isa_name(inspected.isa) << " (" << isa_origin(choice) << ")\n";
  if (inspected.compile_error) {
    out << "  " << inspected.compile_error->message << "\n";
    return out.str();
  }
  const jit::CompiledKernel* compiled = inspected.compiled();
  if (compiled == nullptr) {
    out << "  no machine code: the reference interpreter runs this pipeline ("
        << inspected.plan.unsupported_reason << ")\n";
    return out.str();
  }
  const bool single_vector = compiled->unroll == 1;
  out << "  unroll: " << compiled->unroll << (single_vector ? " vector" : " vectors")
      << " per main-loop iteration, each reduction with " << compiled->unroll
      << (single_vector ? " accumulator" : " accumulators");
  // jit/emit_reductions.cpp: AVX2 frees registers for the exp constants. The
  // two-pass forms keep their sums per lane (jit/emit_softmax_core.cpp).
  bool three_pass = inspected.plan.softmax_form == ir::SoftmaxForm::kThreePassRecompute ||
                    inspected.plan.softmax_form == ir::SoftmaxForm::kThreePassReload;
  if (compiled->isa == "avx2" && compiled->unroll > 1 && three_pass) {
    out << ", but the softmax sum keeps one";
  }
  if (compiled->unroll != inspected.plan.unroll) {
    out << " (the plan's " << inspected.plan.unroll << " did not fit the vector registers)";
  }
  out << "\n";
  if (inspected.plan.exp_group > 1 || compiled->exp_group > 1) {
    out << "  exp groups: ";
    if (compiled->exp_group > 1) out << "the exps of " << compiled->exp_group << " vectors side by side";
    else out << "none";
    if (compiled->exp_group != inspected.plan.exp_group) {
      out << " (the plan's " << inspected.plan.exp_group << " did not fit the vector registers)";
    }
    if (compiled->exp_group > 1 && compiled->resident_vectors > 0) out << ", in the loops";
    out << "\n";
  }
  // A planned residency that did not fit the registers is gone from the
  // kernel's plan, and a line of its choices gives the reason.
  if (compiled->resident_vectors > 0) {
    out << "  resident rows: rows of " << compiled->resident_vectors
        << " vectors stay in registers (exps one vector at a time, regular stores; other lengths take the "
           "loops)\n";
  }
  if (compiled->exp_range_test) {
    out << "  exp guard: left out on rows whose max - min is at most " << jit::kExpGuardFreeRange
        << " (the max sweep takes the min too)";
    if (compiled->resident_vectors > 0 && compiled->isa == "avx512") out << ", in the loops";
    out << "\n";
  }
  if (compiled->blocked_exp_range_test) {
    out << "  exp guard: left out while the reference - the block's min is at most " << jit::kExpGuardFreeRange
        << " (tested after each chunk; a part out of the range runs again with the guard, and so does the rest of "
           "the row)\n";
  }
  if (inspected.plan.softmax_form == ir::SoftmaxForm::kTwoPassExtExp) {
    out << "  large maxima: rows whose max is at least " << static_cast<int64_t>(jit::kExtExpShiftFrom)
        << " in magnitude run both sweeps again on x - max (the pairs of exp(x) are within 1 ulp below it)\n";
  }
  out << "  code: " << compiled->code_size << " bytes, " << compiled->constants.size()
      << " constants (rowjit dump lists them)\n";
  return out.str();
}

// Formats a byte count in full, with MiB for large counts.
std::string format_bytes(double bytes) {
  char text[96];
  if (bytes >= 1024.0 * 1024.0) {
    std::snprintf(text, sizeof text, "%.0f bytes (%.1f MiB)", bytes, bytes / (1024.0 * 1024.0));
  } else {
    std::snprintf(text, sizeof text, "%.0f bytes", bytes);
  }
  return text;
}

// Describes the memory traffic: bytes per element times the row length, and
// times the row count if given.
std::string describe_traffic(const KernelChoice& choice, const ir::Plan& plan) {
  if (plan.n_hint <= 0) return "";
  double row_bytes = plan.bytes_per_element * static_cast<double>(plan.n_hint);
  std::string text = "memory traffic: " + format_bytes(row_bytes) + " per row";
  if (choice.rows) {
    text += ", " + format_bytes(row_bytes * static_cast<double>(*choice.rows)) + " for " +
            std::to_string(*choice.rows) + (*choice.rows == 1 ? " row" : " rows");
  }
  return text + "\n";
}

// Prints the plan, and returns the compile error, if any, after the plan is out.
CommandStatus plan(const KernelChoice& choice) {
  CommandResult<ir::Pipeline> pipeline = load_pipeline(choice.pipeline_path);
  if (!pipeline) return pipeline.error();
  CommandResult<InspectedKernel> inspected = inspect_kernel(*pipeline, choice);
  if (!inspected) return inspected.error();
  std::string text = ir::print_plan(*pipeline, inspected->plan) + describe_lowering(choice, *inspected) +
                     describe_traffic(choice, inspected->plan);
  std::fputs(text.c_str(), stdout);
  if (inspected->compile_error) {
    std::fflush(stdout);
    return *inspected->compile_error;
  }
  return command_ok();
}

}  // namespace

int plan_command(std::span<const std::string> args) {
  CommandResult<ParsedArguments> parsed = parse_arguments(args, kPlanOptions);
  if (!parsed) return report_error("plan", parsed.error());
  for (const ParsedOption& option : parsed->options) {
    if (option.name == "--help") {
      print_plan_help();
      return kExitSuccess;
    }
  }

  CommandResult<KernelChoice> choice = make_request(*parsed);
  if (!choice) return report_error("plan", choice.error());
  CommandStatus printed = plan(*choice);
  if (!printed) return report_error("plan", printed.error());
  return kExitSuccess;
}

}  // namespace rowjit::cli
