// Bit-exact conversions between float32 and the narrow formats of the IR, and
// the integer conversions with their rounding modes. These are the reference
// for every JIT conversion and for the packers. Every function works on the bit
// patterns with integer arithmetic, so the result does not depend on the
// caller's rounding mode or on MXCSR's denormal flags.
#pragma once

#include <cstdint>

#include "ir/types.h"

namespace rowjit::ir {

// Rounds `x` to an integer with `mode` (no saturation). Integers, +-0 and
// +-inf are returned unchanged and NaN stays NaN. A result of zero keeps the
// sign of x: nearest_even gives -0 for -0.5, and toward_zero gives -0 for -0.7.
double round_to_integer(double x, RoundMode mode);

// Float to integer type (s32, s8, u8): round with `mode`, then saturate to the
// type's range. NaN converts to 0, and +-inf saturate. The verifier lets only
// integer types reach here, and any other `to` saturates to the s32 range.
int64_t convert_to_integer(float x, ElemType to, RoundMode mode);

// IEEE binary16, round to nearest even, subnormals kept. Without saturation
// overflow gives +-inf; with it, +-65504 (inf too). NaN stays NaN with its
// sign, is made quiet and keeps the top 9 bits of its payload, as the x86
// F16C instruction vcvtps2ph does.
uint16_t f32_to_f16(float x, bool saturate);
// Exact. A NaN code gives a quiet float32 NaN with the same sign and payload.
float f16_to_f32(uint16_t bits);

// bfloat16, round to nearest even, subnormals kept. Overflow follows the f16
// rules with a max of 0x1.FEp127 (0x7F7F). NaN stays NaN with its sign, is made
// quiet and keeps the top 6 bits of its payload.
uint16_t f32_to_bf16(float x, bool saturate);
// Exact: the bf16 bits become the high half of the float32 bits, except that
// a signaling NaN is made quiet.
float bf16_to_f32(uint16_t bits);

// OCP FP8 E4M3 ("fn"), round to nearest even, subnormals kept. Saturating:
// overflow and +-inf give +-448 (0x7E/0xFE). Non-saturating: a value that rounds
// past 448 and +-inf give NaN (0x7F/0xFF). NaN gives 0x7F or 0xFF after its sign.
uint8_t f32_to_e4m3(float x, bool saturate);
// Exact. 0x7F and 0xFF give a quiet NaN with that sign.
float e4m3_to_f32(uint8_t bits);

// OCP FP8 E5M2, round to nearest even, subnormals kept. Saturating: overflow
// and +-inf give +-57344 (0x7B/0xFB). Non-saturating: overflow and +-inf give
// +-inf (0x7C/0xFC). NaN gives 0x7E or 0xFE after its sign.
uint8_t f32_to_e5m2(float x, bool saturate);
// Exact. Codes 0x7D-0x7F and 0xFD-0xFF give a quiet NaN with that sign.
float e5m2_to_f32(uint8_t bits);

// FP4 E2M1 code (low nibble, sign in bit 3), round to nearest even, always
// saturating to +-6 (inf too), and -0 gives 0x8. E2M1 has no NaN, so NaN gives
// 0xFF, which is not a 4-bit code. The caller must reject NaN before storing,
// and pack_mxfp4 rejects the code.
uint8_t f32_to_e2m1(float x);
// Exact. Only the low nibble of `code` is read.
float e2m1_to_f32(uint8_t code);

// OCP E8M0 scale: the biased exponent floor(log2 x) + 127 of a positive finite
// x, exact for denormals, clamped to [0, 254]. +-0 gives 0 (2^-127), so that
// dividing by the scale of an all-zero block gives 0. Negative values, inf and
// NaN give 0xFF (NaN).
uint8_t f32_to_e8m0(float x);
// 2^(bits - 127), exact (0 gives the float32 denormal 2^-127); 0xFF gives NaN.
float e8m0_to_f32(uint8_t bits);

}  // namespace rowjit::ir
