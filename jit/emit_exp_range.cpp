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

}  // namespace rowjit::jit
