// Elementwise ops: f32 and s32 arithmetic, comparisons, unary math and select.
#include <cmath>
#include <limits>

#include "ir/interpret_ops.h"
#include "ir/reference_math.h"

namespace rowjit::ir::interpret_detail {
namespace {

// s32 arithmetic wraps modulo 2^32. Inputs are s32 values, so every sum,
// difference and product fits in int64 before the wrap.
double wrap_s32(int64_t value) { return static_cast<int32_t>(static_cast<uint32_t>(value)); }

// minimum and maximum: NaN if either operand is NaN; -0 orders below +0.
float f32_minimum(float a, float b) {
  if (std::isnan(a)) return a;
  if (std::isnan(b)) return b;
  if (a == b) return std::signbit(a) ? a : b;
  return a < b ? a : b;
}

float f32_maximum(float a, float b) {
  if (std::isnan(a)) return a;
  if (std::isnan(b)) return b;
  if (a == b) return std::signbit(a) ? b : a;
  return a > b ? a : b;
}

double apply_f32_binary(OpKind kind, float a, float b) {
  switch (kind) {
    case OpKind::kAdd: return a + b;
    case OpKind::kSub: return a - b;
    case OpKind::kMul: return a * b;
    case OpKind::kDiv: return a / b;
    case OpKind::kMinimum: return f32_minimum(a, b);
    default: return f32_maximum(a, b);
  }
}

double apply_s32_binary(OpKind kind, int64_t a, int64_t b) {
  switch (kind) {
    case OpKind::kAdd: return wrap_s32(a + b);
    case OpKind::kSub: return wrap_s32(a - b);
    case OpKind::kMul: return wrap_s32(a * b);
    case OpKind::kMinimum: return static_cast<double>(a < b ? a : b);
    default: return static_cast<double>(a > b ? a : b);
  }
}

// Held f32 and s32 values compare exactly as doubles, with the IEEE rules:
// NaN compares false except under !=, and -0 == +0.
bool apply_comparison(OpKind kind, double a, double b) {
  switch (kind) {
    case OpKind::kLt: return a < b;
    case OpKind::kLe: return a <= b;
    case OpKind::kGt: return a > b;
    case OpKind::kGe: return a >= b;
    case OpKind::kEq: return a == b;
    default: return a != b;
  }
}

double apply_f32_unary(OpKind kind, float a) {
  switch (kind) {
    case OpKind::kNeg: return -a;
    case OpKind::kAbs: return std::fabs(a);
    case OpKind::kExp: return reference_exp(a);
    case OpKind::kLog: return reference_log(a);
    case OpKind::kSqrt: return std::sqrt(a);  // IEEE sqrt is correctly rounded; sqrt(-0) = -0
    case OpKind::kRecip: return 1.0f / a;
    case OpKind::kSigmoid: return reference_sigmoid(a);
    case OpKind::kTanh: return reference_tanh(a);
    case OpKind::kSoftplus: return reference_softplus(a);
    case OpKind::kFloorLog2: return reference_floor_log2(a);
    default: return reference_exp2(a);
  }
}

double apply_s32_unary(OpKind kind, int64_t a) {
  // -(-2^31) and |-2^31| wrap to -2^31.
  return kind == OpKind::kNeg ? wrap_s32(-a) : wrap_s32(a < 0 ? -a : a);
}

// Element type of a binary op's operands: that of the non-literal operand,
// or f32 when both are literals.
ElemType binary_operand_elem(const RowContext& context, const Op& op) {
  ElemType first = operand_elem(context, op, 0, ElemType::kF32);
  if (context.operand_value(op, 0).kind != ValueKind::kConstant) return first;
  return operand_elem(context, op, 1, ElemType::kF32);
}

// The subtraction that defines the operand of `exp_op`, or null when the
// operand is not the f32 result of a - b.
const Op* defining_subtraction(const Op& exp_op, const RowContext& context) {
  const Value& operand = context.operand_value(exp_op, 0);
  if (operand.kind != ValueKind::kOpResult || operand.type.elem != ElemType::kF32) return nullptr;
  const Op& definition = context.pipeline.ops.at(static_cast<size_t>(operand.op));
  return definition.kind == OpKind::kSub ? &definition : nullptr;
}

// exp(a - b) from the difference of a and b taken in double, rounded once to
// f32 (docs/ir.md). The difference of two floats is exact in double unless
// their exponents are more than 28 apart, and then within 2^-53 relative, so
// the shift x - max(x) of a softmax adds no error of its own. Rounding it to
// f32 first would add up to |a - b| * 2^-24 relative error to the result.
void evaluate_exp_of_difference(const Op& exp_op, const Op& subtraction, RowContext& context) {
  OperandReader a = read_operand(context, subtraction, 0, ElemType::kF32);
  OperandReader b = read_operand(context, subtraction, 1, ElemType::kF32);
  RowValues& out = context.result(exp_op);
  for (size_t i = 0; i < out.size(); ++i) {
    auto index = static_cast<int64_t>(i);
    out[i] = static_cast<float>(std::exp(a[index] - b[index]));
  }
}

Status evaluate_select(const Op& op, RowContext& context) {
  ElemType elem = context.result_value(op).type.elem;
  for (size_t index = 1; index < 3; ++index) {
    const Value& v = context.operand_value(op, index);
    if (elem == ElemType::kE2M1 && v.kind == ValueKind::kConstant && std::isnan(v.constant)) {
      return out_of_range(context.row, "select: the literal nan has no E2M1 code");
    }
  }
  OperandReader condition = read_operand(context, op, 0, ElemType::kBool);
  OperandReader a = read_operand(context, op, 1, elem);
  OperandReader b = read_operand(context, op, 2, elem);
  RowValues& out = context.result(op);
  for (size_t i = 0; i < out.size(); ++i) {
    auto index = static_cast<int64_t>(i);
    out[i] = condition[index] != 0 ? a[index] : b[index];
  }
  return Status::ok();
}

}  // namespace

Status evaluate_elementwise(const Op& op, RowContext& context) {
  RowValues& out = context.result(op);
  auto count = static_cast<int64_t>(out.size());

  switch (op.kind) {
    case OpKind::kAdd:
    case OpKind::kSub:
    case OpKind::kMul:
    case OpKind::kDiv:
    case OpKind::kMinimum:
    case OpKind::kMaximum: {
      ElemType elem = binary_operand_elem(context, op);
      OperandReader a = read_operand(context, op, 0, elem);
      OperandReader b = read_operand(context, op, 1, elem);
      for (int64_t i = 0; i < count; ++i) {
        out[static_cast<size_t>(i)] =
            elem == ElemType::kS32
                ? apply_s32_binary(op.kind, static_cast<int64_t>(a[i]), static_cast<int64_t>(b[i]))
                : apply_f32_binary(op.kind, static_cast<float>(a[i]), static_cast<float>(b[i]));
      }
      return Status::ok();
    }
    case OpKind::kLt:
    case OpKind::kLe:
    case OpKind::kGt:
    case OpKind::kGe:
    case OpKind::kEq:
    case OpKind::kNe: {
      ElemType elem = binary_operand_elem(context, op);
      OperandReader a = read_operand(context, op, 0, elem);
      OperandReader b = read_operand(context, op, 1, elem);
      for (int64_t i = 0; i < count; ++i) {
        out[static_cast<size_t>(i)] = apply_comparison(op.kind, a[i], b[i]) ? 1.0 : 0.0;
      }
      return Status::ok();
    }
    case OpKind::kNeg:
    case OpKind::kAbs:
    case OpKind::kExp:
    case OpKind::kLog:
    case OpKind::kSqrt:
    case OpKind::kRecip:
    case OpKind::kSigmoid:
    case OpKind::kTanh:
    case OpKind::kSoftplus:
    case OpKind::kFloorLog2:
    case OpKind::kExp2: {
      if (op.kind == OpKind::kExp) {
        if (const Op* subtraction = defining_subtraction(op, context)) {
          evaluate_exp_of_difference(op, *subtraction, context);
          return Status::ok();
        }
      }
      ElemType elem = operand_elem(context, op, 0, ElemType::kF32);
      OperandReader a = read_operand(context, op, 0, elem);
      for (int64_t i = 0; i < count; ++i) {
        out[static_cast<size_t>(i)] = elem == ElemType::kS32
                                          ? apply_s32_unary(op.kind, static_cast<int64_t>(a[i]))
                                          : apply_f32_unary(op.kind, static_cast<float>(a[i]));
      }
      return Status::ok();
    }
    case OpKind::kSelect:
      return evaluate_select(op, context);
    default:
      return {StatusCode::kInternal,
              "op '" + std::string(op_info(op.kind).name) + "' is not an elementwise op of the interpreter"};
  }
}

}  // namespace rowjit::ir::interpret_detail
