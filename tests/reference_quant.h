// Scalar reference quantizers for the example pipelines, written from the
// published definitions: the OCP 8-bit floating point (OFP8) and Microscaling
// (MX) v1.0 specifications for E4M3, E5M2, E2M1 and E8M0, ggml's
// quantize_row_q8_0_ref and quantize_row_q4_0_ref (ggml/src/ggml-quants.c), and
// the usual int8 formulas. Every f32 step is a C++ float operation, which
// rounds once to nearest even as the IR's f32 ops do, so the results are
// bit-exact expectations. The float encoders round by searching the format's
// value table, independently of ir/float_formats.cpp.
#pragma once

#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

namespace rowjit::testing::ref {

// A small float format given by its non-negative codes in increasing order
// (code i has value values[i], codes 0..values.size()-1) and the value one step
// past the largest finite one, which a round-to-nearest-even may reach before
// it overflows.
struct SmallFloat {
  std::vector<double> values;
  double next_value = 0;
  uint8_t sign_bit = 0x80;
};

inline double ldexp1(int e) { return std::ldexp(1.0, e); }

// E4M3 ("fn"): bias 7, subnormals m/8 * 2^-6, no inf, S.1111.111 is NaN, max 448.
inline SmallFloat e4m3_format() {
  SmallFloat f;
  for (int code = 0; code < 0x7F; ++code) {
    int e = code >> 3, m = code & 7;
    f.values.push_back(e == 0 ? m / 8.0 * ldexp1(-6) : (1 + m / 8.0) * ldexp1(e - 7));
  }
  f.next_value = 480;  // 1.875 * 2^8, the NaN code's position
  return f;
}

// E5M2: bias 15, subnormals m/4 * 2^-14, IEEE-style inf (0x7C) and NaN, max 57344.
inline SmallFloat e5m2_format() {
  SmallFloat f;
  for (int code = 0; code < 0x7C; ++code) {
    int e = code >> 2, m = code & 3;
    f.values.push_back(e == 0 ? m / 4.0 * ldexp1(-14) : (1 + m / 4.0) * ldexp1(e - 15));
  }
  f.next_value = 65536;  // 2^16, the inf code's position
  return f;
}

// E2M1: bias 1, values 0, 0.5, 1, 1.5, 2, 3, 4, 6, sign in bit 3.
inline SmallFloat e2m1_format() {
  SmallFloat f;
  f.values = {0, 0.5, 1, 1.5, 2, 3, 4, 6};
  f.next_value = 8;
  f.sign_bit = 0x8;
  return f;
}

// Rounds |x| to the nearest code, ties to the even code. Returns the code, or
// values.size() if |x| rounds to next_value or beyond (overflow).
inline size_t round_magnitude(const SmallFloat& f, double magnitude) {
  size_t count = f.values.size();
  if (std::isinf(magnitude) || magnitude >= f.next_value) return count;
  size_t low = 0;
  while (low + 1 < count && f.values[low + 1] <= magnitude) ++low;
  if (f.values[low] == magnitude) return low;
  size_t high = low + 1;
  double high_value = high < count ? f.values[high] : f.next_value;
  double below = magnitude - f.values[low];
  double above = high_value - magnitude;
  if (below < above) return low;
  if (above < below) return high;
  return low % 2 == 0 ? low : high;
}

// Encodes x. An overflow gives overflow_code with the sign of x: the max finite
// code when saturating, else the inf or NaN code. NaN gives nan_code with its sign.
inline uint8_t encode(const SmallFloat& f, float x, uint8_t overflow_code, uint8_t nan_code) {
  uint8_t sign = std::signbit(x) ? f.sign_bit : 0;
  if (std::isnan(x)) return static_cast<uint8_t>(sign | nan_code);
  size_t code = round_magnitude(f, std::fabs(static_cast<double>(x)));
  if (code == f.values.size()) return static_cast<uint8_t>(sign | overflow_code);
  return static_cast<uint8_t>(sign | code);
}

inline uint8_t e4m3(float x, bool saturate) {
  static const SmallFloat f = e4m3_format();
  return encode(f, x, saturate ? 0x7E : 0x7F, 0x7F);
}
inline uint8_t e5m2(float x, bool saturate) {
  static const SmallFloat f = e5m2_format();
  return encode(f, x, saturate ? 0x7B : 0x7C, 0x7E);
}
// E2M1 always saturates; NaN has no code (the caller must not pass it).
inline uint8_t e2m1(float x) {
  static const SmallFloat f = e2m1_format();
  return encode(f, x, 0x7, 0x7);
}

// IEEE binary16 bits of x, rounded to nearest even by the compiler's _Float16.
inline uint16_t f16_bits(float x) { return std::bit_cast<uint16_t>(static_cast<_Float16>(x)); }

// Round-to-integer and saturate, NaN to 0: the IR's convert to an integer type.
inline int64_t saturate(double rounded, int64_t lo, int64_t hi) {
  if (std::isnan(rounded)) return 0;
  if (rounded < static_cast<double>(lo)) return lo;
  if (rounded > static_cast<double>(hi)) return hi;
  return static_cast<int64_t>(rounded);
}

// Max |x| of a row of floats, NaN if any element is NaN.
inline float absmax(const std::vector<float>& x, size_t begin, size_t end) {
  float m = 0;
  for (size_t i = begin; i < end; ++i) {
    if (std::isnan(x[i])) return std::numeric_limits<float>::quiet_NaN();
    m = std::fabs(x[i]) > m ? std::fabs(x[i]) : m;
  }
  return m;
}

// Per-row symmetric int8 (examples/quant_int8_absmax.rj): scale = absmax / 127,
// q = rne(x / scale) saturated, or 0 when scale is not > 0.
struct Int8Row {
  std::vector<int8_t> q;
  float scale = 0;
};
inline Int8Row quant_int8_absmax(const std::vector<float>& x) {
  Int8Row out;
  out.scale = absmax(x, 0, x.size()) / 127.0f;
  for (float v : x) {
    float t = out.scale > 0 ? v / out.scale : 0.0f;
    out.q.push_back(static_cast<int8_t>(saturate(std::nearbyint(t), -128, 127)));
  }
  return out;
}

// Affine quantization saturate(rne(x / scale) + zp) into [lo, hi], computed in
// double so the integer addition cannot overflow. NaN rounds to 0, so gives zp.
inline std::vector<int64_t> quant_affine(const std::vector<float>& x, float scale, int64_t zp, int64_t lo,
                                         int64_t hi) {
  std::vector<int64_t> out;
  for (float v : x) {
    float t = v / scale;
    double r = std::isnan(t) ? 0 : std::nearbyint(static_cast<double>(t));
    out.push_back(saturate(r + static_cast<double>(zp), lo, hi));
  }
  return out;
}

// Per-row FP8 (examples/quant_fp8_*.rj): scale = absmax / max_finite, code of
// x / scale with saturation, or of 0 when scale is not > 0.
struct Fp8Row {
  std::vector<uint8_t> q;
  float scale = 0;
};
inline Fp8Row quant_fp8(const std::vector<float>& x, bool e4m3_format) {
  Fp8Row out;
  out.scale = absmax(x, 0, x.size()) / (e4m3_format ? 448.0f : 57344.0f);
  for (float v : x) {
    float t = out.scale > 0 ? v / out.scale : 0.0f;
    out.q.push_back(e4m3_format ? e4m3(t, true) : e5m2(t, true));
  }
  return out;
}

// ggml Q8_0 blocks of one row (n a multiple of 32): per block the f16 of
// d = amax / 127, then roundf(x * id) with id = d ? 1/d : 0.
inline std::vector<uint8_t> quant_q8_0(const std::vector<float>& x) {
  std::vector<uint8_t> out;
  for (size_t block = 0; block < x.size(); block += 32) {
    float amax = absmax(x, block, block + 32);
    float d = amax / 127.0f;
    float id = d != 0 ? 1.0f / d : 0.0f;
    uint16_t h = f16_bits(d);
    out.push_back(static_cast<uint8_t>(h & 0xFF));
    out.push_back(static_cast<uint8_t>(h >> 8));
    for (size_t j = 0; j < 32; ++j) {
      float t = x[block + j] * id;
      out.push_back(static_cast<uint8_t>(static_cast<int8_t>(saturate(std::round(t), -128, 127))));
    }
  }
  return out;
}

// ggml Q4_0 blocks of one row (n a multiple of 32, no NaN): max is the first
// element of largest magnitude, d = max / -8, id = d ? 1/d : 0, quant
// min(15, (int)(x * id + 8.5f)); quant j goes to the low nibble of byte j and
// quant j + 16 to its high nibble.
inline std::vector<uint8_t> quant_q4_0(const std::vector<float>& x) {
  std::vector<uint8_t> out;
  for (size_t block = 0; block < x.size(); block += 32) {
    float amax = 0;
    float max = 0;
    for (size_t j = 0; j < 32; ++j) {
      float v = x[block + j];
      if (amax < std::fabs(v)) {
        amax = std::fabs(v);
        max = v;
      }
    }
    float d = max / -8.0f;
    float id = d != 0 ? 1.0f / d : 0.0f;
    uint16_t h = f16_bits(d);
    out.push_back(static_cast<uint8_t>(h & 0xFF));
    out.push_back(static_cast<uint8_t>(h >> 8));
    uint8_t q[32];
    for (size_t j = 0; j < 32; ++j) {
      float t = x[block + j] * id;
      t = t + 8.5f;
      int64_t truncated = saturate(std::trunc(t), 0, 255);
      q[j] = static_cast<uint8_t>(truncated < 15 ? truncated : 15);
    }
    for (size_t j = 0; j < 16; ++j) out.push_back(static_cast<uint8_t>(q[j] | (q[j + 16] << 4)));
  }
  return out;
}

// MXFP4 blocks of one row (n a multiple of 32): the E8M0 scale byte
// floor(log2 amax) - 2 + 127 clamped to [0, 254] (0 for amax 0, 0xFF for inf or
// NaN), then the E2M1 codes of x / 2^(byte - 127), zero under a NaN scale, in
// the Q4_0 nibble order.
inline std::vector<uint8_t> quant_mxfp4(const std::vector<float>& x) {
  std::vector<uint8_t> out;
  for (size_t block = 0; block < x.size(); block += 32) {
    float amax = absmax(x, block, block + 32);
    int biased = 0;
    if (!std::isfinite(amax)) {
      biased = 0xFF;
    } else if (amax > 0) {
      int exponent = 0;
      std::frexp(amax, &exponent);  // amax = f * 2^exponent, f in [0.5, 1)
      biased = exponent - 1 - 2 + 127;
      biased = biased < 0 ? 0 : biased > 254 ? 254 : biased;
    }
    out.push_back(static_cast<uint8_t>(biased));
    uint8_t q[32];
    for (size_t j = 0; j < 32; ++j) {
      if (biased == 0xFF) {
        q[j] = 0;
        continue;
      }
      float scale = std::ldexp(1.0f, biased - 127);
      q[j] = e2m1(x[block + j] / scale);
    }
    for (size_t j = 0; j < 16; ++j) out.push_back(static_cast<uint8_t>(q[j] | (q[j + 16] << 4)));
  }
  return out;
}

// Sign bits (x < 0), element 8i + j in bit j of byte i.
inline std::vector<uint8_t> sign_bits(const std::vector<float>& x) {
  std::vector<uint8_t> out((x.size() + 7) / 8, 0);
  for (size_t i = 0; i < x.size(); ++i) {
    if (x[i] < 0) out[i / 8] = static_cast<uint8_t>(out[i / 8] | (1u << (i % 8)));
  }
  return out;
}

}  // namespace rowjit::testing::ref
