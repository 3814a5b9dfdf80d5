// Tests of the tuner (runtime/tuner.h), its sampler and workspace, and the
// `rowjit tune` command.
#include "runtime/tuner.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "ir/parser.h"
#include "ir/planner.h"
#include "runtime/compiler.h"
#include "runtime/tune_sampler.h"
#include "runtime/tune_workspace.h"
#include "runtime/tuning_file.h"
#include "tests/cli_testing.h"
#include "tests/runtime_testing.h"

namespace rowjit {
namespace {

namespace fs = std::filesystem;

Timing timing(double median, double mad) {
  Timing result;
  result.median = median;
  result.mad = mad;
  result.samples = 9;
  return result;
}

TEST(TuneSampler, SummarizeOddCount) {
  Timing summary = summarize_samples({4, 100, 1, 3, 2});
  EXPECT_EQ(summary.samples, 5);
  EXPECT_EQ(summary.median, 3);
  // Deviations from 3: 1, 97, 2, 0, 1; their median is 1.
  EXPECT_EQ(summary.mad, 1);
  EXPECT_EQ(summary.min, 1);
  EXPECT_EQ(summary.max, 100);
}

TEST(TuneSampler, SummarizeEvenCount) {
  Timing summary = summarize_samples({4, 1, 3, 2});
  EXPECT_EQ(summary.median, 2.5);
  // Deviations from 2.5: 1.5, 1.5, 0.5, 0.5; their median is 1.
  EXPECT_EQ(summary.mad, 1);
}

TEST(TuneSampler, SummarizeEmpty) {
  Timing summary = summarize_samples({});
  EXPECT_EQ(summary.samples, 0);
  EXPECT_EQ(summary.median, 0);
}

TEST(TuneSampler, BeatsByNoise) {
  // Gain 1 against noise 0.5 + 0.4.
  EXPECT_TRUE(beats_by_noise(timing(9, 0.4), timing(10, 0.5)));
  // Gain 0.5 against the same noise.
  EXPECT_FALSE(beats_by_noise(timing(9.5, 0.4), timing(10, 0.5)));
  // No noise, but a gain of 0.5% is below the 1% floor.
  EXPECT_FALSE(beats_by_noise(timing(9.95, 0), timing(10, 0)));
  EXPECT_TRUE(beats_by_noise(timing(9.8, 0), timing(10, 0)));
  // Slower never beats.
  EXPECT_FALSE(beats_by_noise(timing(11, 0), timing(10, 0)));
}

TEST(TuneWorkspace, Layout) {
  auto pipeline = ir::parse_pipeline(testing::kSoftmaxText);
  ASSERT_TRUE(pipeline.is_ok());
  auto workspace = TuneWorkspace::create(*pipeline, 100, 3, {});
  ASSERT_TRUE(workspace.is_ok()) << workspace.status().to_string();
  const ir::RunArgs& args = workspace->args();
  EXPECT_EQ(args.rows, 3);
  EXPECT_EQ(args.n, 100);
  ASSERT_EQ(args.tensors.count("x"), 1u);
  ASSERT_EQ(args.tensors.count("y"), 1u);
  const ir::TensorRef& x = args.tensors.at("x");
  // 100 floats are 400 bytes, rounded up to 64 bytes.
  EXPECT_EQ(x.row_stride_bytes, 448);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(x.data) % 64, 0u);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(args.tensors.at("y").data) % 64, 0u);
  EXPECT_EQ(workspace->bytes(), 2 * 3 * 448);
  const float* values = static_cast<const float*>(x.data);
  for (int i = 0; i < 100; ++i) {
    EXPECT_GE(values[i], -8.0f) << i;
    EXPECT_LT(values[i], 8.0f) << i;
  }
}

TEST(TuneWorkspace, ShortRowsPacked) {
  auto pipeline = ir::parse_pipeline(testing::kSoftmaxText);
  ASSERT_TRUE(pipeline.is_ok());
  auto workspace = TuneWorkspace::create(*pipeline, 3, 5, {});
  ASSERT_TRUE(workspace.is_ok()) << workspace.status().to_string();
  // 3 floats are 12 bytes, below one 64-byte line, so rows are not padded.
  EXPECT_EQ(workspace->args().tensors.at("x").row_stride_bytes, 12);
  EXPECT_EQ(workspace->bytes(), 2 * 5 * 12);
}

