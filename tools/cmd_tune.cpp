// `rowjit tune PIPELINE --n N[,N...] --out FILE [--rows R] [--threads T]
// [--budget SECONDS] [--isa ISA] [--param NAME=VALUE]`: measures the plans of
// a pipeline on this CPU and merges the fastest into a tuning file.
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <map>
#include <string>
#include <vector>

#include "runtime/atomic_file.h"
#include "runtime/tuner.h"
#include "runtime/tuning_file.h"
#include "tools/args.h"
#include "tools/commands.h"
#include "tools/pipeline_file.h"

namespace rowjit::cli {
namespace {

constexpr double kDefaultBudgetSeconds = 60;
constexpr int kMaxThreads = 4096;  // the tuning file's limit

constexpr OptionSpec kTuneOptions[] = {
    {"--n", "N[,N...]", "row lengths in elements to tune, each its own shape (required)", false},
    {"--out", "FILE",
     "tuning file to write; an existing file keeps its other entries, and an entry of the same CPU, pipeline, "
     "ISA, shape bucket and thread count is replaced (required)",
     false},
    {"--rows", "R",
     "rows per call (default: enough rows for a call to read 4 times the L2 cache of input, at least one per "
     "thread)",
     false},
    {"--threads", "T", "threads the rows are split over (default 1)", false},
    {"--budget", "SECONDS", "maximum wall time of the whole tune, compiles included (default 60)", false},
    {"--isa", "ISA",
     "instruction set to tune for: avx512 or avx2 (default: the best this machine supports, after ROWJIT_MAX_ISA)",
     false},
    {"--param", "NAME=VALUE", "value of the scalar parameter NAME, for parameters without a default; repeatable",
     true},
    {"--help", "", "print this help and exit", false},
};

constexpr const char* kTuneHelpIntro =
    "Usage: rowjit tune PIPELINE --n N[,N...] --out FILE [--rows R] [--threads T]\n"
    "                  [--budget SECONDS] [--isa avx512|avx2] [--param NAME=VALUE ...]\n"
    "\n"
    "Measures the candidate plans of the pipeline in the text file PIPELINE on this CPU\n"
    "for each row length N: the softmax forms that apply, unroll 1, 2, 4 and 8,\n"
    "non-temporal stores on and off for rows larger than the L2 cache, and exp groups\n"
    "on and off. Candidates run interleaved on random inputs; a candidate is chosen only\n"
    "when its median time beats the planner's default by more than the noise. Prints\n"
    "default and tuned times per shape and merges the choices into FILE, which the\n"
    "runtime reads when ROWJIT_TUNING_FILE names it.\n"
    "\n"
    "Example:\n"
    "  rowjit tune examples/softmax.rj --n 4096,65536 --out tuning.json\n"
    "\n"
    "Options:\n";

constexpr const char* kTuneHelpOutro =
    "\n"
    "Exit status: 0 on success, 1 when a file, the pipeline or a run fails, or no shape\n"
    "could be measured within the budget, 2 for an invalid command line.\n";

void print_tune_help() {
  std::fputs(kTuneHelpIntro, stdout);
  std::fputs(format_options_help(kTuneOptions).c_str(), stdout);
  std::fputs(kTuneHelpOutro, stdout);
}

struct TuneCommand {
  std::string pipeline_path;
  std::string out_path;
  TuneRequest request;
};

CommandResult<std::vector<int64_t>> parse_row_lengths(const std::string& text) {
  std::vector<int64_t> lengths;
  size_t start = 0;
  while (start <= text.size()) {
    size_t comma = text.find(',', start);
    std::string item = text.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    std::optional<int64_t> n = parse_integer(item);
    if (!n || *n < 1 || *n > (int64_t{1} << 40)) {
      return usage_error("invalid value for --n", "'" + item + "' in '" + text + "'",
                         "give row lengths from 1 to 2^40, separated by commas, for example --n 4096,65536");
    }
    lengths.push_back(*n);
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return lengths;
}

CommandStatus read_option(const ParsedOption& option, TuneCommand& command) {
  const std::string& value = option.value;
  TuneRequest& request = command.request;
  if (option.name == "--n") {
    CommandResult<std::vector<int64_t>> lengths = parse_row_lengths(value);
    if (!lengths) return lengths.error();
    request.row_lengths = *lengths;
  } else if (option.name == "--out") {
    command.out_path = value;
  } else if (option.name == "--rows") {
    std::optional<int64_t> rows = parse_integer(value);
    if (!rows || *rows < 1 || *rows > (int64_t{1} << 40)) {
      return usage_error("invalid value for --rows", "'" + value + "'", "give an integer from 1 to 2^40");
    }
    request.rows = *rows;
  } else if (option.name == "--threads") {
    std::optional<int64_t> threads = parse_integer(value);
    if (!threads || *threads < 1 || *threads > kMaxThreads) {
      return usage_error("invalid value for --threads", "'" + value + "'",
                         "give an integer from 1 to " + std::to_string(kMaxThreads));
    }
    request.threads = static_cast<int>(*threads);
  } else if (option.name == "--budget") {
    std::optional<double> seconds = parse_real(value);
    if (!seconds || !std::isfinite(*seconds) || *seconds <= 0) {
      return usage_error("invalid value for --budget", "'" + value + "'",
                         "give a number of seconds greater than 0, for example --budget 30");
    }
    request.budget_seconds = *seconds;
  } else if (option.name == "--isa") {
    Result<Isa> isa = parse_isa(value);
    if (!isa || *isa == Isa::kNone) {
      return usage_error("invalid value for --isa", "'" + value + "'", "give avx512 or avx2");
    }
    request.isa = *isa;
  } else if (option.name == "--param") {
    CommandResult<NameValue> param = split_name_value("--param", value, "VALUE");
    if (!param) return param.error();
    std::optional<double> number = parse_real(param->value);
    if (!number || !std::isfinite(*number)) {
      return usage_error("invalid value for --param " + param->name, "'" + param->value + "'",
                         "give a finite number");
    }
    if (!request.scalars.emplace(param->name, *number).second) {
      return usage_error("parameter given twice", "--param " + param->name, "give each parameter once");
    }
  }
  return command_ok();
}

CommandResult<TuneCommand> make_command(const ParsedArguments& parsed) {
  TuneCommand command;
  command.request.budget_seconds = kDefaultBudgetSeconds;
  if (parsed.positionals.empty()) {
    return usage_error("missing argument", "PIPELINE",
                       "give the pipeline file first, for example rowjit tune examples/softmax.rj --n 4096 "
                       "--out tuning.json");
  }
  if (parsed.positionals.size() > 1) {
    return usage_error("unexpected argument", "'" + parsed.positionals[1] + "'", "give one pipeline file");
  }
  command.pipeline_path = parsed.positionals[0];
  for (const ParsedOption& option : parsed.options) ROWJIT_CLI_TRY(read_option(option, command));
  if (command.request.row_lengths.empty()) {
    return usage_error("missing option", "--n", "give the row lengths to tune, for example --n 4096,65536");
  }
  if (command.out_path.empty()) {
    return usage_error("missing option", "--out", "give the tuning file to write, for example --out tuning.json");
  }
  return command;
}

// Reads the tuning file that the new entries merge into; a missing file is a
// new, empty one. An invalid file stops the tune before any measurement,
// rather than being overwritten.
CommandResult<TuningFile> read_existing_file(const std::string& path) {
  if (access(path.c_str(), F_OK) != 0) return TuningFile{};
  Result<TuningFile> file = load_tuning_file(path);
  if (!file) {
    bool invalid = file.status().code() != StatusCode::kIoError;
    return run_failure("cannot merge into --out", file.status().message(),
                       invalid ? "fix or remove the file, or give another --out file" : "give another --out file");
  }
  if (file->schema_version != kTuningSchemaVersion) {
    std::fprintf(stderr,
                 "rowjit tune: %s has schema version %d; this rowjit writes version %d, so its entries will be "
                 "replaced\n",
                 path.c_str(), file->schema_version, kTuningSchemaVersion);
  }
  return std::move(file).value();
}

// Shows progress lines on a terminal, each overwriting the last.
class ProgressLine {
 public:
  ProgressLine() : enabled_(isatty(STDERR_FILENO) == 1) {}
  ~ProgressLine() { clear(); }

  void show(const std::string& text) {
    if (!enabled_) return;
    std::string line = text.size() > 78 ? text.substr(0, 78) : text;
    size_t width = line.size();
    if (line.size() < shown_) line.append(shown_ - line.size(), ' ');
    std::fprintf(stderr, "\r%s", line.c_str());
    std::fflush(stderr);
    shown_ = width;
  }

  void clear() {
    if (!enabled_ || shown_ == 0) return;
    std::fprintf(stderr, "\r%s\r", std::string(shown_, ' ').c_str());
    std::fflush(stderr);
    shown_ = 0;
  }

 private:
  bool enabled_;
  size_t shown_ = 0;
};

std::string format_ns(double ns) {
  char text[32];
  std::snprintf(text, sizeof text, "%.4f", ns);
  return text;
}

std::string format_timing(const Timing& timing) {
  return format_ns(timing.median) + " +- " + format_ns(timing.mad) + " (" + format_ns(timing.min) + ".." +
         format_ns(timing.max) + ", " + std::to_string(timing.samples) + " samples)";
}

void print_shape(const ShapeResult& shape) {
  std::printf("\nn = %lld, %lld %s per call%s\n", static_cast<long long>(shape.n),
              static_cast<long long>(shape.rows), shape.rows == 1 ? "row" : "rows",
              shape.candidates.empty() ? "" : "; ns per element: median +- median absolute deviation (min..max)");
  for (const CandidateResult& measured : shape.candidates) {
    const char* role = measured.candidate == shape.default_candidate ? "  [default]"
                       : measured.candidate == shape.tuned_candidate ? "  [tuned]"
                                                                     : "";
    std::printf("  %-64s %s%s\n", describe_candidate(measured.candidate).c_str(),
                format_timing(measured.timing).c_str(), role);
  }
  for (const std::string& note : shape.notes) std::printf("  note: %s\n", note.c_str());
  if (!shape.measured) {
    std::printf("  not tuned: the budget ran out before the candidates were measured; give a larger --budget\n");
    return;
  }
  if (shape.budget_exhausted) std::printf("  note: the budget ran out before the last stages finished\n");
  if (shape.kept_default) {
    std::printf("  result: kept the default (%s): no candidate beat it by more than the noise\n",
                describe_candidate(shape.default_candidate).c_str());
  } else {
    std::printf("  result: %s, %s ns per element against %s for the default, measured together (%.2fx)\n",
                describe_candidate(shape.tuned_candidate).c_str(), format_ns(shape.tuned_timing.median).c_str(),
                format_ns(shape.default_timing.median).c_str(),
                shape.default_timing.median / shape.tuned_timing.median);
  }
}

void print_summary(const TuneResult& result) {
  std::printf("\nsummary (ns per element, median +- median absolute deviation):\n");
  std::printf("  %-10s %-20s %-20s %-8s %s\n", "n", "default", "tuned", "speedup", "choice");
  for (const ShapeResult& shape : result.shapes) {
    if (!shape.measured) {
      std::printf("  %-10lld %-20s %-20s %-8s %s\n", static_cast<long long>(shape.n), "-", "-", "-",
                  "not tuned (budget ran out)");
      continue;
    }
    std::string default_time = format_ns(shape.default_timing.median) + " +- " + format_ns(shape.default_timing.mad);
    std::string tuned_time = format_ns(shape.tuned_timing.median) + " +- " + format_ns(shape.tuned_timing.mad);
    char speedup[16];
    std::snprintf(speedup, sizeof speedup, "%.2fx", shape.default_timing.median / shape.tuned_timing.median);
    std::string choice = describe_candidate(shape.tuned_candidate) + (shape.kept_default ? " (default)" : "");
    std::printf("  %-10lld %-20s %-20s %-8s %s\n", static_cast<long long>(shape.n), default_time.c_str(),
                tuned_time.c_str(), speedup, choice.c_str());
  }
}

CommandStatus tune(TuneCommand& command) {
  CommandResult<ir::Pipeline> pipeline = load_pipeline(command.pipeline_path);
  if (!pipeline) return pipeline.error();
  CommandResult<TuningFile> file = read_existing_file(command.out_path);
  if (!file) return file.error();
  {
    // Fails now, not after the measurements, when the folder is not writable.
    Result<AtomicFile> probe = AtomicFile::create(command.out_path);
    if (!probe) return run_failure(probe.status());
  }

  const CpuIdentity& cpu = host_cpu_identity();
  Isa isa = command.request.isa == Isa::kNone ? host_isa() : command.request.isa;
  std::printf("tuning pipeline '%s' from %s for %s, %d thread%s, budget %g s\n", pipeline->name.c_str(),
              command.pipeline_path.c_str(), isa_name(isa), command.request.threads,
              command.request.threads == 1 ? "" : "s", command.request.budget_seconds);
  std::printf("cpu: %s\n", describe_cpu_identity(cpu).c_str());
  std::fflush(stdout);

  ProgressLine progress;
  command.request.progress = [&progress](const std::string& line) { progress.show(line); };
  Result<TuneResult> result = tune_pipeline(*pipeline, command.request);
  progress.clear();
  if (!result) {
    // Invalid requests (a parameter without a value, too much memory) are
    // command-line errors; the message names the fix.
    if (result.status().code() == StatusCode::kInvalidArgument) {
      return CommandError{kExitUsage, result.status().message()};
    }
    return run_failure(result.status());
  }

  for (const ShapeResult& shape : result->shapes) print_shape(shape);
  print_summary(*result);

  std::vector<TuningEntry> entries = tuning_entries(*pipeline, command.request, *result, cpu);
  if (entries.empty()) {
    std::fflush(stdout);
    char budget[32];
    std::snprintf(budget, sizeof budget, "%g s", command.request.budget_seconds);
    return run_failure("nothing tuned", std::string("no shape was measured within the budget of ") + budget,
                       "give a larger --budget; " + command.out_path + " was not changed");
  }
  merge_tuning_entries(*file, entries);
  Status saved = save_tuning_file(command.out_path, *file);
  if (!saved) return run_failure(saved);
  std::printf("\ntuned in %.1f s; wrote %zu entr%s to %s (%zu in the file)\n", result->seconds, entries.size(),
              entries.size() == 1 ? "y" : "ies", command.out_path.c_str(), file->entries.size());
  return command_ok();
}

}  // namespace

int tune_command(std::span<const std::string> args) {
  CommandResult<ParsedArguments> parsed = parse_arguments(args, kTuneOptions);
  if (!parsed) return report_error("tune", parsed.error());
  for (const ParsedOption& option : parsed->options) {
    if (option.name == "--help") {
      print_tune_help();
      return kExitSuccess;
    }
  }
  CommandResult<TuneCommand> command = make_command(*parsed);
  if (!command) return report_error("tune", command.error());
  CommandStatus tuned = tune(*command);
  if (!tuned) return report_error("tune", tuned.error());
  return kExitSuccess;
}

}  // namespace rowjit::cli
