// Reference interpreter: the semantic oracle that every JIT kernel is tested
// against. Scalar and direct: it evaluates each op over whole rows, in program
// order, with the semantics stated in docs/ir.md.
#pragma once

#include "ir/pipeline.h"
#include "ir/status.h"
#include "ir/tensor.h"

namespace rowjit::ir {

// Runs `pipeline` on args.rows rows. Validates the arguments first; a run-time
// domain error (label out of range, k > n, NaN into e2m1, n not a multiple of a
// block format's 32) returns kOutOfRange naming the row and value. Such errors
// are found when the op runs on a row, so a call with rows = 0 reports none.
// On error the rows before the failing one have been written. f32 arithmetic
// follows IEEE rules with denormals kept, whatever the caller's MXCSR mode.
Status interpret(const Pipeline& pipeline, const RunArgs& args);

}  // namespace rowjit::ir
