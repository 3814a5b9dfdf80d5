#include "tools/signature.h"

#include <sstream>

namespace rowjit::cli {

using ir::ValueKind;

bool is_scalar_param(const ir::Value& value) {
  return value.kind == ValueKind::kParam && value.type.shape.is_scalar();
}

bool is_tensor_entry(const ir::Value& value) {
  return value.kind == ValueKind::kInput || (value.kind == ValueKind::kParam && !is_scalar_param(value));
}

bool uses_row_length(const ir::Pipeline& pipeline) {
  for (const ir::Value& value : pipeline.values) {
    ir::Shape::Kind kind = value.type.shape.kind;
    if (kind == ir::Shape::Kind::kRow || kind == ir::Shape::Kind::kBlocks) return true;
  }
  return false;
}

std::string declaration(const ir::Value& value) {
  std::ostringstream text;
  if (value.kind == ValueKind::kParam) text << "param ";
  text << value.name << ": " << value.type.to_string();
  if (value.param_bound) {
    bool strict = value.param_bound->relation == ir::ParamBound::Relation::kGreater;
    text << (strict ? " > " : " >= ") << value.param_bound->limit;
  }
  if (value.param_default) text << " = " << *value.param_default;
  return text.str();
}

std::vector<std::string> tensor_entry_names(const ir::Pipeline& pipeline) {
  std::vector<std::string> names;
  for (ir::ValueId id : pipeline.inputs) {
    if (is_tensor_entry(pipeline.value(id))) names.push_back(pipeline.value(id).name);
  }
  return names;
}

std::vector<std::string> scalar_param_names(const ir::Pipeline& pipeline) {
  std::vector<std::string> names;
  for (ir::ValueId id : pipeline.inputs) {
    if (is_scalar_param(pipeline.value(id))) names.push_back(pipeline.value(id).name);
  }
  return names;
}

std::vector<std::string> per_row_input_names(const ir::Pipeline& pipeline) {
  std::vector<std::string> names;
  for (ir::ValueId id : pipeline.inputs) {
    if (pipeline.value(id).kind == ValueKind::kInput) names.push_back(pipeline.value(id).name);
  }
  return names;
}

std::vector<std::string> output_names(const ir::Pipeline& pipeline) {
  std::vector<std::string> names;
  for (ir::ValueId id : pipeline.outputs) names.push_back(pipeline.value(id).name);
  return names;
}

}  // namespace rowjit::cli
