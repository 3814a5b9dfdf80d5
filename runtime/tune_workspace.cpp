#include "runtime/tune_workspace.h"

#include <algorithm>
#include <cstring>
#include <random>

#include "ir/types.h"

namespace rowjit {
namespace {

constexpr int64_t kAlignment = 64;

int64_t round_up(int64_t bytes, int64_t alignment) { return (bytes + alignment - 1) / alignment * alignment; }

}  // namespace

Result<TuneWorkspace> TuneWorkspace::create(const ir::Pipeline& pipeline, int64_t n, int64_t rows,
                                            const std::map<std::string, double>& scalars) {
  TuneWorkspace workspace;
  ir::RunArgs& args = workspace.args_;
  args.rows = rows;
  args.n = n;

  // Scalar parameters first: [k] shapes depend on them.
  for (const auto& [name, value] : scalars) {
    std::optional<ir::ValueId> id = pipeline.find_input(name);
    if (!id || pipeline.value(*id).kind != ir::ValueKind::kParam || !pipeline.value(*id).type.shape.is_scalar()) {
      return Status(StatusCode::kInvalidArgument, "'" + name + "' is not a scalar parameter of pipeline '" +
                                                      pipeline.name + "'; remove it or check its name");
    }
    args.scalars[name] = value;
  }
  for (ir::ValueId id : pipeline.inputs) {
    const ir::Value& value = pipeline.value(id);
    if (value.kind != ir::ValueKind::kParam || !value.type.shape.is_scalar()) continue;
    if (args.scalars.count(value.name) > 0) continue;
    if (!value.param_default) {
      return Status(StatusCode::kInvalidArgument, "parameter '" + value.name + "' of pipeline '" + pipeline.name +
                                                      "' has no default value; give one, for example --param " +
                                                      value.name + "=1");
    }
    args.scalars[value.name] = *value.param_default;
  }

  // Sizes first, so that nothing is allocated for a request over the limit.
  struct Tensor {
    const ir::Value* value;
    int64_t row_stride;
    int64_t row_count;
    bool random;
  };
  std::vector<Tensor> tensors;
  auto add_tensor = [&](ir::ValueId id, bool is_output) -> Status {
    const ir::Value& value = pipeline.value(id);
    for (const Tensor& tensor : tensors) {
      if (tensor.value->name == value.name) return Status::ok();  // an input that is also an output
    }
    bool per_call = value.kind == ir::ValueKind::kParam;  // one row shared by all rows
    if (per_call && value.type.shape.is_scalar()) return Status::ok();
    Result<int64_t> length = ir::shape_length(pipeline, value.type.shape, args);
    if (!length) return length.status();
    int64_t row_bytes = std::max<int64_t>(ir::storage_bytes(value.type.elem, *length), 1);
    // Rows shorter than a cache line stay packed: padding them would multiply
    // the memory of a call, and their stores are never non-temporal.
    int64_t row_stride = row_bytes < kAlignment ? row_bytes : round_up(row_bytes, kAlignment);
    tensors.push_back({&value, row_stride, per_call ? 1 : rows,
                       !is_output && value.type.elem == ir::ElemType::kF32});
    return Status::ok();
  };
  for (ir::ValueId id : pipeline.inputs) ROWJIT_TRY(add_tensor(id, false));
  for (ir::ValueId id : pipeline.outputs) ROWJIT_TRY(add_tensor(id, true));
  double total = 0;
  for (const Tensor& tensor : tensors) total += static_cast<double>(tensor.row_stride) * tensor.row_count;
  if (total > static_cast<double>(kMaxWorkspaceBytes)) {
    return Status(StatusCode::kInvalidArgument,
                  "tuning " + std::to_string(rows) + " rows of n = " + std::to_string(n) + " needs " +
                      std::to_string(static_cast<int64_t>(total)) + " bytes of inputs and outputs, more than the " +
                      std::to_string(kMaxWorkspaceBytes) + " allowed; lower the row count or n");
  }

  std::mt19937 engine(20240601);
  std::uniform_real_distribution<float> uniform(-8.0f, 8.0f);
  for (const Tensor& tensor : tensors) {
    size_t size = static_cast<size_t>(tensor.row_stride * tensor.row_count);
    // aligned_alloc takes a multiple of the alignment.
    size_t allocated = static_cast<size_t>(round_up(static_cast<int64_t>(size), kAlignment));
    Buffer buffer(static_cast<std::byte*>(std::aligned_alloc(kAlignment, allocated)));
    if (!buffer) {
      return Status(StatusCode::kInvalidArgument,
                    "cannot allocate " + std::to_string(allocated) + " bytes for '" + tensor.value->name +
                        "'; lower the row count or n");
    }
    std::memset(buffer.get(), 0, allocated);
    if (tensor.random) {
      auto* values = reinterpret_cast<float*>(buffer.get());
      for (size_t i = 0; i < size / sizeof(float); ++i) values[i] = uniform(engine);
    }
    ir::TensorRef ref;
    ref.data = buffer.get();
    ref.type = tensor.value->type.elem;
    ref.row_stride_bytes = tensor.row_stride;
    args.tensors[tensor.value->name] = ref;
    workspace.bytes_ += static_cast<int64_t>(size);
    workspace.buffers_.push_back(std::move(buffer));
  }
  return workspace;
}

}  // namespace rowjit
