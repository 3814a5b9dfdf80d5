// Elementwise ops on vector registers, and the per-row scalar ops that run
// once before a sweep's loop.
#include <algorithm>
#include <bit>
#include <cfloat>

#include "jit/kernel_emitter.h"

namespace rowjit::jit {

using namespace Xbyak;
using namespace Xbyak::util;
using ir::OpKind;
using ir::ValueId;

namespace {

// vcmpps predicates with the IEEE meaning of each comparison: ordered and quiet,
// except != which is true for NaN.
uint8_t compare_predicate(OpKind kind) {
  switch (kind) {
    case OpKind::kLt: return 0x11;  // LT_OQ
    case OpKind::kLe: return 0x12;  // LE_OQ
    case OpKind::kGt: return 0x1E;  // GT_OQ
    case OpKind::kGe: return 0x1D;  // GE_OQ
    case OpKind::kEq: return 0x00;  // EQ_OQ
    default: return 0x04;           // NEQ_UQ
  }
}

}  // namespace

void KernelEmitter::emit_op(const ir::Op& op, const Xmm& dst, const std::vector<Xmm>& in) {
  MathEmitter m = math();
  const Xmm& s0 = scratch_.vec[0];
  const Xmm& s1 = scratch_.vec[1];
  const Xmm& s2 = scratch_.vec[2];
  switch (op.kind) {
    case OpKind::kAdd: vaddps(dst, in[0], in[1]); break;
    case OpKind::kSub: vsubps(dst, in[0], in[1]); break;
    case OpKind::kMul: vmulps(dst, in[0], in[1]); break;
    case OpKind::kDiv: {
      auto reciprocal = reciprocal_of_.find(op.operands[1]);
      int index = static_cast<int>(&op - p_.ops.data());
      const auto& divides = plan_.reciprocal_divides;
      bool by_reciprocal = std::find(divides.begin(), divides.end(), index) != divides.end();
      if (by_reciprocal && reciprocal != reciprocal_of_.end()) vmulps(dst, in[0], reciprocal->second);
      else vdivps(dst, in[0], in[1]);
      break;
    }

    case OpKind::kMinimum:
    case OpKind::kMaximum: {
      // IEEE minimum/maximum: NaN if either operand is NaN, and -0 < +0.
      // vminps/vmaxps return the second operand for NaN and for equal values,
      // so equal operands are merged bitwise (OR for min keeps -0, AND for max
      // keeps +0) and unordered pairs take a + b, which is NaN.
      bool is_max = op.kind == OpKind::kMaximum;
      if (is_max) vmaxps(s0, in[0], in[1]);
      else vminps(s0, in[0], in[1]);
      if (is_max) vandps(s1, in[0], in[1]);
      else vorps(s1, in[0], in[1]);
      if (target_.avx512) {
        vcmpps(k2, in[0], in[1], 0x00);  // EQ_OQ
        vmovaps(s0 | k2, s1);
        vcmpps(k2, in[0], in[1], 0x03);  // UNORD_Q
        vaddps(s1, in[0], in[1]);
        vmovaps(s0 | k2, s1);
      } else {
        vcmpps(s2, in[0], in[1], 0x00);
        vblendvps(s0, s0, s1, s2);
        vcmpps(s2, in[0], in[1], 0x03);
        vaddps(s1, in[0], in[1]);
        vblendvps(s0, s0, s1, s2);
      }
      vmovaps(dst, s0);
      break;
    }

    case OpKind::kLt:
    case OpKind::kLe:
    case OpKind::kGt:
    case OpKind::kGe:
    case OpKind::kEq:
    case OpKind::kNe:
      // A bool is a lane of all ones or all zeros.
      if (target_.avx512) {
        vcmpps(k2, in[0], in[1], compare_predicate(op.kind));
        vpmovm2d(dst, k2);
      } else {
        vcmpps(dst, in[0], in[1], compare_predicate(op.kind));
      }
      break;

    case OpKind::kSelect:
      if (target_.avx512) {
        vpmovd2m(k2, in[0]);
        vblendmps(dst | k2, in[2], in[1]);
      } else {
        vblendvps(dst, in[2], in[1], in[0]);
      }
      break;

    case OpKind::kNeg: vxorps(dst, in[0], pool_.vector_bits(0x80000000u)); break;
    case OpKind::kAbs: vandps(dst, in[0], pool_.vector_bits(0x7FFFFFFFu)); break;
    case OpKind::kSqrt: vsqrtps(dst, in[0]); break;
    case OpKind::kRecip:
      vmovups(s0, pool_.vector(1.0f));
      vdivps(dst, s0, in[0]);
      break;
    case OpKind::kExp:
      // The core's exp reads x - max(x) <= 0 (or that over a positive temperature).
      if (static_cast<int>(&op - p_.ops.data()) == plan_.core.exp_op && plan_.core.exp_input_nonpositive) {
        if (exp_in_range_) emit_exp_nonpositive_in_range(m, dst, in[0], scratch_);
        else emit_exp_nonpositive(m, dst, in[0], scratch_);
      } else {
        emit_exp(m, dst, in[0], scratch_);
      }
      break;
    case OpKind::kLog: emit_log(m, dst, in[0], scratch_); break;
    case OpKind::kSigmoid: emit_sigmoid(m, dst, in[0], scratch_); break;
    case OpKind::kTanh: emit_tanh(m, dst, in[0], scratch_); break;

    default:
      if (error_.is_ok()) {
        error_ = Status(StatusCode::kInternal,
                        "no lowering for op '" + std::string(ir::op_info(op.kind).name) + "' reached the emitter");
      }
      break;
  }
}

void KernelEmitter::load_scalar(const Xmm& dst, ValueId value) {
  const ir::Value& v = p_.value(value);
  switch (v.kind) {
    case ir::ValueKind::kConstant:
      vmovups(dst, pool_.vector(static_cast<float>(v.constant)));
      break;
    case ir::ValueKind::kParam:
      vbroadcastss(dst, dword[rdi + kArgsScalarsOffset + 4 * scalar_param_slot_.at(value)]);
      break;
    case ir::ValueKind::kInput:
      vbroadcastss(dst, dword[tensor_reg_.at(value)]);
      break;
    case ir::ValueKind::kOpResult: {
      auto carried = carried_.find(value);
      if (carried != carried_.end()) vbroadcastss(dst, Xmm(carried->second.getIdx()));
      else vbroadcastss(dst, frame_slot(value));
      break;
    }
  }
}

void KernelEmitter::store_scalar_result(ValueId value, const Xmm& src) {
  carried_.erase(value);  // a register copy from before this store is stale
  Xmm lane0(src.getIdx());
  vmovss(frame_slot(value), lane0);
  if (std::find(p_.outputs.begin(), p_.outputs.end(), value) != p_.outputs.end()) {
    vmovss(dword[tensor_reg_.at(value)], lane0);
  }
}

// The scalar ops run on xmm registers whatever the target's width: a per-row
// value needs one lane, and a 128-bit operation costs at most what a wider one
// does. On AVX-512 it costs less: a log-softmax's log of the row's sum, in
// zmm registers, made rows of 64 elements 6% slower on an Intel Xeon
// (docs/jit.md). Operands, result and the math scratch are the xmm halves of
// their registers, and the result leaves through lane 0 (store_scalar_result).
// No constant is pinned to a register yet, so every pool operand is memory.
void KernelEmitter::emit_scalar_ops(const ir::Sweep& sweep) {
  const MathScratch full_width = scratch_;
  scratch_ = MathScratch{{Xmm(full_width.vec[0].getIdx()), Xmm(full_width.vec[1].getIdx()),
                          Xmm(full_width.vec[2].getIdx())},
                         full_width.mask};
  for (int index : sweep.scalar_ops) {
    const ir::Op& op = p_.ops[static_cast<size_t>(index)];
    mark("once per row: " + op_statement(index));
    std::vector<Xmm> operands;
    for (ValueId v : op.operands) {
      Xmm reg(take_register().getIdx());
      load_scalar(reg, v);
      operands.push_back(reg);
    }
    Xmm dst(take_register().getIdx());
    emit_op(op, dst, operands);
    store_scalar_result(op.results[0], dst);
    free_register(dst);
    for (const Xmm& reg : operands) free_register(reg);
  }
  scratch_ = full_width;
}

}  // namespace rowjit::jit
