#include "ir/infer.h"

#include "ir/printer.h"
#include "ir/tensor.h"

#include <cmath>
#include <limits>
#include <set>

namespace rowjit::ir {
namespace {

Status invalid(const OpInfo& info, const std::string& message) {
  return {StatusCode::kInvalidPipeline, "op '" + std::string(info.name) + "': " + message};
}

std::string describe(const Pipeline& p, ValueId id) {
  const Value& v = p.value(id);
  if (v.kind == ValueKind::kConstant) return "literal";
  return "'" + p.display_name(id) + "' (" + v.type.to_string() + ")";
}

// The attribute keys each op accepts.
std::set<std::string> allowed_attrs(OpKind kind) {
  switch (kind) {
    case OpKind::kConvert: return {"to", "round", "saturate"};
    case OpKind::kBlockMax:
    case OpKind::kBlockSum:
    case OpKind::kBlockAbsMax:
    case OpKind::kBlockMaxMag: return {"block"};
    case OpKind::kTopK: return {"k"};
    case OpKind::kGroupMask: return {"groups", "keep", "score"};
    default: return {};
  }
}

bool is_constant(const Pipeline& p, ValueId id) { return p.value(id).kind == ValueKind::kConstant; }

// Element type shared by the operands of an elementwise op. A literal adopts the
// type of the other operands; literals alone are f32.
Result<ElemType> common_elem(const Pipeline& p, const OpInfo& info, const std::vector<ValueId>& ids) {
  std::optional<ElemType> elem;
  for (ValueId id : ids) {
    if (is_constant(p, id)) continue;
    ElemType t = p.value(id).type.elem;
    if (elem && *elem != t) {
      return invalid(info, "operand " + describe(p, id) + " has element type " +
                               std::string(elem_type_name(t)) + " but another operand has " +
                               std::string(elem_type_name(*elem)) +
                               "; convert one of them with convert(x, to=...)");
    }
    elem = t;
  }
  ElemType result = elem.value_or(ElemType::kF32);
  for (ValueId id : ids) {
    if (is_constant(p, id) && !constant_fits(p.value(id).constant, result)) {
      return invalid(info, "literal " + format_number(p.value(id).constant) +
                               " does not fit element type " + std::string(elem_type_name(result)));
    }
  }
  return result;
}

Result<Shape> common_shape(const Pipeline& p, const OpInfo& info, const std::vector<ValueId>& ids) {
  Shape shape = Shape::scalar();
  for (ValueId id : ids) {
    auto combined = broadcast_shapes(shape, p.value(id).type.shape);
    if (!combined) {
      return invalid(info, "operand " + describe(p, id) + " has shape " +
                               (p.value(id).type.shape.is_scalar() ? "scalar" : p.value(id).type.shape.to_string()) +
                               ", which does not combine with shape " +
                               (shape.is_scalar() ? "scalar" : shape.to_string()) +
                               "; elementwise operands need equal shapes, a per-row scalar, or [n/B] with [n]");
    }
    shape = *combined;
  }
  return shape;
}

Status require_elem(const Pipeline& p, const OpInfo& info, ValueId id, ElemType want, const char* role) {
  const Value& v = p.value(id);
  if (v.kind == ValueKind::kConstant) {
    if (!constant_fits(v.constant, want)) {
      return invalid(info, std::string(role) + " literal does not fit " + std::string(elem_type_name(want)));
    }
    return Status::ok();
  }
  if (v.type.elem != want) {
    return invalid(info, std::string(role) + " " + describe(p, id) + " must have element type " +
                             std::string(elem_type_name(want)));
  }
  return Status::ok();
}

Status require_shape(const Pipeline& p, const OpInfo& info, ValueId id, const Shape& want, const char* role) {
  if (p.value(id).type.shape != want) {
    return invalid(info, std::string(role) + " " + describe(p, id) + " must have shape " +
                             (want.is_scalar() ? std::string("scalar") : want.to_string()));
  }
  return Status::ok();
}

Result<int64_t> positive_int_attr(const Op& op, const OpInfo& info, const char* key) {
  auto value = attr_int(op, key);
  if (!value && op.attrs.count(key)) {
    return invalid(info, std::string("attribute '") + key + "' must be an integer literal, such as " + key + "=32");
  }
  if (!value) return invalid(info, std::string("missing integer attribute '") + key + "'");
  if (*value <= 0) {
    return invalid(info, std::string("attribute '") + key + "' must be positive, got " + std::to_string(*value));
  }
  if (*value > kMaxRowLength) {
    return invalid(info, std::string("attribute '") + key + "' is " + std::to_string(*value) +
                             ", above the largest row length (2^40 elements); give a smaller value");
  }
  return *value;
}

Status infer_convert(const Pipeline& p, const Op& op, const OpInfo& info, std::vector<ValueType>& results) {
  auto to_word = attr_word(op, "to");
  if (!to_word) return invalid(info, "missing attribute 'to' (the target element type, for example to=s8)");
  auto to = parse_elem_type(*to_word);
  if (!to) return invalid(info, "unknown element type '" + *to_word + "' in attribute 'to'");
  if (*to == ElemType::kBool || is_block_format(*to)) {
    return invalid(info, "cannot convert to " + *to_word + "; block formats come from pack_* ops and bool from comparisons");
  }
  ValueId x = op.operands[0];
  ElemType from = is_constant(p, x) ? ElemType::kF32 : p.value(x).type.elem;
  if (is_block_format(from)) return invalid(info, "cannot convert a block format value");

  RoundMode round = RoundMode::kNearestEven;
  if (auto word = attr_word(op, "round")) {
    auto parsed = parse_round_mode(*word);
    if (!parsed) {
      return invalid(info, "unknown rounding mode '" + *word +
                               "'; expected nearest_even, nearest_away, toward_zero or floor");
    }
    round = *parsed;
  } else if (op.attrs.count("round")) {
    return invalid(info, "attribute 'round' must be a rounding mode name");
  }
  if (op.attrs.count("saturate") && !attr_bool(op, "saturate")) {
    return invalid(info, "attribute 'saturate' must be true or false");
  }
  bool narrowing_float = *to == ElemType::kF16 || *to == ElemType::kBF16 || *to == ElemType::kE4M3 ||
                         *to == ElemType::kE5M2 || *to == ElemType::kE2M1;
  if (narrowing_float && round != RoundMode::kNearestEven) {
    return invalid(info, "conversion to " + *to_word + " supports round=nearest_even only");
  }
  if (*to == ElemType::kE8M0 && op.attrs.count("round") && round != RoundMode::kFloor) {
    return invalid(info, "conversion to e8m0 rounds down to a power of two; use round=floor or omit it");
  }
  if (is_integer(*to) && attr_bool(op, "saturate") == false) {
    return invalid(info, "conversion to " + *to_word + " always saturates; saturate=false is not supported");
  }
  results.push_back({*to, p.value(x).type.shape});
  return Status::ok();
}

}  // namespace

std::optional<Shape> broadcast_shapes(const Shape& a, const Shape& b) {
  if (a == b) return a;
  if (a.is_scalar()) return b;
  if (b.is_scalar()) return a;
  if (a.kind == Shape::Kind::kBlocks && b.kind == Shape::Kind::kRow) return b;
  if (b.kind == Shape::Kind::kBlocks && a.kind == Shape::Kind::kRow) return a;
  return std::nullopt;
}

bool constant_fits(double constant, ElemType type) {
  if (std::isnan(constant)) return is_float(type);
  switch (type) {
    case ElemType::kS32:
      return constant == std::floor(constant) && constant >= -2147483648.0 && constant <= 2147483647.0;
    case ElemType::kS8:
      return constant == std::floor(constant) && constant >= -128 && constant <= 127;
    case ElemType::kU8:
      return constant == std::floor(constant) && constant >= 0 && constant <= 255;
    case ElemType::kF32:
      return true;
    default:
      return false;
  }
}

Status infer_result_types(const Pipeline& p, const Op& op, std::vector<ValueType>& results) {
  const OpInfo& info = op_info(op.kind);
  results.clear();

  if (static_cast<int>(op.operands.size()) != info.operands) {
    return invalid(info, "expected " + std::to_string(info.operands) + " operand(s), got " +
                             std::to_string(op.operands.size()));
  }
  for (ValueId id : op.operands) {
    if (id < 0 || static_cast<size_t>(id) >= p.values.size()) {
      return {StatusCode::kInternal, "op '" + std::string(info.name) + "' refers to value " +
                                         std::to_string(id) + ", which does not exist"};
    }
  }
  auto allowed = allowed_attrs(op.kind);
  for (const auto& [key, value] : op.attrs) {
    if (!allowed.count(key)) {
      std::string expected;
      for (const auto& a : allowed) expected += (expected.empty() ? "" : ", ") + a;
      return invalid(info, "unknown attribute '" + key + "'" +
                               (expected.empty() ? std::string("; this op takes no attributes")
                                                 : "; expected one of: " + expected));
    }
  }
  // Block formats are final: only an output can hold them.
  for (ValueId id : op.operands) {
    if (is_block_format(p.value(id).type.elem)) {
      return invalid(info, "operand " + describe(p, id) + " is a packed block format and can only be an output");
    }
  }

  const auto& ops = op.operands;
  switch (op.kind) {
    case OpKind::kAdd:
    case OpKind::kSub:
    case OpKind::kMul:
    case OpKind::kDiv:
    case OpKind::kMinimum:
    case OpKind::kMaximum: {
      auto elem = common_elem(p, info, ops);
      if (!elem) return elem.status();
      if (*elem != ElemType::kF32 && *elem != ElemType::kS32) {
        return invalid(info, "arithmetic needs f32 or s32 operands, got " + std::string(elem_type_name(*elem)) +
                                 "; convert to f32 or s32 first");
      }
      if (*elem == ElemType::kS32 && op.kind == OpKind::kDiv) {
        return invalid(info, "integer division is not supported; convert to f32 first");
      }
      auto shape = common_shape(p, info, ops);
      if (!shape) return shape.status();
      results.push_back({*elem, *shape});
      return Status::ok();
    }
    case OpKind::kLt:
    case OpKind::kLe:
    case OpKind::kGt:
    case OpKind::kGe:
    case OpKind::kEq:
    case OpKind::kNe: {
      auto elem = common_elem(p, info, ops);
      if (!elem) return elem.status();
      if (*elem != ElemType::kF32 && *elem != ElemType::kS32) {
        return invalid(info, "comparison needs f32 or s32 operands, got " + std::string(elem_type_name(*elem)));
      }
      auto shape = common_shape(p, info, ops);
      if (!shape) return shape.status();
      results.push_back({ElemType::kBool, *shape});
      return Status::ok();
    }
    case OpKind::kNeg:
    case OpKind::kAbs: {
      ElemType elem = is_constant(p, ops[0]) ? ElemType::kF32 : p.value(ops[0]).type.elem;
      if (elem != ElemType::kF32 && elem != ElemType::kS32) {
        return invalid(info, "operand " + describe(p, ops[0]) + " must be f32 or s32");
      }
      results.push_back({elem, p.value(ops[0]).type.shape});
      return Status::ok();
    }
    case OpKind::kExp:
    case OpKind::kLog:
    case OpKind::kSqrt:
    case OpKind::kRecip:
    case OpKind::kSigmoid:
    case OpKind::kTanh:
    case OpKind::kSoftplus:
    case OpKind::kFloorLog2:
    case OpKind::kExp2: {
      ROWJIT_TRY(require_elem(p, info, ops[0], ElemType::kF32, "operand"));
      results.push_back({ElemType::kF32, p.value(ops[0]).type.shape});
      return Status::ok();
    }
    case OpKind::kSelect: {
      ROWJIT_TRY(require_elem(p, info, ops[0], ElemType::kBool, "condition"));
      auto elem = common_elem(p, info, {ops[1], ops[2]});
      if (!elem) return elem.status();
      auto shape = common_shape(p, info, ops);
      if (!shape) return shape.status();
      results.push_back({*elem, *shape});
      return Status::ok();
    }
    case OpKind::kConvert:
      return infer_convert(p, op, info, results);

    case OpKind::kReduceMax:
    case OpKind::kReduceMin:
    case OpKind::kReduceSum:
    case OpKind::kReduceAbsMax:
    case OpKind::kReduceMean:
    case OpKind::kReduceVar:
    case OpKind::kArgMax: {
      ROWJIT_TRY(require_elem(p, info, ops[0], ElemType::kF32, "operand"));
      if (p.value(ops[0]).type.shape.is_scalar()) {
        return invalid(info, "operand " + describe(p, ops[0]) + " is a scalar; a reduction needs a vector such as [n] or [k]");
      }
      results.push_back({op.kind == OpKind::kArgMax ? ElemType::kS32 : ElemType::kF32, Shape::scalar()});
      return Status::ok();
    }
    case OpKind::kBlockMax:
    case OpKind::kBlockSum:
    case OpKind::kBlockAbsMax:
    case OpKind::kBlockMaxMag: {
      auto block = positive_int_attr(op, info, "block");
      if (!block) return block.status();
      ROWJIT_TRY(require_elem(p, info, ops[0], ElemType::kF32, "operand"));
      ROWJIT_TRY(require_shape(p, info, ops[0], Shape::row(), "operand"));
      results.push_back({ElemType::kF32, Shape::blocks(*block)});
      return Status::ok();
    }
    case OpKind::kTopK: {
      ROWJIT_TRY(require_elem(p, info, ops[0], ElemType::kF32, "operand"));
      if (p.value(ops[0]).type.shape.is_scalar()) {
        return invalid(info, "operand " + describe(p, ops[0]) + " is a scalar; topk needs a vector");
      }
      Shape k_shape;
      if (auto k = attr_int(op, "k")) {
        if (*k <= 0) return invalid(info, "k must be positive, got " + std::to_string(*k));
        if (*k > kMaxRowLength) {
          return invalid(info, "k is " + std::to_string(*k) + ", above the largest row length (2^40 elements); "
                               "give a smaller k");
        }
        k_shape = Shape::fixed(*k);
      } else if (auto word = attr_word(op, "k")) {
        auto param = p.find_input(*word);
        if (!param || p.value(*param).kind != ValueKind::kParam ||
            p.value(*param).type != ValueType{ElemType::kS32, Shape::scalar()}) {
          return invalid(info, "k='" + *word + "' must name a scalar s32 parameter (param " + *word + ": s32)");
        }
        k_shape = Shape::fixed(*word);
      } else if (op.attrs.count("k")) {
        return invalid(info, "attribute 'k' must be an integer literal or the name of an s32 parameter");
      } else {
        return invalid(info, "missing attribute 'k' (an integer or the name of an s32 parameter)");
      }
      results.push_back({ElemType::kF32, k_shape});
      results.push_back({ElemType::kS32, k_shape});
      return Status::ok();
    }
    case OpKind::kGroupMask: {
      auto groups = positive_int_attr(op, info, "groups");
      if (!groups) return groups.status();
      auto keep = positive_int_attr(op, info, "keep");
      if (!keep) return keep.status();
      if (*keep > *groups) {
        return invalid(info, "keep=" + std::to_string(*keep) + " exceeds groups=" + std::to_string(*groups));
      }
      if (op.attrs.count("score")) {
        auto score = attr_word(op, "score");
        if (!score || (*score != "max" && *score != "top2_sum")) {
          return invalid(info, "attribute 'score' must be max or top2_sum");
        }
      }
      ROWJIT_TRY(require_elem(p, info, ops[0], ElemType::kF32, "operand"));
      ROWJIT_TRY(require_shape(p, info, ops[0], Shape::row(), "operand"));
      results.push_back({ElemType::kF32, Shape::row()});
      return Status::ok();
    }
    case OpKind::kGather: {
      const Value& x = p.value(ops[0]);
      const Value& index = p.value(ops[1]);
      if (x.kind == ValueKind::kConstant || x.type.shape.is_scalar()) {
        return invalid(info, "source " + describe(p, ops[0]) + " must be a vector");
      }
      if (x.type.elem == ElemType::kBool) return invalid(info, "cannot gather from a bool value");
      ROWJIT_TRY(require_elem(p, info, ops[1], ElemType::kS32, "index"));
      if (!index.type.shape.is_scalar() && index.type.shape.kind != Shape::Kind::kFixed) {
        return invalid(info, "index " + describe(p, ops[1]) + " must be a per-row scalar or a [k] vector");
      }
      results.push_back({x.type.elem, index.type.shape});
      return Status::ok();
    }
    case OpKind::kOneHot: {
      ROWJIT_TRY(require_elem(p, info, ops[0], ElemType::kS32, "index"));
      ROWJIT_TRY(require_shape(p, info, ops[0], Shape::scalar(), "index"));
      results.push_back({ElemType::kF32, Shape::row()});
      return Status::ok();
    }
    case OpKind::kUniform: {
      ROWJIT_TRY(require_elem(p, info, ops[0], ElemType::kS32, "seed"));
      ROWJIT_TRY(require_shape(p, info, ops[0], Shape::scalar(), "seed"));
      results.push_back({ElemType::kF32, Shape::row()});
      return Status::ok();
    }
    case OpKind::kPackQ8_0:
    case OpKind::kPackQ4_0:
    case OpKind::kPackMxfp4: {
      bool mx = op.kind == OpKind::kPackMxfp4;
      ElemType scale_elem = mx ? ElemType::kE8M0 : ElemType::kF32;
      ElemType q_elem = op.kind == OpKind::kPackQ8_0 ? ElemType::kS8
                        : op.kind == OpKind::kPackQ4_0 ? ElemType::kU8 : ElemType::kE2M1;
      ROWJIT_TRY(require_elem(p, info, ops[0], scale_elem, "scale"));
      ROWJIT_TRY(require_shape(p, info, ops[0], Shape::blocks(32), "scale"));
      ROWJIT_TRY(require_elem(p, info, ops[1], q_elem, "quants"));
      ROWJIT_TRY(require_shape(p, info, ops[1], Shape::row(), "quants"));
      ElemType out = op.kind == OpKind::kPackQ8_0 ? ElemType::kQ8_0
                     : op.kind == OpKind::kPackQ4_0 ? ElemType::kQ4_0 : ElemType::kMxfp4;
      results.push_back({out, Shape::row()});
      return Status::ok();
    }
    case OpKind::kPackBits: {
      ROWJIT_TRY(require_elem(p, info, ops[0], ElemType::kBool, "operand"));
      ROWJIT_TRY(require_shape(p, info, ops[0], Shape::row(), "operand"));
      results.push_back({ElemType::kU8, Shape::blocks(8)});
      return Status::ok();
    }
  }
  return {StatusCode::kInternal, "no typing rule for op '" + std::string(info.name) + "'"};
}

}  // namespace rowjit::ir