constexpr const char* kTemperatureText = R"(kernel softmax_tau(x: f32[n], param tau: f32 > 0) -> (y: f32[n]) {
  m = max(x)
  e = exp((x - m) / tau)
  y = e / sum(e)
})";

TEST(TuneWorkspace, ParameterWithoutDefault) {
  auto pipeline = ir::parse_pipeline(kTemperatureText);
  ASSERT_TRUE(pipeline.is_ok()) << pipeline.status().to_string();
  auto missing = TuneWorkspace::create(*pipeline, 64, 1, {});
  ASSERT_FALSE(missing.is_ok());
  EXPECT_EQ(missing.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(missing.status().message().find("'tau'"), std::string::npos) << missing.status().message();
  auto given = TuneWorkspace::create(*pipeline, 64, 1, {{"tau", 2.0}});
  ASSERT_TRUE(given.is_ok()) << given.status().to_string();
  EXPECT_EQ(given->args().scalars.at("tau"), 2.0);
}

TEST(TuneWorkspace, UnknownParameter) {
  auto pipeline = ir::parse_pipeline(testing::kSoftmaxText);
  ASSERT_TRUE(pipeline.is_ok());
  auto workspace = TuneWorkspace::create(*pipeline, 64, 1, {{"x", 1.0}});
  ASSERT_FALSE(workspace.is_ok());
  EXPECT_EQ(workspace.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(workspace.status().message().find("'x' is not a scalar parameter"), std::string::npos)
      << workspace.status().message();
}

TEST(TuneWorkspace, TooLarge) {
  auto pipeline = ir::parse_pipeline(testing::kSoftmaxText);
  ASSERT_TRUE(pipeline.is_ok());
  // x and y of 4 rows of 2^28 floats take 8 GiB, above the 4 GiB limit.
  auto workspace = TuneWorkspace::create(*pipeline, int64_t{1} << 28, 4, {});
  ASSERT_FALSE(workspace.is_ok());
  EXPECT_EQ(workspace.status().code(), StatusCode::kInvalidArgument);
}

TEST(Tuner, InvalidRequests) {
  auto pipeline = ir::parse_pipeline(testing::kSoftmaxText);
  ASSERT_TRUE(pipeline.is_ok());
  TuneRequest valid;
  valid.row_lengths = {4096};
  valid.budget_seconds = 1;

  TuneRequest no_lengths = valid;
  no_lengths.row_lengths.clear();
  EXPECT_EQ(tune_pipeline(*pipeline, no_lengths).status().code(), StatusCode::kInvalidArgument);
  TuneRequest zero_length = valid;
  zero_length.row_lengths = {4096, 0};
  EXPECT_EQ(tune_pipeline(*pipeline, zero_length).status().code(), StatusCode::kInvalidArgument);
  TuneRequest no_threads = valid;
  no_threads.threads = 0;
  EXPECT_EQ(tune_pipeline(*pipeline, no_threads).status().code(), StatusCode::kInvalidArgument);
  TuneRequest no_budget = valid;
  no_budget.budget_seconds = 0;
  EXPECT_EQ(tune_pipeline(*pipeline, no_budget).status().code(), StatusCode::kInvalidArgument);
  TuneRequest negative_rows = valid;
  negative_rows.rows = -1;
  EXPECT_EQ(tune_pipeline(*pipeline, negative_rows).status().code(), StatusCode::kInvalidArgument);
}

TEST(Tuner, InterpreterPipelineUnsupported) {
  auto pipeline = ir::parse_pipeline(R"(kernel top2(x: f32[n]) -> (v: f32[2], i: s32[2]) {
  v, i = topk(x, k=2)
})");
  ASSERT_TRUE(pipeline.is_ok()) << pipeline.status().to_string();
  TuneRequest request;
  request.row_lengths = {64};
  request.budget_seconds = 1;
  auto result = tune_pipeline(*pipeline, request);
  ASSERT_FALSE(result.is_ok());
  EXPECT_EQ(result.status().code(), StatusCode::kUnsupported);
}

TEST(Tuner, TinyBudgetSoftmax) {
  if (host_isa() == Isa::kNone) GTEST_SKIP() << "no AVX2 or AVX-512 here, so no JIT kernel to tune";
  auto pipeline = ir::parse_pipeline(testing::kSoftmaxText);
  ASSERT_TRUE(pipeline.is_ok());
  TuneRequest request;
  request.row_lengths = {4096};
  request.budget_seconds = 1;
  auto result = tune_pipeline(*pipeline, request);
  ASSERT_TRUE(result.is_ok()) << result.status().to_string();
  // The budget caps the run; the margin covers a sample that a loaded
  // machine stretches past its estimate.
  EXPECT_LE(result->seconds, 2.0);
  ASSERT_EQ(result->shapes.size(), 1u);
  const ShapeResult& shape = result->shapes[0];
  ASSERT_TRUE(shape.measured);
  EXPECT_EQ(shape.n, 4096);
  EXPECT_GT(shape.default_timing.median, 0);
  EXPECT_GE(shape.default_timing.samples, 3);
  ASSERT_FALSE(shape.candidates.empty());
  EXPECT_EQ(shape.candidates[0].candidate, shape.default_candidate);
  // The last stage measures the best plan so far with the other exp group.
  // It skips that when the budget ended first, when every plan has unroll 1,
  // or when the registers lowered the other group to the same kernel (the
  // notes then have a "lowered as" line). The plan it starts from need not be
  // the final pick, which the stage compares with the default.
  bool pair_measured = false;
  bool unroll_one = true;
  for (const CandidateResult& a : shape.candidates) {
    unroll_one = unroll_one && a.candidate.unroll == 1;
    for (const CandidateResult& b : shape.candidates) {
      Candidate same_but_group = b.candidate;
      same_but_group.exp_group = a.candidate.exp_group;
      pair_measured = pair_measured || (same_but_group == a.candidate && a.candidate.exp_group != b.candidate.exp_group);
    }
  }
  bool lowered = false;
  for (const std::string& note : shape.notes) lowered = lowered || note.find(" is lowered as ") != std::string::npos;
  if (!shape.budget_exhausted && !unroll_one) {
    EXPECT_TRUE(pair_measured || lowered);
  }
  if (shape.kept_default) {
    EXPECT_EQ(shape.tuned_candidate, shape.default_candidate);
  } else {
    EXPECT_TRUE(beats_by_noise(shape.tuned_timing, shape.default_timing));
  }

  // The entry goes through a file and back to the runtime's lookup.
  std::vector<TuningEntry> entries = tuning_entries(*pipeline, request, *result, host_cpu_identity());
  ASSERT_EQ(entries.size(), 1u);
  std::string path = (fs::path(::testing::TempDir()) / ("rowjit_tuner_" + std::to_string(getpid()) + ".json")).string();
  TuningFile file;
  merge_tuning_entries(file, entries);
  ASSERT_TRUE(save_tuning_file(path, file).is_ok());
  auto loaded = load_tuning_file(path);
  fs::remove(path);
  ASSERT_TRUE(loaded.is_ok()) << loaded.status().to_string();
  auto choices = tuned_choices(*loaded, host_cpu_identity(), pipeline_hash(*pipeline), result->isa, 4096, 1);
  ASSERT_TRUE(choices.has_value());
  EXPECT_EQ(choices->softmax_form, shape.tuned_candidate.softmax_form);
  EXPECT_EQ(choices->unroll, shape.tuned_candidate.unroll);
  EXPECT_EQ(choices->nontemporal_stores, shape.tuned_candidate.nontemporal_stores);
  EXPECT_EQ(choices->exp_group, shape.tuned_candidate.exp_group);
  auto plan = ir::make_plan(*pipeline, host_target(result->isa), 4096, *choices);
  EXPECT_TRUE(plan.is_ok()) << plan.status().to_string();
}

using testing::CliResult;
using testing::run_cli;

class TuneCli : public testing::ScratchFolderTest {
 protected:
  // Runs `rowjit tune` with `args`. The binary inherits this process's
  // ROWJIT_* variables, so it applies the same ISA cap as host_isa() in this process.
  CliResult run(const std::vector<std::string>& args) const {
    std::vector<std::string> command_args = {"tune"};
    command_args.insert(command_args.end(), args.begin(), args.end());
    return run_cli(command_args, folder_);
  }
};

const std::string kSoftmaxExample = std::string(ROWJIT_SOURCE_DIR) + "/examples/softmax.rj";

TEST_F(TuneCli, Help) {
  CliResult result = run({"--help"});
  EXPECT_EQ(result.exit_code, 0);
  EXPECT_NE(result.out.find("--budget SECONDS"), std::string::npos) << result.out;
  EXPECT_NE(result.out.find("--out FILE"), std::string::npos) << result.out;
}

TEST_F(TuneCli, MissingOptions) {
  CliResult no_out = run({kSoftmaxExample, "--n", "4096"});
  EXPECT_EQ(no_out.exit_code, 2);
  EXPECT_NE(no_out.err.find("missing option: --out"), std::string::npos) << no_out.err;
  CliResult no_n = run({kSoftmaxExample, "--out", path("tuning.json")});
  EXPECT_EQ(no_n.exit_code, 2);
  EXPECT_NE(no_n.err.find("missing option: --n"), std::string::npos) << no_n.err;
  CliResult bad_n = run({kSoftmaxExample, "--n", "4096,zero", "--out", path("tuning.json")});
  EXPECT_EQ(bad_n.exit_code, 2);
  EXPECT_NE(bad_n.err.find("'zero'"), std::string::npos) << bad_n.err;
  CliResult bad_budget = run({kSoftmaxExample, "--n", "4096", "--budget", "0", "--out", path("tuning.json")});
  EXPECT_EQ(bad_budget.exit_code, 2);
  EXPECT_FALSE(fs::exists(path("tuning.json")));
}

TEST_F(TuneCli, CorruptOutFileKept) {
  std::string out = path("tuning.json");
  {
    std::ofstream file(out);
    file << "{\"schema_version\": 1, \"entries\": [";
  }
  CliResult result = run({kSoftmaxExample, "--n", "4096", "--budget", "1", "--out", out});
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_NE(result.err.find("cannot merge into --out"), std::string::npos) << result.err;
  EXPECT_NE(result.err.find("not valid JSON"), std::string::npos) << result.err;
  EXPECT_EQ(testing::read_text_file(out), "{\"schema_version\": 1, \"entries\": [");
}

TEST_F(TuneCli, TinyBudgetWritesAndMerges) {
  if (host_isa() == Isa::kNone) GTEST_SKIP() << "no AVX2 or AVX-512 here, so no JIT kernel to tune";
  std::string out = path("tuning.json");
  CliResult first = run({kSoftmaxExample, "--n", "4096", "--budget", "1", "--out", out});
  ASSERT_EQ(first.exit_code, 0) << first.err;
  EXPECT_NE(first.out.find("summary"), std::string::npos) << first.out;
  EXPECT_NE(first.out.find("wrote 1 entry"), std::string::npos) << first.out;

  CliResult second = run({kSoftmaxExample, "--n", "1000", "--budget", "1", "--out", out});
  ASSERT_EQ(second.exit_code, 0) << second.err;

  auto file = load_tuning_file(out);
  ASSERT_TRUE(file.is_ok()) << file.status().to_string();
  ASSERT_EQ(file->entries.size(), 2u);
  auto pipeline = ir::parse_pipeline(testing::kSoftmaxText);
  ASSERT_TRUE(pipeline.is_ok());
  uint64_t hash = pipeline_hash(*pipeline);
  EXPECT_TRUE(tuned_choices(*file, host_cpu_identity(), hash, host_isa(), 4096, 1).has_value());
  EXPECT_TRUE(tuned_choices(*file, host_cpu_identity(), hash, host_isa(), 1000, 1).has_value());
  EXPECT_FALSE(tuned_choices(*file, host_cpu_identity(), hash, host_isa(), 65536, 1).has_value());
}

}  // namespace
}  // namespace rowjit
