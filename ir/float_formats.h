// Bit-exact conversions between float32 and the narrow formats of the IR, and
// the integer conversions with their rounding modes. These are the reference
// for every JIT conversion and for the packers.
#pragma once

#include <cstdint>

#include "ir/types.h"

namespace rowjit::ir {

// Rounds `x` to an integer with `mode` (no saturation). NaN stays NaN.
double round_to_integer(double x, RoundMode mode);

// Float to integer type (s32, s8, u8): round with `mode`, then saturate to the
// type's range. NaN converts to 0; +-inf saturate.
int64_t convert_to_integer(float x, ElemType to, RoundMode mode);

// IEEE binary16, round to nearest even. Without saturation overflow gives
// +-inf; with it, +-65504 (inf too). NaN stays a quiet NaN with its sign.
uint16_t f32_to_f16(float x, bool saturate);
float f16_to_f32(uint16_t bits);

// bfloat16, round to nearest even; the same overflow rules as f16 (max 0x1.FEp127).
uint16_t f32_to_bf16(float x, bool saturate);
float bf16_to_f32(uint16_t bits);

// OCP FP8 E4M3 ("fn"), round to nearest even, subnormals kept. Saturating:
// overflow and +-inf give +-448 (0x7E/0xFE). Non-saturating: a value that rounds
// past 448 and +-inf give NaN (0x7F/0xFF). NaN gives 0x7F or 0xFF after its sign.
uint8_t f32_to_e4m3(float x, bool saturate);
float e4m3_to_f32(uint8_t bits);

// OCP FP8 E5M2, round to nearest even. Saturating: overflow and +-inf give
// +-57344 (0x7B/0xFB). Non-saturating: overflow gives +-inf (0x7C/0xFC).
// NaN gives 0x7E or 0xFE.
uint8_t f32_to_e5m2(float x, bool saturate);
float e5m2_to_f32(uint8_t bits);

// FP4 E2M1 code (low nibble, sign in bit 3), round to nearest even, always
// saturating to +-6 (inf too). The caller must reject NaN, which E2M1 cannot hold.
uint8_t f32_to_e2m1(float x);
float e2m1_to_f32(uint8_t code);

// OCP E8M0 scale: the biased exponent floor(log2 x) + 127 of a positive finite
// x, clamped to [0, 254]; x == 0 gives 0 (2^-127); negative, inf or NaN give 0xFF (NaN).
uint8_t f32_to_e8m0(float x);
float e8m0_to_f32(uint8_t bits);

}  // namespace rowjit::ir
