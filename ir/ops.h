// The operations of the rowjit IR and the static facts about each one.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

namespace rowjit::ir {

// Semantics of every op are in docs/ir.md; this list only groups them.
enum class OpKind : uint8_t {
  // Elementwise binary arithmetic. Operands have one element type; a scalar or
  // block-shaped operand is broadcast to the other operand's shape.
  kAdd, kSub, kMul, kDiv, kMinimum, kMaximum,
  // Elementwise comparisons; the result type is bool.
  kLt, kLe, kGt, kGe, kEq, kNe,
  // Elementwise unary math (f32 only, except neg and abs which also take s32).
  kNeg, kAbs, kExp, kLog, kSqrt, kRecip, kSigmoid, kTanh, kSoftplus,
  kFloorLog2,  // floor(log2|x|) as f32: the binary exponent of x
  kExp2,       // 2^x
  // select(cond, a, b): a where cond is true, else b.
  kSelect,
  // convert(x, to=T, round=R, saturate=B)
  kConvert,
  // Reductions over the row; the result is a per-row scalar.
  kReduceMax, kReduceMin, kReduceSum, kReduceAbsMax, kReduceMean, kReduceVar, kArgMax,
  // Reductions over blocks of `block` elements; the result has shape [n/block].
  kBlockMax, kBlockSum, kBlockAbsMax,
  kBlockMaxMag,  // the element of largest magnitude, sign kept (ggml Q4_0)
  // topk(x, k=K) -> (values [k], indices s32[k]); value descending, index ascending.
  kTopK,
  // group_mask(x, groups=G, keep=K, score=top2_sum|max): x with the elements of
  // all but the best K of G equal groups replaced by -inf.
  kGroupMask,
  // gather(x, index): x[index] for a per-row scalar index or an s32[k] vector.
  kGather,
  // one_hot(index): f32[n], 1 at index, 0 elsewhere.
  kOneHot,
  // uniform(seed): f32[n] in the open interval (0, 1) from a counter-based
  // generator (Philox4x32-10) keyed by seed, row and column.
  kUniform,
  // Packing into storage formats.
  kPackQ8_0,   // pack_q8_0(d [n/32], q s8[n]) -> q8_0[n]
  kPackQ4_0,   // pack_q4_0(d [n/32], q u8[n]) -> q4_0[n]
  kPackMxfp4,  // pack_mxfp4(scale e8m0[n/32], q e2m1[n]) -> mxfp4[n]
  kPackBits,   // pack_bits(b bool[n]) -> u8[n/8], bit i%8 of byte i/8, LSB first
};

enum class OpCategory : uint8_t {
  kElementwise,   // each output element depends on the same position of the inputs
  kRowReduction,  // reads the whole row, produces a per-row scalar
  kBlockReduction,
  kSelection,     // topk, group_mask: needs the whole row
  kIndex,         // gather, one_hot
  kGenerator,     // uniform
  kPack,
};

struct OpInfo {
  OpKind kind;
  std::string_view name;  // name in pipeline text (binary arithmetic also has an infix form)
  OpCategory category;
  int operands;           // number of value operands
  int results;
};

const OpInfo& op_info(OpKind kind);
std::optional<OpKind> op_from_name(std::string_view name);

// Infix spelling ("+", "<=", ...) of binary arithmetic and comparison ops, or
// an empty view for ops that are written as calls.
std::string_view infix_symbol(OpKind kind);

}  // namespace rowjit::ir
