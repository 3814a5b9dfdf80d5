#include "ir/printer.h"

#include <charconv>
#include <cmath>
#include <set>
#include <string>
#include <vector>

namespace rowjit::ir {
namespace {

// Text name of every value. Source names are kept. An unnamed op result gets
// "_<id>", or "_<id>_2", "_<id>_3", ... when a source name already uses it.
// Constants are printed as literals and get no name.
std::vector<std::string> value_names(const Pipeline& pipeline) {
  std::vector<std::string> names(pipeline.values.size());
  std::set<std::string> used;
  for (const Value& value : pipeline.values) {
    if (!value.name.empty()) used.insert(value.name);
  }
  for (size_t id = 0; id < pipeline.values.size(); ++id) {
    const Value& value = pipeline.values[id];
    if (!value.name.empty()) {
      names[id] = value.name;
      continue;
    }
    if (value.kind == ValueKind::kConstant) continue;
    std::string base = "_" + std::to_string(id);
    std::string name = base;
    for (int suffix = 2; used.count(name); ++suffix) name = base + "_" + std::to_string(suffix);
    used.insert(name);
    names[id] = name;
  }
  return names;
}

std::string operand_text(const Pipeline& pipeline, const std::vector<std::string>& names, ValueId id) {
  const Value& value = pipeline.value(id);
  if (value.kind == ValueKind::kConstant) return format_number(value.constant);
  return names[static_cast<size_t>(id)];
}

// A float attribute keeps a '.' or an exponent, so that it parses back as a
// double and not as an integer ("2.0", not "2").
std::string format_float_attr(double value) {
  std::string text = format_number(value);
  if (text.find_first_not_of("-0123456789") == std::string::npos) text += ".0";
  return text;
}

std::string format_attr(const AttrValue& attr) {
  if (const auto* integer = std::get_if<int64_t>(&attr)) return std::to_string(*integer);
  if (const auto* real = std::get_if<double>(&attr)) return format_float_attr(*real);
  if (const auto* flag = std::get_if<bool>(&attr)) return *flag ? "true" : "false";
  return std::get<std::string>(attr);
}

std::string format_statement(const Pipeline& pipeline, const std::vector<std::string>& names, const Op& op) {
  std::string text;
  for (size_t r = 0; r < op.results.size(); ++r) {
    if (r > 0) text += ", ";
    text += names[static_cast<size_t>(op.results[r])];
  }
  text += " = ";

  std::string_view symbol = infix_symbol(op.kind);
  if (!symbol.empty() && op.operands.size() == 2 && op.attrs.empty()) {
    return text + operand_text(pipeline, names, op.operands[0]) + " " + std::string(symbol) + " " +
           operand_text(pipeline, names, op.operands[1]);
  }
  // "-2" would read back as a literal, so neg of a literal stays a call.
  if (op.kind == OpKind::kNeg && op.operands.size() == 1 && op.attrs.empty() &&
      pipeline.value(op.operands[0]).kind != ValueKind::kConstant) {
    return text + "-" + operand_text(pipeline, names, op.operands[0]);
  }

  text += std::string(op_info(op.kind).name) + "(";
  bool first = true;
  for (ValueId operand : op.operands) {
    if (!first) text += ", ";
    text += operand_text(pipeline, names, operand);
    first = false;
  }
  for (const auto& [key, attr] : op.attrs) {
    if (!first) text += ", ";
    text += key + "=" + format_attr(attr);
    first = false;
  }
  return text + ")";
}

std::string format_signature_entry(const Value& value) {
  std::string text = value.kind == ValueKind::kParam ? "param " : "";
  text += value.name + ": " + value.type.to_string();
  if (value.kind != ValueKind::kParam) return text;
  if (value.param_bound) {
    bool strict = value.param_bound->relation == ParamBound::Relation::kGreater;
    text += std::string(strict ? " > " : " >= ") + format_number(value.param_bound->limit);
  }
  if (value.param_default) text += " = " + format_number(*value.param_default);
  return text;
}

}  // namespace

std::string format_number(double value) {
  if (std::isnan(value)) return "nan";
  if (std::isinf(value)) return value > 0 ? "inf" : "-inf";
  // Without a format argument, to_chars writes the shortest text that reads
  // back to the same double, in fixed or exponent form, whichever is shorter.
  char buffer[64];
  auto [end, error] = std::to_chars(buffer, buffer + sizeof(buffer), value);
  // The shortest form of a double takes at most 24 characters, so this
  // branch is not taken.
  if (error != std::errc()) return "nan";
  return std::string(buffer, end);
}

std::string print_op(const Pipeline& pipeline, const Op& op) {
  return format_statement(pipeline, value_names(pipeline), op);
}

std::vector<std::string> print_ops(const Pipeline& pipeline) {
  std::vector<std::string> names = value_names(pipeline);
  std::vector<std::string> statements;
  statements.reserve(pipeline.ops.size());
  for (const Op& op : pipeline.ops) statements.push_back(format_statement(pipeline, names, op));
  return statements;
}

std::string print_pipeline(const Pipeline& pipeline) {
  std::vector<std::string> names = value_names(pipeline);

  std::string text = "kernel " + pipeline.name + "(";
  for (size_t i = 0; i < pipeline.inputs.size(); ++i) {
    if (i > 0) text += ", ";
    text += format_signature_entry(pipeline.value(pipeline.inputs[i]));
  }
  text += ") -> (";
  // NOTE: an output that is an input value (possible in a pipeline built in
  // C++) prints under the input's name, which the parser rejects.
  for (size_t i = 0; i < pipeline.outputs.size(); ++i) {
    if (i > 0) text += ", ";
    ValueId id = pipeline.outputs[i];
    text += names[static_cast<size_t>(id)] + ": " + pipeline.value(id).type.to_string();
  }
  text += ") {\n";

  for (const Op& op : pipeline.ops) text += "  " + format_statement(pipeline, names, op) + "\n";
  return text + "}\n";
}

}  // namespace rowjit::ir
