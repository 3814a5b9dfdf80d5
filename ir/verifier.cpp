#include "ir/verifier.h"

#include <set>

#include "ir/infer.h"
#include "ir/tensor.h"

namespace rowjit::ir {
namespace {

Status fail(SourceLoc loc, const std::string& message) {
  return {StatusCode::kInvalidPipeline, location_prefix(loc) + message};
}

Status check_signature_shape(const Pipeline& p, const Value& v, const char* role) {
  const Shape& s = v.type.shape;
  if (s.kind == Shape::Kind::kFixed && !s.symbol.empty()) {
    auto param = p.find_input(s.symbol);
    if (!param || p.value(*param).kind != ValueKind::kParam ||
        p.value(*param).type != ValueType{ElemType::kS32, Shape::scalar()}) {
      return fail(v.loc, std::string(role) + " '" + v.name + "' has shape [" + s.symbol +
                             "], but no scalar s32 parameter '" + s.symbol + "' is declared");
    }
  }
  if (s.kind == Shape::Kind::kFixed && s.symbol.empty() && s.length <= 0) {
    return fail(v.loc, std::string(role) + " '" + v.name + "' has a non-positive length");
  }
  if (s.kind == Shape::Kind::kFixed && s.symbol.empty() && s.length > kMaxRowLength) {
    return fail(v.loc, std::string(role) + " '" + v.name + "' has length " + std::to_string(s.length) +
                           ", above the largest row length (2^40 elements); declare a shorter length");
  }
  if (s.kind == Shape::Kind::kBlocks && s.block <= 0) {
    return fail(v.loc, std::string(role) + " '" + v.name + "' has a non-positive block size");
  }
  if (s.kind == Shape::Kind::kBlocks && s.block > kMaxRowLength) {
    return fail(v.loc, std::string(role) + " '" + v.name + "' has block size " + std::to_string(s.block) +
                           ", above the largest row length (2^40 elements); declare a smaller block");
  }
  return Status::ok();
}

}  // namespace

std::string location_prefix(SourceLoc loc) {
  if (loc.line <= 0) return "";
  return "line " + std::to_string(loc.line) + ", column " + std::to_string(loc.column) + ": ";
}

Status verify(const Pipeline& p) {
  std::set<std::string> names;
  std::vector<bool> defined(p.values.size(), false);

  for (ValueId id : p.inputs) {
    const Value& v = p.value(id);
    if (v.kind != ValueKind::kInput && v.kind != ValueKind::kParam) {
      return fail(v.loc, "signature entry '" + v.name + "' is not an input or parameter");
    }
    if (!names.insert(v.name).second) return fail(v.loc, "name '" + v.name + "' is declared twice");
    if (v.type.elem == ElemType::kBool || is_block_format(v.type.elem)) {
      return fail(v.loc, "input '" + v.name + "' has type " + v.type.to_string() +
                             "; inputs must be plain element types such as f32, s32, s8 or u8");
    }
    if (v.kind == ValueKind::kParam && !v.type.shape.is_scalar() && v.type.shape.kind != Shape::Kind::kRow) {
      return fail(v.loc, "parameter '" + v.name + "' must be a scalar or an [n] vector");
    }
    ROWJIT_TRY(check_signature_shape(p, v, v.kind == ValueKind::kParam ? "parameter" : "input"));
    defined[static_cast<size_t>(id)] = true;
  }
  for (size_t i = 0; i < p.values.size(); ++i) {
    if (p.values[i].kind == ValueKind::kConstant) defined[i] = true;
  }

  std::vector<ValueType> inferred;
  for (size_t op_index = 0; op_index < p.ops.size(); ++op_index) {
    const Op& op = p.ops[op_index];
    for (ValueId operand : op.operands) {
      if (operand < 0 || static_cast<size_t>(operand) >= p.values.size() || !defined[static_cast<size_t>(operand)]) {
        return fail(op.loc, "op '" + std::string(op_info(op.kind).name) + "' uses value " +
                                (operand >= 0 && static_cast<size_t>(operand) < p.values.size()
                                     ? "'" + p.display_name(operand) + "'"
                                     : std::to_string(operand)) +
                                " before it is defined");
      }
    }
    Status typed = infer_result_types(p, op, inferred);
    if (!typed.is_ok()) return fail(op.loc, typed.message());
    if (inferred.size() != op.results.size()) {
      return fail(op.loc, "op '" + std::string(op_info(op.kind).name) + "' has " +
                              std::to_string(op.results.size()) + " results, expected " +
                              std::to_string(inferred.size()));
    }
    for (size_t r = 0; r < op.results.size(); ++r) {
      ValueId id = op.results[r];
      const Value& v = p.value(id);
      if (v.kind != ValueKind::kOpResult || v.op != static_cast<int32_t>(op_index) ||
          v.result != static_cast<int32_t>(r)) {
        return {StatusCode::kInternal, "value '" + p.display_name(id) + "' does not point back to its op"};
      }
      if (v.type != inferred[r]) {
        return fail(op.loc, "value '" + p.display_name(id) + "' has type " + v.type.to_string() +
                                " but op '" + std::string(op_info(op.kind).name) + "' produces " +
                                inferred[r].to_string());
      }
      if (!v.name.empty() && !names.insert(v.name).second) {
        return fail(v.loc, "name '" + v.name + "' is assigned twice; every value is assigned once");
      }
      defined[static_cast<size_t>(id)] = true;
    }
  }

  std::set<std::string> output_names;
  if (p.outputs.empty()) return fail({}, "pipeline '" + p.name + "' has no outputs");
  for (ValueId id : p.outputs) {
    const Value& v = p.value(id);
    if (!output_names.insert(v.name).second) return fail(v.loc, "output '" + v.name + "' is listed twice");
    if (v.kind == ValueKind::kParam || v.kind == ValueKind::kConstant) {
      return fail(v.loc, "output '" + v.name + "' must be computed by the pipeline, not a parameter or literal");
    }
    if (v.type.elem == ElemType::kBool) {
      return fail(v.loc, "output '" + v.name + "' is bool; store it with pack_bits(...) or convert(..., to=u8)");
    }
  }
  return Status::ok();
}

}  // namespace rowjit::ir
