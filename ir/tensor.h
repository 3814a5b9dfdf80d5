// Tensor references and the arguments of one pipeline run, shared by the
// reference interpreter and the JIT kernels.
#pragma once

#include <cstdint>
#include <map>
#include <string>

#include "ir/pipeline.h"
#include "ir/status.h"

namespace rowjit::ir {

// Caller-owned memory holding `rows` rows of one tensor. Row r starts at
// data + r * row_stride_bytes. A per-row scalar is a tensor with one element
// per row; a vector parameter is a single row (its stride is ignored).
struct TensorRef {
  void* data = nullptr;
  ElemType type = ElemType::kF32;
  int64_t row_stride_bytes = 0;
};

// The maximum row length of a call: 2^40 elements, far beyond any memory, and
// small enough that byte counts of rows and strides cannot overflow int64.
inline constexpr int64_t kMaxRowLength = int64_t{1} << 40;

struct RunArgs {
  int64_t rows = 1;   // number of rows to process
  int64_t n = 0;      // row length: the extent of [n]
  int64_t first_row = 0;  // global index of row 0, so uniform() gives the same numbers when a batch is split
  std::map<std::string, TensorRef> tensors;  // inputs, vector parameters and outputs, by name
  std::map<std::string, double> scalars;     // scalar parameters, by name
};

// Number of elements in one row of a value of `shape`, given the row length
// and the scalar parameters (for [k] shapes). Fails if a [k] parameter is
// missing or not positive.
Result<int64_t> shape_length(const Pipeline& pipeline, const Shape& shape, const RunArgs& args);

// Checks a run against the pipeline's signature. Every input, output and
// parameter must be present with its declared element type, and strides must
// cover a row. A topk's k may not exceed its operand's length when rows > 0. Scalar parameters must be finite (integral for s32) and within
// their bounds, checked as the f32 or s32 the kernel receives. Unknown names
// are rejected. Messages name the tensor or parameter and what is expected.
// This is the reference check, and it builds strings and sets on every call.
// Kernel::run checks through ir::RunSignature (ir/run_signature.h), which
// accepts the same arguments without allocating and calls this function only
// for the message of a rejection.
Status validate_run_args(const Pipeline& pipeline, const RunArgs& args);

// The k of a topk op and the length of its operand, for `args`.
struct TopkLengths {
  int64_t k = 0;
  int64_t length = 0;
};
Result<TopkLengths> topk_lengths(const Pipeline& pipeline, const RunArgs& args, const Op& op);

// Fails with kOutOfRange when the k of topk op `op` exceeds its operand's
// length for `args`.
Status check_topk_length(const Pipeline& pipeline, const RunArgs& args, const Op& op);

// Value of scalar parameter `name`: the argument, else its default.
std::optional<double> scalar_param(const Pipeline& pipeline, const RunArgs& args, const std::string& name);

}  // namespace rowjit::ir
