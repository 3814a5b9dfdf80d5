// Independent double-precision formulas for the example pipelines, each with an
// error bound for the f32 result the interpreter computes. They are written
// from the definitions (docs/ir.md and the sources cited in examples/), not
// from the interpreter, so a test that compares the two checks both.
//
// Error model, shared by every bound below: each f32 op of a pipeline rounds
// once to nearest, so it adds a relative error of at most u = 2^-24, and the
// reductions sum, mean and var round once after accumulating in double. An
// error e in an argument a of exp becomes a relative error e in exp(a). The
// bounds add those terms to first order and then multiply by kMargin = 2, which
// covers the second-order terms and math functions that are evaluated in double
// and then rounded, whose error is at most u * (1 + 2^-28).
#pragma once

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <limits>
#include <numeric>
#include <vector>

namespace rowjit::testing::ref {

inline constexpr double kRoundoff = 0x1p-24;
inline constexpr double kMargin = 2;
// Absolute slack for results in the subnormal range, where a relative bound
// does not hold: 8 units of the smallest subnormal.
inline constexpr double kSubnormalSlack = 0x1p-146;
inline constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
inline constexpr double kInf = std::numeric_limits<double>::infinity();

// An exact result and the largest distance the f32 result may have from it.
// A NaN or infinite value must be matched exactly.
struct Expected {
  double value = 0;
  double tolerance = 0;
};

// Max of a row: NaN if any element is NaN, -inf for an empty row.
inline double row_max(const std::vector<double>& values) {
  double m = -kInf;
  for (double v : values) {
    if (std::isnan(v)) return kNaN;
    m = std::max(m, v);
  }
  return m;
}

inline std::vector<double> widen(const std::vector<float>& values) { return {values.begin(), values.end()}; }

// Order of topk and argmax: NaN above everything, then larger value first, then
// lower index first (-0 and +0 are equal).
inline bool ranks_before(double a, size_t ia, double b, size_t ib) {
  if (std::isnan(a) != std::isnan(b)) return std::isnan(a);
  if (!std::isnan(a) && a != b) return a > b;
  return ia < ib;
}

// Indices of the k first elements of `values` in the order above.
inline std::vector<int32_t> topk_indices(const std::vector<double>& values, size_t k) {
  std::vector<size_t> order(values.size());
  std::iota(order.begin(), order.end(), size_t{0});
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t i, size_t j) { return ranks_before(values[i], i, values[j], j); });
  return {order.begin(), order.begin() + static_cast<std::ptrdiff_t>(k)};
}

// Softmax of exact arguments a_j <= 0 (the row max already subtracted), where
// the pipeline's computed arguments differ from a_j by at most arg_error[j].
// Bound: e_j = exp(a_j) carries relative error arg_error[j] + u. The sum of the
// e_j carries their p-weighted error plus u, and the division adds u. So
// |y_j - p_j| <= (arg_error[j] + sum_i p_i arg_error[i] + 4u) * p_j.
inline std::vector<Expected> softmax_from_arguments(const std::vector<double>& a, std::vector<double> arg_error) {
  std::vector<Expected> out(a.size());
  for (double v : a) {
    if (std::isnan(v)) {
      for (auto& e : out) e = {kNaN, 0};
      return out;
    }
  }
  double sum = 0;
  for (double v : a) sum += std::exp(v);
  double weighted_error = 0;
  for (size_t j = 0; j < a.size(); ++j) {
    // exp(-inf) is exactly 0 in both computations.
    if (!std::isfinite(a[j])) arg_error[j] = 0;
    weighted_error += std::exp(a[j]) / sum * arg_error[j];
  }
  for (size_t j = 0; j < a.size(); ++j) {
    double p = std::exp(a[j]) / sum;
    double relative = arg_error[j] + weighted_error + 4 * kRoundoff;
    out[j] = {p, kMargin * relative * p + kSubnormalSlack};
  }
  return out;
}

