// Philox4x32-10 counter-based generator ("Parallel random numbers: as easy as
// 1, 2, 3", Salmon et al., 2011): the same numbers on every ISA and any split
// of the rows, because each number is a pure function of (seed, row, column).
#pragma once

#include <array>
#include <cstdint>

namespace rowjit::ir {

// Ten Philox rounds on the 128-bit counter with the 64-bit key, the key bumped
// by the Weyl constants (0x9E3779B9, 0xBB67AE85) between rounds. Words are
// numbered as in the Random123 known-answer vectors.
std::array<uint32_t, 4> philox4x32_10(std::array<uint32_t, 4> counter, std::array<uint32_t, 2> key);

// Maps a random word to ((w >> 9) + 0.5) * 2^-23, as the uniform op defines it.
// The value is exact in float32 and lies in [2^-24, 1 - 2^-24]: 23 random bits
// keep it inside the open interval (0, 1), where 24 bits would round the top
// words to 1.0.
float uniform_from_word(uint32_t word);

// The uniform(seed) element at (row, column): word 0 of Philox with counter
// (column, low 32 bits of row, high 32 bits of row, 0) and key (seed, 0),
// mapped by uniform_from_word. `row` is the global row index (first_row + row)
// and `column` is taken modulo 2^32.
float uniform_at(uint32_t seed, uint64_t row, uint64_t column);

}  // namespace rowjit::ir
