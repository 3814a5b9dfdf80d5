// The in-place runs that a JIT kernel supports. The interpreter loads each row
// before it stores any output of that row, so every in-place alias works
// there. A JIT kernel works through the row in sweeps, and an output that
// replaces an input must not be written before the last sweep that reads it.
#pragma once

#include "ir/pipeline.h"
#include "ir/plan.h"
#include "ir/status.h"
#include "ir/tensor.h"

namespace rowjit {

// Checks the memory shared by the tensors of `args` for a run of the machine
// code of `plan` (ir::find_in_place_aliases rejects partial overlaps first).
// An output may replace an input of the same row bytes when no sweep reads
// the input after an earlier sweep has written or spilled into the output.
// Otherwise fails with kInvalidArgument, naming the output, the input and the
// sweeps.
Status check_jit_in_place(const ir::Pipeline& pipeline, const ir::Plan& plan, const ir::RunArgs& args);

}  // namespace rowjit