// a_j = x_j - max(x): computed with one rounding, so its error is u * |a_j|.
inline void shifted_arguments(const std::vector<double>& x, std::vector<double>& a, std::vector<double>& error) {
  double m = row_max(x);
  a.resize(x.size());
  error.resize(x.size());
  for (size_t j = 0; j < x.size(); ++j) {
    a[j] = x[j] - m;
    error[j] = kRoundoff * std::fabs(a[j]);
  }
}

inline std::vector<Expected> softmax(const std::vector<float>& x) {
  std::vector<double> a, error;
  shifted_arguments(widen(x), a, error);
  return softmax_from_arguments(a, error);
}

// Sum of p_j * error_j for the softmax of the arguments a: the relative error
// that the rounded e_j bring into their sum.
inline double weighted_argument_error(const std::vector<double>& a, const std::vector<double>& error) {
  double sum = 0;
  for (double v : a) sum += std::exp(v);
  double weighted = 0;
  for (size_t j = 0; j < a.size(); ++j) {
    if (std::isfinite(a[j])) weighted += std::exp(a[j]) / sum * error[j];
  }
  return weighted;
}

// y_j = a_j - log(sum exp(a)). Bound: a_j has error u|a_j|, and the sum has relative
// error sum_i p_i u|a_i| + 2u, which log turns into an absolute error, plus u
// times |log sum|. The subtraction adds u|y_j|.
inline std::vector<Expected> log_softmax(const std::vector<float>& x) {
  std::vector<double> a, error;
  shifted_arguments(widen(x), a, error);
  std::vector<Expected> out(x.size());
  double log_sum = 0;
  {
    double sum = 0;
    for (double v : a) sum += std::exp(v);
    log_sum = std::log(sum);
  }
  double sum_error = weighted_argument_error(a, error) + 2 * kRoundoff;
  for (size_t j = 0; j < x.size(); ++j) {
    double y = a[j] - log_sum;
    double bound = error[j] + sum_error + kRoundoff * std::fabs(log_sum) + kRoundoff * std::fabs(y);
    out[j] = {y, kMargin * bound};
  }
  return out;
}

// softmax((x - max) / tau): the subtraction and the division each round, so the
// argument error is 2u|a_j|.
inline std::vector<Expected> softmax_temperature(const std::vector<float>& x, double tau) {
  std::vector<double> a, error;
  shifted_arguments(widen(x), a, error);
  for (size_t j = 0; j < a.size(); ++j) {
    a[j] /= tau;
    error[j] = 2 * kRoundoff * std::fabs(a[j]);
  }
  return softmax_from_arguments(a, error);
}

// Masked softmax: an all -inf row gives 0, anything else plain softmax.
inline std::vector<Expected> softmax_masked(const std::vector<float>& x) {
  bool all_masked = std::all_of(x.begin(), x.end(), [](float v) { return v == -std::numeric_limits<float>::infinity(); });
  if (all_masked) return std::vector<Expected>(x.size(), Expected{0, 0});
  return softmax(x);
}

inline double sigmoid(double x) { return 1 / (1 + std::exp(-x)); }

// softmax((s - max s) / tau) with s = sigmoid(x). Each s_j has error u*s_j
// (and so has the max), the subtraction adds u|s_j - m|, the division u|a_j|.
inline std::vector<Expected> dense_to_sparse_gate(const std::vector<float>& x, double tau) {
  std::vector<double> s(x.size());
  for (size_t j = 0; j < x.size(); ++j) s[j] = sigmoid(x[j]);
  double m = row_max(s);
  std::vector<double> a(x.size()), error(x.size());
  for (size_t j = 0; j < x.size(); ++j) {
    a[j] = (s[j] - m) / tau;
    error[j] = kRoundoff * (s[j] + m + std::fabs(s[j] - m)) / tau + kRoundoff * std::fabs(a[j]);
  }
  return softmax_from_arguments(a, error);
}

// Weights and indices of a top-k router.
struct Routing {
  std::vector<int32_t> indices;
  std::vector<Expected> weights;
};

