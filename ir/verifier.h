// Verifier: checks that a pipeline is well typed and well formed before it is
// interpreted or compiled.
#pragma once

#include "ir/pipeline.h"
#include "ir/status.h"

namespace rowjit::ir {

// Returns kInvalidPipeline with a message naming the value (and the line, for
// pipelines parsed from text) and the rule it breaks. Rules: every operand is
// defined before use; every op's result types follow its typing rule; names are
// unique; inputs are not bool or block formats; outputs are op results or
// inputs, not parameters or bool values; [k] shapes name an s32 parameter.
Status verify(const Pipeline& pipeline);

// Formats "line L, column C: " for a text location, or "" for built pipelines.
std::string location_prefix(SourceLoc loc);

}  // namespace rowjit::ir
