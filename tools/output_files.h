// The output files of one `rowjit run`, written all or nothing.
#pragma once

#include <map>
#include <string>
#include <utility>
#include <vector>

#include "runtime/atomic_file.h"
#include "runtime/npy.h"
#include "tools/args.h"
#include "tools/command_error.h"

namespace rowjit::cli {

// Creates a temporary file next to each requested output before the run, so a
// missing or read-only folder fails before any work. commit() writes every
// array and only then renames the files into place. Until then, and after any
// failure, the destructor removes the temporary files.
class OutputFiles {
 public:
  // `outputs` pairs an output name with its destination path.
  static CommandResult<OutputFiles> create(const std::vector<NameValue>& outputs);

  // Writes the array of each output, by name, then renames every file.
  // NOTE: a rename that fails after an earlier one succeeded leaves the earlier
  // output in place. Renames within a folder fail only on a full or broken
  // file system.
  CommandStatus commit(const std::map<std::string, NpyArray>& arrays);

 private:
  std::vector<std::pair<std::string, AtomicFile>> files_;  // output name, file
};

}  // namespace rowjit::cli
