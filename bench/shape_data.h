// Buffers of one benchmark shape, shared by every implementation measured on
// it: the input logits, one output buffer, and the double-precision reference
// outputs that each implementation is checked against once.
#pragma once

#include <sys/mman.h>

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

namespace rowjit::bench {

// `rows` rows of `n` elements, stored contiguously (row stride n).
struct Shape {
  int64_t rows = 1;
  int64_t n = 0;

  int64_t elements() const { return rows * n; }
  // "n" for one row, "RxN" for a batch: the SHAPE part of benchmark names.
  std::string name() const {
    return rows == 1 ? std::to_string(n) : std::to_string(rows) + "x" + std::to_string(n);
  }
  bool operator==(const Shape&) const = default;
};

// Page-aligned float storage, `offset_bytes` past the page boundary.
// Buffers of 2 MiB or more ask for transparent huge pages, so that TLB misses
// do not dominate the out-of-cache shapes of every implementation alike.
class FloatBuffer {
 public:
  FloatBuffer(int64_t count, size_t offset_bytes) {
    size_t bytes = static_cast<size_t>(count) * sizeof(float) + offset_bytes;
    size_t rounded = (bytes + kPage - 1) / kPage * kPage;
    base_.reset(static_cast<char*>(std::aligned_alloc(kPage, rounded)));
    if (base_ && rounded >= (size_t{2} << 20)) madvise(base_.get(), rounded, MADV_HUGEPAGE);
    data_ = base_ ? reinterpret_cast<float*>(base_.get() + offset_bytes) : nullptr;
  }
  float* data() const { return data_; }

 private:
  static constexpr size_t kPage = 4096;
  struct Free {
    void operator()(char* p) const { std::free(p); }
  };
  std::unique_ptr<char, Free> base_;
  float* data_ = nullptr;
};

// Input logits, uniform in [-10, 10): a spread of 20 makes the smallest
// probabilities about e^-20 of the largest, well inside the normal floats.
inline void fill_logits(float* x, int64_t count) {
  uint64_t state = 0x9E3779B97F4A7C15ull;
  for (int64_t i = 0; i < count; ++i) {
    // xorshift64*: fast enough for 32M elements, and the same data every run.
    state ^= state >> 12;
    state ^= state << 25;
    state ^= state >> 27;
    uint64_t bits = state * 0x2545F4914F6CDD1Dull;
    x[i] = static_cast<float>(static_cast<double>(bits >> 40) * 0x1p-24 * 20.0 - 10.0);
  }
}

class ShapeData {
 public:
  // y starts 256 bytes after a page boundary while x starts on one, so that
  // x[i] and y[i] differ in their low 12 address bits: loads of x are not
  // mistaken for dependents of earlier stores to y (4K aliasing).
  explicit ShapeData(Shape shape)
      : shape_(shape), generation_(next_generation()), x_(shape.elements(), 0), y_(shape.elements(), 256) {
    if (x_.data() != nullptr) fill_logits(x_.data(), shape.elements());
    if (y_.data() != nullptr) fill_output(0.0f);  // touches every page before timing
  }

  bool allocated() const { return x_.data() != nullptr && y_.data() != nullptr; }
  const Shape& shape() const { return shape_; }
  // Distinct for every ShapeData made, so that state bound to an earlier
  // shape's buffers can tell it is stale.
  uint64_t generation() const { return generation_; }
  const float* x() const { return x_.data(); }
  float* y() const { return y_.data(); }

  // Overwrites the output, so that a check never passes on an earlier
  // implementation's results.
  void fill_output(float value) {
    for (int64_t i = 0; i < shape_.elements(); ++i) y_.data()[i] = value;
  }

  // Reference softmax and log-softmax in double, computed on first use.
  const std::vector<double>& softmax_reference() {
    if (softmax_.empty()) compute_reference(false, softmax_);
    return softmax_;
  }
  const std::vector<double>& log_softmax_reference() {
    if (log_softmax_.empty()) compute_reference(true, log_softmax_);
    return log_softmax_;
  }

 private:
  void compute_reference(bool log_form, std::vector<double>& out) const {
    out.resize(static_cast<size_t>(shape_.elements()));
    for (int64_t r = 0; r < shape_.rows; ++r) {
      const float* x = x_.data() + r * shape_.n;
      double* ref = out.data() + r * shape_.n;
      double max = -INFINITY;
      for (int64_t i = 0; i < shape_.n; ++i) max = std::fmax(max, static_cast<double>(x[i]));
      double sum = 0;
      for (int64_t i = 0; i < shape_.n; ++i) sum += std::exp(static_cast<double>(x[i]) - max);
      double log_sum = std::log(sum);
      for (int64_t i = 0; i < shape_.n; ++i) {
        double d = static_cast<double>(x[i]) - max;
        ref[i] = log_form ? d - log_sum : std::exp(d) / sum;
      }
    }
  }

  static uint64_t next_generation() {
    static uint64_t counter = 0;
    return ++counter;
  }

  Shape shape_;
  uint64_t generation_;
  FloatBuffer x_;
  FloatBuffer y_;
  std::vector<double> softmax_;
  std::vector<double> log_softmax_;
};

// Returns the buffers of `shape`. Benchmarks are registered shape by shape,
// so only one shape's buffers live at a time (0.8 GB for 32M elements, with
// both references).
inline ShapeData& shape_data(Shape shape) {
  static std::unique_ptr<ShapeData> current;
  if (!current || !(current->shape() == shape)) {
    current.reset();
    current = std::make_unique<ShapeData>(shape);
  }
  return *current;
}

}  // namespace rowjit::bench
