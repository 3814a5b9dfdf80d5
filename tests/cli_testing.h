// Helpers for tests that run the built rowjit binary: a fixture that gives
// each test an empty folder, and a runner that captures the binary's exit
// code, standard output and standard error.
#pragma once

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "runtime/npy.h"
#include "tests/test_util.h"

extern "C" char** environ;

namespace rowjit::testing {

// Outcome of one run of the rowjit binary.
struct CliResult {
  // -1 when std::system failed or the shell did not exit normally.
  int exit_code = -1;
  std::string out;
  std::string err;
};

struct CliOptions {
  // Folder the binary starts in. An empty string keeps the test's working
  // directory.
  std::string working_dir;
  // Unsets every ROWJIT_* variable of the test process, so that settings in
  // the caller's environment cannot change what the binary does.
  bool unset_rowjit_variables = false;
  // Variables set for the binary, applied after the unsetting.
  std::map<std::string, std::string> environment;
  // Address-space limit in KiB (ulimit -v), or 0 for no limit.
  int64_t virtual_memory_kib = 0;
};

// Quotes `text` as one /bin/sh word.
inline std::string shell_quote(const std::string& text) {
  std::string quoted = "'";
  for (char c : text) {
    if (c == '\'') {
      quoted += "'\\''";
    } else {
      quoted += c;
    }
  }
  quoted += '\'';
  return quoted;
}

// Names of the ROWJIT_* variables in this process's environment.
inline std::vector<std::string> rowjit_variable_names() {
  std::vector<std::string> names;
  for (char** entry = environ; *entry != nullptr; ++entry) {
    std::string_view variable = *entry;
    if (!variable.starts_with("ROWJIT_")) continue;
    names.emplace_back(variable.substr(0, variable.find('=')));
  }
  return names;
}

// Runs the rowjit binary with `args` through /bin/sh. Its standard output and
// standard error go to stdout.txt and stderr.txt in `capture_folder`, which
// are read and then removed, so that the folder keeps only what the binary
// itself wrote there.
inline CliResult run_cli(const std::vector<std::string>& args, const std::filesystem::path& capture_folder,
                         const CliOptions& options = {}) {
  const std::string stdout_path = (capture_folder / "stdout.txt").string();
  const std::string stderr_path = (capture_folder / "stderr.txt").string();

  // Built with += throughout: GCC 12 reports a false -Wrestrict warning for
  // some "literal" + std::string expressions.
  std::string command;
  if (!options.working_dir.empty()) {
    command += "cd ";
    command += shell_quote(options.working_dir);
    command += " && ";
  }
  if (options.virtual_memory_kib > 0) {
    command += "ulimit -v ";
    command += std::to_string(options.virtual_memory_kib);
    command += " && ";
  }

  std::string env_arguments;
  if (options.unset_rowjit_variables) {
    for (const std::string& name : rowjit_variable_names()) {
      env_arguments += " -u ";
      env_arguments += shell_quote(name);
    }
  }
  for (const auto& [name, value] : options.environment) {
    env_arguments += ' ';
    env_arguments += shell_quote(name + "=" + value);
  }
  if (!env_arguments.empty()) {
    command += "env";
    command += env_arguments;
    command += ' ';
  }

  command += shell_quote(ROWJIT_CLI_PATH);
  for (const std::string& arg : args) {
    command += ' ';
    command += shell_quote(arg);
  }
  command += " >";
  command += shell_quote(stdout_path);
  command += " 2>";
  command += shell_quote(stderr_path);

  CliResult result;
  int status = std::system(command.c_str());
  if (status != -1 && WIFEXITED(status)) result.exit_code = WEXITSTATUS(status);
  result.out = read_text_file(stdout_path);
  result.err = read_text_file(stderr_path);
  std::filesystem::remove(stdout_path);
  std::filesystem::remove(stderr_path);
  return result;
}

// Fixture that gives each test an empty folder under ::testing::TempDir(),
// removed after the test. The folder name contains the suite, the test and
// the process id, so that tests that ctest runs in parallel never share one.
class ScratchFolderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const ::testing::TestInfo* info = ::testing::UnitTest::GetInstance()->current_test_info();
    std::string name = "rowjit_" + std::string(info->test_suite_name()) + "_" + info->name() + "_" +
                       std::to_string(getpid());
    // Parameterized suites and tests have '/' in their names.
    for (char& c : name) {
      if (c == '/') c = '_';
    }
    folder_ = std::filesystem::path(::testing::TempDir()) / name;
    std::filesystem::remove_all(folder_);
    std::filesystem::create_directories(folder_);
  }

  void TearDown() override { std::filesystem::remove_all(folder_); }

  // Path of `name` inside the test's folder.
  std::string path(const std::string& name) const { return (folder_ / name).string(); }

  std::filesystem::path folder_;
};

// The float32 values of an .npy array read back from the binary's output.
inline std::vector<float> floats_of(const NpyArray& array) {
  std::vector<float> values(array.data.size() / 4);
  std::memcpy(values.data(), array.data.data(), array.data.size());
  return values;
}

}  // namespace rowjit::testing
