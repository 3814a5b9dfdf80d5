#include "runtime/rowjit.h"

#include <gtest/gtest.h>

#include <atomic>
#include <cmath>
#include <cstring>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include "tests/runtime_testing.h"

namespace rowjit {
namespace {

using testing::kScaleText;
using testing::kSoftmaxText;

constexpr int64_t kN = 37;
constexpr int64_t kRows = 5;
constexpr int64_t kStride = 40;  // floats between rows: 3 floats of padding

// A compiler, the softmax kernel and rows of input and output, with the
// output filled with a sentinel.
class CApi : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(rowjit_compiler_create(nullptr, &compiler_), ROWJIT_OK) << rowjit_last_error();
    ASSERT_EQ(rowjit_compile(compiler_, kSoftmaxText, nullptr, &kernel_), ROWJIT_OK) << rowjit_last_error();
    x_ = testing::random_rows(kRows, kStride, 7);
    y_.assign(static_cast<size_t>(kRows * kStride), -7.0f);
    tensors_[0] = {"x", x_.data(), ROWJIT_F32, kStride * 4, 0};
    tensors_[1] = {"y", y_.data(), ROWJIT_F32, kStride * 4, 0};
    args_.rows = kRows;
    args_.n = kN;
    args_.first_row = 0;
    args_.tensors = tensors_;
    args_.tensor_count = 2;
    args_.scalars = nullptr;
    args_.scalar_count = 0;
  }

  void TearDown() override {
    rowjit_kernel_release(kernel_);
    rowjit_compiler_destroy(compiler_);
  }

  bool output_untouched() const {
    for (float v : y_) {
      if (v != -7.0f) return false;
    }
    return true;
  }

  double max_error() const {
    double worst = 0;
    for (int64_t r = 0; r < kRows; ++r) {
      worst = std::fmax(worst, testing::softmax_max_relative_error(x_.data() + r * kStride, y_.data() + r * kStride, kN));
    }
    return worst;
  }

  std::string last_error() const { return rowjit_last_error(); }

  rowjit_compiler* compiler_ = nullptr;
  rowjit_kernel* kernel_ = nullptr;
  std::vector<float> x_;
  std::vector<float> y_;
  rowjit_tensor tensors_[2];
  rowjit_run_args args_;
};

TEST(CApiBasics, VersionFormat) {
  EXPECT_TRUE(std::regex_match(std::string(rowjit_version()), std::regex("[0-9]+\\.[0-9]+\\.[0-9]+")));
}

TEST(CApiBasics, StatusNames) {
  EXPECT_STREQ(rowjit_status_name(ROWJIT_OK), "ok");
  EXPECT_STREQ(rowjit_status_name(ROWJIT_INVALID_ARGUMENT), "invalid argument");
  EXPECT_STREQ(rowjit_status_name(99), "unknown status");
}

TEST(CApiBasics, NullCompilerOutput) {
  EXPECT_EQ(rowjit_compiler_create(nullptr, nullptr), ROWJIT_INVALID_ARGUMENT);
  EXPECT_NE(std::string(rowjit_last_error()).find("compiler is NULL"), std::string::npos);
}

TEST(CApiBasics, NegativeCapacityRejected) {
  rowjit_compiler_options options;
  rowjit_compiler_options_init(&options);
  options.cache_capacity = -2;
  rowjit_compiler* compiler = reinterpret_cast<rowjit_compiler*>(&options);  // must be reset to NULL
  EXPECT_EQ(rowjit_compiler_create(&options, &compiler), ROWJIT_INVALID_ARGUMENT);
  EXPECT_EQ(compiler, nullptr);
}

TEST(CApiBasics, DestroyAndReleaseNull) {
  rowjit_compiler_destroy(nullptr);
  rowjit_kernel_release(nullptr);
  EXPECT_EQ(rowjit_kernel_retain(nullptr), ROWJIT_INVALID_ARGUMENT);
}

