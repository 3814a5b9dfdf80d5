// Selection and index ops: topk, group_mask, gather and one_hot.
#include <algorithm>
#include <limits>
#include <numeric>

#include "ir/interpret_ops.h"

namespace rowjit::ir::interpret_detail {
namespace {

// Indices of the `count` best elements of x in the topk order, best first.
std::vector<int64_t> best_indices(const std::vector<double>& x, int64_t count) {
  std::vector<int64_t> order(x.size());
  std::iota(order.begin(), order.end(), int64_t{0});
  auto before = [&x](int64_t a, int64_t b) {
    return ranks_before(x[static_cast<size_t>(a)], a, x[static_cast<size_t>(b)], b);
  };
  std::partial_sort(order.begin(), order.begin() + count, order.end(), before);
  order.resize(static_cast<size_t>(count));
  return order;
}

Status evaluate_topk(const Op& op, RowContext& context) {
  const RowValues& x = context.operand(op, 0);
  RowValues& values = context.result(op, 0);
  RowValues& indices = context.result(op, 1);
  auto k = static_cast<int64_t>(values.size());
  auto length = static_cast<int64_t>(x.size());
  if (k > length) {
    return out_of_range(context.row, "topk: k = " + std::to_string(k) + " exceeds the length " +
                                         std::to_string(length) + " of '" +
                                         context.pipeline.display_name(op.operands[0]) +
                                         "'; k must be at most the number of elements");
  }
  std::vector<int64_t> best = best_indices(x, k);
  for (size_t j = 0; j < best.size(); ++j) {
    values[j] = x[static_cast<size_t>(best[j])];
    indices[j] = static_cast<double>(best[j]);
  }
  return Status::ok();
}

// Score of one group: its largest element, or the f32 sum of its two largest
// (top2_sum), both in the topk order, so a NaN element makes the score NaN.
double group_score(const double* group, int64_t size, bool top2_sum) {
  std::vector<double> elements(group, group + size);
  std::vector<int64_t> best = best_indices(elements, top2_sum ? 2 : 1);
  if (!top2_sum) return elements[static_cast<size_t>(best[0])];
  return static_cast<float>(elements[static_cast<size_t>(best[0])]) +
         static_cast<float>(elements[static_cast<size_t>(best[1])]);
}

Status evaluate_group_mask(const Op& op, RowContext& context) {
  const RowValues& x = context.operand(op, 0);
  RowValues& out = context.result(op);
  int64_t groups = attr_int(op, "groups").value_or(1);
  int64_t keep = attr_int(op, "keep").value_or(1);
  // NOTE: docs/ir.md gives no default score; without the attribute the
  // interpreter scores by max, which works for every group size.
  bool top2_sum = attr_word(op, "score").value_or("max") == "top2_sum";
  auto n = static_cast<int64_t>(x.size());
  if (n % groups != 0) {
    return out_of_range(context.row, "group_mask: n = " + std::to_string(n) + " is not a multiple of groups = " +
                                         std::to_string(groups) + "; the groups must have equal sizes");
  }
  if (n == 0) return Status::ok();
  int64_t group_size = n / groups;
  if (top2_sum && group_size < 2) {
    return out_of_range(context.row, "group_mask: score=top2_sum needs groups of at least 2 elements, but n = " +
                                         std::to_string(n) + " and groups = " + std::to_string(groups) +
                                         " give groups of 1; use score=max");
  }

  std::vector<double> scores(static_cast<size_t>(groups));
  for (int64_t g = 0; g < groups; ++g) scores[static_cast<size_t>(g)] = group_score(&x[g * group_size], group_size, top2_sum);
  std::vector<bool> kept(static_cast<size_t>(groups), false);
  for (int64_t g : best_indices(scores, keep)) kept[static_cast<size_t>(g)] = true;

  for (int64_t i = 0; i < n; ++i) {
    bool in_kept_group = kept[static_cast<size_t>(i / group_size)];
    out[static_cast<size_t>(i)] = in_kept_group ? x[static_cast<size_t>(i)] : -std::numeric_limits<double>::infinity();
  }
  return Status::ok();
}

Status evaluate_gather(const Op& op, RowContext& context) {
  const RowValues& source = context.operand(op, 0);
  OperandReader index = read_operand(context, op, 1, ElemType::kS32);
  RowValues& out = context.result(op);
  auto length = static_cast<int64_t>(source.size());
  bool indices_are_vector = !context.operand_value(op, 1).type.shape.is_scalar();
  for (size_t j = 0; j < out.size(); ++j) {
    auto i = static_cast<int64_t>(index[static_cast<int64_t>(j)]);
    if (i < 0 || i >= length) {
      std::string position = indices_are_vector ? " (element " + std::to_string(j) + " of the indices)" : "";
      return out_of_range(context.row, "gather index " + std::to_string(i) + position + " is outside '" +
                                           context.pipeline.display_name(op.operands[0]) + "' of length " +
                                           std::to_string(length) + "; valid indices are 0 to length - 1");
    }
    out[j] = source[static_cast<size_t>(i)];
  }
  return Status::ok();
}

Status evaluate_one_hot(const Op& op, RowContext& context) {
  OperandReader index = read_operand(context, op, 0, ElemType::kS32);
  RowValues& out = context.result(op);
  auto i = static_cast<int64_t>(index[0]);
  auto n = static_cast<int64_t>(out.size());
  if (i < 0 || i >= n) {
    return out_of_range(context.row, "one_hot index " + std::to_string(i) + " is outside the row of length n = " +
                                         std::to_string(n) + "; valid indices are 0 to n - 1");
  }
  std::fill(out.begin(), out.end(), 0.0);
  out[static_cast<size_t>(i)] = 1.0;
  return Status::ok();
}

}  // namespace

Status evaluate_selection(const Op& op, RowContext& context) {
  switch (op.kind) {
    case OpKind::kTopK: return evaluate_topk(op, context);
    case OpKind::kGroupMask: return evaluate_group_mask(op, context);
    case OpKind::kGather: return evaluate_gather(op, context);
    case OpKind::kOneHot: return evaluate_one_hot(op, context);
    default:
      return {StatusCode::kInternal,
              "op '" + std::string(op_info(op.kind).name) + "' is not a selection op of the interpreter"};
  }
}

}  // namespace rowjit::ir::interpret_detail
