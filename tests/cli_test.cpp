// End-to-end tests of the rowjit command: each test runs the built binary with
// std::system and checks its exit code, its messages and the files it leaves.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "runtime/cpu_features.h"
#include "runtime/npy.h"
#include "runtime/version.h"
#include "tests/cli_testing.h"
#include "tests/text_testing.h"

namespace rowjit::testing {
namespace {

namespace fs = std::filesystem;

const std::string kSourceDir = ROWJIT_SOURCE_DIR;
const std::string kInterpreterNotice = "runs on the reference interpreter: ";

std::string source_path(const std::string& relative) { return kSourceDir + "/" + relative; }

class CliTest : public ScratchFolderTest {
 protected:
  // Runs the rowjit binary with `args` in `working_dir` and captures its output.
  // A `virtual_memory_kib` above 0 limits the binary's address space (ulimit -v).
  // The binary inherits this process's ROWJIT_* variables, so it applies the
  // same ISA cap as host_isa() in this process.
  CliResult run(const std::vector<std::string>& args, const std::string& working_dir = "",
                int64_t virtual_memory_kib = 0) const {
    CliOptions options;
    options.working_dir = working_dir;
    options.virtual_memory_kib = virtual_memory_kib;
    return run_cli(args, folder_, options);
  }

  // Names in the test folder, so a test can check that a failure left nothing behind.
  std::vector<std::string> folder_entries() const {
    std::vector<std::string> names;
    for (const auto& entry : fs::directory_iterator(folder_)) {
      names.push_back(entry.path().filename().string());
    }
    std::sort(names.begin(), names.end());
    return names;
  }

  void write_f32(const std::string& name, std::vector<int64_t> shape,
                 const std::vector<float>& values) const {
    NpyArray array = make_npy_array(NpyDtype::kF32, std::move(shape));
    ASSERT_EQ(array.data.size(), values.size() * 4);
    std::memcpy(array.data.data(), values.data(), array.data.size());
    ASSERT_TRUE(write_npy(path(name), array).is_ok());
  }

  void write_s32(const std::string& name, std::vector<int64_t> shape,
                 const std::vector<int32_t>& values) const {
    NpyArray array = make_npy_array(NpyDtype::kS32, std::move(shape));
    ASSERT_EQ(array.data.size(), values.size() * 4);
    std::memcpy(array.data.data(), values.data(), array.data.size());
    ASSERT_TRUE(write_npy(path(name), array).is_ok());
  }

  void write_bytes(const std::string& name, NpyDtype dtype, std::vector<int64_t> shape,
                   const std::vector<uint8_t>& bytes) const {
    NpyArray array = make_npy_array(dtype, std::move(shape));
    ASSERT_EQ(array.data.size(), bytes.size());
    array.data = bytes;
    ASSERT_TRUE(write_npy(path(name), array).is_ok());
  }

  // Writes the inputs of tests/data/cli_entries.rj for two rows of n = 5.
  void write_entries_inputs() const {
    write_f32("x.npy", {2, 5}, {1, 4, -2, 0.5, 3, -1, -3, 2.5, 7, 0});
    write_s32("label.npy", {2}, {3, 0});
    write_f32("bias.npy", {5}, {0.25, -0.25, 0.5, 0, 1});
  }

