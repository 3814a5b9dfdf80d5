// End-to-end tests of `rowjit dump`, `rowjit plan`, `rowjit cpu` and the JIT
// engine of `rowjit run`: each test runs the built binary with std::system in
// a clean environment and checks its exit code, its output and its messages.
#include <gtest/gtest.h>

#include <algorithm>
#include <cinttypes>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include "ir/planner.h"
#include "runtime/compiler.h"
#include "runtime/cpu_features.h"
#include "runtime/npy.h"
#include "tests/cli_testing.h"
#include "tests/json_testing.h"
#include "tests/test_util.h"
#include "tests/text_testing.h"

namespace rowjit::testing {
namespace {

namespace fs = std::filesystem;

const std::string kSourceDir = ROWJIT_SOURCE_DIR;

std::string source_path(const std::string& relative) { return kSourceDir + "/" + relative; }

Isa best_host_isa() { return best_isa(host_cpu()); }

const std::regex kOpmask(R"(\bk[0-7]\b)");

class CliDumpTest : public ScratchFolderTest {
 protected:
  // Runs the rowjit binary with `args` from the source folder, with the
  // rowjit environment variables unset except those in `env`.
  CliResult run(const std::vector<std::string>& args, const std::map<std::string, std::string>& env = {}) const {
    CliOptions options;
    options.working_dir = kSourceDir;
    options.unset_rowjit_variables = true;
    options.environment = env;
    return run_cli(args, folder_, options);
  }

