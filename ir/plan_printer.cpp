#include <algorithm>
#include <sstream>

#include "ir/planner.h"
#include "ir/printer.h"

namespace rowjit::ir {
namespace {

std::string names(const Pipeline& p, const std::vector<ValueId>& ids) {
  if (ids.empty()) return "-";
  std::string out;
  for (ValueId id : ids) out += (out.empty() ? "" : ", ") + p.display_name(id);
  return out;
}

}  // namespace

std::string print_plan(const Pipeline& p, const Plan& plan) {
  std::ostringstream out;
  const std::vector<std::string> statements = print_ops(p);
  out << "plan for '" << p.name << "'";
  if (plan.n_hint > 0) out << " at n = " << plan.n_hint;
  out << "\n";
  if (!plan.jit_supported) out << "  runs on: reference interpreter (" << plan.unsupported_reason << ")\n";
  else out << "  runs on: JIT, " << plan.vector_bits << "-bit vectors, unroll " << plan.unroll << "\n";
  out << "  softmax form: " << softmax_form_name(plan.softmax_form) << "\n";
  out << "  sweeps: " << plan.sweeps.size() << ", " << plan.bytes_per_element << " bytes per element\n";
  bool writes_rows = writes_row_output(p);
  out << "  stores: " << (!writes_rows ? "none (the pipeline writes no row)"
                          : plan.nontemporal_stores ? "non-temporal" : "regular");
  if (writes_rows && !plan.nontemporal_stores && plan.nontemporal_call_bytes > 0) {
    out << " (non-temporal in calls of more than " << plan.nontemporal_call_bytes / 4 << " elements per row tensor)";
  }
  out << "\n";
  for (size_t s = 0; s < plan.sweeps.size(); ++s) {
    const Sweep& sweep = plan.sweeps[s];
    out << "  sweep " << s;
    if (sweep.online_softmax) out << " (online max and sum of exp)";
    if (sweep.extexp_sum) out << " (sum of exp as mantissa and exponent)";
    if (sweep.extexp_scale) out << " (exp scaled by the reciprocal of the sum)";
    out << "\n";
    out << "    reads: " << names(p, sweep.loads);
    if (!sweep.reloads.empty()) out << "; reloads: " << names(p, sweep.reloads);
    out << "\n    writes: " << names(p, sweep.stores);
    if (!sweep.spills.empty()) out << "; spills: " << names(p, sweep.spills);
    out << "\n";
    if (sweep.prefetch) {
      std::vector<ValueId> prefetched;
      for (ValueId v : sweep.loads) {
        auto& inputs = plan.prefetched_inputs;
        if (std::find(inputs.begin(), inputs.end(), v) != inputs.end()) prefetched.push_back(v);
      }
      out << "    prefetches: " << names(p, prefetched) << ", " << plan.prefetch_bytes << " bytes ahead\n";
    }
    for (int i : sweep.scalar_ops) out << "    once per row: " << statements[static_cast<size_t>(i)] << "\n";
    for (int i : sweep.ops) out << "    per element: " << statements[static_cast<size_t>(i)] << "\n";
    for (int i : sweep.reductions) out << "    reduction: " << statements[static_cast<size_t>(i)] << "\n";
  }
  out << "  choices:\n";
  for (const std::string& reason : plan.reasons) out << "    " << reason << "\n";
  return out.str();
}

}  // namespace rowjit::ir
