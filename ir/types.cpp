#include "ir/types.h"

#include <array>

namespace rowjit::ir {
namespace {

struct ElemTypeEntry {
  ElemType type;
  std::string_view name;
};

constexpr std::array<ElemTypeEntry, 14> kElemTypes = {{
    {ElemType::kF32, "f32"},   {ElemType::kF16, "f16"},     {ElemType::kBF16, "bf16"},
    {ElemType::kS32, "s32"},   {ElemType::kS8, "s8"},       {ElemType::kU8, "u8"},
    {ElemType::kE4M3, "e4m3"}, {ElemType::kE5M2, "e5m2"},   {ElemType::kE2M1, "e2m1"},
    {ElemType::kE8M0, "e8m0"}, {ElemType::kBool, "bool"},   {ElemType::kQ8_0, "q8_0"},
    {ElemType::kQ4_0, "q4_0"}, {ElemType::kMxfp4, "mxfp4"},
}};

struct RoundModeEntry {
  RoundMode mode;
  std::string_view name;
};

constexpr std::array<RoundModeEntry, 4> kRoundModes = {{
    {RoundMode::kNearestEven, "nearest_even"},
    {RoundMode::kNearestAway, "nearest_away"},
    {RoundMode::kTowardZero, "toward_zero"},
    {RoundMode::kFloor, "floor"},
}};

}  // namespace

std::string_view elem_type_name(ElemType type) {
  for (const auto& entry : kElemTypes) {
    if (entry.type == type) return entry.name;
  }
  return "?";
}

std::optional<ElemType> parse_elem_type(std::string_view name) {
  for (const auto& entry : kElemTypes) {
    if (entry.name == name) return entry.type;
  }
  return std::nullopt;
}

bool is_float(ElemType type) {
  switch (type) {
    case ElemType::kF32:
    case ElemType::kF16:
    case ElemType::kBF16:
    case ElemType::kE4M3:
    case ElemType::kE5M2:
    case ElemType::kE2M1:
    case ElemType::kE8M0:
      return true;
    default:
      return false;
  }
}

bool is_integer(ElemType type) {
  return type == ElemType::kS32 || type == ElemType::kS8 || type == ElemType::kU8;
}

bool is_block_format(ElemType type) {
  return type == ElemType::kQ8_0 || type == ElemType::kQ4_0 || type == ElemType::kMxfp4;
}

int block_elements(ElemType type) { return is_block_format(type) ? 32 : 1; }

int64_t storage_bytes(ElemType type, int64_t elements) {
  switch (type) {
    case ElemType::kF32:
    case ElemType::kS32:
      return elements * 4;
    case ElemType::kF16:
    case ElemType::kBF16:
      return elements * 2;
    case ElemType::kS8:
    case ElemType::kU8:
    case ElemType::kE4M3:
    case ElemType::kE5M2:
    case ElemType::kE8M0:
    case ElemType::kBool:
      return elements;
    case ElemType::kE2M1:
      return (elements + 1) / 2;
    case ElemType::kQ8_0:
      return elements / 32 * 34;
    case ElemType::kQ4_0:
      return elements / 32 * 18;
    case ElemType::kMxfp4:
      return elements / 32 * 17;
  }
  return 0;
}

std::string_view round_mode_name(RoundMode mode) {
  for (const auto& entry : kRoundModes) {
    if (entry.mode == mode) return entry.name;
  }
  return "?";
}

std::optional<RoundMode> parse_round_mode(std::string_view name) {
  for (const auto& entry : kRoundModes) {
    if (entry.name == name) return entry.mode;
  }
  return std::nullopt;
}

std::string Shape::to_string() const {
  switch (kind) {
    case Kind::kScalar: return "";
    case Kind::kRow: return "[n]";
    case Kind::kBlocks: return "[n/" + std::to_string(block) + "]";
    case Kind::kFixed: return "[" + (symbol.empty() ? std::to_string(length) : symbol) + "]";
  }
  return "[?]";
}

std::string ValueType::to_string() const {
  return std::string(elem_type_name(elem)) + shape.to_string();
}

}  // namespace rowjit::ir
