// Entry points of the rowjit subcommands. Each takes the arguments after its
// name and returns the exit code: 0 on success, 1 when a file, the pipeline or
// the run fails, 2 for a command-line error (see tools/command_error.h).
#pragma once

#include <span>
#include <string>

namespace rowjit::cli {

// `rowjit run`: runs a pipeline on .npy files (tools/cmd_run.cpp).
int run_command(std::span<const std::string> args);
// `rowjit dump`: prints the machine code of a pipeline's kernel (tools/cmd_dump.cpp).
int dump_command(std::span<const std::string> args);
// `rowjit plan`: prints the plan of a pipeline and its lowering (tools/cmd_plan.cpp).
int plan_command(std::span<const std::string> args);
// `rowjit cpu`: prints the detected CPU, OS state and ISA (tools/cmd_cpu.cpp).
int cpu_command(std::span<const std::string> args);
// `rowjit tune`: measures a pipeline's plans and writes a tuning file (tools/cmd_tune.cpp).
int tune_command(std::span<const std::string> args);

}  // namespace rowjit::cli
