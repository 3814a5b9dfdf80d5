// The compile paths that the environment turns on (a tuning file, verbose log
// lines, assembly dumps) run under the IEEE defaults like the rest of the host
// code: a caller with the precision exception unmasked gets no trap, and its
// MXCSR back. The environment is read once per process, so the checks run in
// a child process: this test binary again, with the variables set and a
// filter that selects the child test.
#include <gtest/gtest.h>
#include <unistd.h>
#include <xmmintrin.h>

#include <climits>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "ir/parser.h"
#include "runtime/compiler.h"
#include "runtime/cpu_features.h"
#include "runtime/log.h"
#include "runtime/tuning_file.h"
#include "tests/cli_testing.h"
#include "tests/runtime_testing.h"

namespace rowjit {
namespace {

constexpr const char* kChildVariable = "ROWJIT_TEST_MXCSR_CHILD";
constexpr int64_t kRowLength = 1024;
// Unmasked precision exception: the first inexact result traps.
constexpr unsigned kTrappingMxcsr = 0x0F80;

std::mutex log_mutex;
std::vector<std::string> log_lines;

void capture_line(void*, const char* line) {
  std::lock_guard<std::mutex> lock(log_mutex);
  log_lines.emplace_back(line);
}

// Runs in the child only. The first compile of the process reads the tuning
// file, logs a verbose line and writes a dump, all under kTrappingMxcsr.
TEST(CallerMxcsrChild, CompilesUnderUnmaskedExceptions) {
  if (std::getenv(kChildVariable) == nullptr) {
    GTEST_SKIP() << "runs only as the child process of CallerMxcsr.EnvironmentPathsKeepDefaults";
  }
  set_log_sink(capture_line, nullptr);
  const unsigned caller_mxcsr = _mm_getcsr();
  _mm_setcsr(kTrappingMxcsr);
  Compiler compiler;
  CompileOptions options;
  options.n_hint = kRowLength;
  auto kernel = compiler.compile_text(testing::kSoftmaxText, options);
  const unsigned after = _mm_getcsr();
  _mm_setcsr(caller_mxcsr);
  set_log_sink(nullptr, nullptr);

  EXPECT_EQ(after, kTrappingMxcsr) << "the caller's MXCSR changed";
  ASSERT_TRUE(kernel.is_ok()) << kernel.status().to_string();
  // The tuning file's entry (three_pass_recompute) replaced the default
  // form, three_pass_reload for a row this size.
  EXPECT_EQ((*kernel)->plan().softmax_form, ir::SoftmaxForm::kThreePassRecompute);
  ASSERT_EQ(log_lines.size(), 1u);
  EXPECT_NE(log_lines[0].find("compile pipeline=softmax"), std::string::npos) << log_lines[0];
  const char* dump_dir = std::getenv("ROWJIT_DUMP");
  ASSERT_NE(dump_dir, nullptr);
  int dumps = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dump_dir)) {
    if (entry.path().extension() == ".asm") ++dumps;
  }
  EXPECT_EQ(dumps, 1);
}

// Names of the GTEST_* variables in this process's environment.
std::vector<std::string> gtest_variable_names() {
  std::vector<std::string> names;
  for (char** entry = environ; *entry != nullptr; ++entry) {
    std::string_view variable = *entry;
    if (variable.starts_with("GTEST_")) names.emplace_back(variable.substr(0, variable.find('=')));
  }
  return names;
}

class CallerMxcsr : public testing::ScratchFolderTest {};

TEST_F(CallerMxcsr, EnvironmentPathsKeepDefaults) {
  if (host_isa() == Isa::kNone) GTEST_SKIP() << "no JIT ISA on this host";
  auto pipeline = ir::parse_pipeline(testing::kSoftmaxText);
  ASSERT_TRUE(pipeline.is_ok());
  TuningEntry entry;
  entry.cpu = host_cpu_identity();
  entry.pipeline_hash = pipeline_hash(*pipeline);
  entry.isa = host_isa();
  entry.shape_bucket = shape_bucket(kRowLength);
  entry.choices.softmax_form = ir::SoftmaxForm::kThreePassRecompute;
  // Times that are inexact in binary, so that reading them back rounds.
  entry.default_ns_per_element = 0.3;
  entry.tuned_ns_per_element = 0.2;
  entry.noise_ns_per_element = 0.01;
  entry.pipeline_name = "softmax";
  entry.n = kRowLength;
  entry.rows = 64;
  TuningFile file;
  file.entries.push_back(entry);
  ASSERT_TRUE(save_tuning_file(path("tuning.json"), file).is_ok());
  std::filesystem::create_directories(path("dumps"));

  char self[PATH_MAX] = {};
  ASSERT_GT(readlink("/proc/self/exe", self, sizeof(self) - 1), 0);
  // The child keeps the ISA cap, which chose the entry's ISA, and no other
  // ROWJIT_* variable of this process. It takes no GTEST_* variable either:
  // sharding would skip its test, and repeating it would compile from a warm
  // process. `exec` lets a signal that kills it reach std::system's status.
  std::string command = "exec env";
  for (const std::string& name : testing::rowjit_variable_names()) {
    if (name != "ROWJIT_MAX_ISA") command += " -u " + testing::shell_quote(name);
  }
  for (const std::string& name : gtest_variable_names()) command += " -u " + testing::shell_quote(name);
  command += " " + std::string(kChildVariable) + "=1";
  command += " ROWJIT_TUNING_FILE=" + testing::shell_quote(path("tuning.json"));
  command += " ROWJIT_VERBOSE=1";
  command += " ROWJIT_DUMP=" + testing::shell_quote(path("dumps"));
  command += " " + testing::shell_quote(self) + " --gtest_filter=CallerMxcsrChild.CompilesUnderUnmaskedExceptions";
  command += " >" + testing::shell_quote(path("child.txt")) + " 2>&1";
  const int status = std::system(command.c_str());
  const std::string output = testing::read_text_file(path("child.txt"));
  ASSERT_FALSE(WIFSIGNALED(status)) << "the child process died of signal " << WTERMSIG(status)
                                    << (WTERMSIG(status) == SIGFPE ? " (SIGFPE: a floating-point trap)" : "") << ":\n"
                                    << output;
  ASSERT_TRUE(WIFEXITED(status)) << output;
  EXPECT_EQ(WEXITSTATUS(status), 0) << output;
  EXPECT_NE(output.find("[  PASSED  ] 1 test"), std::string::npos) << output;
  EXPECT_EQ(output.find("SKIPPED"), std::string::npos) << output;
}

}  // namespace
}  // namespace rowjit
