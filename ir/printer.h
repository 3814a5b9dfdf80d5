// Printer: writes a pipeline in the text format that parse_pipeline() reads.
#pragma once

#include <string>
#include <vector>

#include "ir/pipeline.h"

namespace rowjit::ir {

// Prints one statement per op. Unnamed intermediates get generated names
// ("_7"), so parse_pipeline(print_pipeline(p)) prints back to the same text.
std::string print_pipeline(const Pipeline& pipeline);

// Prints one op as a statement ("e = exp(_3)"), for plans, logs and dumps.
// It names every value of the pipeline first, so a caller that prints many
// ops calls print_ops instead.
std::string print_op(const Pipeline& pipeline, const Op& op);

// Prints every op of the pipeline as print_op does, in op order.
std::vector<std::string> print_ops(const Pipeline& pipeline);

// Formats a literal so that it parses back to the same double: "1", "0.5",
// "1e-30", "inf", "-inf", "nan".
std::string format_number(double value);

}  // namespace rowjit::ir
