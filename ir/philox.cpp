#include "ir/philox.h"

#include <bit>

namespace rowjit::ir {
namespace {

// Multipliers and Weyl key increments of Philox4x32 (Salmon et al., 2011).
constexpr uint32_t kMultiplier0 = 0xD2511F53u;
constexpr uint32_t kMultiplier1 = 0xCD9E8D57u;
constexpr uint32_t kWeyl0 = 0x9E3779B9u;  // golden ratio
constexpr uint32_t kWeyl1 = 0xBB67AE85u;  // sqrt(3) - 1
constexpr int kRounds = 10;

// One round: two 32x32->64 multiplications; the high halves are mixed with the
// other two words and the key, the low halves pass through.
std::array<uint32_t, 4> philox_round(const std::array<uint32_t, 4>& counter,
                                     const std::array<uint32_t, 2>& key) {
  const uint64_t product0 = static_cast<uint64_t>(kMultiplier0) * counter[0];
  const uint64_t product1 = static_cast<uint64_t>(kMultiplier1) * counter[2];
  const auto high0 = static_cast<uint32_t>(product0 >> 32);
  const auto low0 = static_cast<uint32_t>(product0);
  const auto high1 = static_cast<uint32_t>(product1 >> 32);
  const auto low1 = static_cast<uint32_t>(product1);
  return {high1 ^ counter[1] ^ key[0], low1, high0 ^ counter[3] ^ key[1], low0};
}

}  // namespace

std::array<uint32_t, 4> philox4x32_10(std::array<uint32_t, 4> counter, std::array<uint32_t, 2> key) {
  for (int round = 0; round < kRounds; ++round) {
    if (round > 0) {
      key[0] += kWeyl0;
      key[1] += kWeyl1;
    }
    counter = philox_round(counter, key);
  }
  return counter;
}

float uniform_from_word(uint32_t word) {
  // (2 * (w >> 9) + 1) * 2^-24: an odd integer below 2^24 times a power of two,
  // so the conversion and the scaling are exact.
  const uint32_t odd = 2 * (word >> 9) + 1;
  return static_cast<float>(odd) * std::bit_cast<float>(static_cast<uint32_t>(-24 + 127) << 23);
}

float uniform_at(uint32_t seed, uint64_t row, uint64_t column) {
  const std::array<uint32_t, 4> counter = {static_cast<uint32_t>(column), static_cast<uint32_t>(row),
                                           static_cast<uint32_t>(row >> 32), 0};
  const std::array<uint32_t, 2> key = {seed, 0};
  return uniform_from_word(philox4x32_10(counter, key)[0]);
}

}  // namespace rowjit::ir
