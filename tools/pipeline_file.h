// Reading a pipeline from its text file, for the subcommands that take one.
#pragma once

#include <string>

#include "ir/pipeline.h"
#include "tools/command_error.h"

namespace rowjit::cli {

// Reads and parses the pipeline in the text file at `path`. A missing or
// unreadable file and invalid pipeline text are run failures (exit code 1)
// whose message names the path.
CommandResult<ir::Pipeline> load_pipeline(const std::string& path);

}  // namespace rowjit::cli
