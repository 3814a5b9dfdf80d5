// Internal interface between the interpreter's driver (interpreter.cpp) and
// the files that evaluate each kind of op. Not part of the public API.
#pragma once

#include <cmath>
#include <cstdint>
#include <optional>
#include <vector>

#include "ir/pipeline.h"
#include "ir/status.h"
#include "ir/tensor.h"

namespace rowjit::ir::interpret_detail {

// The elements of one IR value in the current row, each stored exactly in a
// double. An f32, s32, s8 or u8 element is stored as its value; f32 values
// are always f32-exact, because every op rounds its result to f32. A bool is
// 0 or 1. An f16, bf16, e4m3, e5m2, e2m1 or e8m0 element is its bit pattern.
// A packed block format (q8_0, q4_0, mxfp4) has one element per byte.
using RowValues = std::vector<double>;

// Everything an op evaluator reads and writes while one row is processed.
struct RowContext {
  const Pipeline& pipeline;
  const RunArgs& args;
  std::vector<RowValues>& values;  // indexed by ValueId, sized by the driver for the whole run
  int64_t row = 0;                 // index of the row within this call

  const RowValues& operand(const Op& op, size_t index) const {
    return values[static_cast<size_t>(op.operands[index])];
  }
  RowValues& result(const Op& op, size_t index = 0) { return values[static_cast<size_t>(op.results[index])]; }
  const Value& operand_value(const Op& op, size_t index) const { return pipeline.value(op.operands[index]); }
  const Value& result_value(const Op& op, size_t index = 0) const { return pipeline.value(op.results[index]); }
};

// Reads the elements of an elementwise operand, broadcast to the result's
// shape: a scalar repeats element 0, and an [n/B] operand of an [n] result
// gives element i / B.
struct OperandReader {
  const double* data = nullptr;  // null for a scalar, which reads `scalar`
  double scalar = 0;
  int64_t block = 1;

  double operator[](int64_t i) const {
    if (data == nullptr) return scalar;
    return block == 1 ? data[i] : data[i / block];
  }
};

// Reader for operand `index` of `op`, whose elements have type `elem`. A
// literal takes that element type (docs/ir.md: a literal adopts the type of
// the other operands).
OperandReader read_operand(const RowContext& context, const Op& op, size_t index, ElemType elem);

// Element type of operand `index`, or `literal_type` if it is a literal.
ElemType operand_elem(const RowContext& context, const Op& op, size_t index, ElemType literal_type);

// Held element of type `elem` for a literal or scalar parameter `value`:
// rounded to f32, kept as an integer, or encoded as convert(to=elem) would.
double held_literal(double value, ElemType elem);

// f32 value of a held element of any non-block type (bool gives 0 or 1).
float held_to_f32(double held, ElemType type);

// The total order of topk and argmax: NaN ranks above +inf, then larger values
// come first, then lower indices. -0 and +0 are equal, so the index decides.
inline bool ranks_before(double a, int64_t a_index, double b, int64_t b_index) {
  bool a_nan = std::isnan(a);
  bool b_nan = std::isnan(b);
  if (a_nan != b_nan) return a_nan;
  if (!a_nan && a != b) return a > b;
  return a_index < b_index;
}

// Status for a run-time domain error in row `row` of the call.
Status out_of_range(int64_t row, const std::string& message);

// Loads `count` elements of `type` from caller memory into held form, and
// stores them back. E2M1 packs two elements per byte, element 2i in the low
// nibble; the high nibble of an odd-length row's last byte is written as 0.
// Block formats move bytes unchanged.
void load_elements(const uint8_t* source, ElemType type, int64_t count, double* out);
void store_elements(const double* in, ElemType type, int64_t count, uint8_t* destination);

// Op evaluators, one per group of docs/ir.md. Each writes the op's results,
// which the driver has already sized.
Status evaluate_elementwise(const Op& op, RowContext& context);  // arithmetic, comparisons, unary, select
Status evaluate_convert(const Op& op, RowContext& context);
Status evaluate_reduction(const Op& op, RowContext& context);    // row and block reductions
Status evaluate_selection(const Op& op, RowContext& context);    // topk, group_mask, gather, one_hot
Status evaluate_uniform(const Op& op, RowContext& context);
Status evaluate_pack(const Op& op, RowContext& context);

}  // namespace rowjit::ir::interpret_detail
