// Tests of ir/philox.h against the Random123 known-answer vectors and the
// uniform mapping of docs/ir.md, with expected values computed by hand.
#include <gtest/gtest.h>

#include <array>
#include <cmath>
#include <cstdint>

#include "ir/philox.h"

namespace rowjit::ir {
namespace {

using Counter = std::array<uint32_t, 4>;
using Key = std::array<uint32_t, 2>;

// Random123 known-answer vectors: the "philox4x32 10" lines of kat_vectors in
// the Random123 library (D. E. Shaw Research), counter and key words listed
// from word 0.
TEST(Philox, ZeroCounterAndKey) {
  const Counter expected = {0x6627E8D5u, 0xE169C58Du, 0xBC57AC4Cu, 0x9B00DBD8u};
  EXPECT_EQ(philox4x32_10({0, 0, 0, 0}, {0, 0}), expected);
}

TEST(Philox, AllOnesCounterAndKey) {
  const Counter counter = {0xFFFFFFFFu, 0xFFFFFFFFu, 0xFFFFFFFFu, 0xFFFFFFFFu};
  const Key key = {0xFFFFFFFFu, 0xFFFFFFFFu};
  const Counter expected = {0x408F276Du, 0x41C83B0Eu, 0xA20BC7C6u, 0x6D5451FDu};
  EXPECT_EQ(philox4x32_10(counter, key), expected);
}

TEST(Philox, PiDigitsCounterAndKey) {
  const Counter counter = {0x243F6A88u, 0x85A308D3u, 0x13198A2Eu, 0x03707344u};
  const Key key = {0xA4093822u, 0x299F31D0u};
  const Counter expected = {0xD16CFE09u, 0x94FDCCEBu, 0x5001E420u, 0x24126EA1u};
  EXPECT_EQ(philox4x32_10(counter, key), expected);
}

TEST(UniformFromWord, LowWords) {
  // ((w >> 9) + 0.5) * 2^-23: the low nine bits do not matter.
  EXPECT_EQ(uniform_from_word(0x00000000u), std::ldexp(1.0f, -24));
  EXPECT_EQ(uniform_from_word(0x000001FFu), std::ldexp(1.0f, -24));
  EXPECT_EQ(uniform_from_word(0x00000200u), std::ldexp(3.0f, -24));
}

TEST(UniformFromWord, AroundOneHalf) {
  // (2^22 - 1 + 0.5) * 2^-23 = 0.5 - 2^-24 and (2^22 + 0.5) * 2^-23 = 0.5 + 2^-24.
  EXPECT_EQ(uniform_from_word(0x7FFFFFFFu), 0.5f - std::ldexp(1.0f, -24));
  EXPECT_EQ(uniform_from_word(0x80000000u), 0.5f + std::ldexp(1.0f, -24));
  EXPECT_EQ(uniform_from_word(0x80000200u), 0.5f + std::ldexp(3.0f, -24));
}

TEST(UniformFromWord, TopWordStaysBelowOne) {
  // (2^23 - 1 + 0.5) * 2^-23 = 1 - 2^-24, the largest float below 1.
  EXPECT_EQ(uniform_from_word(0xFFFFFFFFu), 1.0f - std::ldexp(1.0f, -24));
  EXPECT_LT(uniform_from_word(0xFFFFFFFFu), 1.0f);
}

TEST(UniformAt, FirstElementOfSeedZero) {
  // Word 0 of the zero known-answer vector is 0x6627E8D5, and
  // (0x3313F4 + 0.5) * 2^-23 = 6694889 / 16777216.
  EXPECT_EQ(uniform_at(0, 0, 0), static_cast<float>(6694889.0 / 16777216.0));
}

TEST(UniformAt, CounterLayout) {
  // Counter (column, row low word, row high word, 0), key (seed, 0).
  const uint64_t row = (uint64_t{3} << 32) | 5;
  const uint32_t word = philox4x32_10({7, 5, 3, 0}, {42, 0})[0];
  EXPECT_EQ(uniform_at(42, row, 7), uniform_from_word(word));
}

TEST(UniformAt, DependsOnEveryCoordinate) {
  const float base = uniform_at(1, 2, 3);
  EXPECT_NE(uniform_at(2, 2, 3), base);
  EXPECT_NE(uniform_at(1, 3, 3), base);
  EXPECT_NE(uniform_at(1, 2, 4), base);
  EXPECT_NE(uniform_at(1, 2 + (uint64_t{1} << 32), 3), base);
}

TEST(UniformAt, MeanAndRange) {
  constexpr int kCount = 1 << 16;
  double sum = 0;
  float smallest = 1.0f;
  float largest = 0.0f;
  for (int column = 0; column < kCount; ++column) {
    const float u = uniform_at(12345, 0, column);
    sum += u;
    smallest = std::min(smallest, u);
    largest = std::max(largest, u);
  }
  EXPECT_GT(smallest, 0.0f);
  EXPECT_LT(largest, 1.0f);
  // The mean of 2^16 uniform samples has standard deviation about 0.0011.
  EXPECT_NEAR(sum / kCount, 0.5, 0.006);
}

}  // namespace
}  // namespace rowjit::ir
