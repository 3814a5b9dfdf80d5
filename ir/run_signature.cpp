#include "ir/run_signature.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <set>

#include "ir/float_environment.h"

namespace rowjit::ir {
namespace {

bool is_scalar_param(const Value& v) { return v.kind == ValueKind::kParam && v.type.shape.is_scalar(); }

// Whether a value given for `param` passes the checks of validate_run_args():
// integral and in range for integer types, finite, finite and within the
// bound after rounding to f32 for f32, and a positive s32 for a [k] length.
bool value_accepted(const RunSignature::ScalarParam& param, double value) {
  if (is_integer(param.elem)) {
    double lo = -2147483648.0;  // s32
    double hi = 2147483647.0;
    if (param.elem == ElemType::kS8) {
      lo = -128.0;
      hi = 127.0;
    } else if (param.elem == ElemType::kU8) {
      lo = 0.0;
      hi = 255.0;
    }
    if (!std::isfinite(value) || value != std::floor(value)) return false;
    if (value < lo || value > hi) return false;
  } else if (!std::isfinite(value)) {
    return false;
  }
  // The kernel receives an f32 parameter as a float, so the bound applies to that.
  double effective = value;
  if (param.elem == ElemType::kF32) {
    effective = f32_value_of(value);
    if (!std::isfinite(effective)) return false;
  }
  if (param.bound) {
    bool strict = param.bound->relation == ParamBound::Relation::kGreater;
    if (strict ? !(effective > param.bound->limit) : !(effective >= param.bound->limit)) return false;
  }
  if (param.is_length && (!(value >= 1) || value != std::floor(value) || value > 2147483647.0)) return false;
  return true;
}

}  // namespace

RunSignature::RunSignature(const Pipeline& pipeline) {
  // The entries validate_run_args() requires in RunArgs::tensors: inputs and
  // vector parameters, then outputs whose name no input has.
  std::set<std::string> input_names;
  for (ValueId id : pipeline.inputs) {
    const Value& v = pipeline.value(id);
    if (!input_names.insert(v.name).second) checks_by_reference_ = true;
    if (is_scalar_param(v)) {
      ScalarParam param;
      param.name = v.name;
      param.elem = v.type.elem;
      param.default_value = v.param_default;
      param.bound = v.param_bound;
      scalar_params_.push_back(std::move(param));
    } else {
      tensors_.push_back({v.name, v.type.elem, v.type.shape, v.kind != ValueKind::kParam});
    }
  }
  std::set<std::string> output_names;
  for (ValueId id : pipeline.outputs) {
    const Value& v = pipeline.value(id);
    if (input_names.count(v.name)) {
      if (is_scalar_param(pipeline.value(*pipeline.find_input(v.name)))) checks_by_reference_ = true;
      continue;
    }
    if (output_names.insert(v.name).second) tensors_.push_back({v.name, v.type.elem, v.type.shape, true});
  }

  auto by_name = [](const auto& a, const auto& b) { return a.name < b.name; };
  std::sort(tensors_.begin(), tensors_.end(), by_name);
  std::sort(scalar_params_.begin(), scalar_params_.end(), by_name);

  // Every [k] length, intermediates included, must be a scalar parameter, and
  // every literal length at most kMaxRowLength, or validate_run_args() rejects
  // the run.
  for (const Value& v : pipeline.values) {
    if (v.type.shape.kind != Shape::Kind::kFixed) continue;
    if (v.type.shape.symbol.empty()) {
      if (v.type.shape.length > kMaxRowLength) checks_by_reference_ = true;
      continue;
    }
    auto param = std::find_if(scalar_params_.begin(), scalar_params_.end(),
                              [&](const ScalarParam& p) { return p.name == v.type.shape.symbol; });
    if (param == scalar_params_.end()) {
      checks_by_reference_ = true;
    } else {
      param->is_length = true;
    }
  }
  for (ScalarParam& param : scalar_params_) {
    param.default_valid = param.default_value && value_accepted(param, *param.default_value);
  }
  for (size_t i = 0; i < pipeline.ops.size(); ++i) {
    if (pipeline.ops[i].kind == OpKind::kTopK) topk_ops_.push_back(i);
  }
}

bool RunSignature::accepts(const Pipeline& pipeline, const RunArgs& args) const {
  if (checks_by_reference_) return false;
  if (args.rows < 0 || args.n < 0 || args.n > kMaxRowLength || args.first_row < 0) return false;
  if (args.rows > std::numeric_limits<int64_t>::max() - args.first_row) return false;
  if (!scalars_accepted(args) || !tensors_accepted(pipeline, args)) return false;
  if (args.rows == 0) return true;
  for (size_t i : topk_ops_) {
    // The parameters passed their checks, so the lengths resolve.
    Result<TopkLengths> lengths = topk_lengths(pipeline, args, pipeline.ops[i]);
    if (!lengths || lengths->k > lengths->length) return false;
  }
  return true;
}

Status RunSignature::check(const Pipeline& pipeline, const RunArgs& args) const {
  if (accepts(pipeline, args)) return Status::ok();
  return validate_run_args(pipeline, args);
}

// Walks the parameters and the given scalars together, both sorted by name:
// a parameter not given takes its default, and a given name that matches no
// parameter is left over at the end.
bool RunSignature::scalars_accepted(const RunArgs& args) const {
  auto argument = args.scalars.begin();
  for (const ScalarParam& param : scalar_params_) {
    if (argument != args.scalars.end() && argument->first == param.name) {
      if (!value_accepted(param, argument->second)) return false;
      ++argument;
    } else if (!param.default_valid) {
      return false;
    }
  }
  return argument == args.scalars.end();
}

bool RunSignature::tensors_accepted(const Pipeline& pipeline, const RunArgs& args) const {
  // Every tensor is required and no other name is allowed, so the given names
  // must equal the sorted entries one for one.
  if (args.tensors.size() != tensors_.size()) return false;
  auto argument = args.tensors.begin();
  for (const Tensor& tensor : tensors_) {
    if (argument->first != tensor.name) return false;
    const TensorRef& ref = argument->second;
    ++argument;
    if (ref.type != tensor.elem) return false;
    if (ref.data == nullptr && args.rows > 0) return false;
    // Strides are read only for per-row tensors of calls with several rows.
    if (!tensor.per_row || args.rows <= 1) continue;

    Result<int64_t> length = shape_length(pipeline, tensor.shape, args);
    if (!length) return false;
    int64_t row_bytes = storage_bytes(tensor.elem, *length);
    if (ref.row_stride_bytes < row_bytes) return false;
    int64_t span = 0;
    if (__builtin_mul_overflow(args.rows - 1, ref.row_stride_bytes, &span) ||
        __builtin_add_overflow(span, row_bytes, &span)) {
      return false;
    }
  }
  return true;
}

}  // namespace rowjit::ir