TEST(CApiBasics, LastErrorIsPerThread) {
  EXPECT_EQ(rowjit_compile(nullptr, kSoftmaxText, nullptr, nullptr), ROWJIT_INVALID_ARGUMENT);
  std::string here = rowjit_last_error();
  std::string there = "unset";
  std::thread other([&] { there = rowjit_last_error(); });
  other.join();
  EXPECT_FALSE(here.empty());
  EXPECT_EQ(there, "");
}

TEST_F(CApi, RunMatchesReference) {
  ASSERT_EQ(rowjit_kernel_run(kernel_, &args_), ROWJIT_OK) << last_error();
  EXPECT_LE(max_error(), testing::kSoftmaxTolerance);
  // The padding between rows is not written.
  EXPECT_EQ(y_[kN], -7.0f);
}

TEST_F(CApi, CompileNullArguments) {
  rowjit_kernel* kernel = nullptr;
  EXPECT_EQ(rowjit_compile(nullptr, kSoftmaxText, nullptr, &kernel), ROWJIT_INVALID_ARGUMENT);
  EXPECT_EQ(rowjit_compile(compiler_, nullptr, nullptr, &kernel), ROWJIT_INVALID_ARGUMENT);
  EXPECT_NE(last_error().find("pipeline_text is NULL"), std::string::npos);
  EXPECT_EQ(rowjit_compile(compiler_, kSoftmaxText, nullptr, nullptr), ROWJIT_INVALID_ARGUMENT);
  EXPECT_EQ(kernel, nullptr);
}

TEST_F(CApi, CompileParseError) {
  rowjit_kernel* kernel = nullptr;
  EXPECT_EQ(rowjit_compile(compiler_, "kernel broken(", nullptr, &kernel), ROWJIT_PARSE_ERROR);
  EXPECT_NE(last_error().find("line 1"), std::string::npos) << last_error();
  EXPECT_EQ(kernel, nullptr);
}

TEST_F(CApi, CompileBadOptions) {
  rowjit_kernel* kernel = nullptr;
  rowjit_compile_options options;
  rowjit_compile_options_init(&options);
  options.softmax_form = "four_pass";
  EXPECT_EQ(rowjit_compile(compiler_, kSoftmaxText, &options, &kernel), ROWJIT_INVALID_ARGUMENT);
  EXPECT_NE(last_error().find("four_pass"), std::string::npos);

  rowjit_compile_options_init(&options);
  options.isa = 7;
  EXPECT_EQ(rowjit_compile(compiler_, kSoftmaxText, &options, &kernel), ROWJIT_INVALID_ARGUMENT);

  rowjit_compile_options_init(&options);
  options.n_hint = -1;
  EXPECT_EQ(rowjit_compile(compiler_, kSoftmaxText, &options, &kernel), ROWJIT_INVALID_ARGUMENT);
  EXPECT_EQ(kernel, nullptr);
}

TEST_F(CApi, ForcedFormApplies) {
  rowjit_kernel* kernel = nullptr;
  rowjit_compile_options options;
  rowjit_compile_options_init(&options);
  options.softmax_form = "three_pass_recompute";
  ASSERT_EQ(rowjit_compile(compiler_, kSoftmaxText, &options, &kernel), ROWJIT_OK) << last_error();
  rowjit_kernel_info info;
  ASSERT_EQ(rowjit_kernel_query(kernel, &info), ROWJIT_OK);
  EXPECT_STREQ(info.softmax_form, "three_pass_recompute");
  rowjit_kernel_release(kernel);
}

TEST_F(CApi, RunNullArguments) {
  EXPECT_EQ(rowjit_kernel_run(nullptr, &args_), ROWJIT_INVALID_ARGUMENT);
  EXPECT_EQ(rowjit_kernel_run(kernel_, nullptr), ROWJIT_INVALID_ARGUMENT);
  args_.tensors = nullptr;
  EXPECT_EQ(rowjit_kernel_run(kernel_, &args_), ROWJIT_INVALID_ARGUMENT);
  EXPECT_NE(last_error().find("args.tensors is NULL"), std::string::npos);
  EXPECT_TRUE(output_untouched());
}

