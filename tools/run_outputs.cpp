// Output buffers of `rowjit run`, laid out as they are stored in .npy files.
#include "tools/npy_layout.h"
#include "tools/run_binding.h"

namespace rowjit::cli {
namespace {

// Holds one non-null byte for outputs with no elements; see run_inputs.cpp.
uint8_t empty_output_byte = 0;

}  // namespace

CommandStatus bind_outputs(const ir::Pipeline& pipeline, BoundRun& run) {
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
    std::vector<int64_t> shape = {run.args.rows};
    if (stored_as_row_bytes(value.type.elem) || !value.type.shape.is_scalar()) {
      shape.push_back(file_row_length(value.type.elem, *elements));
    }
    int64_t bytes = npy_item_size(*dtype);
    for (int64_t dimension : shape) {
      if (__builtin_mul_overflow(bytes, dimension, &bytes)) bytes = -1;
      if (bytes < 0) break;
    }
    if (bytes < 0) {
      return run_failure("output too large",
                         value.name + " with " + std::to_string(run.args.rows) + " rows of " +
                             std::to_string(*elements) + " elements",
                         "run on fewer rows or shorter rows");
    }
    NpyArray& array = run.outputs[value.name] = make_npy_array(*dtype, shape);

    ir::TensorRef ref;
    ref.data = array.data.empty() ? &empty_output_byte : array.data.data();
    ref.type = value.type.elem;
    ref.row_stride_bytes = ir::storage_bytes(value.type.elem, *elements);
    run.args.tensors[value.name] = ref;
  }
  return command_ok();
}

}  // namespace rowjit::cli
