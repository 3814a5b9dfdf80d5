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

// Maps a random word to ((w >> 8) + 0.5) * 2^-24 rounded to the nearest float32
// (ties to even), as the uniform op defines it. The result is at least 2^-25.
// NOTE: docs/ir.md promises the open interval (0, 1), but (2^24 - 0.5) * 2^-24
// is a tie that rounds to 1.0f, so the top 256 words give exactly 1.0 and the
// range is (0, 1]. A range of (0, 1) in float32 needs fewer bits, for example
// ((w >> 9) + 0.5) * 2^-23, which is exact.
float uniform_from_word(uint32_t word);

// The uniform(seed) element at (row, column): word 0 of Philox with counter
// (column, low 32 bits of row, high 32 bits of row, 0) and key (seed, 0),
// mapped by uniform_from_word. `row` is the global row index (first_row + row)
// and `column` is taken modulo 2^32.
float uniform_at(uint32_t seed, uint64_t row, uint64_t column);

}  // namespace rowjit::ir
