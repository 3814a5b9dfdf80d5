// A named block of the data that follows a kernel's constant pool, for dumps.
#pragma once

#include <cstddef>
#include <string>

namespace rowjit::jit {

// A lane table, the kernel's MXCSR value or the AVX2 tail masks. Bytes after
// the pool that no region covers are alignment padding.
struct DataRegion {
  size_t offset = 0;  // from the start of the kernel
  size_t size = 0;
  std::string name;
};

}  // namespace rowjit::jit
