// Memory sizes in the messages of `rowjit run`, and the machine's memory that
// a run is checked against before it allocates its tensors.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "ir/tensor.h"

namespace rowjit::cli {

// Physical memory plus swap, in bytes: more than this can never be allocated
// at once. nullopt when the system does not report it.
std::optional<int64_t> memory_and_swap_bytes();

// Formats a byte count for messages: "4294967296 bytes (4.0 GiB)".
std::string describe_bytes(int64_t bytes);

// Names the shape of a run for messages: "rows x n = 8 x 1000".
std::string describe_rows(const ir::RunArgs& args);

// What to do when a run needs more memory than the machine has.
inline constexpr const char* kSmallerRunFix =
    "run on fewer or shorter rows (a smaller --rows or --n, or smaller input files), or with smaller [k] "
    "parameters";

}  // namespace rowjit::cli