// Top-k of the logits, then softmax over the k chosen: the softmax bound on
// the k values.
inline Routing moe_topk_softmax(const std::vector<float>& x, size_t k) {
  std::vector<double> logits = widen(x);
  Routing r;
  r.indices = topk_indices(logits, k);
  std::vector<double> chosen;
  for (int32_t i : r.indices) chosen.push_back(logits[static_cast<size_t>(i)]);
  std::vector<double> a, error;
  shifted_arguments(chosen, a, error);
  r.weights = softmax_from_arguments(a, error);
  return r;
}

// Softmax over all experts, top-k on the probabilities, renormalized. Each p_j
// carries the softmax relative error r_j; w_i = p_i / sum p adds r_i, the
// w-weighted r of the sum, and 2u for the sum and the division.
inline Routing moe_softmax_topk_renorm(const std::vector<float>& x, size_t k) {
  std::vector<Expected> p = softmax(x);
  std::vector<double> probabilities;
  for (const auto& e : p) probabilities.push_back(e.value);
  Routing r;
  r.indices = topk_indices(probabilities, k);
  double total = 0;
  double weighted_relative = 0;
  std::vector<double> relative;
  for (int32_t i : r.indices) {
    const Expected& e = p[static_cast<size_t>(i)];
    total += e.value;
    relative.push_back(e.value > 0 ? e.tolerance / e.value : 0);
  }
  for (size_t j = 0; j < r.indices.size(); ++j) {
    weighted_relative += p[static_cast<size_t>(r.indices[j])].value / total * relative[j];
  }
  for (size_t j = 0; j < r.indices.size(); ++j) {
    double w = p[static_cast<size_t>(r.indices[j])].value / total;
    if (std::isnan(total)) w = kNaN;
    r.weights.push_back({w, (relative[j] + weighted_relative + kMargin * 2 * kRoundoff) * w + kSubnormalSlack});
  }
  return r;
}

// Switch routing: the index of the largest probability and that probability.
inline Routing moe_top1(const std::vector<float>& x) {
  std::vector<Expected> p = softmax(x);
  std::vector<double> probabilities;
  for (const auto& e : p) probabilities.push_back(e.value);
  Routing r;
  r.indices = topk_indices(probabilities, 1);
  r.weights.push_back(p[static_cast<size_t>(r.indices[0])]);
  return r;
}

// DeepSeek-V3 grouped routing (see examples/moe_sigmoid_grouped.rj). Selection
// uses s + bias, groups scored by the sum of their two best members, the best
// `keep` of `groups` groups eligible. Weight bound: s_j rounds once (u), the sum
// of the k gathered values adds u on top of their u, the division and the
// route_scale multiplication add u each: 5u relative.
inline Routing moe_sigmoid_grouped(const std::vector<float>& x, const std::vector<float>& bias, size_t k,
                                   double route_scale, size_t groups = 8, size_t keep = 4) {
  size_t n = x.size();
  size_t group_size = n / groups;
  std::vector<double> s(n), biased(n);
  for (size_t j = 0; j < n; ++j) {
    s[j] = sigmoid(x[j]);
    biased[j] = s[j] + bias[j];
  }
  std::vector<double> group_score(groups);
  for (size_t g = 0; g < groups; ++g) {
    std::vector<double> members(biased.begin() + static_cast<std::ptrdiff_t>(g * group_size),
                                biased.begin() + static_cast<std::ptrdiff_t>((g + 1) * group_size));
    std::vector<int32_t> best = topk_indices(members, 2);
    group_score[g] = members[static_cast<size_t>(best[0])] + members[static_cast<size_t>(best[1])];
  }
  std::vector<int32_t> kept = topk_indices(group_score, keep);
  std::vector<double> eligible(n, -kInf);
  for (int32_t g : kept) {
    for (size_t j = 0; j < group_size; ++j) {
      size_t i = static_cast<size_t>(g) * group_size + j;
      eligible[i] = biased[i];
    }
  }
  Routing r;
  r.indices = topk_indices(eligible, k);
  double total = 0;
  for (int32_t i : r.indices) total += s[static_cast<size_t>(i)];
  for (int32_t i : r.indices) {
    double w = s[static_cast<size_t>(i)] / total * route_scale;
    r.weights.push_back({w, kMargin * 5 * kRoundoff * w});
  }
  return r;
}

