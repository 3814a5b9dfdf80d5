#include "ir/ops.h"

#include <array>

namespace rowjit::ir {
namespace {

using C = OpCategory;

// One row per OpKind, in enum order (checked by a static_assert below).
constexpr std::array<OpInfo, static_cast<size_t>(OpKind::kPackBits) + 1> kOps = {{
    {OpKind::kAdd, "add", C::kElementwise, 2, 1},
    {OpKind::kSub, "sub", C::kElementwise, 2, 1},
    {OpKind::kMul, "mul", C::kElementwise, 2, 1},
    {OpKind::kDiv, "div", C::kElementwise, 2, 1},
    {OpKind::kMinimum, "minimum", C::kElementwise, 2, 1},
    {OpKind::kMaximum, "maximum", C::kElementwise, 2, 1},
    {OpKind::kLt, "lt", C::kElementwise, 2, 1},
    {OpKind::kLe, "le", C::kElementwise, 2, 1},
    {OpKind::kGt, "gt", C::kElementwise, 2, 1},
    {OpKind::kGe, "ge", C::kElementwise, 2, 1},
    {OpKind::kEq, "eq", C::kElementwise, 2, 1},
    {OpKind::kNe, "ne", C::kElementwise, 2, 1},
    {OpKind::kNeg, "neg", C::kElementwise, 1, 1},
    {OpKind::kAbs, "abs", C::kElementwise, 1, 1},
    {OpKind::kExp, "exp", C::kElementwise, 1, 1},
    {OpKind::kLog, "log", C::kElementwise, 1, 1},
    {OpKind::kSqrt, "sqrt", C::kElementwise, 1, 1},
    {OpKind::kRecip, "recip", C::kElementwise, 1, 1},
    {OpKind::kSigmoid, "sigmoid", C::kElementwise, 1, 1},
    {OpKind::kTanh, "tanh", C::kElementwise, 1, 1},
    {OpKind::kSoftplus, "softplus", C::kElementwise, 1, 1},
    {OpKind::kFloorLog2, "floor_log2", C::kElementwise, 1, 1},
    {OpKind::kExp2, "exp2", C::kElementwise, 1, 1},
    {OpKind::kSelect, "select", C::kElementwise, 3, 1},
    {OpKind::kConvert, "convert", C::kElementwise, 1, 1},
    {OpKind::kReduceMax, "max", C::kRowReduction, 1, 1},
    {OpKind::kReduceMin, "min", C::kRowReduction, 1, 1},
    {OpKind::kReduceSum, "sum", C::kRowReduction, 1, 1},
    {OpKind::kReduceAbsMax, "absmax", C::kRowReduction, 1, 1},
    {OpKind::kReduceMean, "mean", C::kRowReduction, 1, 1},
    {OpKind::kReduceVar, "var", C::kRowReduction, 1, 1},
    {OpKind::kArgMax, "argmax", C::kRowReduction, 1, 1},
    {OpKind::kBlockMax, "block_max", C::kBlockReduction, 1, 1},
    {OpKind::kBlockSum, "block_sum", C::kBlockReduction, 1, 1},
    {OpKind::kBlockAbsMax, "block_absmax", C::kBlockReduction, 1, 1},
    {OpKind::kBlockMaxMag, "block_maxmag", C::kBlockReduction, 1, 1},
    {OpKind::kTopK, "topk", C::kSelection, 1, 2},
    {OpKind::kGroupMask, "group_mask", C::kSelection, 1, 1},
    {OpKind::kGather, "gather", C::kIndex, 2, 1},
    {OpKind::kOneHot, "one_hot", C::kIndex, 1, 1},
    {OpKind::kUniform, "uniform", C::kGenerator, 1, 1},
    {OpKind::kPackQ8_0, "pack_q8_0", C::kPack, 2, 1},
    {OpKind::kPackQ4_0, "pack_q4_0", C::kPack, 2, 1},
    {OpKind::kPackMxfp4, "pack_mxfp4", C::kPack, 2, 1},
    {OpKind::kPackBits, "pack_bits", C::kPack, 1, 1},
}};

constexpr bool table_in_enum_order() {
  for (size_t i = 0; i < kOps.size(); ++i) {
    if (static_cast<size_t>(kOps[i].kind) != i) return false;
  }
  return true;
}
static_assert(table_in_enum_order(), "kOps must list every OpKind in enum order");

}  // namespace

const OpInfo& op_info(OpKind kind) { return kOps[static_cast<size_t>(kind)]; }

std::optional<OpKind> op_from_name(std::string_view name) {
  for (const auto& info : kOps) {
    if (info.name == name) return info.kind;
  }
  return std::nullopt;
}

std::string_view infix_symbol(OpKind kind) {
  switch (kind) {
    case OpKind::kAdd: return "+";
    case OpKind::kSub: return "-";
    case OpKind::kMul: return "*";
    case OpKind::kDiv: return "/";
    case OpKind::kLt: return "<";
    case OpKind::kLe: return "<=";
    case OpKind::kGt: return ">";
    case OpKind::kGe: return ">=";
    case OpKind::kEq: return "==";
    case OpKind::kNe: return "!=";
    default: return {};
  }
}

}  // namespace rowjit::ir
