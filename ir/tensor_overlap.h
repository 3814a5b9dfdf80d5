// Memory shared between the tensors of one run: in-place runs are allowed,
// and any other overlap of an output with another tensor is rejected.
#pragma once

#include <vector>

#include "ir/pipeline.h"
#include "ir/status.h"
#include "ir/tensor.h"

namespace rowjit::ir {

// An output that runs in place on an input: the same data pointer and, for
// calls of more than one row, the same row stride.
struct InPlaceAlias {
  ValueId output = kNoValue;
  ValueId input = kNoValue;
};

// Finds the in-place aliases of a run whose arguments validate_run_args()
// accepted. Fails with kInvalidArgument, naming both tensors, when an output
// shares any byte with another output, with a vector parameter, or with an
// input other than as an in-place alias. Inputs may share memory with each
// other. The check is exact for tensors of equal row strides and for one-row
// tensors; for other strides, overlapping address ranges count as an overlap.
Result<std::vector<InPlaceAlias>> find_in_place_aliases(const Pipeline& pipeline, const RunArgs& args);

}  // namespace rowjit::ir
