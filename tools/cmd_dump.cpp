// `rowjit dump PIPELINE [--isa ISA] [--n N] [--plan VARIANT] [--choice NAME=VALUE]...
// [--syntax intel|att] [--bytes] [--format text|json]`: prints the machine code that the runtime
// would run for a pipeline, decoded from the finished bytes.
#include <cstdio>

#include "ir/planner.h"
#include "jit/disassembler.h"
#include "tools/args.h"
#include "tools/commands.h"
#include "tools/inspect_kernel.h"
#include "tools/pipeline_file.h"

namespace rowjit::cli {
namespace {

constexpr OptionSpec kDumpOptions[] = {
    {"--isa", "ISA",
     "instruction set to compile for: avx512 or avx2 (default: the best this machine supports, after "
     "ROWJIT_MAX_ISA)",
     false},
    {"--n", "N", "row length in elements that the plan is chosen for (default 0: unknown, planned as a row in cache)",
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
    {"--syntax", "SYNTAX", "assembly syntax: intel (default) or att", false},
    {"--bytes", "", "print the machine code bytes of each instruction (text form; JSON always has them)", false},
    {"--format", "FORMAT", "output form: text (default) or json", false},
    {"--help", "", "print this help and exit", false},
};

constexpr const char* kDumpHelpIntro =
    "Usage: rowjit dump PIPELINE [--isa avx512|avx2] [--n N] [--plan VARIANT]\n"
    "                   [--choice NAME=VALUE]... [--syntax intel|att] [--bytes]\n"
    "                   [--format text|json]\n"
    "\n"
    "Compiles the pipeline in the text file PIPELINE as the runtime would and prints\n"
    "the generated machine code, decoded with Zydis: one instruction per line with its\n"
    "offset in hex, comment lines where each sweep, loop, masked tail and IR op begins,\n"
    "the constant pool, and the code bytes and instruction count of each sweep.\n"
    "\n"
    "Example:\n"
    "  rowjit dump examples/softmax.rj --n 100000 --plan two_pass_online\n"
    "  rowjit dump examples/softmax.rj --n 4096 --choice unroll=2 --choice exp_group=1\n"
    "\n"
    "Options:\n";

constexpr const char* kDumpHelpOutro =
    "\n"
    "Exit status: 0 on success, 1 when the file, the pipeline or the compilation fails\n"
    "(a pipeline the JIT cannot lower, an ISA this machine lacks), 2 for an invalid\n"
    "command line (unknown option or value, a --plan variant or --choice that does not\n"
    "apply).\n";

void print_dump_help() {
  std::fputs(kDumpHelpIntro, stdout);
  std::fputs(format_options_help(kDumpOptions).c_str(), stdout);
  std::fputs(kDumpHelpOutro, stdout);
}

struct DumpRequest {
  KernelChoice kernel;
  jit::ListingOptions listing;
  bool json = false;
};

CommandResult<DumpRequest> make_request(const ParsedArguments& parsed) {
  DumpRequest request;
  CommandResult<KernelChoice> choice = read_kernel_choice(parsed, "dump");
  if (!choice) return choice.error();
  request.kernel = *choice;

  for (const ParsedOption& option : parsed.options) {
    if (option.name == "--syntax") {
      std::optional<jit::AsmSyntax> syntax = jit::parse_asm_syntax(option.value);
      if (!syntax) return usage_error("invalid value for --syntax", "'" + option.value + "'", "give intel or att");
      request.listing.syntax = *syntax;
    } else if (option.name == "--bytes") {
      request.listing.show_bytes = true;
    } else if (option.name == "--format") {
      if (option.value != "text" && option.value != "json") {
        return usage_error("invalid value for --format", "'" + option.value + "'", "give text or json");
      }
      request.json = option.value == "json";
    }
  }
  return request;
}

std::string listing_title(const ir::Pipeline& pipeline, const DumpRequest& request, const ir::Plan& plan) {
  std::string title = "pipeline '" + pipeline.name + "' from " + request.kernel.pipeline_path;
  if (plan.softmax_form != ir::SoftmaxForm::kNone) {
    title += ", softmax form " + std::string(ir::softmax_form_name(plan.softmax_form));
  }
  title += plan.n_hint > 0 ? ", planned for n = " + std::to_string(plan.n_hint) : ", planned for an unknown n";
  return title;
}

CommandResult<std::string> dump(const DumpRequest& request) {
  CommandResult<ir::Pipeline> pipeline = load_pipeline(request.kernel.pipeline_path);
  if (!pipeline) return pipeline.error();
  if (!request.kernel.isa && host_isa() == Isa::kNone) {
    return run_failure("no JIT instruction set on this machine", isa_origin(request.kernel),
                       "give --isa avx2 or --isa avx512 if the CPU has it, or unset ROWJIT_MAX_ISA");
  }

  CommandResult<InspectedKernel> inspected = inspect_kernel(*pipeline, request.kernel);
  if (!inspected) return inspected.error();
  if (inspected->compile_error) return *inspected->compile_error;
  const jit::CompiledKernel* compiled = inspected->compiled();
  if (compiled == nullptr) {
    return run_failure("no JIT kernel for this pipeline", inspected->plan.unsupported_reason,
                       "rowjit run runs it on the reference interpreter");
  }

  jit::ListingOptions options = request.listing;
  options.title = listing_title(*pipeline, request, inspected->plan);
  return request.json ? jit::format_listing_json(*compiled, options) : jit::format_listing(*compiled, options);
}

}  // namespace

int dump_command(std::span<const std::string> args) {
  CommandResult<ParsedArguments> parsed = parse_arguments(args, kDumpOptions);
  if (!parsed) return report_error("dump", parsed.error());
  for (const ParsedOption& option : parsed->options) {
    if (option.name == "--help") {
      print_dump_help();
      return kExitSuccess;
    }
  }

  CommandResult<DumpRequest> request = make_request(*parsed);
  if (!request) return report_error("dump", request.error());
  CommandResult<std::string> listing = dump(*request);
  if (!listing) return report_error("dump", listing.error());
  std::fputs(listing->c_str(), stdout);
  return kExitSuccess;
}

}  // namespace rowjit::cli
