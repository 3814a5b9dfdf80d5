// Rows of x and y that end right before an unmapped page, so that a kernel
// that reads or writes past the end of a row crashes the test.
// The padding checks of the other pipeline tests catch stray writes only. This
// one also catches stray reads, which the AVX2 tail loads (jit/emit_tail.cpp)
// could make.
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "tests/jit_pipeline_cases.h"

namespace rowjit::testing {
namespace {

// A buffer of `count` floats that ends where a PROT_NONE page begins.
class GuardedFloats {
 public:
  explicit GuardedFloats(size_t count) {
    const auto page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
    const size_t bytes = count * sizeof(float);
    size_ = ((bytes + page - 1) / page + 1) * page;
    void* memory = mmap(nullptr, size_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (memory == MAP_FAILED) return;
    base_ = static_cast<uint8_t*>(memory);
    if (mprotect(base_ + size_ - page, page, PROT_NONE) != 0) return;
    data_ = reinterpret_cast<float*>(base_ + size_ - page - bytes);
  }
  GuardedFloats(const GuardedFloats&) = delete;
  GuardedFloats& operator=(const GuardedFloats&) = delete;
  ~GuardedFloats() {
    if (base_ != nullptr) munmap(base_, size_);
  }

  float* data() const { return data_; }

 private:
  uint8_t* base_ = nullptr;
  size_t size_ = 0;
  float* data_ = nullptr;
};

const char* const kSoftmax = R"(kernel softmax(x: f32[n]) -> (y: f32[n]) {
  m = max(x)
  e = exp(x - m)
  y = e / sum(e)
})";

const char* const kLogSoftmax = R"(kernel log_softmax(x: f32[n]) -> (y: f32[n]) {
  m = max(x)
  d = x - m
  y = d - log(sum(exp(d)))
})";

// Two rows each, so that the first row ends inside the buffer and the second
// at the unmapped page. Lengths cover every AVX2 and AVX-512 tail, resident
// rows and loops.
TEST(JitRowEnd, NoAccessPastLastRow) {
  std::vector<int64_t> lengths;
  for (int64_t n = 1; n <= 40; ++n) lengths.push_back(n);
  for (int64_t n : {63, 64, 65, 100, 255, 257, 1001, 1024, 16383}) lengths.push_back(n);
  const int64_t rows = 2;
  int runs = 0;
  for (const char* text : {kSoftmax, kLogSoftmax}) {
    auto pipeline = ir::parse_pipeline(text);
    ASSERT_TRUE(pipeline.is_ok()) << pipeline.status().to_string();
    for (Isa isa : runnable_isas()) {
      for (const auto& form : kForms) {
        for (std::optional<int> resident : {std::optional<int>{}, std::optional<int>{0}}) {
          auto kernel = compile_for(*pipeline, isa, form, false, resident);
          if (!kernel) continue;
          ASSERT_TRUE(kernel->uses_jit());
          for (int64_t n : lengths) {
            const std::string context = pipeline->name + " on " + isa_name(isa) + ", form " + form_name(form) +
                                        ", n = " + std::to_string(n) + (resident ? ", no resident rows" : "");
            const auto count = static_cast<size_t>(rows * n);
            GuardedFloats x(count);
            GuardedFloats y(count);
            ASSERT_NE(x.data(), nullptr);
            ASSERT_NE(y.data(), nullptr);
            std::vector<float> reference(count);
            for (size_t i = 0; i < count; ++i) x.data()[i] = static_cast<float>((i * 37) % 23) * 0.25f - 3.0f;

            ir::RunArgs args;
            args.rows = rows;
            args.n = n;
            args.tensors["x"] = {x.data(), ir::ElemType::kF32, n * 4};
            args.tensors["y"] = {y.data(), ir::ElemType::kF32, n * 4};
            Status status = kernel->run(args);
            ASSERT_TRUE(status.is_ok()) << context << ": " << status.to_string();

            args.tensors["y"] = {reference.data(), ir::ElemType::kF32, n * 4};
            Status interpreted = ir::interpret(*pipeline, args);
            ASSERT_TRUE(interpreted.is_ok()) << context << ": " << interpreted.to_string();
            for (size_t i = 0; i < count; ++i) {
              // A loose bound: this test checks memory access, and the other
              // tests assert the pipelines' bounds (docs/jit.md).
              ASSERT_NEAR(y.data()[i], reference[i], 1e-5 * std::fabs(reference[i]) + 1e-6)
                  << context << ", element " << i;
            }
            ++runs;
          }
        }
      }
    }
  }
  if (runnable_isas().empty()) GTEST_SKIP() << "this CPU runs no JIT kernel";
  EXPECT_GT(runs, 0);
}

}  // namespace
}  // namespace rowjit::testing
