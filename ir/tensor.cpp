#include "ir/tensor.h"

#include <charconv>
#include <cmath>
#include <limits>
#include <set>

#include "ir/float_environment.h"

namespace rowjit::ir {
namespace {

Status invalid_argument(const std::string& message) { return {StatusCode::kInvalidArgument, message}; }

// Formats a double in its shortest round-trip form: "0", "2.5", "3e+09", "nan".
std::string format_value(double value) {
  char buffer[32];
  auto result = std::to_chars(buffer, buffer + sizeof(buffer), value);
  return std::string(buffer, result.ptr);
}

bool is_scalar_param(const Value& v) { return v.kind == ValueKind::kParam && v.type.shape.is_scalar(); }

Status row_length_out_of_range(int64_t n) {
  return invalid_argument("n = " + std::to_string(n) + " is outside the row lengths 0 to " +
                          std::to_string(kMaxRowLength) + "; check the row length passed");
}

// Signature entries read from or written to RunArgs::tensors: inputs, vector
// parameters and outputs. An output that is also an input appears once.
std::vector<ValueId> tensor_values(const Pipeline& pipeline) {
  std::vector<ValueId> ids;
  std::set<std::string> seen;
  for (ValueId id : pipeline.inputs) {
    if (is_scalar_param(pipeline.value(id))) continue;
    ids.push_back(id);
    seen.insert(pipeline.value(id).name);
  }
  for (ValueId id : pipeline.outputs) {
    if (seen.insert(pipeline.value(id).name).second) ids.push_back(id);
  }
  return ids;
}

std::string tensor_names(const Pipeline& pipeline) {
  std::string names;
  for (ValueId id : tensor_values(pipeline)) names += (names.empty() ? "" : ", ") + pipeline.value(id).name;
  return names;
}

std::string scalar_param_names(const Pipeline& pipeline) {
  std::string names;
  for (ValueId id : pipeline.inputs) {
    if (is_scalar_param(pipeline.value(id))) names += (names.empty() ? "" : ", ") + pipeline.value(id).name;
  }
  return names;
}

// Describes a signature entry as declared: "input x: f32[n]", "param tau: f32".
std::string declaration(const Pipeline& pipeline, ValueId id) {
  const Value& v = pipeline.value(id);
  std::string role = "output";
  if (v.kind == ValueKind::kParam) role = "param";
  if (v.kind == ValueKind::kInput) role = "input";
  return role + " " + v.name + ": " + v.type.to_string();
}

Status check_names(const Pipeline& pipeline, const RunArgs& args) {
  for (const auto& [name, ref] : args.tensors) {
    auto input = pipeline.find_input(name);
    if (input && is_scalar_param(pipeline.value(*input))) {
      return invalid_argument("'" + name + "' is a scalar parameter (" + declaration(pipeline, *input) +
                              "); pass it in RunArgs::scalars, not in tensors");
    }
    if (!input && !pipeline.find_output(name)) {
      return invalid_argument("unknown tensor '" + name + "'; pipeline '" + pipeline.name +
                              "' has the tensors " + tensor_names(pipeline));
    }
  }
  for (const auto& [name, value] : args.scalars) {
    auto input = pipeline.find_input(name);
    if (input && !is_scalar_param(pipeline.value(*input))) {
      return invalid_argument("'" + name + "' is " + declaration(pipeline, *input) +
                              ", not a scalar parameter; pass it in RunArgs::tensors");
    }
    if (!input) {
      std::string names = scalar_param_names(pipeline);
      if (names.empty()) {
        return invalid_argument("unknown parameter '" + name + "'; pipeline '" + pipeline.name +
                                "' has no scalar parameters, so RunArgs::scalars must be empty");
      }
      return invalid_argument("unknown parameter '" + name + "'; pipeline '" + pipeline.name +
                              "' has the scalar parameters " + names);
    }
  }
  return Status::ok();
}

// The range of an integer element type.
void integer_range(ElemType type, int64_t& lo, int64_t& hi) {
  switch (type) {
    case ElemType::kS8: lo = -128; hi = 127; return;
    case ElemType::kU8: lo = 0; hi = 255; return;
    default: lo = -2147483648LL; hi = 2147483647LL; return;
  }
}

Status check_scalar_param(const Pipeline& pipeline, const RunArgs& args, ValueId id) {
  const Value& v = pipeline.value(id);
  auto value = scalar_param(pipeline, args, v.name);
  if (!value) {
    return invalid_argument("missing parameter '" + v.name + "'; it is required because " +
                            declaration(pipeline, id) + " has no default");
  }
  std::string shown = "parameter '" + v.name + "' = " + format_value(*value);
  if (is_integer(v.type.elem)) {
    int64_t lo = 0;
    int64_t hi = 0;
    integer_range(v.type.elem, lo, hi);
    if (!std::isfinite(*value) || *value != std::floor(*value)) {
      return invalid_argument(shown + " must be an integer (" + std::string(elem_type_name(v.type.elem)) + ")");
    }
    if (*value < static_cast<double>(lo) || *value > static_cast<double>(hi)) {
      return invalid_argument(shown + " is outside the " + std::string(elem_type_name(v.type.elem)) + " range [" +
                              std::to_string(lo) + ", " + std::to_string(hi) + "]");
    }
  } else if (!std::isfinite(*value)) {
    return invalid_argument(shown + " must be finite");
  }
  // An f32 parameter is checked as the float the kernel receives: 1e-50 rounds
  // to 0 and 1e39 to inf, which would break the bound or finiteness.
  double effective = *value;
  if (v.type.elem == ElemType::kF32) {
    effective = f32_value_of(*value);
    if (!std::isfinite(effective)) {
      return invalid_argument(shown + " overflows f32 to " + format_value(effective) +
                              "; use a value within +-3.4e38");
    }
    if (effective != *value) shown += " (" + format_value(effective) + " in f32)";
  }
  if (v.param_bound) {
    bool strict = v.param_bound->relation == ParamBound::Relation::kGreater;
    bool holds = strict ? effective > v.param_bound->limit : effective >= v.param_bound->limit;
    if (!holds) {
      return invalid_argument(shown + " must be " + (strict ? "> " : ">= ") + format_value(v.param_bound->limit));
    }
  }
  return Status::ok();
}

Status check_tensor(const Pipeline& pipeline, const RunArgs& args, ValueId id) {
  const Value& v = pipeline.value(id);
  auto it = args.tensors.find(v.name);
  if (it == args.tensors.end()) {
    return invalid_argument("missing tensor '" + v.name + "'; it is required by " + declaration(pipeline, id));
  }
  const TensorRef& ref = it->second;
  if (ref.type != v.type.elem) {
    return invalid_argument("tensor '" + v.name + "' has element type " + std::string(elem_type_name(ref.type)) +
                            ", expected " + std::string(elem_type_name(v.type.elem)));
  }
  if (ref.data == nullptr && args.rows > 0) {
    return invalid_argument("tensor '" + v.name + "' has null data but " + std::to_string(args.rows) +
                            " rows are requested");
  }
  // A vector parameter is a single row, so its stride is never used; so is the
  // stride of a one-row call.
  bool per_row = v.kind != ValueKind::kParam;
  if (!per_row || args.rows <= 1) return Status::ok();

  auto length = shape_length(pipeline, v.type.shape, args);
  if (!length) return length.status();
  // NOTE: a block format with n not a multiple of 32 is sized by its complete
  // blocks here; the pack op then fails with kOutOfRange.
  int64_t row_bytes = storage_bytes(v.type.elem, *length);
  if (ref.row_stride_bytes < row_bytes) {
    return invalid_argument("tensor '" + v.name + "' has row stride " + std::to_string(ref.row_stride_bytes) +
                            " bytes, smaller than one row of " + std::to_string(row_bytes) + " bytes (" +
                            std::to_string(*length) + " x " + std::string(elem_type_name(v.type.elem)) +
                            "); pass a stride of at least " + std::to_string(row_bytes));
  }
  // rows x stride must be an address range: a count that overflows it cannot
  // describe real memory.
  int64_t span = 0;
  if (__builtin_mul_overflow(args.rows - 1, ref.row_stride_bytes, &span) ||
      __builtin_add_overflow(span, row_bytes, &span)) {
    return invalid_argument("tensor '" + v.name + "': " + std::to_string(args.rows) + " rows of stride " +
                            std::to_string(ref.row_stride_bytes) +
                            " bytes overflow the address space; check the row count");
  }
  return Status::ok();
}

}  // namespace

std::optional<double> scalar_param(const Pipeline& pipeline, const RunArgs& args, const std::string& name) {
  auto it = args.scalars.find(name);
  if (it != args.scalars.end()) return it->second;
  auto id = pipeline.find_input(name);
  if (!id || pipeline.value(*id).kind != ValueKind::kParam) return std::nullopt;
  return pipeline.value(*id).param_default;
}

Result<int64_t> shape_length(const Pipeline& pipeline, const Shape& shape, const RunArgs& args) {
  switch (shape.kind) {
    case Shape::Kind::kScalar:
      return int64_t{1};
    case Shape::Kind::kRow:
      if (args.n < 0 || args.n > kMaxRowLength) return row_length_out_of_range(args.n);
      return args.n;
    case Shape::Kind::kBlocks:
      if (shape.block <= 0) {
        return Status(StatusCode::kInternal, "shape [n/" + std::to_string(shape.block) + "] has a non-positive block");
      }
      if (args.n < 0 || args.n > kMaxRowLength) return row_length_out_of_range(args.n);
      // ceil(n / B) without forming n + B - 1, which overflows for a block
      // size near 2^63.
      return args.n / shape.block + (args.n % shape.block != 0 ? 1 : 0);
    case Shape::Kind::kFixed: {
      if (shape.symbol.empty()) {
        if (shape.length > kMaxRowLength) {
          return invalid_argument("shape [" + std::to_string(shape.length) + "] is longer than any row can be (at most " +
                                  std::to_string(kMaxRowLength) + " elements); declare a shorter length");
        }
        return shape.length;
      }
      auto value = scalar_param(pipeline, args, shape.symbol);
      if (!value) {
        return invalid_argument("missing parameter '" + shape.symbol + "'; it is required as the length of [" +
                                shape.symbol + "]");
      }
      if (!(*value >= 1) || *value != std::floor(*value) || *value > 2147483647.0) {
        return invalid_argument("parameter '" + shape.symbol + "' = " + format_value(*value) +
                                " must be a positive integer, because it is the length of [" + shape.symbol + "]");
      }
      return static_cast<int64_t>(*value);
    }
  }
  return Status(StatusCode::kInternal, "unknown shape kind");
}

Status validate_run_args(const Pipeline& pipeline, const RunArgs& args) {
  if (args.rows < 0) return invalid_argument("rows = " + std::to_string(args.rows) + " must be >= 0");
  if (args.n < 0) return invalid_argument("n = " + std::to_string(args.n) + " must be >= 0 (it is the row length)");
  if (args.n > kMaxRowLength) {
    return invalid_argument("n = " + std::to_string(args.n) + " is longer than any row can be (at most " +
                            std::to_string(kMaxRowLength) + " elements); check the row length passed");
  }
  if (args.first_row < 0) {
    return invalid_argument("first_row = " + std::to_string(args.first_row) + " must be >= 0");
  }
  // first_row + rows is the global index past the last row, which uniform() reads.
  if (args.rows > std::numeric_limits<int64_t>::max() - args.first_row) {
    return invalid_argument("first_row = " + std::to_string(args.first_row) + " plus rows = " +
                            std::to_string(args.rows) + " overflows int64 (at most " +
                            std::to_string(std::numeric_limits<int64_t>::max()) + "); check both values");
  }
  ROWJIT_TRY(check_names(pipeline, args));

  for (ValueId id : pipeline.inputs) {
    if (is_scalar_param(pipeline.value(id))) ROWJIT_TRY(check_scalar_param(pipeline, args, id));
  }
  // Every [k] and [L] length, including those of intermediates such as topk
  // results.
  for (const Value& v : pipeline.values) {
    if (v.type.shape.kind == Shape::Kind::kFixed) {
      auto length = shape_length(pipeline, v.type.shape, args);
      if (!length) return length.status();
    }
  }
  if (args.rows > 0) {
    for (const Op& op : pipeline.ops) {
      if (op.kind == OpKind::kTopK) ROWJIT_TRY(check_topk_length(pipeline, args, op));
    }
  }
  for (ValueId id : tensor_values(pipeline)) ROWJIT_TRY(check_tensor(pipeline, args, id));
  return Status::ok();
}

Result<TopkLengths> topk_lengths(const Pipeline& pipeline, const RunArgs& args, const Op& op) {
  Result<int64_t> k = shape_length(pipeline, pipeline.value(op.results[0]).type.shape, args);
  if (!k) return k.status();
  Result<int64_t> length = shape_length(pipeline, pipeline.value(op.operands[0]).type.shape, args);
  if (!length) return length.status();
  return TopkLengths{*k, *length};
}

// The interpreter finds a k above the length in every row, but only after
// its rows and a caller's outputs of k elements per row are allocated: with
// k = 2^31, rowjit run took 23 GB before the error.
Status check_topk_length(const Pipeline& pipeline, const RunArgs& args, const Op& op) {
  Result<TopkLengths> lengths = topk_lengths(pipeline, args, op);
  if (!lengths) return lengths.status();
  if (lengths->k <= lengths->length) return Status::ok();
  return Status(StatusCode::kOutOfRange, "topk: k = " + std::to_string(lengths->k) + " exceeds the length " +
                                             std::to_string(lengths->length) + " of '" +
                                             pipeline.display_name(op.operands[0]) +
                                             "'; k must be at most the number of elements");
}

}  // namespace rowjit::ir
