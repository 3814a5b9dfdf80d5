#include "ir/block_formats.h"

#include <string>

#include "ir/float_formats.h"

namespace rowjit::ir {
namespace {

constexpr int64_t kNibbleBytes = kPackBlockElements / 2;

// Checks the shared preconditions of the block packers: n a multiple of 32,
// one scale per block and room for every block in `out`.
Status check_block_row(const char* op, int64_t n, int64_t scale_count, int64_t out_bytes, int64_t block_bytes) {
  if (n % kPackBlockElements != 0) {
    return Status(StatusCode::kOutOfRange,
                  std::string(op) + ": row length " + std::to_string(n) + " is not a multiple of the block size " +
                      std::to_string(kPackBlockElements) + "; pad each row to a multiple of 32 elements");
  }
  const int64_t blocks = n / kPackBlockElements;
  if (scale_count != blocks) {
    return Status(StatusCode::kInvalidArgument,
                  std::string(op) + ": got " + std::to_string(scale_count) + " scales for " + std::to_string(n) +
                      " elements; expected one per block of 32, " + std::to_string(blocks));
  }
  if (out_bytes < blocks * block_bytes) {
    return Status(StatusCode::kInvalidArgument,
                  std::string(op) + ": output holds " + std::to_string(out_bytes) + " bytes but " +
                      std::to_string(blocks) + " blocks need " + std::to_string(blocks * block_bytes));
  }
  return Status::ok();
}

// Checks that every nibble value is in [0, 15] before anything is written.
Status check_nibbles(const char* op, const char* value_name, const char* hint, std::span<const uint8_t> values) {
  for (size_t i = 0; i < values.size(); ++i) {
    if (values[i] > 15) {
      return Status(StatusCode::kOutOfRange,
                    std::string(op) + ": " + value_name + " " + std::to_string(values[i]) + " at element " +
                        std::to_string(i) + " (block " + std::to_string(i / kPackBlockElements) +
                        ") is outside [0, 15]; " + hint);
    }
  }
  return Status::ok();
}

void store_f16_le(float value, uint8_t* out) {
  const uint16_t bits = f32_to_f16(value, /*saturate=*/false);
  out[0] = static_cast<uint8_t>(bits & 0xFF);
  out[1] = static_cast<uint8_t>(bits >> 8);
}

// Writes the 16 nibble bytes of one block: byte j = q[j] | q[j + 16] << 4.
void store_nibbles(const uint8_t* block_values, uint8_t* out) {
  for (int64_t j = 0; j < kNibbleBytes; ++j) {
    out[j] = static_cast<uint8_t>(block_values[j] | (block_values[j + kNibbleBytes] << 4));
  }
}

}  // namespace

Status pack_q8_0(std::span<const float> scales, std::span<const int8_t> quants, std::span<uint8_t> out) {
  const auto n = static_cast<int64_t>(quants.size());
  ROWJIT_TRY(check_block_row("pack_q8_0", n, static_cast<int64_t>(scales.size()),
                             static_cast<int64_t>(out.size()), kQ8_0BlockBytes));

  for (size_t b = 0; b < scales.size(); ++b) {
    uint8_t* block = out.data() + b * kQ8_0BlockBytes;
    store_f16_le(scales[b], block);
    for (int64_t j = 0; j < kPackBlockElements; ++j) {
      block[2 + j] = static_cast<uint8_t>(quants[b * kPackBlockElements + j]);
    }
  }
  return Status::ok();
}

Status pack_q4_0(std::span<const float> scales, std::span<const uint8_t> quants, std::span<uint8_t> out) {
  const auto n = static_cast<int64_t>(quants.size());
  ROWJIT_TRY(check_block_row("pack_q4_0", n, static_cast<int64_t>(scales.size()),
                             static_cast<int64_t>(out.size()), kQ4_0BlockBytes));
  ROWJIT_TRY(check_nibbles("pack_q4_0", "quant", "clamp the quants to [0, 15] before packing", quants));

  for (size_t b = 0; b < scales.size(); ++b) {
    uint8_t* block = out.data() + b * kQ4_0BlockBytes;
    store_f16_le(scales[b], block);
    store_nibbles(quants.data() + b * kPackBlockElements, block + 2);
  }
  return Status::ok();
}

Status pack_mxfp4(std::span<const uint8_t> scales, std::span<const uint8_t> codes, std::span<uint8_t> out) {
  const auto n = static_cast<int64_t>(codes.size());
  ROWJIT_TRY(check_block_row("pack_mxfp4", n, static_cast<int64_t>(scales.size()),
                             static_cast<int64_t>(out.size()), kMxfp4BlockBytes));
  ROWJIT_TRY(check_nibbles("pack_mxfp4", "E2M1 code",
                           "reject NaN before converting to E2M1, which has no code for it (f32_to_e2m1 returns 0xFF)",
                           codes));

  for (size_t b = 0; b < scales.size(); ++b) {
    uint8_t* block = out.data() + b * kMxfp4BlockBytes;
    block[0] = scales[b];
    store_nibbles(codes.data() + b * kPackBlockElements, block + 1);
  }
  return Status::ok();
}

Status pack_bits(std::span<const bool> bits, std::span<uint8_t> out) {
  const size_t bytes = (bits.size() + 7) / 8;
  if (out.size() < bytes) {
    return Status(StatusCode::kInvalidArgument,
                  "pack_bits: output holds " + std::to_string(out.size()) + " bytes but " +
                      std::to_string(bits.size()) + " bits need " + std::to_string(bytes));
  }

  for (size_t i = 0; i < bytes; ++i) out[i] = 0;
  for (size_t i = 0; i < bits.size(); ++i) {
    if (bits[i]) out[i / 8] = static_cast<uint8_t>(out[i / 8] | (1u << (i % 8)));
  }
  return Status::ok();
}

}  // namespace rowjit::ir
