// Parser for the pipeline text format described in docs/ir.md.
#pragma once

#include <string_view>

#include "ir/pipeline.h"
#include "ir/status.h"

namespace rowjit::ir {

// Parses one kernel and verifies it. Errors are kParseError (syntax, with
// "line L, column C: expected ..., found ...") or kInvalidPipeline (typing,
// also with the location of the offending statement).
Result<Pipeline> parse_pipeline(std::string_view text);

}  // namespace rowjit::ir