  // Runs `rowjit run` on tests/data/cli_entries.rj with the inputs of
  // write_entries_inputs() and then `arguments` (params and outputs).
  CliResult run_entries(const std::vector<std::string>& arguments) const {
    std::vector<std::string> command = {"run",     source_path("tests/data/cli_entries.rj"),
                                        "--input", "x=" + path("x.npy"),
                                        "--input", "label=" + path("label.npy"),
                                        "--input", "bias=" + path("bias.npy")};
    command.insert(command.end(), arguments.begin(), arguments.end());
    return run(command);
  }
};

// --- Top level ---

TEST_F(CliTest, PrintsVersion) {
  CliResult result = run({"--version"});
  EXPECT_EQ(result.exit_code, 0);
  EXPECT_EQ(result.out, "rowjit " + std::string(version_string()) + "\n");
}

TEST_F(CliTest, PrintsHelp) {
  CliResult result = run({"--help"});
  EXPECT_EQ(result.exit_code, 0);
  EXPECT_TRUE(contains(result.out, "Usage: rowjit COMMAND"));
  EXPECT_TRUE(contains(result.out, "run "));
}

TEST_F(CliTest, RunHelpListsEveryOption) {
  CliResult result = run({"run", "--help"});
  EXPECT_EQ(result.exit_code, 0);
  for (const char* option : {"--input NAME=FILE.npy", "--param NAME=VALUE", "--output NAME=FILE.npy",
                             "--rows-from NAME", "--rows N", "--n N", "--help"}) {
    EXPECT_TRUE(contains(result.out, option)) << option;
  }
}

TEST_F(CliTest, NoArgumentsIsUsageError) {
  CliResult result = run({});
  EXPECT_EQ(result.exit_code, 2);
  EXPECT_TRUE(contains(result.err, "rowjit: missing command")) << result.err;
}

TEST_F(CliTest, UnknownCommandListsCommands) {
  CliResult result = run({"frobnicate"});
  EXPECT_EQ(result.exit_code, 2);
  EXPECT_TRUE(contains(result.err, "rowjit: unknown command: frobnicate; valid commands are run"))
      << result.err;
}

TEST_F(CliTest, UnknownOptionListsOptions) {
  CliResult result = run({"run", source_path("examples/softmax.rj"), "--inptu", "x=a.npy"});
  EXPECT_EQ(result.exit_code, 2);
  EXPECT_TRUE(contains(result.err, "rowjit run: unknown option: --inptu; valid options are --input"))
      << result.err;
}

// --- Softmax end to end ---

// The first command of the README, run from the repository root.
TEST_F(CliTest, SoftmaxOfShippedLogits) {
  std::string output = path("probs.npy");
  CliResult result = run({"run", "examples/softmax.rj", "--input", "x=examples/logits.npy",
                          "--output", "y=" + output},
                         kSourceDir);
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_TRUE(result.out.starts_with("softmax: 8 rows x 1000, 1 output (y: f32 8x1000, row sums "))
      << result.out;
  // Softmax compiles on any CPU with AVX2; only the interpreter prints a notice.
  if (host_isa() == Isa::kNone) {
    EXPECT_TRUE(contains(result.out, "[interpreter]")) << result.out;
    EXPECT_EQ(count_of(result.err, kInterpreterNotice), 1u) << result.err;
  } else {
    EXPECT_TRUE(contains(result.out, std::string("[jit ") + isa_name(host_isa()) + "]")) << result.out;
    EXPECT_EQ(count_of(result.err, kInterpreterNotice), 0u) << result.err;
  }
  EXPECT_EQ(count_of(result.out, "\n"), 1u);

  Result<NpyArray> logits = read_npy(source_path("examples/logits.npy"));
  Result<NpyArray> probs = read_npy(output);
  ASSERT_TRUE(logits.is_ok()) << logits.status().message();
  ASSERT_TRUE(probs.is_ok()) << probs.status().message();
  EXPECT_EQ(probs->dtype, NpyDtype::kF32);
  ASSERT_EQ(probs->shape, (std::vector<int64_t>{8, 1000}));

  std::vector<float> x = floats_of(*logits);
  std::vector<float> y = floats_of(*probs);
  for (int row = 0; row < 8; ++row) {
    // softmax in double: exp(x - max) / sum(exp(x - max)).
    double max = -INFINITY;
    for (int i = 0; i < 1000; ++i) max = std::max(max, double{x[row * 1000 + i]});
    double sum = 0;
    for (int i = 0; i < 1000; ++i) sum += std::exp(double{x[row * 1000 + i]} - max);

    double row_sum = 0;
    for (int i = 0; i < 1000; ++i) {
      double shifted = double{x[row * 1000 + i]} - max;
      double expected = std::exp(shifted) / sum;
      double got = y[row * 1000 + i];
      // f32 rounds x - max to within |x - max| * 2^-24, which exp turns into
      // that relative error. The JIT's exp (2 ulp + 0.05 |x - max| ulp), its
      // sum, and the multiply by 1 / sum (1.5 ulp) add at most
      // (8 + 0.05 |x - max|) * 2^-24 more.
      double tolerance = (1.05 * std::fabs(shifted) + 8) * std::ldexp(1.0, -24) * expected;
      ASSERT_NEAR(got, expected, tolerance) << "row " << row << " column " << i;
      row_sum += got;
    }
    EXPECT_NEAR(row_sum, 1.0, 1e-5) << "row " << row;
  }
}

TEST_F(CliTest, OneDimensionalInputIsOneRow) {
  write_f32("x.npy", {3}, {0, 0, std::log(2.0f)});
  CliResult result = run({"run", source_path("examples/softmax.rj"), "--input", "x=" + path("x.npy"),
                          "--output", "y=" + path("y.npy")});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_TRUE(result.out.starts_with("softmax: 1 row x 3, ")) << result.out;

  Result<NpyArray> y = read_npy(path("y.npy"));
  ASSERT_TRUE(y.is_ok());
  ASSERT_EQ(y->shape, (std::vector<int64_t>{1, 3}));
  // exp(0), exp(0), exp(log 2) = 1, 1, 2, so the probabilities are 1/4, 1/4, 1/2.
  std::vector<float> values = floats_of(*y);
  EXPECT_NEAR(values[0], 0.25, 3e-7);
  EXPECT_NEAR(values[1], 0.25, 3e-7);
  EXPECT_NEAR(values[2], 0.5, 3e-7);
}

// --- Failures leave no output file ---

TEST_F(CliTest, MissingInputFileFails) {
  CliResult result = run({"run", source_path("examples/softmax.rj"), "--input",
                          "x=" + path("absent.npy"), "--output", "y=" + path("y.npy")});
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_TRUE(contains(result.err, "rowjit run: file not found: " + path("absent.npy")))
      << result.err;
  EXPECT_TRUE(folder_entries().empty());
}

TEST_F(CliTest, TruncatedInputFails) {
  write_f32("x.npy", {2, 4}, {1, 2, 3, 4, 5, 6, 7, 8});
  fs::resize_file(path("x.npy"), fs::file_size(path("x.npy")) - 4);
  CliResult result = run({"run", source_path("examples/softmax.rj"), "--input",
                          "x=" + path("x.npy"), "--output", "y=" + path("y.npy")});
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_TRUE(contains(result.err, "truncated data")) << result.err;
  EXPECT_TRUE(contains(result.err, "expected 32 bytes")) << result.err;
  EXPECT_TRUE(contains(result.err, "found 28")) << result.err;
  EXPECT_EQ(folder_entries(), std::vector<std::string>{"x.npy"});
}

TEST_F(CliTest, WrongDtypeFails) {
  write_bytes("x.npy", NpyDtype::kF16, {2}, {0x00, 0x3C, 0x00, 0x3C});
  CliResult result = run({"run", source_path("examples/softmax.rj"), "--input",
                          "x=" + path("x.npy"), "--output", "y=" + path("y.npy")});
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_TRUE(contains(result.err, "wrong dtype for input x: " + path("x.npy") + " holds <f2"))
      << result.err;
  EXPECT_TRUE(contains(result.err, "save it as <f4")) << result.err;
  EXPECT_EQ(folder_entries(), std::vector<std::string>{"x.npy"});
}

TEST_F(CliTest, MissingOutputFolderFails) {
  write_f32("x.npy", {2}, {1, 2});
  CliResult result = run({"run", source_path("examples/softmax.rj"), "--input",
                          "x=" + path("x.npy"), "--output", "y=" + path("absent/y.npy")});
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_TRUE(contains(result.err, "cannot create output file: " + path("absent/y.npy")))
      << result.err;
  EXPECT_EQ(folder_entries(), std::vector<std::string>{"x.npy"});
}

TEST_F(CliTest, RunFailureKeepsOldOutput) {
  write_entries_inputs();
  write_s32("label.npy", {2}, {3, 5});  // 5 is outside [0, n) for n = 5
  std::string old_bytes = "an earlier output\n";
  std::ofstream(path("y.npy")) << old_bytes;

  CliResult result = run({"run", source_path("tests/data/cli_entries.rj"), "--input",
                          "x=" + path("x.npy"), "--input", "label=" + path("label.npy"), "--input",
                          "bias=" + path("bias.npy"), "--param", "scale=2", "--output",
                          "y=" + path("y.npy"), "--output", "picked=" + path("picked.npy")});
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_TRUE(contains(result.err, "rowjit run: run failed: row 1")) << result.err;
  EXPECT_EQ(read_text_file(path("y.npy")), old_bytes);
  EXPECT_EQ(folder_entries(),
            (std::vector<std::string>{"bias.npy", "label.npy", "x.npy", "y.npy"}));
}

TEST_F(CliTest, InvalidPipelineFails) {
  write_f32("x.npy", {2}, {1, 2});
  CliResult result = run({"run", source_path("tests/data/cli_invalid.rj"), "--input",
                          "x=" + path("x.npy"), "--output", "y=" + path("y.npy")});
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_TRUE(contains(result.err, "rowjit run: invalid pipeline: ")) << result.err;
  EXPECT_TRUE(contains(result.err, "line 3")) << result.err;
  EXPECT_EQ(folder_entries(), std::vector<std::string>{"x.npy"});
}

TEST_F(CliTest, MissingPipelineFileFails) {
  CliResult result = run({"run", path("absent.rj"), "--output", "y=" + path("y.npy")});
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_TRUE(contains(result.err, "pipeline file not found: " + path("absent.rj"))) << result.err;
}

// A FIFO as the pipeline file is rejected before it is opened, which would
// wait for a writer.
TEST_F(CliTest, PipelineFifoFailsAtOnce) {
  ASSERT_EQ(mkfifo(path("p.rj").c_str(), 0600), 0);
  CliResult result = run({"run", path("p.rj"), "--output", "y=" + path("y.npy")});
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_TRUE(contains(result.err, "pipeline file is not a regular file: " + path("p.rj"))) << result.err;
}

// --- Usage errors ---

TEST_F(CliTest, MissingPipelineArgument) {
  CliResult result = run({"run"});
  EXPECT_EQ(result.exit_code, 2);
  EXPECT_TRUE(contains(result.err, "rowjit run: missing argument: PIPELINE")) << result.err;
}

TEST_F(CliTest, MissingInputNamed) {
  CliResult result = run({"run", source_path("examples/softmax.rj"), "--output",
                          "y=" + path("y.npy")});
  EXPECT_EQ(result.exit_code, 2);
  EXPECT_TRUE(contains(result.err, "missing input: x: f32[n]; give --input x=FILE.npy"))
      << result.err;
}

TEST_F(CliTest, UnknownInputListsInputs) {
  write_f32("x.npy", {2}, {1, 2});
  CliResult result = run({"run", source_path("examples/softmax.rj"), "--input",
                          "logits=" + path("x.npy"), "--output", "y=" + path("y.npy")});
  EXPECT_EQ(result.exit_code, 2);
  EXPECT_TRUE(contains(result.err, "unknown input: --input logits; pipeline softmax reads x"))
      << result.err;
}

TEST_F(CliTest, MalformedInputArgument) {
  CliResult result = run({"run", source_path("examples/softmax.rj"), "--input", "x.npy",
                          "--output", "y=" + path("y.npy")});
  EXPECT_EQ(result.exit_code, 2);
  EXPECT_TRUE(contains(result.err, "invalid --input argument: 'x.npy'")) << result.err;
}

TEST_F(CliTest, NoOutputRequested) {
  write_f32("x.npy", {2}, {1, 2});
  CliResult result =
      run({"run", source_path("examples/softmax.rj"), "--input", "x=" + path("x.npy")});
  EXPECT_EQ(result.exit_code, 2);
  EXPECT_TRUE(contains(result.err, "no output requested: pipeline softmax writes y")) << result.err;
}

TEST_F(CliTest, UnknownOutputListsOutputs) {
  write_f32("x.npy", {2}, {1, 2});
  CliResult result = run({"run", source_path("examples/softmax.rj"), "--input",
                          "x=" + path("x.npy"), "--output", "z=" + path("z.npy")});
  EXPECT_EQ(result.exit_code, 2);
  EXPECT_TRUE(contains(result.err, "unknown output: --output z; pipeline softmax writes y"))
      << result.err;
  EXPECT_EQ(folder_entries(), std::vector<std::string>{"x.npy"});
}

TEST_F(CliTest, SameOutputFileTwice) {
  write_entries_inputs();
  CliResult result = run({"run", source_path("tests/data/cli_entries.rj"), "--input",
                          "x=" + path("x.npy"), "--input", "label=" + path("label.npy"), "--input",
                          "bias=" + path("bias.npy"), "--param", "scale=1", "--output",
                          "y=" + path("out.npy"), "--output", "picked=" + path("out.npy")});
  EXPECT_EQ(result.exit_code, 2);
  EXPECT_TRUE(contains(result.err, "two outputs name the same file")) << result.err;
}

TEST_F(CliTest, InvalidParamValues) {
  write_entries_inputs();
  struct Case {
    std::string value;
    std::string expected;
  };
  std::vector<Case> cases = {
      {"abc", "invalid value for --param scale: 'abc'; give a decimal number"},
      {"1.5x", "invalid value for --param scale: '1.5x'; give a decimal number"},
      {"", "missing VALUE in --param argument: 'scale='"},
      {"inf", "invalid value for --param scale: 'inf'; give a finite number"},
      {"nan", "invalid value for --param scale: 'nan'; give a finite number"},
      {"0", "invalid value for --param scale: '0'; give a value > 0"},
      {"-1", "invalid value for --param scale: '-1'; give a value > 0"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.value);
    CliResult result = run_entries({"--param", "scale=" + c.value,
                            "--output", "y=" + path("y.npy")});
    EXPECT_EQ(result.exit_code, 2);
    EXPECT_TRUE(contains(result.err, c.expected)) << result.err;
    EXPECT_FALSE(fs::exists(path("y.npy")));
  }
}

TEST_F(CliTest, InvalidIntegerParam) {
  write_entries_inputs();
  for (std::string value : {"2.5", "3e9", "two"}) {
    SCOPED_TRACE(value);
    CliResult result = run_entries({"--param", "scale=1",
                            "--param", "k=" + value, "--output", "y=" + path("y.npy")});
    EXPECT_EQ(result.exit_code, 2);
    EXPECT_TRUE(contains(result.err, "invalid value for --param k: '" + value + "'")) << result.err;
  }
}

// k sizes the [k] outputs, so a k below 1 breaks a bound as "scale > 0" does.
TEST_F(CliTest, KLengthBelowOneIsUsageError) {
  write_entries_inputs();
  for (std::string value : {"0", "-3"}) {
    SCOPED_TRACE(value);
    CliResult result = run_entries({"--param", "scale=1",
                            "--param", "k=" + value, "--output", "v=" + path("v.npy")});
    EXPECT_EQ(result.exit_code, 2);
    EXPECT_TRUE(contains(result.err, "invalid value for --param k: '" + value +
                                         "'; give an integer >= 1, because it is the length of [k]"))
        << result.err;
    EXPECT_FALSE(fs::exists(path("v.npy")));
  }
}

// The kernel receives scale as an f32: 1e-50 rounds to 0 and 1e39 to infinity.
TEST_F(CliTest, F32ParamCheckedAfterRounding) {
  write_entries_inputs();
  struct Case {
    std::string value;
    std::string expected;
  };
  std::vector<Case> cases = {
      {"1e-50", "invalid value for --param scale: '1e-50' (0 in f32); give a value > 0"},
      {"1e39", "invalid value for --param scale: '1e39'; give a number within +-3.4e38"},
      {"-1e39", "invalid value for --param scale: '-1e39'; give a number within +-3.4e38"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.value);
    CliResult result = run_entries({"--param", "scale=" + c.value,
                            "--output", "y=" + path("y.npy")});
    EXPECT_EQ(result.exit_code, 2);
    EXPECT_TRUE(contains(result.err, c.expected)) << result.err;
    EXPECT_FALSE(fs::exists(path("y.npy")));
  }
}

TEST_F(CliTest, UnknownAndMissingParams) {
  write_entries_inputs();
  std::vector<std::string> inputs = {"run", source_path("tests/data/cli_entries.rj"), "--input",
                                     "x=" + path("x.npy"), "--input", "label=" + path("label.npy"),
                                     "--input", "bias=" + path("bias.npy"), "--output",
                                     "y=" + path("y.npy")};

  CliResult missing = run(inputs);
  EXPECT_EQ(missing.exit_code, 2);
  EXPECT_TRUE(contains(missing.err, "missing parameter: param scale: f32 > 0; give --param scale="))
      << missing.err;

  std::vector<std::string> unknown = inputs;
  unknown.insert(unknown.end(), {"--param", "scale=1", "--param", "tau=2"});
  CliResult unknown_result = run(unknown);
  EXPECT_EQ(unknown_result.exit_code, 2);
  EXPECT_TRUE(contains(unknown_result.err,
                       "unknown parameter: --param tau; pipeline entries has the parameters "
                       "scale and k"))
      << unknown_result.err;
}

TEST_F(CliTest, ParamOnPipelineWithoutParams) {
  write_f32("x.npy", {1, 3}, {1, 2, 3});
  CliResult result = run({"run", source_path("examples/softmax.rj"), "--input", "x=" + path("x.npy"), "--param",
                          "tau=2", "--output", "y=" + path("y.npy")});
  EXPECT_EQ(result.exit_code, 2);
  EXPECT_TRUE(contains(result.err, "unknown parameter: --param tau; pipeline softmax has no parameters; leave out "
                                   "--param"))
      << result.err;
}

TEST_F(CliTest, VectorParamNeedsInput) {
  write_entries_inputs();
  CliResult result = run_entries({"--param", "scale=1",
                          "--param", "bias=1", "--output", "y=" + path("y.npy")});
  EXPECT_EQ(result.exit_code, 2);
  EXPECT_TRUE(contains(result.err, "vector parameter given as --param")) << result.err;
  EXPECT_TRUE(contains(result.err, "give it as --input bias=FILE.npy")) << result.err;
}

// --- Shapes of inputs ---

TEST_F(CliTest, RowCountMismatchNamesBothFiles) {
  write_entries_inputs();
  write_s32("label.npy", {3}, {0, 1, 2});
  CliResult result = run_entries({"--param", "scale=1",
                          "--output", "y=" + path("y.npy")});
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_TRUE(contains(result.err, "row count mismatch: x: " + path("x.npy") +
                                       " with shape (2, 5) has 2 rows, but label: " +
                                       path("label.npy") + " with shape (3,) has 3"))
      << result.err;
  EXPECT_FALSE(fs::exists(path("y.npy")));
}

TEST_F(CliTest, RowsFromSetsReference) {
  write_entries_inputs();
  write_s32("label.npy", {3}, {0, 1, 2});
  CliResult result = run_entries({"--param", "scale=1",
                          "--rows-from", "label", "--output", "y=" + path("y.npy")});
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_TRUE(contains(result.err, "row count mismatch: label: " + path("label.npy") +
                                       " with shape (3,) has 3 rows, but x: "))
      << result.err;
}

TEST_F(CliTest, RowsFromRejectsParam) {
  write_entries_inputs();
  CliResult result = run_entries({"--param", "scale=1",
                          "--rows-from", "bias", "--output", "y=" + path("y.npy")});
  EXPECT_EQ(result.exit_code, 2);
  EXPECT_TRUE(contains(result.err, "invalid --rows-from: bias")) << result.err;
  EXPECT_TRUE(contains(result.err, "x and label")) << result.err;
}

TEST_F(CliTest, RowLengthMismatchNamesBothFiles) {
  write_entries_inputs();
  write_f32("bias.npy", {4}, {0, 0, 0, 0});
  CliResult result = run_entries({"--param", "scale=1",
                          "--output", "y=" + path("y.npy")});
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_TRUE(contains(result.err, "row length mismatch: x: " + path("x.npy") +
                                       " with shape (2, 5) has n = 5, but bias: " +
                                       path("bias.npy") + " with shape (4,) has n = 4"))
      << result.err;
}

TEST_F(CliTest, PerRowScalarShapes) {
  write_entries_inputs();
  write_s32("label.npy", {2, 2}, {0, 1, 2, 3});
  CliResult result = run_entries({"--param", "scale=1",
                          "--output", "y=" + path("y.npy")});
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_TRUE(contains(result.err, "wrong shape for input label")) << result.err;
  EXPECT_TRUE(contains(result.err, "(rows, 1)")) << result.err;
}

TEST_F(CliTest, VectorParamMustBeOneDimensional) {
  write_entries_inputs();
  write_f32("bias.npy", {1, 5}, {0, 0, 0, 0, 0});
  CliResult result = run_entries({"--param", "scale=1",
                          "--output", "y=" + path("y.npy")});
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_TRUE(contains(result.err, "wrong shape for parameter bias")) << result.err;
}

// --- Values of every kind of entry ---

TEST_F(CliTest, BindsEveryEntryKind) {
  write_entries_inputs();
  // A per-row scalar may also be given as a (rows, 1) array.
  write_s32("label.npy", {2, 1}, {3, 0});
  CliResult result = run_entries({"--param", "scale=2",
                          "--param", "k=3", "--output", "y=" + path("y.npy"), "--output",
                          "picked=" + path("picked.npy"), "--output", "v=" + path("v.npy"),
                          "--output", "i=" + path("i.npy")});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_TRUE(result.out.starts_with("entries: 2 rows x 5, 4 outputs (")) << result.out;

  // y = (x + bias) * 2; every value is exact in f32.
  Result<NpyArray> y = read_npy(path("y.npy"));
  ASSERT_TRUE(y.is_ok());
  ASSERT_EQ(y->shape, (std::vector<int64_t>{2, 5}));
  EXPECT_EQ(floats_of(*y), (std::vector<float>{2.5, 7.5, -3, 1, 8, -1.5, -6.5, 6, 14, 2}));

  // picked = x[label]: row 0 column 3, row 1 column 0; a 1-D array of rows.
  Result<NpyArray> picked = read_npy(path("picked.npy"));
  ASSERT_TRUE(picked.is_ok());
  ASSERT_EQ(picked->shape, (std::vector<int64_t>{2}));
  EXPECT_EQ(floats_of(*picked), (std::vector<float>{0.5, -1}));

  // The 3 largest of each row with their indices, largest first.
  Result<NpyArray> v = read_npy(path("v.npy"));
  Result<NpyArray> i = read_npy(path("i.npy"));
  ASSERT_TRUE(v.is_ok());
  ASSERT_TRUE(i.is_ok());
  ASSERT_EQ(v->shape, (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(floats_of(*v), (std::vector<float>{4, 3, 1, 7, 2.5, 0}));
  EXPECT_EQ(i->dtype, NpyDtype::kS32);
  std::vector<int32_t> indices(6);
  ASSERT_EQ(i->data.size(), 24u);
  std::memcpy(indices.data(), i->data.data(), 24);
  EXPECT_EQ(indices, (std::vector<int32_t>{1, 4, 0, 3, 2, 4}));
}

TEST_F(CliTest, DiscardsUnrequestedOutputs) {
  write_entries_inputs();
  CliResult result = run_entries({"--param", "scale=1",
                          "--output", "picked=" + path("picked.npy")});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_TRUE(contains(result.out, "1 output (picked: f32 2, values -1 .. 0.5)")) << result.out;
  EXPECT_TRUE(contains(result.out, "discarded y, v and i")) << result.out;
  EXPECT_EQ(folder_entries(),
            (std::vector<std::string>{"bias.npy", "label.npy", "picked.npy", "x.npy"}));
}

// --- Storage of narrow types ---

TEST_F(CliTest, StoresCodesAndPackedBytes) {
  write_f32("x.npy", {2, 4}, {1, -2, 0.5, 448, 6, -0.5, 0, 1.5});
  CliResult result = run({"run", source_path("tests/data/cli_codes.rj"), "--input",
                          "x=" + path("x.npy"), "--output", "h=" + path("h.npy"), "--output",
                          "b=" + path("b.npy"), "--output", "e4=" + path("e4.npy"), "--output",
                          "f4=" + path("f4.npy"), "--output", "q=" + path("q.npy")});
  ASSERT_EQ(result.exit_code, 0) << result.err;

  // binary16 bits, little-endian: 1 0x3C00, -2 0xC000, 0.5 0x3800, 448 0x5F00,
  // 6 0x4600, -0.5 0xB800, 0 0x0000, 1.5 0x3E00.
  Result<NpyArray> h = read_npy(path("h.npy"));
  ASSERT_TRUE(h.is_ok());
  EXPECT_EQ(h->dtype, NpyDtype::kF16);
  EXPECT_EQ(h->shape, (std::vector<int64_t>{2, 4}));
  EXPECT_EQ(h->data, (std::vector<uint8_t>{0x00, 0x3C, 0x00, 0xC0, 0x00, 0x38, 0x00, 0x5F,
                                           0x00, 0x46, 0x00, 0xB8, 0x00, 0x00, 0x00, 0x3E}));

  // bfloat16 is the high half of binary32: 1 0x3F80, -2 0xC000, 0.5 0x3F00,
  // 448 0x43E0, 6 0x40C0, -0.5 0xBF00, 0 0x0000, 1.5 0x3FC0; rows x 2n bytes.
  Result<NpyArray> b = read_npy(path("b.npy"));
  ASSERT_TRUE(b.is_ok());
  EXPECT_EQ(b->dtype, NpyDtype::kU8);
  EXPECT_EQ(b->shape, (std::vector<int64_t>{2, 8}));
  EXPECT_EQ(b->data, (std::vector<uint8_t>{0x80, 0x3F, 0x00, 0xC0, 0x00, 0x3F, 0xE0, 0x43,
                                           0xC0, 0x40, 0x00, 0xBF, 0x00, 0x00, 0xC0, 0x3F}));

  // OCP E4M3 codes (bias 7): 1 0.0111.000, -2 1.1000.000, 0.5 0.0110.000,
  // 448 0.1111.110, 6 0.1001.100, -0.5 1.0110.000, 0, 1.5 0.0111.100.
  Result<NpyArray> e4 = read_npy(path("e4.npy"));
  ASSERT_TRUE(e4.is_ok());
  EXPECT_EQ(e4->dtype, NpyDtype::kU8);
  EXPECT_EQ(e4->shape, (std::vector<int64_t>{2, 4}));
  EXPECT_EQ(e4->data, (std::vector<uint8_t>{0x38, 0xC0, 0x30, 0x7E, 0x4C, 0xB0, 0x00, 0x3C}));

  // E2M1 codes: 1 0x2, -2 0xC, 0.5 0x1, 448 saturates to 6 0x7; 6 0x7,
  // -0.5 0x9, 0 0x0, 1.5 0x3. Element 2i is the low nibble of byte i.
  Result<NpyArray> f4 = read_npy(path("f4.npy"));
  ASSERT_TRUE(f4.is_ok());
  EXPECT_EQ(f4->shape, (std::vector<int64_t>{2, 2}));
  EXPECT_EQ(f4->data, (std::vector<uint8_t>{0xC2, 0x71, 0x97, 0x30}));

  // s8 rounds to nearest even and saturates: 448 gives 127, 0.5 and -0.5 give 0.
  Result<NpyArray> q = read_npy(path("q.npy"));
  ASSERT_TRUE(q.is_ok());
  EXPECT_EQ(q->dtype, NpyDtype::kS8);
  EXPECT_EQ(q->data, (std::vector<uint8_t>{1, 0xFE, 0, 127, 6, 0, 0, 2}));
}

TEST_F(CliTest, StoresQ8_0Blocks) {
  // Two rows of 64: each block of 32 has max |x| = 127, so d = 1 (f16 0x3C00)
  // and every quant equals its integer input.
  std::vector<float> x(128);
  for (int i = 0; i < 128; ++i) x[i] = static_cast<float>((i * 37) % 255 - 127);
  for (int block = 0; block < 4; ++block) x[block * 32 + 5] = (block % 2 == 0) ? 127.0f : -127.0f;
  write_f32("x.npy", {2, 64}, x);

  CliResult result = run({"run", source_path("examples/quant_q8_0.rj"), "--input",
                          "x=" + path("x.npy"), "--output", "y=" + path("y.npy")});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_TRUE(contains(result.out, "(y: q8_0 2x68 bytes)")) << result.out;

  Result<NpyArray> y = read_npy(path("y.npy"));
  ASSERT_TRUE(y.is_ok());
  EXPECT_EQ(y->dtype, NpyDtype::kU8);
  ASSERT_EQ(y->shape, (std::vector<int64_t>{2, 68}));
  for (int block = 0; block < 4; ++block) {
    SCOPED_TRACE(block);
    const uint8_t* bytes = y->data.data() + block * 34;
    EXPECT_EQ(bytes[0], 0x00);
    EXPECT_EQ(bytes[1], 0x3C);
    for (int j = 0; j < 32; ++j) {
      EXPECT_EQ(static_cast<int8_t>(bytes[2 + j]), static_cast<int>(x[block * 32 + j])) << j;
    }
  }
}

TEST_F(CliTest, ReadsCodesAndBytes) {
  // b: bf16 1 and -2 as bytes; e: e4m3 codes of 1 and -2; h: f16 1 and 0.5.
  write_bytes("b.npy", NpyDtype::kU8, {1, 4}, {0x80, 0x3F, 0x00, 0xC0});
  write_bytes("e.npy", NpyDtype::kU8, {1, 2}, {0x38, 0xC0});
  write_bytes("h.npy", NpyDtype::kF16, {1, 2}, {0x00, 0x3C, 0x00, 0x38});
  CliResult result = run({"run", source_path("tests/data/cli_widen.rj"), "--input",
                          "b=" + path("b.npy"), "--input", "e=" + path("e.npy"), "--input",
                          "h=" + path("h.npy"), "--output", "y=" + path("y.npy")});
  ASSERT_EQ(result.exit_code, 0) << result.err;

  Result<NpyArray> y = read_npy(path("y.npy"));
  ASSERT_TRUE(y.is_ok());
  EXPECT_EQ(floats_of(*y), (std::vector<float>{3, -3.5}));
}

TEST_F(CliTest, OddBf16BytesFail) {
  write_bytes("b.npy", NpyDtype::kU8, {1, 3}, {0x80, 0x3F, 0x00});
  write_bytes("e.npy", NpyDtype::kU8, {1, 2}, {0x38, 0xC0});
  write_bytes("h.npy", NpyDtype::kF16, {1, 2}, {0x00, 0x3C, 0x00, 0x38});
  CliResult result = run({"run", source_path("tests/data/cli_widen.rj"), "--input",
                          "b=" + path("b.npy"), "--input", "e=" + path("e.npy"), "--input",
                          "h=" + path("h.npy"), "--output", "y=" + path("y.npy")});
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_TRUE(contains(result.err, "wrong row length for input b")) << result.err;
}

// --- Pipelines without input tensors ---

TEST_F(CliTest, RowsAndNFromOptions) {
  CliResult result = run({"run", source_path("tests/data/cli_noise.rj"), "--param", "seed=7",
                          "--rows", "3", "--n", "5", "--output", "u=" + path("u.npy")});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_TRUE(result.out.starts_with("noise: 3 rows x 5, ")) << result.out;

  Result<NpyArray> u = read_npy(path("u.npy"));
  ASSERT_TRUE(u.is_ok());
  ASSERT_EQ(u->shape, (std::vector<int64_t>{3, 5}));
  for (float value : floats_of(*u)) {
    EXPECT_GT(value, 0.0f);
    EXPECT_LT(value, 1.0f);
  }
}

TEST_F(CliTest, UnknownRowLengthIsUsageError) {
  CliResult result = run({"run", source_path("tests/data/cli_noise.rj"), "--param", "seed=7",
                          "--rows", "3", "--output", "u=" + path("u.npy")});
  EXPECT_EQ(result.exit_code, 2);
  EXPECT_TRUE(contains(result.err, "unknown row length n")) << result.err;
  EXPECT_TRUE(contains(result.err, "give --n N")) << result.err;
  EXPECT_TRUE(folder_entries().empty());
}

TEST_F(CliTest, UnknownRowCountIsUsageError) {
  CliResult result = run({"run", source_path("tests/data/cli_noise.rj"), "--param", "seed=7",
                          "--n", "5", "--output", "u=" + path("u.npy")});
  EXPECT_EQ(result.exit_code, 2);
  EXPECT_TRUE(contains(result.err, "unknown row count")) << result.err;
}

// 2^40 rows of 2^20 f32 elements need 2^62 bytes: more than any machine's
// memory, so the run fails before it allocates anything.
TEST_F(CliTest, OutputLargerThanMemoryFailsEarly) {
  CliResult result = run({"run", source_path("tests/data/cli_noise.rj"), "--param", "seed=7",
                          "--rows", "1099511627776", "--n", "1048576", "--output",
                          "u=" + path("u.npy")});
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_TRUE(contains(result.err, "rowjit run: out of memory: the outputs need 4611686018427387904 bytes"))
      << result.err;
  EXPECT_TRUE(contains(result.err, "for rows x n = 1099511627776 x 1048576, more than the ")) << result.err;
  EXPECT_TRUE(contains(result.err, "; the largest is u with 1048576 elements per row")) << result.err;
  EXPECT_TRUE(contains(result.err, "; run on fewer or shorter rows (a smaller --rows or --n")) << result.err;
  EXPECT_TRUE(folder_entries().empty());
}

// A topk whose k exceeds the row fails before its outputs of k elements per
// row are allocated: with k = 2^31 - 1 they took 16 GiB, and the run grew to
// 23 GB before the interpreter's error.
TEST_F(CliTest, TopKAboveTheRowFailsBeforeAllocating) {
  std::string pipeline = path("topk.rj");
  std::ofstream(pipeline) << "kernel topk_only(x: f32[n], param k: s32) -> (v: f32[k], idx: s32[k]) {\n"
                             "  v, idx = topk(x, k=k)\n}\n";
  write_f32("x.npy", {2, 5}, {1, 4, -2, 0.5, 3, -1, -3, 2.5, 7, 0});
  CliResult result = run({"run", pipeline, "--input", "x=" + path("x.npy"), "--param", "k=2147483647", "--output",
                          "v=" + path("v.npy"), "--output", "idx=" + path("idx.npy")});
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_TRUE(contains(result.err, "rowjit run: topk: k = 2147483647 exceeds the length 5 of 'x'; k must be at most "
                                   "the number of elements"))
      << result.err;
  EXPECT_FALSE(std::filesystem::exists(path("v.npy")));
}

// 2^40 x 2^40 x 4 bytes overflows int64_t.
TEST_F(CliTest, OutputSizeOverflowFailsEarly) {
  CliResult result = run({"run", source_path("tests/data/cli_noise.rj"), "--param", "seed=7",
                          "--rows", "1099511627776", "--n", "1099511627776", "--output",
                          "u=" + path("u.npy")});
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_TRUE(contains(result.err, "rowjit run: output too large: u needs more than 9223372036854775807 bytes "
                                   "for rows x n = 1099511627776 x 1099511627776"))
      << result.err;
  EXPECT_TRUE(contains(result.err, "a smaller --rows or --n")) << result.err;
  EXPECT_TRUE(folder_entries().empty());
}

// Under a 400 MiB address space (ulimit -v), allocating the 1 GiB output
// (4096 x 65536 f32) fails at once, so the test uses no memory.
TEST_F(CliTest, FailedAllocationNamesItsSize) {
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
  GTEST_SKIP() << "sanitizers reserve more address space than the limit allows";
#endif
  CliResult result = run({"run", source_path("tests/data/cli_noise.rj"), "--param", "seed=7",
                          "--rows", "4096", "--n", "65536", "--output", "u=" + path("u.npy")},
                         "", 400 * 1024);
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_TRUE(contains(result.err, "rowjit run: out of memory: allocating 1073741824 bytes (1.0 GiB) for "
                                   "output u with rows x n = 4096 x 65536 failed; run on fewer or shorter rows"))
      << result.err;
  EXPECT_TRUE(folder_entries().empty());
}

TEST_F(CliTest, RowsOptionMustAgreeWithFiles) {
  write_f32("x.npy", {2, 2}, {1, 2, 3, 4});
  CliResult result = run({"run", source_path("examples/softmax.rj"), "--input",
                          "x=" + path("x.npy"), "--rows", "3", "--output", "y=" + path("y.npy")});
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_TRUE(contains(result.err, "row count mismatch: --rows 3, but x: ")) << result.err;
}

}  // namespace
}  // namespace rowjit::testing
