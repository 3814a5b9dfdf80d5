// Philox4x32-10 counter-based generator ("Parallel random numbers: as easy as
// 1, 2, 3", Salmon et al., 2011): the same numbers on every ISA and any split
// of the rows, because each number is a pure function of (seed, row, column).
#pragma once

#include <array>
#include <cstdint>

namespace rowjit::ir {

// Ten Philox rounds on the 128-bit counter with the 64-bit key.
std::array<uint32_t, 4> philox4x32_10(std::array<uint32_t, 4> counter, std::array<uint32_t, 2> key);

// The uniform(seed) element at (row, column): word 0 of Philox with counter
// (column, low 32 bits of row, high 32 bits of row, 0) and key (seed, 0),
// mapped to ((w >> 8) + 0.5) * 2^-24, which lies in the open interval (0, 1).
float uniform_at(uint32_t seed, uint64_t row, uint64_t column);

}  // namespace rowjit::ir
