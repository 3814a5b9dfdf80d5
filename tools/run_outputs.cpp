// Output buffers of `rowjit run`, laid out as they are stored in .npy files.
#include <new>

#include "tools/memory_budget.h"
#include "tools/npy_layout.h"
#include "tools/run_binding.h"

namespace rowjit::cli {
namespace {

// Holds one non-null byte for outputs with no elements; see run_inputs.cpp.
uint8_t empty_output_byte = 0;

}  // namespace

CommandStatus bind_outputs(const ir::Pipeline& pipeline, BoundRun& run) {
  struct PlannedOutput {
    const ir::Value* value = nullptr;
    NpyDtype dtype = NpyDtype::kU8;
    std::vector<int64_t> shape;
    int64_t elements = 0;  // per row
    int64_t bytes = 0;
  };

  // A topk whose k exceeds its operand fails every row: that error comes
  // before its outputs of k elements per row are sized and allocated.
  if (run.args.rows > 0) {
    for (const ir::Op& op : pipeline.ops) {
      if (op.kind != ir::OpKind::kTopK) continue;
      Status lengths = ir::check_topk_length(pipeline, run.args, op);
      if (!lengths.is_ok()) return run_failure(lengths);
    }
  }

  // Sizes every output before allocating any, so that a run too large for the
  // machine fails with its size instead of running out of memory halfway.
  std::vector<PlannedOutput> planned;
  int64_t total_bytes = 0;
  for (ir::ValueId id : pipeline.outputs) {
    const ir::Value& value = pipeline.value(id);
    Result<int64_t> elements = ir::shape_length(pipeline, value.type.shape, run.args);
    if (!elements) return run_failure(elements.status());
    std::optional<NpyDtype> dtype = npy_dtype_for(value.type.elem);
    if (!dtype) {
      return run_failure("unsupported output type", value.name + ": " + value.type.to_string(),
                         "convert the output to a storable type in the pipeline");
    }

    // A per-row scalar is a 1-D array of rows; row bytes and vectors are rows x length.
    PlannedOutput output{&value, *dtype, {run.args.rows}, *elements, npy_item_size(*dtype)};
    if (stored_as_row_bytes(value.type.elem) || !value.type.shape.is_scalar()) {
      output.shape.push_back(file_row_length(value.type.elem, *elements));
    }
    bool overflows = false;
    for (int64_t dimension : output.shape) {
      overflows |= __builtin_mul_overflow(output.bytes, dimension, &output.bytes);
    }
    if (!overflows) overflows = __builtin_add_overflow(total_bytes, output.bytes, &total_bytes);
    if (overflows) {
      return run_failure("output too large",
                         value.name + " needs more than " + std::to_string(INT64_MAX) + " bytes for " +
                             describe_rows(run.args) + " (" + std::to_string(*elements) +
                             " elements per row)",
                         kSmallerRunFix);
    }
    planned.push_back(std::move(output));
  }

  std::optional<int64_t> available = memory_and_swap_bytes();
  if (available && total_bytes > *available) {
    // Name the largest output: its length may come from a [k] parameter
    // rather than from n.
    const PlannedOutput* largest = &planned.front();
    for (const PlannedOutput& output : planned) {
      if (output.bytes > largest->bytes) largest = &output;
    }
    return run_failure("out of memory",
                       "the outputs need " + describe_bytes(total_bytes) + " for " + describe_rows(run.args) +
                           ", more than the " + describe_bytes(*available) +
                           " of memory and swap of this machine; the largest is " + largest->value->name + " with " +
                           std::to_string(largest->elements) + " elements per row",
                       kSmallerRunFix);
  }

  for (const PlannedOutput& output : planned) {
    const ir::Value& value = *output.value;
    NpyArray* array = nullptr;
    try {
      array = &(run.outputs[value.name] = make_npy_array(output.dtype, output.shape));
    } catch (const std::bad_alloc&) {
      return run_failure("out of memory",
                         "allocating " + describe_bytes(output.bytes) + " for output " + value.name +
                             " with " + describe_rows(run.args) + " failed",
                         kSmallerRunFix);
    }

    ir::TensorRef ref;
    ref.data = array->data.empty() ? &empty_output_byte : array->data.data();
    ref.type = value.type.elem;
    ref.row_stride_bytes = ir::storage_bytes(value.type.elem, output.elements);
    run.args.tensors[value.name] = ref;
  }
  return command_ok();
}

}  // namespace rowjit::cli
