// convert(a, to=T, round=R, saturate=S) on held elements.
#include <cmath>
#include <optional>

#include "ir/float_formats.h"
#include "ir/interpret_ops.h"

namespace rowjit::ir::interpret_detail {
namespace {

struct ConvertSpec {
  ElemType to = ElemType::kF32;
  RoundMode round = RoundMode::kNearestEven;
  bool saturate = false;
};

// The attributes with the defaults of docs/ir.md: round to nearest even;
// saturate by default only for e4m3 and e5m2.
ConvertSpec convert_spec(const Op& op) {
  ConvertSpec spec;
  if (auto word = attr_word(op, "to")) spec.to = parse_elem_type(*word).value_or(ElemType::kF32);
  if (auto word = attr_word(op, "round")) spec.round = parse_round_mode(*word).value_or(RoundMode::kNearestEven);
  bool default_saturate = spec.to == ElemType::kE4M3 || spec.to == ElemType::kE5M2;
  spec.saturate = attr_bool(op, "saturate").value_or(default_saturate);
  return spec;
}

double integer_min(ElemType type) {
  switch (type) {
    case ElemType::kS8: return -128.0;
    case ElemType::kU8: return 0.0;
    default: return -2147483648.0;
  }
}

double integer_max(ElemType type) {
  switch (type) {
    case ElemType::kS8: return 127.0;
    case ElemType::kU8: return 255.0;
    default: return 2147483647.0;
  }
}

// Converts one held element of type `from`. Returns nullopt for NaN into
// e2m1, which has no code for it.
std::optional<double> convert_element(double held, ElemType from, const ConvertSpec& spec) {
  if (from == spec.to) return held;  // keeps codes, NaN payloads included

  if (is_integer(spec.to)) {
    if (is_integer(from) || from == ElemType::kBool) {
      return std::fmin(std::fmax(held, integer_min(spec.to)), integer_max(spec.to));
    }
    return static_cast<double>(convert_to_integer(held_to_f32(held, from), spec.to, spec.round));
  }

  // NOTE: an integer source is first rounded to f32 (exact below 2^24), as a
  // vector convert would do. For bf16 and e8m0 targets this double rounding
  // can differ from rounding the integer once.
  float x = held_to_f32(held, from);
  switch (spec.to) {
    case ElemType::kF32: return x;
    case ElemType::kF16: return f32_to_f16(x, spec.saturate);
    case ElemType::kBF16: return f32_to_bf16(x, spec.saturate);
    case ElemType::kE4M3: return f32_to_e4m3(x, spec.saturate);
    case ElemType::kE5M2: return f32_to_e5m2(x, spec.saturate);
    case ElemType::kE2M1:
      if (std::isnan(x)) return std::nullopt;
      return f32_to_e2m1(x);
    default: return f32_to_e8m0(x);
  }
}

}  // namespace

Status evaluate_convert(const Op& op, RowContext& context) {
  ConvertSpec spec = convert_spec(op);
  ElemType from = operand_elem(context, op, 0, ElemType::kF32);
  OperandReader source = read_operand(context, op, 0, from);
  RowValues& out = context.result(op);
  for (size_t i = 0; i < out.size(); ++i) {
    auto converted = convert_element(source[static_cast<int64_t>(i)], from, spec);
    if (!converted) {
      return out_of_range(context.row, "column " + std::to_string(i) +
                                           " is NaN, which E2M1 cannot represent in convert(to=e2m1); "
                                           "replace NaN before the conversion, for example with select");
    }
    out[i] = *converted;
  }
  return Status::ok();
}

}  // namespace rowjit::ir::interpret_detail
