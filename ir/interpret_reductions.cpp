// Reductions over the row (max, min, sum, absmax, mean, var, argmax) and over
// blocks of B elements (block_max, block_sum, block_absmax, block_maxmag).
#include <algorithm>
#include <cmath>
#include <limits>

#include "ir/interpret_ops.h"

namespace rowjit::ir::interpret_detail {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

double round_to_f32(double x) { return static_cast<float>(x); }

// Largest element; NaN if any element is NaN; -0 orders below +0; -inf if empty.
double reduce_max(const double* x, int64_t count) {
  double best = -kInf;
  for (int64_t i = 0; i < count; ++i) {
    if (std::isnan(x[i])) return x[i];
    if (x[i] > best || (x[i] == best && !std::signbit(x[i]))) best = x[i];
  }
  return best;
}

// Smallest element; NaN if any element is NaN; -0 orders below +0; +inf if empty.
double reduce_min(const double* x, int64_t count) {
  double best = kInf;
  for (int64_t i = 0; i < count; ++i) {
    if (std::isnan(x[i])) return x[i];
    if (x[i] < best || (x[i] == best && std::signbit(x[i]))) best = x[i];
  }
  return best;
}

// Sum accumulated in double (in index order) and rounded once to f32.
double reduce_sum(const double* x, int64_t count) {
  double sum = 0;
  for (int64_t i = 0; i < count; ++i) sum += x[i];
  return round_to_f32(sum);
}

// Largest magnitude; NaN propagates; 0 if empty.
double reduce_absmax(const double* x, int64_t count) {
  double best = 0;
  for (int64_t i = 0; i < count; ++i) {
    if (std::isnan(x[i])) return std::fabs(x[i]);
    best = std::fmax(best, std::fabs(x[i]));
  }
  return best;
}

// The element of largest magnitude with its sign, the first one on ties (so
// -0 before a later +0); NaN propagates; 0 if empty.
double reduce_maxmag(const double* x, int64_t count) {
  double best = 0;
  double best_magnitude = -1;
  for (int64_t i = 0; i < count; ++i) {
    if (std::isnan(x[i])) return x[i];
    if (std::fabs(x[i]) > best_magnitude) {
      best = x[i];
      best_magnitude = std::fabs(x[i]);
    }
  }
  return best;
}

double reduce_mean(const double* x, int64_t count) {
  if (count == 0) return kNaN;
  double sum = 0;
  for (int64_t i = 0; i < count; ++i) sum += x[i];
  return round_to_f32(sum / static_cast<double>(count));
}

// Population variance in two passes, both in double: the mean, then the mean
// of the squared deviations from it.
double reduce_var(const double* x, int64_t count) {
  if (count == 0) return kNaN;
  double sum = 0;
  for (int64_t i = 0; i < count; ++i) sum += x[i];
  double mean = sum / static_cast<double>(count);
  double squares = 0;
  for (int64_t i = 0; i < count; ++i) squares += (x[i] - mean) * (x[i] - mean);
  return round_to_f32(squares / static_cast<double>(count));
}

using BlockReducer = double (*)(const double*, int64_t);

BlockReducer block_reducer(OpKind kind) {
  switch (kind) {
    case OpKind::kBlockMax: return reduce_max;
    case OpKind::kBlockSum: return reduce_sum;
    case OpKind::kBlockAbsMax: return reduce_absmax;
    default: return reduce_maxmag;
  }
}

Status evaluate_argmax(const Op& op, RowContext& context) {
  const RowValues& x = context.operand(op, 0);
  if (x.empty()) {
    return out_of_range(context.row, "argmax of '" + context.pipeline.display_name(op.operands[0]) +
                                         "', which is empty; argmax needs at least one element");
  }
  int64_t best = 0;
  for (int64_t i = 1; i < static_cast<int64_t>(x.size()); ++i) {
    // NOTE: -0 and +0 tie here (the topk order), so argmax(x) equals the index
    // of topk(x, k=1), although max() orders -0 below +0.
    if (ranks_before(x[static_cast<size_t>(i)], i, x[static_cast<size_t>(best)], best)) best = i;
  }
  context.result(op)[0] = static_cast<double>(best);
  return Status::ok();
}

}  // namespace

Status evaluate_reduction(const Op& op, RowContext& context) {
  const RowValues& x = context.operand(op, 0);
  auto count = static_cast<int64_t>(x.size());
  RowValues& out = context.result(op);

  switch (op.kind) {
    case OpKind::kReduceMax: out[0] = reduce_max(x.data(), count); return Status::ok();
    case OpKind::kReduceMin: out[0] = reduce_min(x.data(), count); return Status::ok();
    case OpKind::kReduceSum: out[0] = reduce_sum(x.data(), count); return Status::ok();
    case OpKind::kReduceAbsMax: out[0] = reduce_absmax(x.data(), count); return Status::ok();
    case OpKind::kReduceMean: out[0] = reduce_mean(x.data(), count); return Status::ok();
    case OpKind::kReduceVar: out[0] = reduce_var(x.data(), count); return Status::ok();
    case OpKind::kArgMax: return evaluate_argmax(op, context);
    case OpKind::kBlockMax:
    case OpKind::kBlockSum:
    case OpKind::kBlockAbsMax:
    case OpKind::kBlockMaxMag: {
      int64_t block = attr_int(op, "block").value_or(1);
      BlockReducer reduce = block_reducer(op.kind);
      for (size_t b = 0; b < out.size(); ++b) {
        int64_t begin = static_cast<int64_t>(b) * block;
        int64_t length = std::min(block, count - begin);  // the last block may be partial
        out[b] = reduce(x.data() + begin, length);
      }
      return Status::ok();
    }
    default:
      return {StatusCode::kInternal,
              "op '" + std::string(op_info(op.kind).name) + "' is not a reduction of the interpreter"};
  }
}

}  // namespace rowjit::ir::interpret_detail
