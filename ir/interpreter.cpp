// Driver of the reference interpreter: validates the arguments, sizes one row
// buffer per IR value, then for each row loads the inputs, evaluates the ops
// in program order and stores the outputs.
#include "ir/interpreter.h"

#include <new>
#include <stdexcept>

#include "ir/float_environment.h"
#include "ir/interpret_ops.h"
#include "ir/tensor_overlap.h"

namespace rowjit::ir {
namespace {

using interpret_detail::RowContext;
using interpret_detail::RowValues;


// Elements one row of value `id` holds in its buffer; for a block format, the
// bytes of its complete blocks.
Result<int64_t> row_buffer_length(const Pipeline& pipeline, const RunArgs& args, ValueId id) {
  const Value& v = pipeline.value(id);
  if (v.kind == ValueKind::kConstant) return int64_t{1};
  if (is_block_format(v.type.elem)) {
    int64_t block = block_elements(v.type.elem);
    return storage_bytes(v.type.elem, args.n / block * block);
  }
  return shape_length(pipeline, v.type.shape, args);
}

Status size_row_buffers(const Pipeline& pipeline, const RunArgs& args, std::vector<RowValues>& values) {
  int64_t total = 0;
  try {
    values.resize(pipeline.values.size());
    for (size_t id = 0; id < values.size(); ++id) {
      auto length = row_buffer_length(pipeline, args, static_cast<ValueId>(id));
      if (!length) return length.status();
      total += *length;
      values[id].assign(static_cast<size_t>(*length), 0.0);
    }
  } catch (const std::bad_alloc&) {
    return {StatusCode::kInvalidArgument, "row length n = " + std::to_string(args.n) +
                                              " needs more memory for the interpreter's row buffers than is "
                                              "available (" + std::to_string(total) + "+ elements of 8 bytes)"};
  } catch (const std::length_error&) {
    return {StatusCode::kInvalidArgument,
            "row length n = " + std::to_string(args.n) + " is too large for the interpreter's row buffers"};
  }
  return Status::ok();
}

uint8_t* row_address(const TensorRef& ref, int64_t row) {
  return static_cast<uint8_t*>(ref.data) + row * ref.row_stride_bytes;
}

// Literals and parameters hold one value for the whole run.
void load_run_constants(const Pipeline& pipeline, const RunArgs& args, std::vector<RowValues>& values) {
  for (size_t id = 0; id < values.size(); ++id) {
    const Value& v = pipeline.values[id];
    if (v.kind == ValueKind::kConstant) values[id][0] = v.constant;  // typed by each op that reads it
  }
  for (ValueId id : pipeline.inputs) {
    const Value& v = pipeline.value(id);
    if (v.kind != ValueKind::kParam) continue;
    RowValues& buffer = values[static_cast<size_t>(id)];
    if (v.type.shape.is_scalar()) {
      // NOTE: a scalar parameter of a narrow float type is rounded to that
      // type as convert(to=T) with default attributes rounds, so it may change.
      buffer[0] = interpret_detail::held_literal(*scalar_param(pipeline, args, v.name), v.type.elem);
    } else if (args.rows > 0) {
      const TensorRef& ref = args.tensors.at(v.name);
      interpret_detail::load_elements(row_address(ref, 0), v.type.elem, static_cast<int64_t>(buffer.size()),
                                      buffer.data());
    }
  }
}

Status evaluate_op(const Op& op, RowContext& context) {
  switch (op_info(op.kind).category) {
    case OpCategory::kElementwise:
      if (op.kind == OpKind::kConvert) return interpret_detail::evaluate_convert(op, context);
      return interpret_detail::evaluate_elementwise(op, context);
    case OpCategory::kRowReduction:
    case OpCategory::kBlockReduction:
      return interpret_detail::evaluate_reduction(op, context);
    case OpCategory::kSelection:
    case OpCategory::kIndex:
      return interpret_detail::evaluate_selection(op, context);
    case OpCategory::kGenerator:
      return interpret_detail::evaluate_uniform(op, context);
    case OpCategory::kPack:
      return interpret_detail::evaluate_pack(op, context);
  }
  return {StatusCode::kInternal, "op '" + std::string(op_info(op.kind).name) + "' has no evaluator"};
}

}  // namespace

Status interpret(const Pipeline& pipeline, const RunArgs& args) {
  DefaultFloatEnvironment ieee_environment;  // docs/ir.md: denormals kept whatever the caller's MXCSR
  ROWJIT_TRY(validate_run_args(pipeline, args));
  // Every in-place alias works here, because each row is loaded before any
  // output of it is stored. Other overlaps would depend on the row order.
  auto aliases = find_in_place_aliases(pipeline, args);
  if (!aliases) return aliases.status();

  std::vector<RowValues> values;
  ROWJIT_TRY(size_row_buffers(pipeline, args, values));
  load_run_constants(pipeline, args, values);

  RowContext context{pipeline, args, values, 0};
  for (int64_t row = 0; row < args.rows; ++row) {
    context.row = row;
    for (ValueId id : pipeline.inputs) {
      const Value& v = pipeline.value(id);
      if (v.kind != ValueKind::kInput) continue;
      RowValues& buffer = values[static_cast<size_t>(id)];
      interpret_detail::load_elements(row_address(args.tensors.at(v.name), row), v.type.elem,
                                      static_cast<int64_t>(buffer.size()), buffer.data());
    }
    for (const Op& op : pipeline.ops) ROWJIT_TRY(evaluate_op(op, context));
    // Outputs are stored after every input of the row is loaded, so an output
    // may share memory with an input (an in-place softmax).
    for (ValueId id : pipeline.outputs) {
      const Value& v = pipeline.value(id);
      const RowValues& buffer = values[static_cast<size_t>(id)];
      const TensorRef& ref = args.tensors.at(v.name);
      interpret_detail::store_elements(buffer.data(), v.type.elem, static_cast<int64_t>(buffer.size()),
                                       row_address(ref, row));
    }
  }
  return Status::ok();
}

}  // namespace rowjit::ir
