// Packers behind the pack_* ops: each writes the bytes of one row in the
// storage layout of its block format (docs/ir.md, "Packing"). Blocks hold 32
// elements and are laid out as ggml's block_q8_0, block_q4_0 and block_mxfp4
// structs: the scale first, then the quants, with no padding.
#pragma once

#include <cstdint>
#include <span>

#include "ir/status.h"

namespace rowjit::ir {

inline constexpr int64_t kPackBlockElements = 32;
inline constexpr int64_t kQ8_0BlockBytes = 34;   // f16 d, 32 x s8
inline constexpr int64_t kQ4_0BlockBytes = 18;   // f16 d, 16 bytes of nibbles
inline constexpr int64_t kMxfp4BlockBytes = 17;  // e8m0 scale, 16 bytes of nibbles

// Packs one row of Q8_0. The row length n is quants.size(). Block b takes
// scales[b] converted to f16 (round to nearest even, overflow to inf, as ggml),
// stored little-endian, then quants[32b .. 32b+31] as bytes.
// Fails with kOutOfRange when n is not a multiple of 32, and with
// kInvalidArgument when scales.size() != n / 32 or `out` has room for fewer
// than n / 32 * 34 bytes. Writes nothing on failure.
Status pack_q8_0(std::span<const float> scales, std::span<const int8_t> quants, std::span<uint8_t> out);

// Packs one row of Q4_0: per block, scales[b] as f16 as in pack_q8_0, then 16
// bytes where byte j holds quant 32b+j in the low nibble and quant 32b+j+16 in
// the high nibble. Fails with kOutOfRange when n is not a multiple of 32 or a
// quant is outside [0, 15] (the message names the element and its block), and
// with kInvalidArgument on sizes as pack_q8_0. Writes nothing on failure.
Status pack_q4_0(std::span<const float> scales, std::span<const uint8_t> quants, std::span<uint8_t> out);

// Packs one row of MXFP4: per block, the E8M0 scale byte scales[b], then 16
// bytes of E2M1 codes in the Q4_0 nibble order. Fails with kOutOfRange when n
// is not a multiple of 32 or a code is above 15 (f32_to_e2m1 gives 0xFF for
// NaN), and with kInvalidArgument on sizes as pack_q8_0. Writes nothing on
// failure.
Status pack_mxfp4(std::span<const uint8_t> scales, std::span<const uint8_t> codes, std::span<uint8_t> out);

// Packs bools into ceil(n / 8) bytes: element 8i + j goes to bit j of byte i,
// and the unused high bits of the last byte are 0. Any n is allowed. Fails with
// kInvalidArgument when `out` has room for fewer than ceil(n / 8) bytes.
Status pack_bits(std::span<const bool> bits, std::span<uint8_t> out);

}  // namespace rowjit::ir
