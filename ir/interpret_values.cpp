// The held form of row elements (see RowValues): loading from and storing to
// caller memory, literals, and broadcast reads of operands.
#include <cstring>

#include "ir/float_formats.h"
#include "ir/interpret_ops.h"

namespace rowjit::ir::interpret_detail {
namespace {

template <typename T>
T load_unaligned(const uint8_t* p) {
  T value;
  std::memcpy(&value, p, sizeof(T));
  return value;
}

template <typename T>
void store_unaligned(T value, uint8_t* p) {
  std::memcpy(p, &value, sizeof(T));
}

}  // namespace

void load_elements(const uint8_t* source, ElemType type, int64_t count, double* out) {
  for (int64_t i = 0; i < count; ++i) {
    switch (type) {
      case ElemType::kF32: out[i] = load_unaligned<float>(source + 4 * i); break;
      case ElemType::kS32: out[i] = load_unaligned<int32_t>(source + 4 * i); break;
      case ElemType::kF16:
      case ElemType::kBF16: out[i] = load_unaligned<uint16_t>(source + 2 * i); break;
      case ElemType::kS8: out[i] = static_cast<int8_t>(source[i]); break;
      case ElemType::kE2M1: out[i] = (source[i / 2] >> (i % 2 == 0 ? 0 : 4)) & 0xF; break;
      default: out[i] = source[i]; break;  // u8, e4m3, e5m2, e8m0, bool and block format bytes
    }
  }
}

void store_elements(const double* in, ElemType type, int64_t count, uint8_t* destination) {
  if (type == ElemType::kE2M1) {
    for (int64_t byte = 0; byte < (count + 1) / 2; ++byte) {
      auto low = static_cast<uint8_t>(in[2 * byte]);
      auto high = static_cast<uint8_t>(2 * byte + 1 < count ? in[2 * byte + 1] : 0);
      destination[byte] = static_cast<uint8_t>(low | (high << 4));
    }
    return;
  }
  for (int64_t i = 0; i < count; ++i) {
    switch (type) {
      case ElemType::kF32: store_unaligned(static_cast<float>(in[i]), destination + 4 * i); break;
      case ElemType::kS32: store_unaligned(static_cast<int32_t>(in[i]), destination + 4 * i); break;
      case ElemType::kF16:
      case ElemType::kBF16: store_unaligned(static_cast<uint16_t>(in[i]), destination + 2 * i); break;
      case ElemType::kS8: destination[i] = static_cast<uint8_t>(static_cast<int8_t>(in[i])); break;
      default: destination[i] = static_cast<uint8_t>(in[i]); break;
    }
  }
}

float held_to_f32(double held, ElemType type) {
  switch (type) {
    case ElemType::kF16: return f16_to_f32(static_cast<uint16_t>(held));
    case ElemType::kBF16: return bf16_to_f32(static_cast<uint16_t>(held));
    case ElemType::kE4M3: return e4m3_to_f32(static_cast<uint8_t>(held));
    case ElemType::kE5M2: return e5m2_to_f32(static_cast<uint8_t>(held));
    case ElemType::kE2M1: return e2m1_to_f32(static_cast<uint8_t>(held));
    case ElemType::kE8M0: return e8m0_to_f32(static_cast<uint8_t>(held));
    case ElemType::kS32:
      // Exact below 2^24, else rounded to nearest even by the conversion.
      return static_cast<float>(static_cast<int32_t>(held));
    default:
      return static_cast<float>(held);  // f32, s8, u8 and bool are exact
  }
}

double held_literal(double value, ElemType elem) {
  auto x = static_cast<float>(value);
  switch (elem) {
    case ElemType::kF16: return f32_to_f16(x, false);
    case ElemType::kBF16: return f32_to_bf16(x, false);
    case ElemType::kE4M3: return f32_to_e4m3(x, true);
    case ElemType::kE5M2: return f32_to_e5m2(x, true);
    case ElemType::kE2M1: return f32_to_e2m1(x);
    case ElemType::kE8M0: return f32_to_e8m0(x);
    case ElemType::kS32:
    case ElemType::kS8:
    case ElemType::kU8:
    case ElemType::kBool: return value;  // the builder checked that it is integral and in range
    default: return x;
  }
}

ElemType operand_elem(const RowContext& context, const Op& op, size_t index, ElemType literal_type) {
  const Value& v = context.operand_value(op, index);
  return v.kind == ValueKind::kConstant ? literal_type : v.type.elem;
}

OperandReader read_operand(const RowContext& context, const Op& op, size_t index, ElemType elem) {
  const Value& v = context.operand_value(op, index);
  OperandReader reader;
  if (v.kind == ValueKind::kConstant) {
    reader.scalar = held_literal(v.constant, elem);
    return reader;
  }
  const RowValues& values = context.operand(op, index);
  if (v.type.shape.is_scalar()) {
    reader.scalar = values[0];
    return reader;
  }
  reader.data = values.data();
  const Shape& result_shape = context.result_value(op).type.shape;
  if (v.type.shape.kind == Shape::Kind::kBlocks && result_shape.kind == Shape::Kind::kRow) {
    reader.block = v.type.shape.block;
  }
  return reader;
}

Status out_of_range(int64_t row, const std::string& message) {
  return {StatusCode::kOutOfRange, "row " + std::to_string(row) + ": " + message};
}

}  // namespace rowjit::ir::interpret_detail
