// The memory that `rowjit tune` runs candidate kernels on: random inputs and
// output buffers for one row length, shared by every candidate.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "ir/pipeline.h"
#include "ir/status.h"
#include "ir/tensor.h"

namespace rowjit {

// Largest memory a workspace allocates, so that a typo in --rows or --n fails
// with a message instead of swapping the machine.
inline constexpr int64_t kMaxWorkspaceBytes = int64_t{4} << 30;

class TuneWorkspace {
 public:
  // Allocates every input, vector parameter and output of `pipeline` for
  // `rows` rows of length n. Rows of 64 bytes or more are aligned to 64
  // bytes, so that non-temporal stores apply. f32 inputs and vector
  // parameters contain uniform random values in [-8, 8) from a fixed seed,
  // and other types zeros.
  // Scalar parameters come from `scalars`, else their defaults. Fails with
  // kInvalidArgument for a parameter without a value, a name in `scalars`
  // that is no scalar parameter, and a workspace above kMaxWorkspaceBytes.
  static Result<TuneWorkspace> create(const ir::Pipeline& pipeline, int64_t n, int64_t rows,
                                      const std::map<std::string, double>& scalars);

  const ir::RunArgs& args() const { return args_; }
  // Bytes of all rows of all tensors, without the padding at the end of each buffer.
  int64_t bytes() const { return bytes_; }

 private:
  struct FreeBuffer {
    void operator()(void* data) const { std::free(data); }
  };
  using Buffer = std::unique_ptr<std::byte, FreeBuffer>;

  TuneWorkspace() = default;

  ir::RunArgs args_;
  std::vector<Buffer> buffers_;
  int64_t bytes_ = 0;
};

}  // namespace rowjit