TEST_F(CApi, NullTensorName) {
  tensors_[1].name = nullptr;
  EXPECT_EQ(rowjit_kernel_run(kernel_, &args_), ROWJIT_INVALID_ARGUMENT);
  EXPECT_NE(last_error().find("args.tensors[1].name is NULL"), std::string::npos);
}

TEST_F(CApi, NullTensorData) {
  tensors_[1].data = nullptr;
  EXPECT_EQ(rowjit_kernel_run(kernel_, &args_), ROWJIT_INVALID_ARGUMENT);
  EXPECT_NE(last_error().find("null data"), std::string::npos) << last_error();
}

TEST_F(CApi, WrongDtype) {
  tensors_[0].dtype = ROWJIT_F16;
  EXPECT_EQ(rowjit_kernel_run(kernel_, &args_), ROWJIT_INVALID_ARGUMENT);
  EXPECT_NE(last_error().find("expected f32"), std::string::npos) << last_error();
  EXPECT_TRUE(output_untouched());
}

TEST_F(CApi, DtypeOutsideEnum) {
  tensors_[0].dtype = 10;  // bool is not a storage type
  EXPECT_EQ(rowjit_kernel_run(kernel_, &args_), ROWJIT_INVALID_ARGUMENT);
  tensors_[0].dtype = -3;
  EXPECT_EQ(rowjit_kernel_run(kernel_, &args_), ROWJIT_INVALID_ARGUMENT);
  EXPECT_TRUE(output_untouched());
}

TEST_F(CApi, StrideSmallerThanRow) {
  tensors_[1].row_stride_bytes = (kN - 1) * 4;
  EXPECT_EQ(rowjit_kernel_run(kernel_, &args_), ROWJIT_INVALID_ARGUMENT);
  EXPECT_NE(last_error().find("row stride"), std::string::npos) << last_error();
  EXPECT_TRUE(output_untouched());
}

TEST_F(CApi, ZeroRowsDoesNothing) {
  args_.rows = 0;
  tensors_[0].data = nullptr;
  tensors_[1].data = nullptr;
  EXPECT_EQ(rowjit_kernel_run(kernel_, &args_), ROWJIT_OK) << last_error();
  EXPECT_EQ(rowjit_kernel_run_parallel(kernel_, &args_, nullptr), ROWJIT_OK) << last_error();
}

TEST_F(CApi, NegativeRowsRejected) {
  args_.rows = -1;
  EXPECT_EQ(rowjit_kernel_run(kernel_, &args_), ROWJIT_INVALID_ARGUMENT);
}

TEST_F(CApi, UnknownTensorName) {
  tensors_[1].name = "z";
  EXPECT_EQ(rowjit_kernel_run(kernel_, &args_), ROWJIT_INVALID_ARGUMENT);
  EXPECT_NE(last_error().find("unknown tensor 'z'"), std::string::npos) << last_error();
  EXPECT_TRUE(output_untouched());
}

TEST_F(CApi, MissingTensor) {
  args_.tensor_count = 1;
  EXPECT_EQ(rowjit_kernel_run(kernel_, &args_), ROWJIT_INVALID_ARGUMENT);
  EXPECT_NE(last_error().find("missing tensor 'y'"), std::string::npos) << last_error();
}

TEST_F(CApi, DuplicateTensorName) {
  tensors_[1].name = "x";
  EXPECT_EQ(rowjit_kernel_run(kernel_, &args_), ROWJIT_INVALID_ARGUMENT);
  EXPECT_NE(last_error().find("earlier tensor"), std::string::npos) << last_error();
}

TEST_F(CApi, UnknownScalarName) {
  rowjit_scalar scalar = {"tau", 1.0};
  args_.scalars = &scalar;
  args_.scalar_count = 1;
  EXPECT_EQ(rowjit_kernel_run(kernel_, &args_), ROWJIT_INVALID_ARGUMENT);
  EXPECT_NE(last_error().find("unknown parameter 'tau'"), std::string::npos) << last_error();
}

