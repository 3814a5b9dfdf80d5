// Type and shape inference: the typing rule of every op, shared by the builder
// (which applies it as ops are added) and the verifier (which re-checks it).
#pragma once

#include <vector>

#include "ir/pipeline.h"
#include "ir/status.h"

namespace rowjit::ir {

// Computes the result types of `op` from its operands and attributes, or
// returns kInvalidPipeline with a message that names the op and the rule broken.
// The message does not include the source location; callers add it.
Status infer_result_types(const Pipeline& pipeline, const Op& op, std::vector<ValueType>& results);

// Shape of an elementwise result: equal shapes, or a scalar or block-shaped
// operand broadcast to the other operand's shape. Returns nullopt if the shapes
// do not combine.
std::optional<Shape> broadcast_shapes(const Shape& a, const Shape& b);

// True if a literal can take element type `type` with value `constant`
// (integer types need an integral value within range).
bool constant_fits(double constant, ElemType type);

}  // namespace rowjit::ir
