// A plan: how a pipeline is executed as sweeps over the row, and why. The
// planner (ir/planner.h) makes it; the JIT lowers it; `rowjit plan` prints it.
#pragma once

#include <algorithm>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "ir/pipeline.h"

namespace rowjit::ir {

// Schedule of the max + sum-of-exp core of a softmax-like pipeline.
enum class SoftmaxForm : uint8_t {
  kNone,                // no softmax core in this pipeline
  kThreePassRecompute,  // max; sum of exp; exp again and normalize
  kThreePassReload,     // max; exp stored to the output and summed; reload and normalize
  kTwoPassOnline,       // running max and rescaled sum in one sweep (Milakov and Gimelshein, 2018)
  kTwoPassExtExp,       // (mantissa, exponent) sums without a max (Dukhan and Ablavatski, 2020)
};

std::string_view softmax_form_name(SoftmaxForm form);
std::optional<SoftmaxForm> parse_softmax_form(std::string_view name);

// The softmax core found in a pipeline:
//   m = max(x); t = x - m [then * c or / c]; e = exp(t); s = sum(e)
struct SoftmaxCore {
  int max_op = -1;
  int shift_op = -1;   // t = x - m
  int scale_op = -1;   // optional: t' = t * c or t / c, with c a scalar
  int exp_op = -1;
  int sum_op = -1;
  ValueId x = kNoValue;
  ValueId scale = kNoValue;  // c, or kNoValue
  bool scale_divides = false;
  // y = e / s (or e * recip(s)) is the only use of e and s, and m has no other
  // use: the pipeline is a plain softmax, so the extended-exponent form applies.
  int normalize_op = -1;
  bool plain_softmax = false;
  // max(x) feeds only t = x - m and is not an output: a NaN that the max
  // misses still reaches every output through exp and the sum.
  bool max_feeds_shift_only = false;
  // exp reads a value <= 0: no scale, or a positive literal, or a parameter
  // bounded below by 0. The JIT then leaves out the overflow clamp of exp.
  bool exp_input_nonpositive = false;
};

// One loop over the row.
struct Sweep {
  std::vector<int> scalar_ops;     // per-row scalar ops evaluated once before the loop (log of a sum, ...)
  std::vector<int> ops;            // ops evaluated per element, in program order (recomputed ones included)
  std::vector<int> reductions;     // reductions that accumulate in this sweep and complete at its end
  std::vector<ValueId> loads;      // inputs read
  std::vector<ValueId> stores;     // outputs written
  std::vector<ValueId> spills;     // values written to an output buffer for a later sweep to reload
  std::vector<ValueId> reloads;    // values read back from where an earlier sweep spilled them
  bool online_softmax = false;     // this sweep also computes the softmax core's sum (two-pass online)
  bool extexp_sum = false;         // this sweep computes the extended-exponent sum
  bool extexp_scale = false;       // this sweep writes y = exp(x) / sum from the extended-exponent sum
  bool prefetch = false;           // its loads of Plan::prefetched_inputs prefetch Plan::prefetch_bytes ahead
};

// Rows of up to this many vectors can be held in registers across sweeps.
// The planner holds up to 16 zmm or 8 ymm vectors, half of each register file.
constexpr int kMaxResidentVectors = 16;
inline int default_max_resident_vectors(int vector_bits) { return vector_bits == 512 ? 16 : 8; }

// Maximum lanes of a main-loop step whose exps can be emitted together
// (Plan::exp_group): each needs its own AVX-512 opmask, k2 to k7.
constexpr int kMaxExpGroup = 6;

struct PlanChoices {
  std::optional<SoftmaxForm> softmax_form;
  std::optional<int> unroll;
  std::optional<bool> nontemporal_stores;
  std::optional<int> resident_vectors;  // 0: never; see Plan::resident_vectors
  std::optional<int> prefetch_bytes;    // 0: none; see Plan::prefetch_bytes
  std::optional<bool> blocked_exp;      // see Plan::blocked_exp
  std::optional<bool> speculative_max;  // see Plan::speculative_max
  std::optional<int> exp_group;         // 1: none; see Plan::exp_group

  bool operator==(const PlanChoices&) const = default;
};

// Blocks of a row that the blocked-exp form can hold the maxima and sums of
// in the kernel's stack frame (12 bytes each). Longer rows take the loops.
constexpr int kMaxExpBlocks = 1024;
// Main-loop iterations in the smallest block of the blocked-exp form.
constexpr int kExpBlockIterations = 64;
// Rows of more than this many elements take blocked exp by default (unless
// they are out of cache), for Plan::speculative_max.
constexpr int64_t kBlockedMinElements = 8192;
// How far a block's max may exceed the reference it took under
// Plan::speculative_max before the block runs again: exp(x - reference)
// then stays below e^8, as in the online form.
constexpr float kSpeculationMargin = 8.0f;

struct Plan {
  bool jit_supported = false;
  std::string unsupported_reason;  // the op or feature that sends this pipeline to the interpreter