// s(x) = x + 1 for x >= 0, else 1 / (1 - x), in double.
inline double stablemax_s(double x) { return x >= 0 ? x + 1 : 1 / (1 - x); }

// StableMax: s_j carries at most 2u (subtraction and division), the sum u more,
// the final division u: |y_j - p_j| <= 6u * p_j.
inline std::vector<Expected> stablemax(const std::vector<float>& x) {
  double total = 0;
  for (float v : x) total += stablemax_s(v);
  std::vector<Expected> out;
  for (float v : x) {
    double y = stablemax_s(v) / total;
    out.push_back({y, kMargin * 6 * kRoundoff * std::fabs(y) + kSubnormalSlack});
  }
  return out;
}

// log(s_j / sum s): the ratio carries 6u relative, which log makes absolute,
// and log itself adds u|y|.
inline std::vector<Expected> log_stablemax(const std::vector<float>& x) {
  double total = 0;
  for (float v : x) total += stablemax_s(v);
  std::vector<Expected> out;
  for (float v : x) {
    double y = std::log(stablemax_s(v) / total);
    out.push_back({y, kMargin * (6 * kRoundoff + kRoundoff * std::fabs(y))});
  }
  return out;
}

struct CrossEntropy {
  Expected loss;
  std::vector<Expected> grad;
};

// loss = log(sum exp(a)) - a[label] with a = x - max, grad = softmax - one_hot.
// Loss bound: the log of the sum as in log_softmax, a[label] adds u|a[label]|,
// the subtraction u|loss|. Gradient bound: the softmax bound on p_j plus u|grad_j|
// for the subtraction.
inline CrossEntropy cross_entropy(const std::vector<float>& x, int32_t label) {
  std::vector<double> a, error;
  shifted_arguments(widen(x), a, error);
  CrossEntropy out;
  double sum = 0;
  for (double v : a) sum += std::exp(v);
  double log_sum = std::log(sum);
  double a_label = a[static_cast<size_t>(label)];
  double loss = log_sum - a_label;
  double sum_error = weighted_argument_error(a, error) + 2 * kRoundoff;
  out.loss = {loss, kMargin * (sum_error + kRoundoff * std::fabs(log_sum) + kRoundoff * std::fabs(a_label) +
                               kRoundoff * std::fabs(loss))};
  std::vector<Expected> p = softmax_from_arguments(a, error);
  for (size_t j = 0; j < x.size(); ++j) {
    double g = p[j].value - (static_cast<int32_t>(j) == label ? 1 : 0);
    out.grad.push_back({g, p[j].tolerance + kMargin * kRoundoff * std::fabs(g)});
  }
  return out;
}

// Z-loss: softplus(a * (b - z[label])) / a with z = (x - mean) / std. Bound,
// following the ops: mean and var round once (u each), sqrt adds u/2 + u, so z
// carries u|mean| / std + u|x_label - mean| / std + 2.5u|z|; b - z adds u|b - z|;
// the product a*(b - z) is t, with error a * that + u|t|; softplus has slope
// sigmoid(t) <= 1 and adds u * softplus(t); the division by a adds u * loss.
inline Expected z_loss(const std::vector<float>& x, int32_t label, double a, double b) {
  double n = static_cast<double>(x.size());
  double mean = 0;
  for (float v : x) mean += v;
  mean /= n;
  double var = 0;
  for (float v : x) var += (v - mean) * (v - mean);
  var /= n;
  double sd = std::sqrt(var);
  double diff = x[static_cast<size_t>(label)] - mean;
  double z = diff / sd;
  double t = a * (b - z);
  double softplus = t > 0 ? t + std::log1p(std::exp(-t)) : std::log1p(std::exp(t));
  double loss = softplus / a;
  double z_error = kRoundoff * (std::fabs(mean) + std::fabs(diff)) / sd + 2.5 * kRoundoff * std::fabs(z);
  double t_error = a * (z_error + kRoundoff * std::fabs(b - z)) + kRoundoff * std::fabs(t);
  double loss_error = (sigmoid(t) * t_error + kRoundoff * softplus) / a + kRoundoff * loss;
  return {loss, kMargin * loss_error};
}

