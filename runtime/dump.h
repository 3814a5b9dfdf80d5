// ROWJIT_DUMP: one file per new kernel with its pipeline, its plan and the
// annotated assembly, for reading what the JIT made of a pipeline.
#pragma once

#include <string>

#include "ir/status.h"

namespace rowjit {

class Kernel;

// Formats the dump of `kernel`: its label, the pipeline text and the plan as
// "; " comment lines, then the listing of jit::format_listing() (Intel syntax,
// with instruction bytes). A kernel that runs on the interpreter gets the
// reason instead of a listing.
std::string format_kernel_dump(const std::string& label, const Kernel& kernel);

// Writes the dump to "<dir>/<label>.asm", creating `dir` if it is missing.
// The file appears complete or not at all. Returns the path, or kIoError
// naming the path and the reason.
Result<std::string> write_kernel_dump(const std::string& dir, const std::string& label, const Kernel& kernel);

}  // namespace rowjit
