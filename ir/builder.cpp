#include "ir/builder.h"

#include "ir/infer.h"
#include "ir/verifier.h"

namespace rowjit::ir {
namespace {

Status located(SourceLoc loc, StatusCode code, const std::string& message) {
  return {code, location_prefix(loc) + message};
}

}  // namespace

Builder::Builder(std::string pipeline_name) { pipeline_.name = std::move(pipeline_name); }

Result<ValueId> Builder::add_input(const std::string& name, ValueType type, SourceLoc loc) {
  if (names_.count(name)) return located(loc, StatusCode::kInvalidPipeline, "name '" + name + "' is declared twice");
  Value v;
  v.name = name;
  v.type = std::move(type);
  v.kind = ValueKind::kInput;
  v.loc = loc;
  auto id = static_cast<ValueId>(pipeline_.values.size());
  pipeline_.values.push_back(std::move(v));
  pipeline_.inputs.push_back(id);
  names_[name] = id;
  return id;
}

Result<ValueId> Builder::add_param(const std::string& name, ValueType type, std::optional<double> default_value,
                                   std::optional<ParamBound> bound, SourceLoc loc) {
  auto id = add_input(name, std::move(type), loc);
  if (!id) return id;
  Value& v = pipeline_.value(*id);
  v.kind = ValueKind::kParam;
  v.param_default = default_value;
  v.param_bound = bound;
  if (default_value && !v.type.shape.is_scalar()) {
    return located(loc, StatusCode::kInvalidPipeline, "vector parameter '" + name + "' cannot have a default");
  }
  if (default_value && !constant_fits(*default_value, v.type.elem)) {
    return located(loc, StatusCode::kInvalidPipeline,
                   "default of parameter '" + name + "' does not fit " + v.type.to_string());
  }
  return id;
}

Status Builder::declare_output(const std::string& name, ValueType type, SourceLoc loc) {
  for (const auto& out : outputs_) {
    if (out.name == name) return located(loc, StatusCode::kInvalidPipeline, "output '" + name + "' is declared twice");
  }
  if (names_.count(name)) {
    return located(loc, StatusCode::kInvalidPipeline, "output '" + name + "' has the same name as an input");
  }
  outputs_.push_back({name, std::move(type), loc, kNoValue});
  return Status::ok();
}

ValueId Builder::constant(double value, SourceLoc loc) {
  Value v;
  v.type = {ElemType::kF32, Shape::scalar()};
  v.kind = ValueKind::kConstant;
  v.constant = value;
  v.loc = loc;
  pipeline_.values.push_back(std::move(v));
  return static_cast<ValueId>(pipeline_.values.size() - 1);
}

Result<std::vector<ValueId>> Builder::add_op(OpKind kind, std::vector<ValueId> operands,
                                             std::map<std::string, AttrValue> attrs, SourceLoc loc) {
  Op op{kind, std::move(operands), {}, std::move(attrs), loc};
  std::vector<ValueType> types;
  Status typed = infer_result_types(pipeline_, op, types);
  if (!typed.is_ok()) return located(loc, typed.code(), typed.message());

  auto op_index = static_cast<int32_t>(pipeline_.ops.size());
  std::vector<ValueId> results;
  for (size_t r = 0; r < types.size(); ++r) {
    Value v;
    v.type = types[r];
    v.kind = ValueKind::kOpResult;
    v.op = op_index;
    v.result = static_cast<int32_t>(r);
    v.loc = loc;
    results.push_back(static_cast<ValueId>(pipeline_.values.size()));
    pipeline_.values.push_back(std::move(v));
  }
  op.results = results;
  pipeline_.ops.push_back(std::move(op));
  return results;
}

Result<ValueId> Builder::add(OpKind kind, std::vector<ValueId> operands, std::map<std::string, AttrValue> attrs,
                             SourceLoc loc) {
  auto results = add_op(kind, std::move(operands), std::move(attrs), loc);
  if (!results) return results.status();
  if (results->size() != 1) {
    return located(loc, StatusCode::kInvalidPipeline,
                   "op '" + std::string(op_info(kind).name) + "' has " + std::to_string(results->size()) +
                       " results; assign them with 'a, b = ...'");
  }
  return results->front();
}

Status Builder::name_value(ValueId value, const std::string& name, SourceLoc loc) {
  if (names_.count(name)) {
    return located(loc, StatusCode::kInvalidPipeline,
                   "'" + name + "' is already defined; every value is assigned once");
  }
  Value& v = pipeline_.value(value);
  if (v.kind != ValueKind::kOpResult) {
    return located(loc, StatusCode::kInvalidPipeline,
                   "'" + name + "' would only rename " + (v.kind == ValueKind::kConstant ? "a literal" : "'" + v.name + "'") +
                       "; assign the result of an op instead");
  }
  if (!v.name.empty()) {
    return located(loc, StatusCode::kInvalidPipeline,
                   "'" + name + "' would rename '" + v.name + "'; a value has one name");
  }
  for (auto& out : outputs_) {
    if (out.name != name) continue;
    if (out.type != v.type) {
      return located(loc, StatusCode::kInvalidPipeline,
                     "output '" + name + "' is declared " + out.type.to_string() + " but is assigned a value of type " +
                         v.type.to_string());
    }
    out.value = value;
  }
  v.name = name;
  v.loc = loc;
  names_[name] = value;
  return Status::ok();
}

std::optional<ValueId> Builder::lookup(const std::string& name) const {
  auto it = names_.find(name);
  if (it == names_.end()) return std::nullopt;
  return it->second;
}

Result<Pipeline> Builder::finish() {
  pipeline_.outputs.clear();
  for (const auto& out : outputs_) {
    if (out.value == kNoValue) {
      return located(out.loc, StatusCode::kInvalidPipeline, "output '" + out.name + "' is declared but never assigned");
    }
    pipeline_.outputs.push_back(out.value);
  }
  ROWJIT_TRY(verify(pipeline_));
  return pipeline_;
}

}  // namespace rowjit::ir
