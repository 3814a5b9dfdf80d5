// `rowjit run` with --isa, --plan and --choice: the forced kernel runs, gives
// the default kernel's results within the softmax bound, and a forced plan
// that does not apply is a usage error that leaves no output file.
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "runtime/cpu_features.h"
#include "runtime/npy.h"
#include "tests/cli_testing.h"
#include "tests/text_testing.h"

namespace rowjit::testing {
namespace {

const std::string kSourceDir = ROWJIT_SOURCE_DIR;

class CliRunChoice : public ScratchFolderTest {
 protected:
  CliResult run(const std::vector<std::string>& args) const {
    CliOptions options;
    options.working_dir = kSourceDir;
    return run_cli(args, folder_, options);
  }

  CliResult run_softmax(const std::string& output, const std::vector<std::string>& extra) const {
    std::vector<std::string> args = {"run", "examples/softmax.rj", "--input", "x=examples/logits.npy", "--output",
                                     "y=" + path(output)};
    args.insert(args.end(), extra.begin(), extra.end());
    return run(args);
  }
};

TEST_F(CliRunChoice, ForcedKernelMatchesDefault) {
  if (best_isa(host_cpu()) < Isa::kAvx2) GTEST_SKIP() << "this CPU runs no JIT kernel";
  CliResult plain = run_softmax("plain.npy", {});
  ASSERT_EQ(plain.exit_code, 0) << plain.err;
  CliResult forced = run_softmax("forced.npy", {"--isa", "avx2", "--plan", "two_pass_online", "--choice",
                                                "speculative_max=off", "--choice", "unroll=2"});
  ASSERT_EQ(forced.exit_code, 0) << forced.err;
  EXPECT_TRUE(contains(forced.out, "[jit avx2]")) << forced.out;

  Result<NpyArray> plain_y = read_npy(path("plain.npy"));
  Result<NpyArray> forced_y = read_npy(path("forced.npy"));
  ASSERT_TRUE(plain_y.is_ok()) << plain_y.status().message();
  ASSERT_TRUE(forced_y.is_ok()) << forced_y.status().message();
  std::vector<float> a = floats_of(*plain_y);
  std::vector<float> b = floats_of(*forced_y);
  ASSERT_EQ(a.size(), 8000u);
  ASSERT_EQ(b.size(), a.size());
  for (size_t i = 0; i < a.size(); ++i) {
    // Each is within 4e-6 relative of the exact softmax (docs/jit.md).
    ASSERT_NEAR(b[i], a[i], 8e-6 * a[i] + 1e-40) << "element " << i;
  }
}

TEST_F(CliRunChoice, PlanThatDoesNotApplyIsUsageError) {
  CliResult result = run({"run", "examples/log_softmax.rj", "--input", "x=examples/logits.npy", "--output",
                          "y=" + path("y.npy"), "--plan", "two_pass_extexp"});
  EXPECT_EQ(result.exit_code, 2);
  EXPECT_TRUE(contains(result.err, "forced plan does not apply")) << result.err;
  EXPECT_TRUE(contains(result.err, "give another --plan variant or --choice value")) << result.err;
  EXPECT_FALSE(std::filesystem::exists(path("y.npy")));
}

TEST_F(CliRunChoice, UnknownChoiceIsUsageError) {
  CliResult result = run_softmax("y.npy", {"--choice", "fast=on"});
  EXPECT_EQ(result.exit_code, 2);
  EXPECT_TRUE(contains(result.err, "'fast'")) << result.err;
  EXPECT_FALSE(std::filesystem::exists(path("y.npy")));
}

// ROWJIT_MAX_ISA=none without --isa runs the interpreter, which has no plan
// choices to force: the run succeeds and prints a note that they had no effect.
TEST_F(CliRunChoice, InterpreterRunNotesIgnoredPlan) {
  CliOptions options;
  options.working_dir = kSourceDir;
  options.environment = {{"ROWJIT_MAX_ISA", "none"}};
  const std::vector<std::string> args = {"run", "examples/softmax.rj", "--input", "x=examples/logits.npy",
                                         "--output", "y=" + path("y.npy")};
  std::vector<std::string> forced = args;
  forced.insert(forced.end(), {"--plan", "three_pass_reload"});

  CliResult result = run_cli(forced, folder_, options);
  EXPECT_EQ(result.exit_code, 0) << result.err;
  EXPECT_TRUE(contains(result.out, "[interpreter]")) << result.out;
  EXPECT_TRUE(contains(result.err, "--plan and --choice had no effect")) << result.err;

  CliResult plain = run_cli(args, folder_, options);
  EXPECT_EQ(plain.exit_code, 0) << plain.err;
  EXPECT_FALSE(contains(plain.err, "had no effect")) << plain.err;
}

TEST_F(CliRunChoice, InvalidIsaIsUsageError) {
  CliResult result = run_softmax("y.npy", {"--isa", "sse4"});
  EXPECT_EQ(result.exit_code, 2);
  EXPECT_TRUE(contains(result.err, "invalid value for --isa: 'sse4'")) << result.err;
}

TEST_F(CliRunChoice, IsaTheCpuLacksFails) {
  Isa best = best_isa(host_cpu());
  if (best == Isa::kAvx512) GTEST_SKIP() << "this CPU runs every ISA that --isa takes";
  CliResult result = run_softmax("y.npy", {"--isa", "avx512"});
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_TRUE(contains(result.err, "ISA not supported on this machine: avx512")) << result.err;
  EXPECT_FALSE(std::filesystem::exists(path("y.npy")));
}

}  // namespace
}  // namespace rowjit::testing
