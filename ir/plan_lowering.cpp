// The planner's choices of how the sweeps become loops: the unroll, rows held
// in registers, non-temporal stores, prefetching and exp groups. Each comes
// from the row length and the target's caches unless forced. A forced value
// that cannot apply is an error that gives the reason.
#include <algorithm>
#include <set>

#include "ir/planner.h"
#include "ir/planner_internal.h"

namespace rowjit::ir::planning {
namespace {

// Chooses the inputs and sweeps that prefetch (Plan::prefetched_inputs,
// Sweep::prefetch), and returns whether only exp sweeps do. A row streamed
// from memory prefetches in every sweep that reads it. A row in cache
// prefetches only in the sweeps that compute an exp, which in a batch brings
// the next rows in while exp keeps the core busy. In the max sweep, which runs
// at the speed of its loads, a batch's prefetches stalled it instead. On an
// Intel Xeon (family 6 model 167), in a timing loop, 1024 log-softmax rows of
// 4096 elements took 0.378 ns per element with prefetches in every sweep and
// 0.288 with them in the exp sweep only. Without an exp sweep every sweep
// prefetches. Blocked exp emits no sweep 0: its max passes run in the block
// loop of sweep 1.
bool set_prefetching(const Pipeline& p, const TargetDesc& target, Plan& plan, bool out_of_cache) {
  plan.prefetched_inputs.clear();
  for (Sweep& sweep : plan.sweeps) sweep.prefetch = false;
  if (!plan.jit_supported || plan.prefetch_bytes == 0) return false;

  // The tensors take registers as in the kernel's layout: every input but a
  // scalar parameter, and every output.
  int tensors = static_cast<int>(p.outputs.size());
  for (ValueId v : p.inputs) tensors += p.value(v).kind == ValueKind::kInput || !p.value(v).type.shape.is_scalar();
  int spare = target.tensor_registers - tensors;
  for (ValueId v : p.inputs) {
    if (spare <= 0) break;
    if (p.value(v).type.shape.kind != Shape::Kind::kRow) continue;
    plan.prefetched_inputs.push_back(v);
    --spare;
  }

  auto computes_exp = [&](const Sweep& sweep) {
    return sweep.online_softmax || sweep.extexp_sum || sweep.extexp_scale ||
           std::any_of(sweep.ops.begin(), sweep.ops.end(),
                       [&](int op) { return p.ops[static_cast<size_t>(op)].kind == OpKind::kExp; });
  };
  auto prefetches_input = [&](const Sweep& sweep) {
    return std::any_of(sweep.loads.begin(), sweep.loads.end(), [&](ValueId v) {
      return std::find(plan.prefetched_inputs.begin(), plan.prefetched_inputs.end(), v) != plan.prefetched_inputs.end();
    });
  };
  bool exp_sweeps_only = !out_of_cache && std::any_of(plan.sweeps.begin(), plan.sweeps.end(), computes_exp);
  for (size_t s = 0; s < plan.sweeps.size(); ++s) {
    Sweep& sweep = plan.sweeps[s];
    bool emitted = !(plan.blocked_exp && s == 0);
    sweep.prefetch = emitted && prefetches_input(sweep) && (!exp_sweeps_only || computes_exp(sweep));
  }
  return exp_sweeps_only;
}

}  // namespace

Status choose_unroll(const PlanContext& context, Plan& plan) {
  const TargetDesc& target = context.target;
  const int64_t n_hint = context.n_hint;
  const PlanChoices& choices = context.choices;

  // Short rows (router logits) are dominated by the cost per row: measured at
  // n = 64 on AVX-512, one vector per iteration was 1.2x faster than four.
  bool short_row = n_hint > 0 && target.vector_bits > 0 && n_hint <= 8 * target.lanes();
  plan.unroll = choices.unroll.value_or(short_row ? 1 : 4);
  if (plan.unroll < 1 || plan.unroll > 8) {
    return Status(StatusCode::kInvalidArgument,
                  "unroll " + std::to_string(plan.unroll) + " is out of range; use 1 to 8 vectors per iteration");
  }
  std::string unroll_reason = choices.unroll ? ": forced"
                              : short_row    ? ": a row of at most 8 vectors costs its per-row overhead, not its loop"
                                             : ": four independent accumulators hide the latency of max and add";
  plan.reasons.push_back("unroll " + std::to_string(plan.unroll) + unroll_reason);
  return Status::ok();
}

Status choose_resident_rows(const PlanContext& context, Plan& plan) {
  const TargetDesc& target = context.target;
  const int64_t n_hint = context.n_hint;
  const PlanChoices& choices = context.choices;
  const SoftmaxForm form = plan.softmax_form;

  // A short row is loaded into registers once and every sweep works there.
  // The two-pass forms exist to read memory less, which a resident row does
  // not, so residency goes with the three-pass forms and pipelines without a
  // softmax core.
  bool resident_form = form == SoftmaxForm::kNone || form == SoftmaxForm::kThreePassRecompute ||
                       form == SoftmaxForm::kThreePassReload;
  int lanes = target.vector_bits > 0 ? target.lanes() : 0;
  int64_t row_vectors = lanes > 0 && n_hint > 0 ? (n_hint + lanes - 1) / lanes : 0;
  if (choices.resident_vectors) {
    int v = *choices.resident_vectors;
    if (v < 0 || v > kMaxResidentVectors) {
      return Status(StatusCode::kInvalidArgument, "resident_vectors " + std::to_string(v) +
                                                      " is out of range; use 0 (never) to " +
                                                      std::to_string(kMaxResidentVectors));
    }
    if (v > 0 && !resident_form) {
      return Status(StatusCode::kInvalidArgument,
                    "cannot hold rows in registers with softmax form " + std::string(softmax_form_name(form)) +
                        ": resident rows go with three_pass_recompute, three_pass_reload or no softmax core");
    }
    plan.resident_vectors = v;
    if (v > 0) plan.reasons.push_back("rows of " + std::to_string(v) + " vectors held in registers: forced");
  } else if (plan.jit_supported && resident_form && row_vectors >= 1 &&
             row_vectors <= default_max_resident_vectors(target.vector_bits)) {
    plan.resident_vectors = static_cast<int>(row_vectors);
    plan.reasons.push_back("rows of " + std::to_string(row_vectors) +
                           " vectors held in registers: loaded once, no loops, no reloads (other lengths take the "
                           "loops)");
  }
  // A resident row reads each input and writes each output once.
  if (plan.resident_vectors > 0 && n_hint > 0 && n_hint <= int64_t{plan.resident_vectors} * lanes) {
    std::set<ValueId> touched;
    for (const Sweep& sweep : plan.sweeps) {
      touched.insert(sweep.loads.begin(), sweep.loads.end());
      touched.insert(sweep.stores.begin(), sweep.stores.end());
    }
    plan.bytes_per_element = 4.0 * static_cast<double>(touched.size());
  }
  return Status::ok();
}

void choose_nontemporal_stores(const PlanContext& context, Plan& plan) {
  const Pipeline& p = context.p;
  const TargetDesc& target = context.target;
  const PlanChoices& choices = context.choices;

  // Non-temporal stores skip the read for ownership of each output line, a
  // third less traffic for a two-pass softmax. They are several times slower
  // when the row would have stayed in cache, so they go with rows whose
  // tensors together exceed half the last-level cache.
  int64_t working_set = context.row_bytes * context.row_tensor_count;
  bool large = context.out_of_cache;
  plan.nontemporal_stores = choices.nontemporal_stores.value_or(large);
  bool writes_rows = writes_row_output(p);
  if (choices.nontemporal_stores) {
    plan.reasons.push_back(std::string("non-temporal stores ") + (plan.nontemporal_stores ? "on" : "off") +
                           ": forced" + (writes_rows ? "" : ", but the pipeline writes no row, so nothing streams"));
  } else if (large) {
    plan.reasons.push_back("non-temporal stores on: the row's tensors (" + std::to_string(working_set) +
                           " bytes) exceed half the last-level cache of " + std::to_string(target.llc_bytes) +
                           " bytes; rows whose outputs are not aligned to the vector width use regular stores");
  }
}

Status choose_prefetch(const PlanContext& context, Plan& plan) {
  const Pipeline& p = context.p;
  const TargetDesc& target = context.target;
  const PlanChoices& choices = context.choices;
  const bool out_of_cache = context.out_of_cache;

  // Software prefetch for rows that stream from beyond the caches. In a
  // separate timing program on AVX-512 (Zen 5; docs/benchmarks.md), the online
  // form's first sweep went from 0.13 (4M) and 0.15 (32M) ns per element to
  // 0.10 with 16 KiB.
  //
  // Blocked exp prefetches one smallest block ahead, so that the next block
  // arrives in L1 during the current block's exp and its max pass reads it
  // from there. The same program measured 256K-element rows at 0.128 to
  // 0.135 ns per element with it against 0.148 to 0.152 without (8 KiB and
  // 32 KiB were slower than 16 KiB, the smallest AVX-512 block).
  //
  // Rows in cache prefetch 16 KiB ahead too, which in a batch brings the
  // next rows in during the current one (1024 log-softmax rows of 4096
  // elements: 0.254 to 0.220 ns per element). A short last row gives up its prefetches
  // past the end at run time (emit_prefetch_bases in jit/kernel_emitter.cpp).
  int block_bytes = kExpBlockIterations * plan.unroll * plan.vector_bits / 8;
  int default_prefetch = plan.blocked_exp ? block_bytes : 16384;
  plan.prefetch_bytes = choices.prefetch_bytes.value_or(default_prefetch);
  if (plan.prefetch_bytes < 0 || plan.prefetch_bytes > (1 << 20)) {
    return Status(StatusCode::kInvalidArgument, "prefetch distance " + std::to_string(plan.prefetch_bytes) +
                                                    " bytes is out of range; use 0 (none) to 1048576");
  }
  bool exp_sweeps_only = set_prefetching(p, target, plan, context.out_of_cache);
  std::string where = exp_sweeps_only ? " bytes ahead in the sweeps that compute exp" : " bytes ahead";
  // The copy of the kernel for resident rows prefetches in one sweep: the
  // rows ahead need their lines fetched once.
  auto prefetching = std::count_if(plan.sweeps.begin(), plan.sweeps.end(), [](const Sweep& s) { return s.prefetch; });
  if (plan.resident_vectors > 0 && prefetching > 1) where += kResidentPrefetchNote;
  if (!plan.jit_supported) {
    // The interpreter prefetches nothing.
  } else if (choices.prefetch_bytes) {
    plan.reasons.push_back("prefetch " + std::to_string(plan.prefetch_bytes) + where + ": forced");
  } else if (plan.blocked_exp) {
    plan.reasons.push_back("prefetch " + std::to_string(plan.prefetch_bytes) + where +
                           ": one block of blocked exp, so that the next block is in L1 when its " +
                           (plan.speculative_max ? "exp pass" : "max pass") + " starts");
  } else if (out_of_cache) {
    plan.reasons.push_back("prefetch " + std::to_string(plan.prefetch_bytes) + where +
                           ": the row streams from memory, and the hardware prefetcher alone "
                           "leaves the exp loops waiting for it");
  } else {
    plan.reasons.push_back("prefetch " + std::to_string(plan.prefetch_bytes) + where +
                           ": the rows of a batch arrive before their loads, and the last row of a call shorter "
                           "than 64 KiB prefetches only what it loads");
  }
  size_t row_inputs = static_cast<size_t>(std::count_if(
      p.inputs.begin(), p.inputs.end(), [&](ValueId v) { return p.value(v).type.shape.kind == Shape::Kind::kRow; }));
  size_t prefetched = plan.prefetched_inputs.size();
  if (plan.prefetch_bytes > 0 && plan.jit_supported && prefetched < row_inputs) {
    const std::string cause = ": the tensor pointers leave no other register for a prefetch base";
    if (prefetched == 0) {
      plan.reasons.push_back("no row input is prefetched" + cause);
    } else if (prefetched == 1) {
      plan.reasons.push_back("prefetches only the first row input" + cause);
    } else {
      plan.reasons.push_back("prefetches only the first " + std::to_string(prefetched) + " row inputs" + cause);
    }
  }
  return Status::ok();
}

Status choose_exp_group(const PlanContext& context, Plan& plan) {
  const Pipeline& p = context.p;
  const TargetDesc& target = context.target;
  const PlanChoices& choices = context.choices;
  const SoftmaxCore* core = context.core;
  const bool out_of_cache = context.out_of_cache;

  // Exp groups (Plan::exp_group), measured in bench/softmax_bench against
  // exp_group 1 (docs/benchmarks.md): AVX-512 rows in cache 2 to 5% faster
  // with the four lanes of a step together. On AVX2, groups of four take
  // every register that held a constant and were 9% slower at 1K; groups of
  // two were 3% faster at 16K. Rows streamed from memory were up to 10%
  // slower with groups (32M, non-temporal stores), for reasons not found.
  // On Zen 4, which splits each zmm operation in two, blocked-exp rows of 16K
  // and 256K were 5 and 8% slower with groups of four, and 1 to 3% slower
  // with groups of two. Other shapes were within 2% (docs/benchmarks.md).
  bool groupable_exp = has_groupable_exp(plan);
  bool split_zmm = target.vector_bits == 512 && target.split_zmm;
  int widest = widest_exp_group(plan.unroll, target.vector_bits == 512 ? kMaxExpGroup : 2);
  int default_group = groupable_exp && !out_of_cache && !split_zmm ? widest : 1;
  plan.exp_group = choices.exp_group.value_or(default_group);
  if (plan.exp_group > 1 && !groupable_exp) {
    return Status(StatusCode::kInvalidArgument,
                  "exp group " + std::to_string(plan.exp_group) + " does not apply: pipeline '" + p.name +
                      "' has no softmax exp of x - max(x) to group under " +
                      (core ? "the form " + std::string(softmax_form_name(plan.softmax_form)) : "its plan") +
                      "; use exp group 1 or leave it to the planner");
  }
  if (plan.exp_group < 1 || plan.exp_group > kMaxExpGroup || plan.unroll % plan.exp_group != 0) {
    // The sizes the emitter can take: divisors of the unroll up to kMaxExpGroup.
    std::vector<int> group_sizes;
    for (int lanes = 1; lanes <= std::min(plan.unroll, kMaxExpGroup); ++lanes) {
      if (plan.unroll % lanes == 0) group_sizes.push_back(lanes);
    }
    std::string sizes;
    for (size_t i = 0; i < group_sizes.size(); ++i) {
      sizes += (i == 0 ? "" : i + 1 == group_sizes.size() ? " or " : ", ") + std::to_string(group_sizes[i]);
    }
    return Status(StatusCode::kInvalidArgument,
                  "exp group " + std::to_string(plan.exp_group) + " does not fit unroll " +
                      std::to_string(plan.unroll) + ": a group is a divisor of the unroll of at most " +
                      std::to_string(kMaxExpGroup) + " lanes; use " + sizes);
  }
  if (choices.exp_group) {
    plan.reasons.push_back((plan.exp_group == 1 ? std::string("exps one vector at a time")
                                                : "exps in groups of " + std::to_string(plan.exp_group)) +
                           ": forced");
  } else if (groupable_exp && plan.exp_group == 1 && split_zmm) {
    plan.reasons.push_back(
        "exps one vector at a time: this CPU runs each 512-bit operation as two halves, where groups were slower");
  } else if (groupable_exp && plan.exp_group == 1 && out_of_cache) {
    plan.reasons.push_back("exps one vector at a time: the row streams from memory, where groups were slower");
  } else if (groupable_exp && plan.exp_group > 1) {
    plan.reasons.push_back("exps in groups of " + std::to_string(plan.exp_group) +
                           ": the lanes' exp chains side by side in the code, where the registers hold them");
  }
  return Status::ok();
}

void choose_streaming_calls(const PlanContext& context, Plan& plan) {
  const TargetDesc& target = context.target;
  const PlanChoices& choices = context.choices;

  // The bound for streaming applied to a whole call and checked by the kernel
  // at run time. It needs a sweep that reloads nothing and writes outputs that
  // no later sweep reloads. Blocked exp keeps its outputs in cache.
  bool streamable_sweep = false;
  for (size_t s = 0; s < plan.sweeps.size(); ++s) {
    streamable_sweep = streamable_sweep || (stores_are_final(plan, s) && plan.sweeps[s].reloads.empty());
  }
  if (plan.jit_supported && !choices.nontemporal_stores && !plan.nontemporal_stores && !plan.blocked_exp &&
      streamable_sweep && context.row_tensor_count > 0) {
    plan.nontemporal_call_bytes = target.llc_bytes / 2 / context.row_tensor_count;
    plan.reasons.push_back("non-temporal stores in calls whose row tensors exceed half the last-level cache of " +
                           std::to_string(target.llc_bytes) + " bytes (rows x n above " +
                           std::to_string(plan.nontemporal_call_bytes / 4) +
                           "), in the sweep that writes the outputs; regular stores otherwise");
  }
}

}  // namespace rowjit::ir::planning
