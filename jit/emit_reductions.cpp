// Row reductions: per-lane accumulators in the loop, float partial sums
// flushed into double, and the horizontal reduction after the loop.
#include <algorithm>
#include <bit>
#include <cfloat>
#include <cmath>

#include "jit/kernel_emitter.h"

namespace rowjit::jit {

using namespace Xbyak;
using namespace Xbyak::util;
using ir::OpKind;
using ir::ValueId;

namespace {

bool is_sum(OpKind kind) { return kind == OpKind::kReduceSum || kind == OpKind::kReduceMean; }

// The value a lane starts from, and that masked-off tail lanes contribute.
float identity(OpKind kind) {
  switch (kind) {
    case OpKind::kReduceMax: return -INFINITY;
    case OpKind::kReduceMin: return INFINITY;
    default: return 0.0f;
  }
}

constexpr int kMaxUnroll = 8;

}  // namespace

void KernelEmitter::prepare_frame_areas() {
  int vector_bytes = target_.bytes();
  if (!target_.avx512) tail_bytes_offset_ = frame_alloc(4, 4);
  if (!exp_range_sweeps_.empty()) row_min_offset_ = frame_alloc(4, 4);
  for (const ir::Sweep& sweep : plan_.sweeps) {
    for (int r : sweep.reductions) {
      if (is_sum(p_.ops[static_cast<size_t>(r)].kind)) sum_area_[r] = frame_alloc(2 * vector_bytes, 64);
    }
    if (sweep.online_softmax && online_max_area_ < 0) {
      online_max_area_ = frame_alloc(kMaxUnroll * vector_bytes, 64);
      online_sum_area_ = frame_alloc(kMaxUnroll * 2 * vector_bytes, 64);
      online_block_start_ = frame_alloc(8, 8);
    }
    if (plan_.blocked_exp && block_max_area_ < 0) {
      block_max_area_ = frame_alloc(ir::kMaxExpBlocks * 4, 64);
      block_sum_area_ = frame_alloc(ir::kMaxExpBlocks * 8, 64);
      block_shift_offset_ = frame_alloc(8, 8);
      block_bytes_offset_ = frame_alloc(8, 8);
      block_part_start_ = frame_alloc(8, 8);
    }
    if (sweep.extexp_sum && extexp_mantissa_area_ < 0) {
      extexp_mantissa_area_ = frame_alloc(kMaxUnroll * 2 * vector_bytes, 64);
      extexp_exponent_area_ = frame_alloc(kMaxUnroll * vector_bytes, 64);
      extexp_inv_offset_ = frame_alloc(4, 4);
      extexp_exp_offset_ = frame_alloc(4, 4);
      extexp_shifted_offset_ = frame_alloc(4, 4);
      extexp_shift_offset_ = frame_alloc(4, 4);
    }
  }
}

// Main-loop iterations between two flushes. An accumulator lane takes at
// most kFlushInterval terms between two flushes, so at most 15 of its adds
// round (the first goes into 0 exactly), each by half an ulp of the partial
// sum (docs/jit.md). With an accumulator per unroll lane that is 16
// iterations.
//
// One accumulator for every unroll lane (the AVX2 softmax sum) takes more
// terms per iteration. At 16 iterations it took 16 * unroll terms, and once
// it held 1, every term below 2^-24 was lost: 7.6e-6 of a softmax sum at
// unroll 8, 3.7e-6 of a log-softmax output at the default unroll 4. A
// separate register for each step's lanes cost up to 5.6%, because it pushed
// an exp constant out of the registers. Instead, such a sum adds the lanes in
// pairs before the accumulator takes them (adds_lanes_in_pairs), which halves
// its terms per iteration, and so the flushes, and the chain of dependent
// adds through it.
//
// `remainder_follows`: the loops of emit_loops flush their last block after
// the remainder loop and the tail, which add up to `unroll` more terms to lane
// 0's accumulator. Such a block may have this many iterations. The kernel
// flushes a longer last block before the remainder where it can tell its
// length (flushes_long_last_block), and otherwise every block is this long.
// With neither, a log-softmax came out up to 1.37e-6 off (bound 1e-6) on rows
// whose max and small terms sat in the last block
// (JitSumAccuracy.SmallTermsInTheLastBlock).
int KernelEmitter::flush_iterations(bool remainder_follows) const {
  int terms_per_iteration = 1;
  const Reduction* shared = shared_accumulator_sum();
  if (shared != nullptr && unroll_ > 1) terms_per_iteration = adds_lanes_in_pairs(*shared) ? unroll_ / 2 : unroll_;
  int terms = kFlushInterval - (remainder_follows ? unroll_ : 0);
  return std::max(1, terms / terms_per_iteration);
}

// True when the loops take blocks of flush_iterations() and flush a last
// block longer than flush_iterations(true) before the remainder. The kernel
// finds the last block's length from the main loop's end, modulo the block's
// bytes, which must be a power of two.
bool KernelEmitter::flushes_long_last_block() const {
  int block_bytes = flush_iterations() * unroll_ * target_.bytes();
  return std::has_single_bit(static_cast<unsigned>(block_bytes)) && flush_iterations(true) < flush_iterations();
}

// True when the one accumulator of sum `r` takes the main loop's lanes two at
// a time: the float sum of two lanes' values, then that sum
// (accumulate_group_reductions). A pair's rounding adds at most 2^-24 of its
// two terms, so the pairs between two flushes add at most 2^-24 of their sum.
bool KernelEmitter::adds_lanes_in_pairs(const Reduction& r) const {
  return lane_pairs_ && &r == shared_accumulator_sum() && !r.track_nan && r.min_acc.empty();
}

// Returns the float sum of the current sweep whose one accumulator takes
// every unroll lane (the AVX2 softmax sum outside resident rows, see
// init_reductions), or null.
const KernelEmitter::Reduction* KernelEmitter::shared_accumulator_sum() const {
  for (const Reduction& r : reductions_) {
    if (is_sum(r.kind) && !r.wide && r.acc.size() == 1) return &r;
  }
  return nullptr;
}

bool KernelEmitter::needs_flush() const {
  for (const Reduction& r : reductions_) {
    if (is_sum(r.kind)) return true;
  }
  return online_.has_value() || extexp_.has_value();
}

void KernelEmitter::init_reductions(const ir::Sweep& sweep, bool resident) {
  reductions_.clear();
  sums_in_accumulators_ = false;
  online_.reset();
  extexp_.reset();
  for (int index : sweep.reductions) {
    Reduction r;
    r.op = index;
    r.kind = p_.ops[static_cast<size_t>(index)].kind;
    // The max of a softmax core needs no NaN tracking: a NaN that the max
    // misses still reaches the sum through exp(x - max), and so every output.
    bool feeds_core_only = index == plan_.core.max_op && plan_.core.max_feeds_shift_only &&
                           plan_.softmax_form != ir::SoftmaxForm::kNone;
    r.track_nan = !is_sum(r.kind) && !feeds_core_only;
    // The softmax core's sum adds exps of at most 1 and stays in float.
    r.wide = is_sum(r.kind) && index != plan_.core.sum_op;
    // On AVX2 the softmax core's sum takes one accumulator: an iteration of
    // its exp sweep outlasts four dependent adds, and the three registers
    // saved keep exp constants out of memory (16K rows: 0.193 -> 0.188 ns per
    // element in a timing loop).
    int accumulators = unroll_;
    if (!target_.avx512 && !resident && index == plan_.core.sum_op) accumulators = 1;
    for (int lane = 0; lane < accumulators; ++lane) {
      Xmm acc = take_register();
      if (identity(r.kind) == 0.0f) vxorps(acc, acc, acc);
      else vmovups(acc, pool_.vector(identity(r.kind)));
      r.acc.push_back(acc);
      if (r.wide) {
        Xmm high = take_register();
        vxorps(high, high, high);
        r.acc_high.push_back(high);
      }
      if (r.track_nan) {
        Xmm nan_acc = take_register();
        vxorps(nan_acc, nan_acc, nan_acc);
        r.nan_acc.push_back(nan_acc);
      }
    }
    if (index == plan_.core.max_op) {
      // The min takes an accumulator per lane where two registers stay free
      // for the loop body, else at least two. With fewer (AVX2 at unroll 8)
      // its chain would hold up the max sweep, and the exp sweeps keep their
      // guard instead of forcing a smaller unroll on the whole kernel.
      int free = static_cast<int>(free_vregs_.size()) - 2;
      int lanes = std::min(accumulators, free);
      row_min_taken_ = tests_exp_range(resident) && (lanes >= 2 || lanes == accumulators);
      for (int lane = 0; row_min_taken_ && lane < lanes; ++lane) {
        r.min_acc.push_back(take_register());
        vmovups(r.min_acc.back(), pool_.vector(INFINITY));
      }
    }
    if (is_sum(r.kind) && !resident && !r.wide) {
      vxorps(scratch_.vec[0], scratch_.vec[0], scratch_.vec[0]);
      vmovups(ptr[rsp + sum_area_.at(index)], scratch_.vec[0]);
      vmovups(ptr[rsp + sum_area_.at(index) + target_.bytes()], scratch_.vec[0]);
    }
    reductions_.push_back(std::move(r));
  }
}

void KernelEmitter::accumulate_reduction(Reduction& r, const Xmm& value, const BodyMode& mode) {
  const Xmm& acc = r.acc[static_cast<size_t>(mode.lane) % r.acc.size()];
  const Xmm& s0 = scratch_.vec[0];
  const Xmm& s1 = scratch_.vec[1];
  Xmm v = value;
  if (r.kind == OpKind::kReduceAbsMax) {
    vandps(s0, value, pool_.vector_bits(0x7FFFFFFFu));
    v = s0;
  }

  if (r.track_nan) {
    const Xmm& nan_acc = r.nan_acc[static_cast<size_t>(mode.lane)];
    if (target_.avx512) {
      if (mode.masked) vcmpps(k2 | k1, v, v, 0x03);
      else vcmpps(k2, v, v, 0x03);
      vpternlogd(nan_acc | k2, nan_acc, nan_acc, 0xFF);
    } else {
      vcmpps(s1, v, v, 0x03);
      if (mode.masked) vandps(s1, s1, tail_mask_);
      vorps(nan_acc, nan_acc, s1);
    }
  }

  if (r.wide) {
    // Masked-off lanes add 0.
    const Xmm& high = r.acc_high[static_cast<size_t>(mode.lane)];
    if (mode.masked && target_.avx512) {
      vmovaps(s1 | k1 | T_z, v);
      v = s1;
    } else if (mode.masked) {
      vandps(s1, v, tail_mask_);
      v = s1;
    }
    add_widened(acc, high, v);
    return;
  }

  if (!r.min_acc.empty()) {
    // The row's min for the exp sweeps' range test; masked-off lanes count as +inf.
    const Xmm& low = r.min_acc[static_cast<size_t>(mode.lane) % r.min_acc.size()];
    if (mode.masked && !target_.avx512) {
      vmovups(s0, pool_.vector(INFINITY));
      vblendvps(s0, s0, value, tail_mask_);
      vminps(low, low, s0);
    } else {
      vminps(mode.masked ? Xmm(low | k1) : low, low, value);
    }
  }

  if (mode.masked && !target_.avx512) {
    // Masked-off lanes hold garbage computed from zeros: replace them with the
    // identity of the reduction.
    if (identity(r.kind) == 0.0f) {
      vandps(s1, v, tail_mask_);
    } else {
      vmovups(s1, pool_.vector(identity(r.kind)));
      vblendvps(s1, s1, v, tail_mask_);
    }
    v = s1;
  }
  Xmm target = mode.masked && target_.avx512 ? Xmm(acc | k1) : acc;
  switch (r.kind) {
    case OpKind::kReduceMax:
    case OpKind::kReduceAbsMax: vmaxps(target, acc, v); break;
    case OpKind::kReduceMin: vminps(target, acc, v); break;
    default: vaddps(target, acc, v); break;
  }
}

// lo += the low half of the lanes of acc, hi += the high half, each widened
// to double. Uses the third scratch register.
void KernelEmitter::add_widened(const Xmm& lo, const Xmm& hi, const Xmm& acc) {
  const Xmm& half = scratch_.vec[2];
  if (target_.avx512) {
    vcvtps2pd(half, Ymm(acc.getIdx()));
    vaddpd(lo, lo, half);
    vextractf32x8(Ymm(half.getIdx()), Zmm(acc.getIdx()), 1);
    vcvtps2pd(half, Ymm(half.getIdx()));
    vaddpd(hi, hi, half);
  } else {
    vcvtps2pd(half, Xmm(acc.getIdx()));
    vaddpd(lo, lo, half);
    vextractf128(Xmm(half.getIdx()), Ymm(acc.getIdx()), 1);
    vcvtps2pd(half, Xmm(half.getIdx()));
    vaddpd(hi, hi, half);
  }
}

// Adds the float partial sums of every lane into the double sums in the frame
// and clears them, so that no float sum grows past a few hundred terms.
void KernelEmitter::flush_sums() {
  const Xmm& lo = scratch_.vec[0];
  const Xmm& hi = scratch_.vec[1];
  int vector_bytes = target_.bytes();
  for (Reduction& r : reductions_) {
    if (!is_sum(r.kind) || r.wide) continue;
    int area = sum_area_.at(r.op);
    vmovupd(lo, ptr[rsp + area]);
    vmovupd(hi, ptr[rsp + area + vector_bytes]);
    for (const Xmm& acc : r.acc) {
      add_widened(lo, hi, acc);
      vxorps(acc, acc, acc);
    }
    vmovupd(ptr[rsp + area], lo);
    vmovupd(ptr[rsp + area + vector_bytes], hi);
  }
}

// Combines `values` into values[0] pairwise, in log2(size) dependent steps
// instead of size - 1.
void KernelEmitter::combine_in_tree(std::span<const Xmm> values, LaneCombine operation) {
  for (size_t stride = 1; stride < values.size(); stride *= 2) {
    for (size_t i = 0; i + stride < values.size(); i += 2 * stride) combine(values[i], values[i + stride], operation);
  }
}

// a = a `operation` b, lane by lane.
void KernelEmitter::combine(const Xmm& a, const Xmm& b, LaneCombine operation) {
  switch (operation) {
    case LaneCombine::kMax: vmaxps(a, a, b); break;
    case LaneCombine::kMin: vminps(a, a, b); break;
    case LaneCombine::kAddFloats: vaddps(a, a, b); break;
    case LaneCombine::kAddDoubles: vaddpd(a, a, b); break;
    case LaneCombine::kBitwiseOr: vorps(a, a, b); break;
  }
}

// Sets the float partial sums to 0, dropping what they took since the last
// flush.
void KernelEmitter::clear_float_sums() {
  for (const Reduction& r : reductions_) {
    if (!is_sum(r.kind) || r.wide) continue;
    for (const Xmm& acc : r.acc) vxorps(acc, acc, acc);
  }
}

// Reduces the lanes of `v` into lane 0 with `operation`.
void KernelEmitter::horizontal(const Xmm& v, LaneCombine operation) {
  const Xmm& t = scratch_.vec[2];
  bool doubles = operation == LaneCombine::kAddDoubles;
  if (target_.avx512) {
    vextractf32x8(Ymm(t.getIdx()), Zmm(v.getIdx()), 1);
    combine(Ymm(v.getIdx()), Ymm(t.getIdx()), operation);
  }
  // Registers 16-31 exist only in EVEX encodings, hence vextractf32x4 on AVX-512.
  if (target_.avx512) vextractf32x4(Xmm(t.getIdx()), Ymm(v.getIdx()), 1);
  else vextractf128(Xmm(t.getIdx()), Ymm(v.getIdx()), 1);
  combine(Xmm(v.getIdx()), Xmm(t.getIdx()), operation);
  if (doubles) {
    vpermilpd(Xmm(t.getIdx()), Xmm(v.getIdx()), 1);
    combine(Xmm(v.getIdx()), Xmm(t.getIdx()), operation);
    return;
  }
  vpermilps(Xmm(t.getIdx()), Xmm(v.getIdx()), 0x4E);
  combine(Xmm(v.getIdx()), Xmm(t.getIdx()), operation);
  vpermilps(Xmm(t.getIdx()), Xmm(v.getIdx()), 0xB1);
  combine(Xmm(v.getIdx()), Xmm(t.getIdx()), operation);
}

// A resident row's float sums hold at most kMaxResidentVectors (16) terms per
// lane and are reduced as floats, because the horizontal sum is on the row's
// critical path. With 256 terms at most, the error stays near 1e-6. A mean
// goes through double, as in the loops.
void KernelEmitter::finish_reductions(bool resident) {
  const Xmm& s0 = scratch_.vec[0];
  const Xmm& s1 = scratch_.vec[1];
  int vector_bytes = target_.bytes();
  for (Reduction& r : reductions_) {
    ValueId result = p_.ops[static_cast<size_t>(r.op)].results[0];
    if (is_sum(r.kind)) {
      if (r.wide) {
        const Xmm& acc = r.acc[0];
        const Xmm& high = r.acc_high[0];
        for (size_t lane = 1; lane < r.acc.size(); ++lane) {
          vaddpd(acc, acc, r.acc[lane]);
          vaddpd(high, high, r.acc_high[lane]);
        }
        vaddpd(s0, acc, high);
      } else if (resident && r.kind == OpKind::kReduceSum) {
        const Xmm& acc = r.acc[0];
        combine_in_tree(r.acc, LaneCombine::kAddFloats);
        horizontal(acc, LaneCombine::kAddFloats);
        store_scalar_result(result, acc);
        carried_[result] = acc;
        continue;
      } else if (resident) {
        vxorpd(s0, s0, s0);
        vxorpd(s1, s1, s1);
        for (const Xmm& acc : r.acc) add_widened(s0, s1, acc);
        vaddpd(s0, s0, s1);
      } else if (sums_in_accumulators_) {
        // The frame's doubles, plus each accumulator's two halves widened to
        // double and added in a tree: no store and reload on the row's
        // critical path.
        int area = sum_area_.at(r.op);
        vmovupd(s0, ptr[rsp + area]);
        vaddpd(s0, s0, ptr[rsp + area + vector_bytes]);
        for (const Xmm& acc : r.acc) {
          if (target_.avx512) {
            vextractf32x8(Ymm(s1.getIdx()), Zmm(acc.getIdx()), 1);
            vcvtps2pd(s1, Ymm(s1.getIdx()));
            vcvtps2pd(acc, Ymm(acc.getIdx()));
          } else {
            vextractf128(Xmm(s1.getIdx()), Ymm(acc.getIdx()), 1);
            vcvtps2pd(s1, Xmm(s1.getIdx()));
            vcvtps2pd(acc, Xmm(acc.getIdx()));
          }
          vaddpd(acc, acc, s1);
        }
        combine_in_tree(r.acc, LaneCombine::kAddDoubles);
        vaddpd(s0, s0, r.acc[0]);
      } else {
        int area = sum_area_.at(r.op);
        vmovupd(s0, ptr[rsp + area]);
        vaddpd(s0, s0, ptr[rsp + area + vector_bytes]);
      }
      horizontal(s0, LaneCombine::kAddDoubles);
      if (r.kind == OpKind::kReduceMean) {
        // mean = sum / n in double; an empty row gives 0 / 0 = NaN.
        mov(rax, r9);
        shr(rax, 2);
        vcvtsi2sd(Xmm(s1.getIdx()), Xmm(s1.getIdx()), rax);
        vdivsd(Xmm(s0.getIdx()), Xmm(s0.getIdx()), Xmm(s1.getIdx()));
      }
      vcvtsd2ss(Xmm(s0.getIdx()), Xmm(s0.getIdx()), Xmm(s0.getIdx()));
      store_scalar_result(result, s0);
      vmovaps(Xmm(r.acc[0].getIdx()), Xmm(s0.getIdx()));
      carried_[result] = r.acc[0];
      continue;
    }
    const Xmm& acc = r.acc[0];
    LaneCombine extreme = r.kind == OpKind::kReduceMin ? LaneCombine::kMin : LaneCombine::kMax;
    combine_in_tree(r.acc, extreme);
    horizontal(acc, extreme);
    if (!r.min_acc.empty()) {
      const Xmm& low = r.min_acc[0];
      combine_in_tree(r.min_acc, LaneCombine::kMin);
      horizontal(low, LaneCombine::kMin);
      vmovss(dword[rsp + row_min_offset_], Xmm(low.getIdx()));
    }
    if (r.track_nan) {
      const Xmm& nan_acc = r.nan_acc[0];
      for (size_t lane = 1; lane < r.nan_acc.size(); ++lane) vorps(nan_acc, nan_acc, r.nan_acc[lane]);
      horizontal(nan_acc, LaneCombine::kBitwiseOr);
      // An all-ones flag is a NaN bit pattern: OR-ing it in makes the result NaN.
      vorps(Xmm(acc.getIdx()), Xmm(acc.getIdx()), Xmm(nan_acc.getIdx()));
    }
    store_scalar_result(result, acc);
    carried_[result] = acc;
  }
}

}  // namespace rowjit::jit
