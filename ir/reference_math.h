// Reference math functions of the IR: each is evaluated in double and rounded
// once to f32, which nearly always gives the correctly rounded result. JIT math
// kernels state their ulp error against these. Special values follow docs/ir.md.
#pragma once

namespace rowjit::ir {

// e^x. exp(-inf) = 0, exp(inf) = inf; overflow gives inf and underflow goes
// through the denormals to 0.
float reference_exp(float x);

// Natural logarithm. log(+-0) = -inf, log(negative) = NaN, log(inf) = inf.
float reference_log(float x);

// 1 / (1 + e^-x). sigmoid(-inf) = 0, sigmoid(inf) = 1.
float reference_sigmoid(float x);

// Hyperbolic tangent; tanh(+-inf) = +-1.
float reference_tanh(float x);

// log(1 + e^x) without overflow. softplus(inf) = inf, softplus(-inf) = 0.
float reference_softplus(float x);

// floor(log2 |x|), exact for every finite nonzero x including denormals
// (2^-149 gives -149). +-0 gives -inf, +-inf gives inf, NaN stays NaN.
float reference_floor_log2(float x);

// 2^x, exact for integer x in [-149, 127]; exp2(-inf) = 0, exp2(inf) = inf.
float reference_exp2(float x);

}  // namespace rowjit::ir
