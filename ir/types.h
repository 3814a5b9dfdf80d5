// Element types, rounding modes and value shapes of the rowjit IR.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace rowjit::ir {

// Element type of a value. The last three are block formats: they exist only as
// the result of a pack op and as pipeline outputs, stored as bytes.
enum class ElemType : uint8_t {
  kF32,
  kF16,
  kBF16,
  kS32,
  kS8,
  kU8,
  kE4M3,   // OCP FP8 E4M3 ("fn"): bias 7, no inf, NaN = S.1111.111, max 448
  kE5M2,   // OCP FP8 E5M2: bias 15, IEEE-like inf and NaN, max 57344
  kE2M1,   // FP4 E2M1: bias 1, values {0, 0.5, 1, 1.5, 2, 3, 4, 6}, no inf or NaN
  kE8M0,   // OCP MX shared scale: 2^(byte - 127), 0xFF is NaN
  kBool,   // result of a comparison; never stored directly
  kQ8_0,   // ggml Q8_0 block: f16 d, 32 x s8
  kQ4_0,   // ggml Q4_0 block: f16 d, 16 bytes of nibbles
  kMxfp4,  // OCP MXFP4 block: e8m0 scale, 16 bytes of E2M1 nibbles
};

std::string_view elem_type_name(ElemType type);
std::optional<ElemType> parse_elem_type(std::string_view name);

bool is_float(ElemType type);    // f32, f16, bf16, e4m3, e5m2, e2m1, e8m0
bool is_integer(ElemType type);  // s32, s8, u8
bool is_block_format(ElemType type);

// Number of elements that one block of a block format holds (32), or 1.
int block_elements(ElemType type);

// Bytes that `elements` elements of `type` take in memory. E2M1 packs two
// elements per byte (element 2i in the low nibble); block formats need
// `elements` to be a multiple of block_elements(type).
int64_t storage_bytes(ElemType type, int64_t elements);

// Rounding of a conversion to a narrower type.
enum class RoundMode : uint8_t {
  kNearestEven,  // IEEE default; PyTorch, oneDNN
  kNearestAway,  // C roundf; ggml Q8_0
  kTowardZero,   // C cast; ggml Q4_0 after adding 8.5
  kFloor,
};

std::string_view round_mode_name(RoundMode mode);
std::optional<RoundMode> parse_round_mode(std::string_view name);

// Shape of a value within one row. Every value of a pipeline is computed per
// row; the kinds differ in how many elements one row holds.
struct Shape {
  enum class Kind : uint8_t {
    kScalar,  // one element per row (or one per pipeline, for a parameter)
    kRow,     // n elements: the row length given when the pipeline runs
    kBlocks,  // ceil(n / block) elements, one per block of `block` elements
    kFixed,   // `length` elements, or as many as the integer parameter `symbol`
  };

  Kind kind = Kind::kScalar;
  int64_t block = 0;    // kBlocks only
  int64_t length = 0;   // kFixed with a literal length
  std::string symbol;   // kFixed with a parameter length (for example "k")

  static Shape scalar() { return {}; }
  static Shape row() { return {Kind::kRow, 0, 0, {}}; }
  static Shape blocks(int64_t block) { return {Kind::kBlocks, block, 0, {}}; }
  static Shape fixed(int64_t length) { return {Kind::kFixed, 0, length, {}}; }
  static Shape fixed(std::string symbol) { return {Kind::kFixed, 0, 0, std::move(symbol)}; }

  bool is_scalar() const { return kind == Kind::kScalar; }
  bool operator==(const Shape&) const = default;

  // Formats the shape as written in pipeline text: "" (scalar), "[n]",
  // "[n/32]", "[k]" or "[4]".
  std::string to_string() const;
};

// A type as written in a signature: "f32[n]", "s32", "q8_0[n]".
struct ValueType {
  ElemType elem = ElemType::kF32;
  Shape shape;

  bool operator==(const ValueType&) const = default;
  std::string to_string() const;
};

}  // namespace rowjit::ir
