// The softmax exp without its underflow guard, on rows whose range allows it.
//
// The softmax exp guards against arguments below about -104, where the power
// of two it builds would wrap. AVX-512 zeroes those lanes with a comparison
// into an opmask. AVX2 clamps the argument with vmaxps, on the dependency
// chain of every vector. Neither changes an argument from -kExpGuardFreeRange
// (103.5) up. A row whose max - min is at most that has no argument below it
// in its exp sweep, since each argument is x - max(x) rounded, and so needs no
// guard. The max sweep takes the row's min next to its max, and each exp sweep
// after it tests the range and takes one of two copies of its loops: the copy
// without the guard, or the usual one. With the min's cost included, rows of
// 1K to 8K elements ran 2 to 4% faster on AVX-512 and about 6% on AVX2, on an
// Intel Xeon in a timing loop (docs/jit.md).
//
// Both copies give the same bits on every row the test lets through, when no
// element is NaN. A NaN may be dropped from the max and the min (their vmaxps
// and vminps keep one operand), so a row with a NaN can take the copy without
// the guard with arguments out of range. That is why the copy applies only
// where a NaN in the row's sum reaches every output
// (SoftmaxCore::max_feeds_shift_only): such a row's outputs are all NaN with
// either copy.
//
// Blocked exp has no max sweep before most of its blocks. On AVX2 its exp
// pass takes each block's min instead and tests it after every chunk; see
// blocked_exp_range below.
#include <algorithm>
#include <bit>

#include "jit/kernel_emitter.h"

namespace rowjit::jit {

using namespace Xbyak;
using ir::ValueId;

// Returns the sweeps that test the range: every sweep after the max's that
// computes the core's exp, or none when the plan does not allow the copy.
std::set<int> KernelEmitter::find_exp_range_sweeps() const {
  const ir::SoftmaxCore& core = plan_.core;
  bool three_pass = plan_.softmax_form == ir::SoftmaxForm::kThreePassRecompute ||
                    plan_.softmax_form == ir::SoftmaxForm::kThreePassReload;
  // A temperature scales the arguments, and blocked exp takes the max of
  // most blocks in the exp pass itself.
  if (!three_pass || plan_.blocked_exp || !core.exp_input_nonpositive || core.scale_op >= 0 ||
      !core.max_feeds_shift_only) {
    return {};
  }
  std::set<int> sweeps;
  bool after_max = false;
  for (size_t index = 0; index < plan_.sweeps.size(); ++index) {
    const ir::Sweep& sweep = plan_.sweeps[index];
    if (after_max && std::find(sweep.ops.begin(), sweep.ops.end(), core.exp_op) != sweep.ops.end()) {
      sweeps.insert(static_cast<int>(index));
    }
    const auto& reductions = sweep.reductions;
    after_max = after_max || std::find(reductions.begin(), reductions.end(), core.max_op) != reductions.end();
  }
  return sweeps;
}

// Returns whether the row loop (resident: its copy for rows held in registers) takes
// the row's min and tests its range. AVX-512 rows of 4 vectors held in
// registers ran 5% slower with the test (softmax, 4096 rows of 64): the min's
// horizontal reduction costs more there than the 4 comparisons it saves. On
// AVX2, where the guard is a clamp on each vector's chain, they ran 3% faster.
bool KernelEmitter::tests_exp_range(bool resident) const {
  return !exp_range_sweeps_.empty() && !(resident && target_.avx512);
}

// Jumps to `guarded` unless max - min of the row, from the max sweep's frame
// slots, is at most kExpGuardFreeRange. NaN jumps too.
void KernelEmitter::emit_exp_range_test(Label& guarded) {
  ValueId m = p_.ops[static_cast<size_t>(plan_.core.max_op)].results[0];
  const Xmm range(scratch_.vec[0].getIdx());
  vmovss(range, frame_slot(m));
  vsubss(range, range, dword[rsp + row_min_offset_]);
  vucomiss(range, pool_.address_of(std::bit_cast<uint32_t>(kExpGuardFreeRange)));
  jp(guarded, T_NEAR);
  ja(guarded, T_NEAR);
}

// Returns whether the speculative blocked exp sweep has a copy without the
// exp's guard (AVX2). Its body takes the block's min next to the block's max,
// in the second block-max accumulator. Each chunk of the block, and the
// singles and tail after the last chunk, end with a range test
// (emit_block_range_test). A part whose block min lies more than
// kExpGuardFreeRange below the reference runs again in the guarded copy,
// which keeps the rest of the row. On AVX-512 the guard is one comparison off
// the exp's chain, and the min would cost as much; AVX2 clamps the argument
// on the chain.
bool KernelEmitter::blocked_exp_range() const {
  const ir::SoftmaxCore& core = plan_.core;
  return !target_.avx512 && plan_.blocked_exp && plan_.speculative_max && core.exp_input_nonpositive &&
         core.scale_op < 0 && core.max_feeds_shift_only && block_max_acc_.size() >= 2;
}

// Jumps to `guarded` unless every lane of the block's min so far lies at most
// kExpGuardFreeRange below the reference in m's register. NaN jumps too.
void KernelEmitter::emit_block_range_test(Label& guarded) {
  ValueId m = p_.ops[static_cast<size_t>(plan_.core.max_op)].results[0];
  const Xmm& range = scratch_.vec[0];
  constexpr uint8_t kNotLessEqualUnordered = 0x06;
  vsubps(range, value_register(m), block_max_acc_[1]);
  vcmpps(range, range, pool_.vector(kExpGuardFreeRange), kNotLessEqualUnordered);
  vmovmskps(ecx, range);
  test(ecx, ecx);
  jnz(guarded, T_NEAR);
}

// Emits the blocked exp sweep's copy without the guard, which each row
// starts in, ahead of the guarded copy whose `guarded` entries it jumps to
// when a part of a block is out of its range. Rows that finish in it jump to
// `done`. Both copies start from the same register state.
void KernelEmitter::emit_unguarded_block_loop(const ir::Sweep& sweep, Label& done, BlockLoopEntries& guarded) {
  Label restart, chunk_out, singles_out;
  auto resident_before = resident_reg_;
  auto free_before = free_vregs_;

  mark("blocks with exps unguarded while the reference - the block's min is at most the range");
  exp_in_range_ = true;
  blocked_exp_range_copied_ = true;
  block_min_tracked_ = true;
  chunk_rerun_ = &chunk_out;
  singles_rerun_ = &singles_out;
  emit_block_loop(
      sweep, BlockOrder::kForward, [this] { emit_speculative_block_start(); },
      [this, &restart] {
        emit_block_sum();
        emit_speculation_check(restart);
      },
      &restart);
  exp_in_range_ = false;
  block_min_tracked_ = false;
  chunk_rerun_ = nullptr;
  singles_rerun_ = nullptr;
  jmp(done, T_NEAR);

  mark("a chunk out of the range runs again in the guarded copy");
  L(chunk_out);
  emit_block_rerun(guarded.chunk, 0);
  mark("singles and tail out of the range run again in the guarded copy");
  L(singles_out);
  emit_block_rerun(guarded.singles, target_.bytes() * unroll_);

  mark("blocks with guarded exps");
  resident_reg_ = resident_before;
  free_vregs_ = free_before;
}

}  // namespace rowjit::jit