  SoftmaxCore core;
  SoftmaxForm softmax_form = SoftmaxForm::kNone;
  std::vector<Sweep> sweeps;
  std::vector<ValueId> spill_buffer;  // for each value id: the output whose buffer receives its spill, or kNoValue
  // Divisions by a per-row scalar that write an output directly: lowered as a
  // multiplication by the reciprocal, computed once per row (at most 1.5 ulp
  // from the quotient instead of 0.5).
  std::vector<int> reciprocal_divides;

  int vector_bits = 0;
  int unroll = 1;             // vectors per main-loop iteration, each with its own accumulators
  // Lanes of a main-loop iteration whose softmax exps are emitted together,
  // one instruction over all lanes at a time (jit/emit_body.cpp); 1: one
  // vector after another. A divisor of the unroll, at most kMaxExpGroup. The
  // emitter lowers it where the free registers do not hold the group.
  int exp_group = 1;
  bool nontemporal_stores = false;
  // Bound for plans with regular stores, in bytes of one row tensor over a
  // call (rows x n x 4). A call above it takes the non-temporal copy of the
  // loops in sweeps that write their outputs once, because a batch of rows
  // that each fit in cache can still stream through the last-level cache.
  // The kernel compares at run time. 0: never.
  int64_t nontemporal_call_bytes = 0;
  // Rows of exactly this many vectors (n in ((v - 1) * lanes, v * lanes]) are
  // loaded once into registers and every sweep works there: no loops, no
  // reloads from memory. Other row lengths take the loops. 0: never.
  int resident_vectors = 0;
  // Each load of a row tensor in prefetched_inputs, in a sweep with
  // Sweep::prefetch, also prefetches the line this many bytes ahead (0: none).
  int prefetch_bytes = 0;
  // The row inputs that get a prefetch base register: the first ones, as many
  // as TargetDesc::tensor_registers leaves after the tensors.
  std::vector<ValueId> prefetched_inputs;
  // three_pass_reload of a plain softmax with the max and exp sweeps fused by
  // blocks: each block's max, then exp(x - block max) written to y and summed
  // while the block is in L1, so x is read from memory once. The last sweep
  // scales each block by exp(block max - max) / sum. For three_pass_recompute
  // of a log-softmax the middle sweep sums. Where y = (x - max) - log(sum), it
  // also writes x - block max into y, and the last sweep subtracts
  // (max - block max) + log(sum) from each block.
  bool blocked_exp = false;
  // Blocked exp without the max pass for blocks after the first: each block
  // takes the max of the row so far as its reference, and its exp sweep also
  // finds the block's max. A block whose max exceeds the reference by more
  // than kSpeculationMargin runs again with its max as the reference. Rows
  // computed in place keep the max pass in every block. The online sweep of
  // two_pass_online does the same with its per-lane references, where that
  // sweep has no other reduction or store to repeat.
  bool speculative_max = false;
  int64_t n_hint = 0;         // row length the choices were made for (0: unknown)
  std::vector<std::string> reasons;  // one line per choice, for `rowjit plan`

  double bytes_per_element = 0;  // memory traffic per row element, all sweeps
};

// Returns the largest divisor of `unroll` of at most `limit` lanes, the
// widest exp group that a main loop of that unroll can take.
inline int widest_exp_group(int unroll, int limit = kMaxExpGroup) {
  int widest = 1;
  for (int lanes = 2; lanes <= std::min(unroll, limit); ++lanes) {
    if (unroll % lanes == 0) widest = lanes;
  }
  return widest;
}

// True if sweep `index` of `plan` writes row outputs that no later sweep
// reloads: its stores are final, so they may bypass the caches.
inline bool stores_are_final(const Plan& plan, size_t index) {
  if (plan.sweeps[index].stores.empty()) return false;
  for (size_t later = index + 1; later < plan.sweeps.size(); ++later) {
    if (!plan.sweeps[later].reloads.empty()) return false;
  }
  return true;
}

// True if `plan` has a softmax exp of x - max(x), the exp that exp groups
// emit together (the extended-exponent form has none).
inline bool has_groupable_exp(const Plan& plan) {
  return plan.core.exp_op >= 0 && plan.core.exp_input_nonpositive &&
         plan.softmax_form != SoftmaxForm::kTwoPassExtExp;
}

}  // namespace rowjit::ir