TEST_F(CApi, RowElementsChecked) {
  tensors_[0].row_elements = kN;
  tensors_[1].row_elements = kN;
  EXPECT_EQ(rowjit_kernel_run(kernel_, &args_), ROWJIT_OK) << last_error();
  tensors_[1].row_elements = kN + 1;
  EXPECT_EQ(rowjit_kernel_run(kernel_, &args_), ROWJIT_INVALID_ARGUMENT);
  EXPECT_NE(last_error().find("row_elements = 38"), std::string::npos) << last_error();
}

TEST_F(CApi, ScalarParameter) {
  rowjit_kernel* scale = nullptr;
  ASSERT_EQ(rowjit_compile(compiler_, kScaleText, nullptr, &scale), ROWJIT_OK) << last_error();
  rowjit_scalar c = {"c", 3.0};
  args_.scalars = &c;
  args_.scalar_count = 1;
  ASSERT_EQ(rowjit_kernel_run(scale, &args_), ROWJIT_OK) << last_error();
  EXPECT_EQ(y_[0], x_[0] * 3.0f);
  EXPECT_EQ(y_[kStride + 5], x_[kStride + 5] * 3.0f);
  c.value = NAN;
  EXPECT_EQ(rowjit_kernel_run(scale, &args_), ROWJIT_INVALID_ARGUMENT);
  EXPECT_NE(last_error().find("must be finite"), std::string::npos) << last_error();
  rowjit_kernel_release(scale);
}

TEST_F(CApi, KernelOutlivesCompiler) {
  rowjit_compiler_destroy(compiler_);
  compiler_ = nullptr;
  ASSERT_EQ(rowjit_kernel_run(kernel_, &args_), ROWJIT_OK) << last_error();
  EXPECT_LE(max_error(), testing::kSoftmaxTolerance);
}

TEST_F(CApi, RetainAndRelease) {
  ASSERT_EQ(rowjit_kernel_retain(kernel_), ROWJIT_OK);
  rowjit_kernel_release(kernel_);
  // One reference is left, so the handle still runs.
  ASSERT_EQ(rowjit_kernel_run(kernel_, &args_), ROWJIT_OK) << last_error();
}

TEST_F(CApi, QueryDescribesKernel) {
  rowjit_kernel_info info;
  ASSERT_EQ(rowjit_kernel_query(kernel_, &info), ROWJIT_OK);
  EXPECT_STREQ(info.name, "softmax");
  EXPECT_EQ(info.tensor_count, 2u);
  EXPECT_EQ(info.scalar_count, 0u);
  EXPECT_EQ(info.uses_jit, testing::host_has_jit() ? 1 : 0);
  EXPECT_EQ(info.isa == ROWJIT_ISA_NONE, !testing::host_has_jit());
  EXPECT_EQ(info.code_bytes > 0, testing::host_has_jit());
  EXPECT_EQ(rowjit_kernel_query(kernel_, nullptr), ROWJIT_INVALID_ARGUMENT);
  EXPECT_EQ(rowjit_kernel_query(nullptr, &info), ROWJIT_INVALID_ARGUMENT);
}

TEST_F(CApi, InterpreterIsa) {
  rowjit_kernel* kernel = nullptr;
  rowjit_compile_options options;
  rowjit_compile_options_init(&options);
  options.isa = ROWJIT_ISA_NONE;
  ASSERT_EQ(rowjit_compile(compiler_, kSoftmaxText, &options, &kernel), ROWJIT_OK) << last_error();
  rowjit_kernel_info info;
  ASSERT_EQ(rowjit_kernel_query(kernel, &info), ROWJIT_OK);
  EXPECT_EQ(info.uses_jit, 0);
  EXPECT_EQ(info.isa, ROWJIT_ISA_NONE);
  ASSERT_EQ(rowjit_kernel_run(kernel, &args_), ROWJIT_OK) << last_error();
  EXPECT_LE(max_error(), testing::kSoftmaxTolerance);
  rowjit_kernel_release(kernel);
}

