// The one-line report that `rowjit run` prints after a successful run.
#pragma once

#include <string>
#include <vector>

#include "ir/pipeline.h"
#include "tools/execute.h"
#include "tools/run_binding.h"

namespace rowjit::cli {

// Formats, for example:
// "softmax: 8 rows x 1000, 1 output (y: f32 8x1000, row sums 1.000000 .. 1.000000)
//  in 0.42 ms [interpreter]" (one line). f32 vectors report the range of their
// row sums, and f32 scalars and integer outputs the range of their values.
// NaN rows or values are counted apart from the range.
std::string format_run_summary(const ir::Pipeline& pipeline, const RunRequest& request,
                               const BoundRun& run, const Execution& execution);

}  // namespace rowjit::cli