  void write_text(const std::string& name, const std::string& text) const {
    std::ofstream out(path(name), std::ios::binary);
    out << text;
  }
};

// "; sweep N: B code bytes, I instructions" lines of a text listing, as {N, I}.
std::vector<std::pair<int, int>> text_sweep_counts(const std::string& listing) {
  std::vector<std::pair<int, int>> counts;
  std::regex line_pattern(R"(^; sweep (\d+): (\d+) code bytes, (\d+) instructions? \()");
  for (const std::string& line : lines_of(listing)) {
    std::smatch match;
    if (std::regex_search(line, match, line_pattern)) counts.emplace_back(std::stoi(match[1]), std::stoi(match[3]));
  }
  return counts;
}

// Lines after "; masked tail" up to the next marker that is not an op.
std::vector<std::string> masked_tail_lines(const std::string& listing) {
  std::vector<std::string> result;
  bool inside = false;
  for (const std::string& line : lines_of(listing)) {
    if (line == "; masked tail") {
      inside = true;
      continue;
    }
    if (!inside) continue;
    if (line.starts_with("; ") && !line.starts_with("; op:")) break;
    result.push_back(line);
  }
  return result;
}

// --- rowjit dump ---

TEST_F(CliDumpTest, DumpHelpListsOptions) {
  CliResult result = run({"dump", "--help"});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  for (const char* option : {"--isa ISA", "--n N", "--plan VARIANT", "--syntax SYNTAX", "--bytes", "--format FORMAT"}) {
    EXPECT_TRUE(contains(result.out, option)) << option << "\n" << result.out;
  }
  EXPECT_TRUE(contains(result.out, "two_pass_extexp")) << result.out;
}

TEST_F(CliDumpTest, DumpAvx512UsesZmmAndOpmaskTail) {
  if (best_host_isa() < Isa::kAvx512) GTEST_SKIP() << "this CPU or OS does not support AVX-512";
  CliResult result = run({"dump", "examples/softmax.rj", "--isa", "avx512"});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_TRUE(contains(result.out, "zmm")) << result.out;
  std::vector<std::string> tail = masked_tail_lines(result.out);
  ASSERT_FALSE(tail.empty()) << result.out;
  bool masked = false;
  for (const std::string& line : tail) masked = masked || std::regex_search(line, kOpmask);
  EXPECT_TRUE(masked) << result.out;
}

TEST_F(CliDumpTest, DumpExtExpHasVscalefps) {
  if (best_host_isa() < Isa::kAvx512) GTEST_SKIP() << "this CPU or OS does not support AVX-512";
  CliResult result = run({"dump", "examples/softmax.rj", "--isa", "avx512", "--plan", "two_pass_extexp"});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_TRUE(contains(result.out, "vscalefps")) << result.out;
  EXPECT_TRUE(contains(result.out, "softmax form two_pass_extexp")) << result.out;
  EXPECT_TRUE(contains(result.out, "; sweep 0 again, on x - max (the row's max is at least 524288 in magnitude)"))
      << result.out;
  EXPECT_TRUE(contains(result.out, "; loops on x - max (the row's max is at least 524288 in magnitude)")) << result.out;
}

TEST_F(CliDumpTest, DumpAvx2HasNoZmmOrOpmask) {
  if (best_host_isa() < Isa::kAvx2) GTEST_SKIP() << "this CPU or OS does not support AVX2";
  CliResult result = run({"dump", "examples/softmax.rj", "--isa", "avx2"});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_TRUE(contains(result.out, "ymm")) << result.out;
  EXPECT_FALSE(contains(result.out, "zmm")) << result.out;
  EXPECT_FALSE(std::regex_search(result.out, kOpmask)) << result.out;
}

TEST_F(CliDumpTest, DumpJsonCountsMatchText) {
  if (best_host_isa() < Isa::kAvx2) GTEST_SKIP() << "this CPU or OS does not support AVX2";
  for (Isa isa : {Isa::kAvx2, Isa::kAvx512}) {
    if (best_host_isa() < isa) continue;
    std::vector<std::string> args = {"dump", "examples/softmax.rj", "--isa", isa_name(isa), "--n", "100000"};
    CliResult text = run(args);
    args.insert(args.end(), {"--format", "json"});
    CliResult json_result = run(args);
    ASSERT_EQ(text.exit_code, 0) << text.err;
    ASSERT_EQ(json_result.exit_code, 0) << json_result.err;

    auto json = parse_json(json_result.out);
    ASSERT_TRUE(json.is_ok()) << json.status().to_string() << "\n" << json_result.out;
    EXPECT_EQ(json_member(*json, "isa").string, isa_name(isa));
    std::vector<std::pair<int, int>> counts = text_sweep_counts(text.out);
    const auto& sweeps = json_member(*json, "sweeps").array;
    ASSERT_FALSE(counts.empty()) << text.out;
    ASSERT_EQ(sweeps.size(), counts.size());
    for (size_t s = 0; s < sweeps.size(); ++s) {
      EXPECT_EQ(json_member(sweeps[s], "sweep").number, counts[s].first) << isa_name(isa);
      EXPECT_EQ(json_member(sweeps[s], "instructions").number, counts[s].second) << isa_name(isa);
    }
  }
}

TEST_F(CliDumpTest, DumpJsonBytesCoverCode) {
  if (best_host_isa() < Isa::kAvx2) GTEST_SKIP() << "this CPU or OS does not support AVX2";
  CliResult result = run({"dump", "examples/softmax.rj", "--isa", "avx2", "--format", "json"});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  auto json = parse_json(result.out);
  ASSERT_TRUE(json.is_ok()) << json.status().to_string() << "\n" << result.out;
  size_t hex_digits = 0;
  for (const JsonValue& instruction : json_member(*json, "instructions").array) {
    hex_digits += json_member(instruction, "bytes").string.size();
  }
  EXPECT_EQ(static_cast<double>(hex_digits), 2 * json_member(*json, "code_bytes").number);
}

TEST_F(CliDumpTest, DumpBytesShowRet) {
  if (best_host_isa() < Isa::kAvx2) GTEST_SKIP() << "this CPU or OS does not support AVX2";
  CliResult result = run({"dump", "examples/softmax.rj", "--isa", "avx2", "--bytes"});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  // ret is the one-byte opcode c3.
  EXPECT_TRUE(std::regex_search(result.out, std::regex(R"(\n[0-9a-f]{4}:  c3 +ret\n)"))) << result.out;
}

TEST_F(CliDumpTest, DumpAttSyntax) {
  if (best_host_isa() < Isa::kAvx2) GTEST_SKIP() << "this CPU or OS does not support AVX2";
  CliResult result = run({"dump", "examples/softmax.rj", "--isa", "avx2", "--syntax", "att"});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_TRUE(contains(result.out, "%ymm")) << result.out;
}

TEST_F(CliDumpTest, DumpFollowsIsaCap) {
  if (best_host_isa() < Isa::kAvx2) GTEST_SKIP() << "this CPU or OS does not support AVX2";
  CliResult result = run({"dump", "examples/softmax.rj"}, {{"ROWJIT_MAX_ISA", "avx2"}});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_TRUE(contains(result.out, "\n; avx2 kernel, unroll ")) << result.out;
}

TEST_F(CliDumpTest, DumpRejectsUnknownIsa) {
  CliResult result = run({"dump", "examples/softmax.rj", "--isa", "sse"});
  EXPECT_EQ(result.exit_code, 2);
  EXPECT_TRUE(contains(result.err, "rowjit dump: invalid value for --isa: 'sse'; give avx512 or avx2")) << result.err;
}

TEST_F(CliDumpTest, DumpRejectsUnknownVariant) {
  CliResult result = run({"dump", "examples/softmax.rj", "--plan", "fast"});
  EXPECT_EQ(result.exit_code, 2);
  EXPECT_TRUE(contains(result.err,
                       "rowjit dump: unknown plan variant for --plan: 'fast'; give one of three_pass_recompute, "
                       "three_pass_reload, two_pass_online and two_pass_extexp"))
      << result.err;
}

TEST_F(CliDumpTest, DumpRejectsVariantForAvx2) {
  if (best_host_isa() < Isa::kAvx2) GTEST_SKIP() << "this CPU or OS does not support AVX2";
  CliResult result = run({"dump", "examples/softmax.rj", "--isa", "avx2", "--plan", "two_pass_extexp"});
  EXPECT_EQ(result.exit_code, 2);
  EXPECT_TRUE(contains(result.err, "rowjit dump: forced plan does not apply: ")) << result.err;
  EXPECT_TRUE(contains(result.err, "AVX-512 only")) << result.err;
}

TEST_F(CliDumpTest, DumpRejectsVariantWithoutCore) {
  CliResult result = run({"dump", "examples/stablemax.rj", "--plan", "two_pass_online"});
  EXPECT_EQ(result.exit_code, 2);
  EXPECT_TRUE(contains(result.err, "rowjit dump: forced plan does not apply: ")) << result.err;
  EXPECT_TRUE(contains(result.err, "has no max / exp / sum core")) << result.err;
}

TEST_F(CliDumpTest, DumpForcesChoices) {
  if (best_host_isa() < Isa::kAvx2) GTEST_SKIP() << "this CPU or OS does not support AVX2";
  CliResult grouped = run({"dump", "examples/softmax.rj", "--isa", "avx2", "--n", "4096", "--choice", "unroll=2"});
  ASSERT_EQ(grouped.exit_code, 0) << grouped.err;
  EXPECT_TRUE(contains(grouped.out, "avx2 kernel, unroll 2,")) << grouped.out;
  EXPECT_TRUE(contains(grouped.out, "; main loop: 2 vectors per iteration, exps in groups of 2")) << grouped.out;

  CliResult single = run({"dump", "examples/softmax.rj", "--isa", "avx2", "--n", "4096", "--choice", "unroll=2",
                          "--choice", "exp_group=1"});
  ASSERT_EQ(single.exit_code, 0) << single.err;
  EXPECT_FALSE(contains(single.out, "exps in groups of")) << single.out;
  EXPECT_TRUE(contains(single.out, "; main loop: 2 vectors per iteration")) << single.out;
}

TEST_F(CliDumpTest, DumpRejectsUnknownChoice) {
  CliResult result = run({"dump", "examples/softmax.rj", "--choice", "warp=2"});
  EXPECT_EQ(result.exit_code, 2);
  EXPECT_TRUE(contains(result.err, "rowjit dump: unknown plan choice for --choice: 'warp'; give one of unroll, "))
      << result.err;
}

TEST_F(CliDumpTest, DumpRejectsBadChoiceValue) {
  CliResult flag = run({"dump", "examples/softmax.rj", "--choice", "blocked_exp=yes"});
  EXPECT_EQ(flag.exit_code, 2);
  EXPECT_TRUE(contains(flag.err, "invalid value for --choice blocked_exp: 'yes'; give on or off")) << flag.err;
  CliResult integer = run({"dump", "examples/softmax.rj", "--choice", "unroll=two"});
  EXPECT_EQ(integer.exit_code, 2);
  EXPECT_TRUE(contains(integer.err, "invalid value for --choice unroll: 'two'")) << integer.err;
  CliResult twice = run({"dump", "examples/softmax.rj", "--choice", "blocked_exp=on", "--choice", "blocked_exp=off"});
  EXPECT_EQ(twice.exit_code, 2);
  EXPECT_TRUE(contains(twice.err, "plan choice given twice: 'blocked_exp'; give each --choice once")) << twice.err;
  CliResult bare = run({"dump", "examples/softmax.rj", "--choice", "unroll"});
  EXPECT_EQ(bare.exit_code, 2);
  EXPECT_TRUE(contains(bare.err, "invalid --choice argument: 'unroll'; write it as --choice NAME=VALUE")) << bare.err;
}

TEST_F(CliDumpTest, DumpNamesOpWithoutLowering) {
  if (best_host_isa() < Isa::kAvx2) GTEST_SKIP() << "this CPU or OS does not support AVX2";
  CliResult result = run({"dump", "examples/moe_topk_softmax.rj"});
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_TRUE(contains(result.err, "rowjit dump: no JIT kernel for this pipeline: ")) << result.err;
  EXPECT_TRUE(contains(result.err, "'topk'")) << result.err;
  EXPECT_TRUE(result.out.empty()) << result.out;
}

TEST_F(CliDumpTest, DumpWithoutJitIsa) {
  CliResult result = run({"dump", "examples/softmax.rj"}, {{"ROWJIT_MAX_ISA", "none"}});
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_TRUE(contains(result.err, "rowjit dump: no JIT instruction set on this machine: ")) << result.err;
  EXPECT_TRUE(contains(result.err, "capped at none by ROWJIT_MAX_ISA")) << result.err;
}

TEST_F(CliDumpTest, DumpRejectsIsaHostLacks) {
  if (best_host_isa() >= Isa::kAvx512) GTEST_SKIP() << "this machine supports every ISA the JIT targets";
  CliResult result = run({"dump", "examples/softmax.rj", "--isa", "avx512"});
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_TRUE(contains(result.err, "rowjit dump: ISA not supported on this machine: avx512; ")) << result.err;
}

TEST_F(CliDumpTest, DumpRejectsBadFormat) {
  CliResult result = run({"dump", "examples/softmax.rj", "--format", "xml"});
  EXPECT_EQ(result.exit_code, 2);
  EXPECT_TRUE(contains(result.err, "rowjit dump: invalid value for --format: 'xml'; give text or json")) << result.err;
}

TEST_F(CliDumpTest, DumpRejectsBadSyntax) {
  CliResult result = run({"dump", "examples/softmax.rj", "--syntax", "masm"});
  EXPECT_EQ(result.exit_code, 2);
  EXPECT_TRUE(contains(result.err, "rowjit dump: invalid value for --syntax: 'masm'; give intel or att")) << result.err;
}

TEST_F(CliDumpTest, DumpRejectsBadN) {
  CliResult result = run({"dump", "examples/softmax.rj", "--n", "-5"});
  EXPECT_EQ(result.exit_code, 2);
  EXPECT_TRUE(contains(result.err, "rowjit dump: invalid value for --n: '-5'")) << result.err;
}

TEST_F(CliDumpTest, DumpNeedsPipeline) {
  CliResult result = run({"dump"});
  EXPECT_EQ(result.exit_code, 2);
  EXPECT_TRUE(contains(result.err, "rowjit dump: missing argument: PIPELINE; ")) << result.err;
}

TEST_F(CliDumpTest, DumpMissingFile) {
  CliResult result = run({"dump", path("absent.rj")});
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_TRUE(contains(result.err, "rowjit dump: pipeline file not found: " + path("absent.rj"))) << result.err;
}

// --- rowjit plan ---

TEST_F(CliDumpTest, PlanHelpListsOptions) {
  CliResult result = run({"plan", "--help"});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  for (const char* option : {"--n N", "--rows R", "--isa ISA", "--plan VARIANT"}) {
    EXPECT_TRUE(contains(result.out, option)) << option << "\n" << result.out;
  }
}

TEST_F(CliDumpTest, PlanMatchesMakePlan) {
  Isa isa = best_host_isa();
  if (isa < Isa::kAvx2) GTEST_SKIP() << "this CPU or OS does not support AVX2";
  auto pipeline = parse_example("softmax");
  ASSERT_TRUE(pipeline.is_ok());

  struct Case {
    int64_t n;
    std::optional<ir::SoftmaxForm> form;
  };
  std::vector<Case> cases = {{1000, std::nullopt},
                             {int64_t{4} << 20, std::nullopt},
                             {1000, ir::SoftmaxForm::kThreePassRecompute},
                             {1000, ir::SoftmaxForm::kTwoPassOnline}};
  std::regex summary(R"(\n  sweeps: (\d+), ([0-9.]+) bytes per element\n)");
  for (const Case& c : cases) {
    ir::PlanChoices choices;
    choices.softmax_form = c.form;
    auto expected = ir::make_plan(*pipeline, host_target(isa), c.n, choices);
    ASSERT_TRUE(expected.is_ok()) << expected.status().to_string();

    std::vector<std::string> args = {"plan", "examples/softmax.rj", "--n", std::to_string(c.n), "--isa",
                                     isa_name(isa)};
    if (c.form) args.insert(args.end(), {"--plan", std::string(ir::softmax_form_name(*c.form))});
    CliResult result = run(args);
    ASSERT_EQ(result.exit_code, 0) << result.err;
    std::smatch match;
    ASSERT_TRUE(std::regex_search(result.out, match, summary)) << result.out;
    EXPECT_EQ(std::stoul(match[1]), expected->sweeps.size()) << "n = " << c.n;
    EXPECT_EQ(std::stod(match[2]), expected->bytes_per_element) << "n = " << c.n;
    EXPECT_TRUE(contains(result.out, "softmax form: " + std::string(ir::softmax_form_name(expected->softmax_form))))
        << result.out;
  }
}

TEST_F(CliDumpTest, PlanShowsLowering) {
  if (best_host_isa() < Isa::kAvx2) GTEST_SKIP() << "this CPU or OS does not support AVX2";
  CliResult result = run({"plan", "examples/softmax.rj", "--n", "4096", "--isa", "avx2"});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_TRUE(contains(result.out, "\nlowering:\n  isa: avx2 (set by --isa)\n")) << result.out;
  EXPECT_TRUE(std::regex_search(result.out, std::regex(R"(\n  unroll: [1-8] vectors? per main-loop iteration)")))
      << result.out;
  EXPECT_TRUE(contains(result.out, ", but the softmax sum keeps one\n")) << result.out;
  EXPECT_TRUE(std::regex_search(result.out, std::regex(R"(\n  code: \d+ bytes, \d+ constants)"))) << result.out;
}

// The online form keeps a sum per lane on AVX2 too.
TEST_F(CliDumpTest, PlanOnlineFormKeepsLaneSums) {
  if (best_host_isa() < Isa::kAvx2) GTEST_SKIP() << "this CPU or OS does not support AVX2";
  CliResult result = run({"plan", "examples/softmax.rj", "--n", "70001", "--isa", "avx2", "--plan", "two_pass_online"});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_TRUE(contains(result.out, "\n  unroll: ")) << result.out;
  EXPECT_FALSE(contains(result.out, "softmax sum keeps one")) << result.out;
}

TEST_F(CliDumpTest, PlanTotalsTrafficForRows) {
  if (best_host_isa() < Isa::kAvx2) GTEST_SKIP() << "this CPU or OS does not support AVX2";
  auto pipeline = parse_example("softmax");
  ASSERT_TRUE(pipeline.is_ok());
  ir::PlanChoices choices;
  choices.softmax_form = ir::SoftmaxForm::kThreePassRecompute;
  auto expected = ir::make_plan(*pipeline, host_target(Isa::kAvx2), 1000, choices);
  ASSERT_TRUE(expected.is_ok());

  CliResult result = run({"plan", "examples/softmax.rj", "--n", "1000", "--rows", "8", "--isa", "avx2", "--plan",
                          "three_pass_recompute"});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  double row_bytes = expected->bytes_per_element * 1000;
  char line[128];
  std::snprintf(line, sizeof line, "memory traffic: %.0f bytes per row, %.0f bytes for 8 rows", row_bytes,
                row_bytes * 8);
  EXPECT_TRUE(contains(result.out, line)) << result.out;
}

// StableMax at n = 64 on AVX2 plans rows of 8 vectors in registers, which do
// not fit the 16 ymm registers, so the kernel runs the loops: per element, the
// sum sweep reads x (4 bytes) and the last sweep reads x and writes y (8).
TEST_F(CliDumpTest, PlanResidentRowsThatDidNotFit) {
  if (best_host_isa() < Isa::kAvx2) GTEST_SKIP() << "this CPU or OS does not support AVX2";
  auto pipeline = parse_example("stablemax");
  ASSERT_TRUE(pipeline.is_ok());
  CompileOptions options;
  options.isa = Isa::kAvx2;
  options.n_hint = 64;
  auto kernel = compile(*pipeline, options);
  ASSERT_TRUE(kernel.is_ok()) << kernel.status().to_string();
  ASSERT_NE((*kernel)->compiled(), nullptr);
  if ((*kernel)->compiled()->resident_vectors > 0) GTEST_SKIP() << "the AVX2 kernel now holds these rows";

  CliResult result = run({"plan", "examples/stablemax.rj", "--n", "64", "--isa", "avx2", "--rows", "10"});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_TRUE(contains(result.out, "\n  sweeps: 2, 12 bytes per element\n")) << result.out;
  EXPECT_TRUE(contains(result.out, "memory traffic: 768 bytes per row, 7680 bytes for 10 rows\n")) << result.out;
  EXPECT_TRUE(contains(result.out, "rows of 8 vectors held in registers: planned, but they did not fit")) << result.out;
  EXPECT_TRUE(contains(result.out, "so every row takes the loops\n")) << result.out;
  EXPECT_FALSE(contains(result.out, "loaded once, no loops")) << result.out;
  EXPECT_FALSE(contains(result.out, "resident rows: rows of")) << result.out;
  // The loops prefetch in both sweeps, so the prefetch reason has no note
  // about resident rows.
  EXPECT_FALSE(contains(result.out, std::string(ir::kResidentPrefetchNote))) << result.out;

  CliResult forced = run({"plan", "examples/stablemax.rj", "--n", "64", "--isa", "avx2", "--choice",
                          "resident_vectors=8"});
  ASSERT_EQ(forced.exit_code, 0) << forced.err;
  EXPECT_TRUE(contains(forced.out, "rows of 8 vectors held in registers: forced, but they did not fit")) << forced.out;
}

// The same pipeline on AVX-512 keeps its rows of 4 vectors in registers: x is read and y
// written once, 8 bytes per element.
TEST_F(CliDumpTest, PlanResidentRowsThatFit) {
  if (best_host_isa() < Isa::kAvx512) GTEST_SKIP() << "this CPU or OS does not support AVX-512";
  CliResult result = run({"plan", "examples/stablemax.rj", "--n", "64", "--isa", "avx512", "--rows", "10"});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_TRUE(contains(result.out, "\n  sweeps: 2, 8 bytes per element\n")) << result.out;
  EXPECT_TRUE(contains(result.out, "memory traffic: 512 bytes per row, 5120 bytes for 10 rows\n")) << result.out;
  EXPECT_TRUE(contains(result.out, "rows of 4 vectors held in registers: loaded once")) << result.out;
  EXPECT_TRUE(contains(result.out, "  resident rows: rows of 4 vectors stay in registers (exps one vector at a "
                                   "time, regular stores; other lengths take the loops)\n"))
      << result.out;
}

// The exp groups and the store switch of the plan apply to the loops: the
// copy for resident rows computes one exp at a time and stores regularly.
TEST_F(CliDumpTest, PlanSaysGroupsApplyToLoops) {
  if (best_host_isa() < Isa::kAvx512) GTEST_SKIP() << "this CPU or OS does not support AVX-512";
  CliResult result = run({"plan", "examples/softmax.rj", "--n", "256", "--isa", "avx512"});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_TRUE(contains(result.out, "  exp groups: the exps of 4 vectors side by side, in the loops\n")) << result.out;
}

// The plan names the exp sweeps' copy without the underflow guard, which
// AVX-512 leaves out of rows held in registers and the online form leaves out.
TEST_F(CliDumpTest, PlanNamesLeftOutExpGuard) {
  const std::string line = "  exp guard: left out on rows whose max - min is at most 103.5 (the max sweep takes the min too)";
  CliResult avx2 = run({"plan", "examples/softmax.rj", "--n", "64", "--isa", "avx2"});
  ASSERT_EQ(avx2.exit_code, 0) << avx2.err;
  EXPECT_TRUE(contains(avx2.out, line + "\n")) << avx2.out;
  CliResult online = run({"plan", "examples/softmax.rj", "--n", "64", "--isa", "avx2", "--plan", "two_pass_online"});
  ASSERT_EQ(online.exit_code, 0) << online.err;
  EXPECT_FALSE(contains(online.out, "exp guard:")) << online.out;
  if (best_host_isa() < Isa::kAvx512) GTEST_SKIP() << "this CPU or OS does not support AVX-512";
  CliResult avx512 = run({"plan", "examples/softmax.rj", "--n", "64", "--isa", "avx512"});
  ASSERT_EQ(avx512.exit_code, 0) << avx512.err;
  EXPECT_TRUE(contains(avx512.out, line + ", in the loops\n")) << avx512.out;
}

// Blocked exp names its own copy without the guard on AVX2, and AVX-512 has
// none.
TEST_F(CliDumpTest, PlanNamesBlockedExpGuard) {
  const std::string line = "  exp guard: left out while the reference - the block's min is at most 103.5";
  CliResult avx2 = run({"plan", "examples/softmax.rj", "--n", "16384", "--isa", "avx2"});
  ASSERT_EQ(avx2.exit_code, 0) << avx2.err;
  EXPECT_TRUE(contains(avx2.out, line)) << avx2.out;
  if (best_host_isa() < Isa::kAvx512) GTEST_SKIP() << "this CPU or OS does not support AVX-512";
  CliResult avx512 = run({"plan", "examples/softmax.rj", "--n", "16384", "--isa", "avx512"});
  ASSERT_EQ(avx512.exit_code, 0) << avx512.err;
  EXPECT_FALSE(contains(avx512.out, "exp guard:")) << avx512.out;
}

TEST_F(CliDumpTest, PlanNamesExtExpLargeMaxima) {
  if (best_host_isa() < Isa::kAvx512) GTEST_SKIP() << "this CPU or OS does not support AVX-512";
  const std::string line = "  large maxima: rows whose max is at least 524288 in magnitude run both sweeps again";
  CliResult extexp = run({"plan", "examples/softmax.rj", "--n", "100000", "--plan", "two_pass_extexp"});
  ASSERT_EQ(extexp.exit_code, 0) << extexp.err;
  EXPECT_TRUE(contains(extexp.out, line)) << extexp.out;
  CliResult online = run({"plan", "examples/softmax.rj", "--n", "100000", "--plan", "two_pass_online"});
  ASSERT_EQ(online.exit_code, 0) << online.err;
  EXPECT_FALSE(contains(online.out, "large maxima:")) << online.out;
}

TEST_F(CliDumpTest, PlanOfInterpretedPipeline) {
  CliResult result = run({"plan", "examples/moe_topk_softmax.rj", "--n", "64"});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_TRUE(contains(result.out, "runs on: reference interpreter")) << result.out;
  EXPECT_TRUE(contains(result.out, "no machine code: the reference interpreter runs this pipeline")) << result.out;
  EXPECT_TRUE(contains(result.out, "'topk'")) << result.out;
}

TEST_F(CliDumpTest, PlanNeedsN) {
  CliResult result = run({"plan", "examples/softmax.rj"});
  EXPECT_EQ(result.exit_code, 2);
  EXPECT_TRUE(contains(result.err, "rowjit plan: missing option: --n; ")) << result.err;
}

TEST_F(CliDumpTest, PlanRejectsVariant) {
  CliResult result = run({"plan", "examples/softmax_temperature.rj", "--n", "64", "--plan", "two_pass_extexp"});
  EXPECT_EQ(result.exit_code, 2);
  EXPECT_TRUE(contains(result.err, "rowjit plan: forced plan does not apply: ")) << result.err;
}

TEST_F(CliDumpTest, PlanForcesChoices) {
  CliResult result = run({"plan", "examples/softmax.rj", "--n", "1000000", "--choice", "blocked_exp=off",
                          "--choice", "prefetch_bytes=0"});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_TRUE(contains(result.out, "blocked exp off: forced")) << result.out;
  EXPECT_TRUE(contains(result.out, "prefetch 0 bytes ahead: forced")) << result.out;
}

TEST_F(CliDumpTest, PlanRejectsChoiceOutOfRange) {
  CliResult result = run({"plan", "examples/softmax.rj", "--n", "4096", "--choice", "exp_group=9"});
  EXPECT_EQ(result.exit_code, 2);
  EXPECT_TRUE(contains(result.err, "rowjit plan: forced plan does not apply: exp group 9 does not fit unroll 4"))
      << result.err;
}

// The lowering section reports when the registers did not hold the planned
// exp group: AVX2's online log-softmax keeps unroll 2 and no group.
TEST_F(CliDumpTest, PlanShowsExpGroupsLowered) {
  if (best_host_isa() < Isa::kAvx2) GTEST_SKIP() << "this CPU or OS does not support AVX2";
  CliResult grouped = run({"plan", "examples/softmax.rj", "--n", "4096", "--isa", "avx2"});
  ASSERT_EQ(grouped.exit_code, 0) << grouped.err;
  EXPECT_TRUE(contains(grouped.out, "  exp groups: the exps of 2 vectors side by side\n")) << grouped.out;
  CliResult lowered =
      run({"plan", "examples/log_softmax.rj", "--n", "4096", "--isa", "avx2", "--plan", "two_pass_online"});
  ASSERT_EQ(lowered.exit_code, 0) << lowered.err;
  EXPECT_TRUE(contains(lowered.out, "  exp groups: none (the plan's 2 did not fit the vector registers)"))
      << lowered.out;
}

// --- rowjit cpu ---

TEST_F(CliDumpTest, CpuHelp) {
  CliResult result = run({"cpu", "--help"});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_TRUE(contains(result.out, "Usage: rowjit cpu")) << result.out;
}

TEST_F(CliDumpTest, CpuReportsHost) {
  CliResult result = run({"cpu"});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  const CpuFeatures& cpu = host_cpu();
  if (!cpu.vendor.empty()) {
    EXPECT_TRUE(contains(result.out, "vendor: " + cpu.vendor + "\n")) << result.out;
  }
  EXPECT_TRUE(contains(result.out, "family " + std::to_string(cpu.family) + ", model " + std::to_string(cpu.model) +
                                       ", stepping " + std::to_string(cpu.stepping) + "\n"))
      << result.out;
  EXPECT_TRUE(contains(result.out, std::string("best ISA: ") + isa_name(best_isa(cpu)) + "\n")) << result.out;
  EXPECT_TRUE(contains(result.out, std::string("ISA in use: ") + isa_name(best_isa(cpu)) + "\n")) << result.out;
  EXPECT_TRUE(contains(result.out, "ISA cap: no cap (ROWJIT_MAX_ISA not set)\n")) << result.out;
  EXPECT_TRUE(contains(result.out, "tuning file: none (ROWJIT_TUNING_FILE not set)\n")) << result.out;
}

TEST_F(CliDumpTest, CpuReportsXcr0) {
  const CpuFeatures& cpu = host_cpu();
  if (!cpu.osxsave) GTEST_SKIP() << "the OS has not enabled XSAVE, so XCR0 is not readable";
  CliResult result = run({"cpu"});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  char xcr0[64];
  std::snprintf(xcr0, sizeof xcr0, "XCR0: 0x%016" PRIx64 " (", cpu.xcr0);
  EXPECT_TRUE(contains(result.out, xcr0)) << result.out;
  // Bits 1 and 2 of XCR0 are the xmm and upper-ymm state.
  bool ymm = (cpu.xcr0 & 0x6) == 0x6;
  EXPECT_TRUE(contains(result.out, std::string(", ymm ") + (ymm ? "yes" : "no"))) << result.out;
}

TEST_F(CliDumpTest, CpuReportsCap) {
  if (best_host_isa() < Isa::kAvx2) GTEST_SKIP() << "this CPU or OS does not support AVX2";
  CliResult result = run({"cpu"}, {{"ROWJIT_MAX_ISA", "avx2"}});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_TRUE(contains(result.out, "ISA cap: avx2 (ROWJIT_MAX_ISA=avx2)\n")) << result.out;
  EXPECT_TRUE(contains(result.out, "ISA in use: avx2\n")) << result.out;
}

TEST_F(CliDumpTest, CpuReportsInvalidCap) {
  CliResult result = run({"cpu"}, {{"ROWJIT_MAX_ISA", "sse9"}});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_TRUE(contains(result.out, "ISA cap: no cap (ROWJIT_MAX_ISA='sse9' is invalid and ignored)\n")) << result.out;
}

TEST_F(CliDumpTest, CpuReportsTuningFile) {
  std::string file = path("tuning.json");
  CliResult result = run({"cpu"}, {{"ROWJIT_TUNING_FILE", file}});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_TRUE(contains(result.out, "tuning file: " + file + " (from ROWJIT_TUNING_FILE; file not found)\n"))
      << result.out;
}

TEST_F(CliDumpTest, CpuRejectsArgument) {
  CliResult result = run({"cpu", "extra"});
  EXPECT_EQ(result.exit_code, 2);
  EXPECT_TRUE(contains(result.err, "rowjit cpu: unexpected argument: 'extra'; rowjit cpu takes no arguments"))
      << result.err;
}

// --- rowjit run on the JIT ---

// Checks y against softmax of x computed in double, row by row.
void expect_softmax(const NpyArray& logits, const NpyArray& probs) {
  ASSERT_EQ(logits.shape.size(), 2u);
  ASSERT_EQ(probs.shape, logits.shape);
  int64_t rows = logits.shape[0];
  int64_t n = logits.shape[1];
  std::vector<float> x(static_cast<size_t>(rows * n));
  std::vector<float> y(x.size());
  std::memcpy(x.data(), logits.data.data(), x.size() * 4);
  std::memcpy(y.data(), probs.data.data(), y.size() * 4);
  for (int64_t row = 0; row < rows; ++row) {
    double max = -INFINITY;
    for (int64_t i = 0; i < n; ++i) max = std::max(max, double{x[row * n + i]});
    double sum = 0;
    for (int64_t i = 0; i < n; ++i) sum += std::exp(double{x[row * n + i]} - max);
    for (int64_t i = 0; i < n; ++i) {
      double expected = std::exp(double{x[row * n + i]} - max) / sum;
      // A few ulp of exp plus the rounding of the sum and the division.
      EXPECT_NEAR(y[row * n + i], expected, 1e-5 * expected + 1e-30) << "row " << row << ", column " << i;
    }
  }
}

TEST_F(CliDumpTest, RunSoftmaxOnJit) {
  Isa isa = best_host_isa();
  if (isa < Isa::kAvx2) GTEST_SKIP() << "this CPU or OS does not support AVX2";
  std::string output = path("probs.npy");
  CliResult result = run({"run", "examples/softmax.rj", "--input", "x=examples/logits.npy", "--output", "y=" + output});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_TRUE(contains(result.out, std::string("[jit ") + isa_name(isa) + "]\n")) << result.out;
  EXPECT_FALSE(contains(result.err, "reference interpreter")) << result.err;

  Result<NpyArray> logits = read_npy(source_path("examples/logits.npy"));
  Result<NpyArray> probs = read_npy(output);
  ASSERT_TRUE(logits.is_ok()) << logits.status().message();
  ASSERT_TRUE(probs.is_ok()) << probs.status().message();
  expect_softmax(*logits, *probs);
}

TEST_F(CliDumpTest, RunSoftmaxCappedAtAvx2) {
  if (best_host_isa() < Isa::kAvx2) GTEST_SKIP() << "this CPU or OS does not support AVX2";
  std::string output = path("probs.npy");
  CliResult result = run({"run", "examples/softmax.rj", "--input", "x=examples/logits.npy", "--output", "y=" + output},
                         {{"ROWJIT_MAX_ISA", "avx2"}});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_TRUE(contains(result.out, "[jit avx2]\n")) << result.out;

  Result<NpyArray> logits = read_npy(source_path("examples/logits.npy"));
  Result<NpyArray> probs = read_npy(output);
  ASSERT_TRUE(logits.is_ok()) << logits.status().message();
  ASSERT_TRUE(probs.is_ok()) << probs.status().message();
  expect_softmax(*logits, *probs);
}

TEST_F(CliDumpTest, RunLogsCompileWhenVerbose) {
  Isa isa = best_host_isa();
  if (isa < Isa::kAvx2) GTEST_SKIP() << "this CPU or OS does not support AVX2";
  std::string output = path("probs.npy");
  std::vector<std::string> args = {"run", "examples/softmax.rj", "--input", "x=examples/logits.npy", "--output",
                                   "y=" + output};

  CliResult quiet = run(args);
  ASSERT_EQ(quiet.exit_code, 0) << quiet.err;
  EXPECT_EQ(quiet.err, "");

  CliResult verbose = run(args, {{"ROWJIT_VERBOSE", "1"}});
  ASSERT_EQ(verbose.exit_code, 0) << verbose.err;
  EXPECT_EQ(count_of(verbose.err, "rowjit: compile pipeline=softmax kernel=softmax."), 1u) << verbose.err;
  EXPECT_TRUE(contains(verbose.err, std::string(" isa=") + isa_name(isa) + " ")) << verbose.err;
  EXPECT_TRUE(contains(verbose.err, " cache=miss\n")) << verbose.err;
}

TEST_F(CliDumpTest, RunWritesDumpToFolder) {
  Isa isa = best_host_isa();
  if (isa < Isa::kAvx2) GTEST_SKIP() << "this CPU or OS does not support AVX2";
  std::string dumps = path("dumps");
  CliResult result = run({"run", "examples/softmax.rj", "--input", "x=examples/logits.npy", "--output",
                          "y=" + path("probs.npy")},
                         {{"ROWJIT_DUMP", dumps}});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_EQ(result.err, "");

  ASSERT_TRUE(fs::is_directory(dumps)) << "no dump folder " << dumps;
  std::vector<fs::path> files;
  for (const auto& entry : fs::directory_iterator(dumps)) files.push_back(entry.path());
  ASSERT_EQ(files.size(), 1u);
  const std::string prefix = std::string("softmax.") + isa_name(isa) + ".";
  EXPECT_TRUE(files[0].filename().string().starts_with(prefix)) << files[0];
  EXPECT_EQ(files[0].extension(), ".asm") << files[0];
  std::string dump = read_text_file(files[0]);
  EXPECT_TRUE(dump.starts_with("; kernel " + prefix)) << dump.substr(0, 200);
  EXPECT_TRUE(contains(dump, "; kernel softmax(x: f32[n]) -> (y: f32[n]) {\n")) << dump.substr(0, 400);
  EXPECT_TRUE(contains(dump, "; sweep 0\n")) << dump.substr(0, 400);
}

TEST_F(CliDumpTest, RunDumpsInterpretedPipeline) {
  std::string dumps = path("dumps");
  CliResult result = run({"run", "examples/moe_top1.rj", "--input", "x=examples/logits.npy", "--output",
                          "idx=" + path("idx.npy")},
                         {{"ROWJIT_DUMP", dumps}});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  ASSERT_TRUE(fs::is_directory(dumps)) << "no dump folder " << dumps;
  std::vector<fs::path> files;
  for (const auto& entry : fs::directory_iterator(dumps)) files.push_back(entry.path());
  ASSERT_EQ(files.size(), 1u);
  EXPECT_TRUE(files[0].filename().string().starts_with("moe_top1.")) << files[0];
  std::string dump = read_text_file(files[0]);
  EXPECT_TRUE(contains(dump, "; no machine code: runs on the reference interpreter: ")) << dump;
  EXPECT_TRUE(contains(dump, "'argmax'")) << dump;
}

TEST_F(CliDumpTest, RunInterpreterNoticeNamesOp) {
  write_text("top2.rj", "kernel top2(x: f32[n]) -> (v: f32[2], i: s32[2]) {\n  v, i = topk(x, k=2)\n}\n");
  std::string output = path("v.npy");
  CliResult result = run({"run", path("top2.rj"), "--input", "x=examples/logits.npy", "--output", "v=" + output});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_TRUE(contains(result.out, "[interpreter]\n")) << result.out;
  EXPECT_EQ(count_of(result.err, "runs on the reference interpreter: "), 1u) << result.err;
  EXPECT_TRUE(contains(result.err, "'topk'")) << result.err;
}

TEST_F(CliDumpTest, RunWithoutJitIsa) {
  std::string output = path("probs.npy");
  CliResult result = run({"run", "examples/softmax.rj", "--input", "x=examples/logits.npy", "--output", "y=" + output},
                         {{"ROWJIT_MAX_ISA", "none"}});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_TRUE(contains(result.out, "[interpreter]\n")) << result.out;
  EXPECT_EQ(count_of(result.err, "runs on the reference interpreter: "), 1u) << result.err;

  Result<NpyArray> logits = read_npy(source_path("examples/logits.npy"));
  Result<NpyArray> probs = read_npy(output);
  ASSERT_TRUE(logits.is_ok()) << logits.status().message();
  ASSERT_TRUE(probs.is_ok()) << probs.status().message();
  expect_softmax(*logits, *probs);
}

}  // namespace
}  // namespace rowjit::testing