// (log sum exp x)^2. lse = max + log(sum exp(x - max)) carries the log-sum error
// of log_softmax plus u|lse| for the addition. Squaring doubles the relative
// error and adds u.
inline Expected log_z_loss(const std::vector<float>& x) {
  std::vector<double> xs = widen(x);
  std::vector<double> a, error;
  shifted_arguments(xs, a, error);
  double m = row_max(xs);
  double sum = 0;
  for (double v : a) sum += std::exp(v);
  double log_sum = std::log(sum);
  double lse = m + log_sum;
  if (std::isnan(lse)) return {kNaN, 0};
  double lse_error = weighted_argument_error(a, error) + 2 * kRoundoff + kRoundoff * std::fabs(log_sum) +
                     kRoundoff * std::fabs(lse);
  double y = lse * lse;
  return {y, kMargin * (2 * std::fabs(lse) * lse_error + lse_error * lse_error + kRoundoff * y)};
}

// Philox4x32-10 as defined in "Parallel Random Numbers: As Easy as 1, 2, 3"
// (Salmon, Moraes, Dror and Shaw, 2011): ten rounds, each two 32x32->64-bit
// products whose high halves are xored with the other words and the key. The
// key is bumped by the Weyl constants between rounds.
inline std::array<uint32_t, 4> philox4x32_10(std::array<uint32_t, 4> c, std::array<uint32_t, 2> key) {
  for (int round = 0; round < 10; ++round) {
    uint64_t p0 = uint64_t{0xD2511F53} * c[0];
    uint64_t p1 = uint64_t{0xCD9E8D57} * c[2];
    c = {static_cast<uint32_t>(p1 >> 32) ^ c[1] ^ key[0], static_cast<uint32_t>(p1),
         static_cast<uint32_t>(p0 >> 32) ^ c[3] ^ key[1], static_cast<uint32_t>(p0)};
    key[0] += 0x9E3779B9u;
    key[1] += 0xBB67AE85u;
  }
  return c;
}

// uniform(seed) at a global row and a column, as docs/ir.md defines it: word 0
// of Philox with counter (column, row low, row high, 0) and key (seed, 0),
// mapped to ((w >> 9) + 0.5) * 2^-23, which f32 represents exactly.
inline float uniform_at(uint32_t seed, uint64_t row, uint64_t column) {
  uint32_t w = philox4x32_10({static_cast<uint32_t>(column), static_cast<uint32_t>(row),
                              static_cast<uint32_t>(row >> 32), 0},
                             {seed, 0})[0];
  return static_cast<float>((static_cast<double>(w >> 9) + 0.5) * 0x1p-23);
}

// Gumbel-softmax of one row with global index `row`. g = -log(-log u) with u as
// the pipeline computes it; the two logs put an error of u + u|g| on g. z =
// (x + g) / tau then carries (that + u|x + g|) / tau + u|z|, and subtracting the
// computed max adds the max's error and u|z - max|.
inline std::vector<Expected> gumbel_softmax(const std::vector<float>& x, double tau, uint32_t seed, uint64_t row) {
  size_t n = x.size();
  std::vector<double> z(n), z_error(n);
  for (size_t j = 0; j < n; ++j) {
    double u = uniform_at(seed, row, j);
    double g = -std::log(-std::log(u));
    z[j] = (x[j] + g) / tau;
    z_error[j] = (kRoundoff * (1 + std::fabs(g)) + kRoundoff * std::fabs(x[j] + g)) / tau + kRoundoff * std::fabs(z[j]);
  }
  double m = row_max(z);
  double max_error = n == 0 ? 0 : *std::max_element(z_error.begin(), z_error.end());
  std::vector<double> a(n), error(n);
  for (size_t j = 0; j < n; ++j) {
    a[j] = z[j] - m;
    error[j] = z_error[j] + max_error + kRoundoff * std::fabs(a[j]);
  }
  return softmax_from_arguments(a, error);
}

}  // namespace rowjit::testing::ref