TEST_F(CApi, CacheStatsCount) {
  rowjit_kernel* again = nullptr;
  ASSERT_EQ(rowjit_compile(compiler_, kSoftmaxText, nullptr, &again), ROWJIT_OK);
  rowjit_cache_stats stats;
  ASSERT_EQ(rowjit_compiler_cache_stats(compiler_, &stats), ROWJIT_OK);
  EXPECT_EQ(stats.misses, 1u);
  EXPECT_EQ(stats.hits, 1u);
  EXPECT_EQ(stats.size, 1u);
  ASSERT_EQ(rowjit_compiler_set_cache_capacity(compiler_, 0), ROWJIT_OK);
  ASSERT_EQ(rowjit_compiler_cache_stats(compiler_, &stats), ROWJIT_OK);
  EXPECT_EQ(stats.size, 0u);
  EXPECT_EQ(stats.evictions, 1u);
  // Both handles still run after the eviction.
  EXPECT_EQ(rowjit_kernel_run(again, &args_), ROWJIT_OK) << last_error();
  EXPECT_EQ(rowjit_kernel_run(kernel_, &args_), ROWJIT_OK) << last_error();
  rowjit_kernel_release(again);
  EXPECT_EQ(rowjit_compiler_cache_stats(nullptr, &stats), ROWJIT_INVALID_ARGUMENT);
  EXPECT_EQ(rowjit_compiler_cache_stats(compiler_, nullptr), ROWJIT_INVALID_ARGUMENT);
}

// Runs tasks on the calling thread, last to first, counting them.
struct CountingHook {
  std::atomic<size_t> calls{0};
  std::atomic<size_t> tasks{0};
};

void run_tasks_backwards(void* context, size_t tasks, rowjit_task_fn task, void* task_context) {
  auto* hook = static_cast<CountingHook*>(context);
  hook->calls += 1;
  hook->tasks += tasks;
  for (size_t i = tasks; i-- > 0;) task(task_context, i);
}

TEST_F(CApi, ParallelHookMatchesSerial) {
  ASSERT_EQ(rowjit_kernel_run(kernel_, &args_), ROWJIT_OK);
  std::vector<float> serial = y_;
  std::fill(y_.begin(), y_.end(), -7.0f);

  CountingHook counter;
  rowjit_parallel_for hook = {run_tasks_backwards, &counter, 3, 1};
  ASSERT_EQ(rowjit_kernel_run_parallel(kernel_, &args_, &hook), ROWJIT_OK) << last_error();
  EXPECT_EQ(counter.calls.load(), 1u);
  EXPECT_EQ(counter.tasks.load(), 3u);
  EXPECT_EQ(std::memcmp(serial.data(), y_.data(), serial.size() * sizeof(float)), 0);
}

TEST_F(CApi, BuiltInPoolMatchesSerial) {
  ASSERT_EQ(rowjit_kernel_run(kernel_, &args_), ROWJIT_OK);
  std::vector<float> serial = y_;
  std::fill(y_.begin(), y_.end(), -7.0f);
  ASSERT_EQ(rowjit_kernel_run_parallel(kernel_, &args_, nullptr), ROWJIT_OK) << last_error();
  EXPECT_EQ(std::memcmp(serial.data(), y_.data(), serial.size() * sizeof(float)), 0);
}

TEST_F(CApi, ParallelHookValidated) {
  rowjit_parallel_for hook = {nullptr, nullptr, 2, 1};
  EXPECT_EQ(rowjit_kernel_run_parallel(kernel_, &args_, &hook), ROWJIT_INVALID_ARGUMENT);
  CountingHook counter;
  hook = {run_tasks_backwards, &counter, 2, 0};
  EXPECT_EQ(rowjit_kernel_run_parallel(kernel_, &args_, &hook), ROWJIT_INVALID_ARGUMENT);
  EXPECT_EQ(counter.calls.load(), 0u);
}

TEST_F(CApi, ParallelRejectsBadArgsBeforeTasks) {
  CountingHook counter;
  rowjit_parallel_for hook = {run_tasks_backwards, &counter, 2, 1};
  tensors_[0].dtype = ROWJIT_S32;
  EXPECT_EQ(rowjit_kernel_run_parallel(kernel_, &args_, &hook), ROWJIT_INVALID_ARGUMENT);
  EXPECT_EQ(counter.calls.load(), 0u);
  EXPECT_TRUE(output_untouched());
}

}  // namespace
}  // namespace rowjit
