// The calling convention of generated kernels: one pointer to KernelArgs,
// System V ABI, no return value. Errors are caught before the call.
#pragma once

#include <cstddef>
#include <cstdint>

namespace rowjit::jit {

inline constexpr int kMaxTensorSlots = 8;   // one general-purpose register each
inline constexpr int kMaxScalarSlots = 16;

struct KernelArgs {
  int64_t rows = 0;
  int64_t n = 0;
  const void* data[kMaxTensorSlots] = {};  // row 0 of each tensor
  int64_t stride[kMaxTensorSlots] = {};    // bytes between rows; 0 for a vector parameter
  float scalars[kMaxScalarSlots] = {};     // scalar parameters
  // Rows of the whole batch when this call runs a part of it (a task of the
  // row pool), for the switch to non-temporal stores by call size
  // (ir::Plan::nontemporal_call_bytes); 0 means `rows`.
  int64_t batch_rows = 0;
};

using KernelFunction = void (*)(const KernelArgs*);

inline constexpr int32_t kArgsRowsOffset = offsetof(KernelArgs, rows);
inline constexpr int32_t kArgsNOffset = offsetof(KernelArgs, n);
inline constexpr int32_t kArgsDataOffset = offsetof(KernelArgs, data);
inline constexpr int32_t kArgsStrideOffset = offsetof(KernelArgs, stride);
inline constexpr int32_t kArgsScalarsOffset = offsetof(KernelArgs, scalars);
inline constexpr int32_t kArgsBatchRowsOffset = offsetof(KernelArgs, batch_rows);

}  // namespace rowjit::jit
