#include "runtime/env_knobs.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include "runtime/compiler.h"
#include "runtime/log.h"
#include "runtime/perf_map.h"
#include "tests/runtime_testing.h"

namespace rowjit {
namespace {

using testing::kSoftmaxText;

ParsedKnobs parse_from(const std::map<std::string, std::string>& environment) {
  return parse_knobs([&](const char* name) -> const char* {
    auto found = environment.find(name);
    return found == environment.end() ? nullptr : found->second.c_str();
  });
}

// Collects log lines while it lives.
class LogCapture {
 public:
  LogCapture() { set_log_sink(&LogCapture::receive, this); }
  ~LogCapture() { set_log_sink(nullptr, nullptr); }

  // Lines that start with `prefix`.
  std::vector<std::string> lines_starting(const std::string& prefix) {
    std::lock_guard<std::mutex> lock(mutex_);
    std::vector<std::string> matching;
    for (const std::string& line : lines_) {
      if (line.rfind(prefix, 0) == 0) matching.push_back(line);
    }
    return matching;
  }

 private:
  static void receive(void* context, const char* line) {
    auto* self = static_cast<LogCapture*>(context);
    std::lock_guard<std::mutex> lock(self->mutex_);
    self->lines_.push_back(line);
  }

  std::mutex mutex_;
  std::vector<std::string> lines_;
};

std::string read_file(const std::string& path) {
  std::ifstream file(path);
  std::ostringstream text;
  text << file.rdbuf();
  return text.str();
}

// A fresh folder under the system's temporary folder, removed at the end.
class TempDir {
 public:
  TempDir() {
    path_ = std::filesystem::temp_directory_path() /
            ("rowjit_knobs_" + std::to_string(::getpid()) + "_" +
             ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(path_);
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  std::string path() const { return path_.string(); }

 private:
  std::filesystem::path path_;
};

TEST(Knobs, Defaults) {
  ParsedKnobs parsed = parse_from({});
  EXPECT_FALSE(parsed.knobs.verbose);
  EXPECT_FALSE(parsed.knobs.perf_map);
  EXPECT_EQ(parsed.knobs.dump_dir, "");
  EXPECT_EQ(parsed.knobs.cache_capacity, 1024u);
  EXPECT_TRUE(parsed.warnings.empty());
}

TEST(Knobs, ValidValues) {
  ParsedKnobs parsed = parse_from({{"ROWJIT_VERBOSE", "1"},
                                   {"ROWJIT_PERF_MAP", " 1 "},
                                   {"ROWJIT_DUMP", "/tmp/dumps"},
                                   {"ROWJIT_CACHE_CAPACITY", "7"}});
  EXPECT_TRUE(parsed.knobs.verbose);
  EXPECT_TRUE(parsed.knobs.perf_map);
  EXPECT_EQ(parsed.knobs.dump_dir, "/tmp/dumps");
  EXPECT_EQ(parsed.knobs.cache_capacity, 7u);
  EXPECT_TRUE(parsed.warnings.empty());
}

TEST(Knobs, ZeroAndEmptyAreOff) {
  ParsedKnobs parsed = parse_from({{"ROWJIT_VERBOSE", "0"}, {"ROWJIT_PERF_MAP", ""}, {"ROWJIT_CACHE_CAPACITY", "0"}});
  EXPECT_FALSE(parsed.knobs.verbose);
  EXPECT_FALSE(parsed.knobs.perf_map);
  EXPECT_EQ(parsed.knobs.cache_capacity, 0u);
  EXPECT_TRUE(parsed.warnings.empty());
}

TEST(Knobs, InvalidValuesWarnOnce) {
  ParsedKnobs parsed =
      parse_from({{"ROWJIT_VERBOSE", "yes"}, {"ROWJIT_PERF_MAP", "2"}, {"ROWJIT_CACHE_CAPACITY", "-5"}});
  EXPECT_FALSE(parsed.knobs.verbose);
  EXPECT_FALSE(parsed.knobs.perf_map);
  EXPECT_EQ(parsed.knobs.cache_capacity, 1024u);
  ASSERT_EQ(parsed.warnings.size(), 3u);
  EXPECT_EQ(parsed.warnings[0], "ignoring ROWJIT_VERBOSE='yes': expected 0 or 1");
  EXPECT_EQ(parsed.warnings[1], "ignoring ROWJIT_PERF_MAP='2': expected 0 or 1");
  EXPECT_NE(parsed.warnings[2].find("ROWJIT_CACHE_CAPACITY='-5'"), std::string::npos);
}

TEST(Knobs, CapacityWithTrailingText) {
  ParsedKnobs parsed = parse_from({{"ROWJIT_CACHE_CAPACITY", "12k"}});
  EXPECT_EQ(parsed.knobs.cache_capacity, 1024u);
  EXPECT_EQ(parsed.warnings.size(), 1u);
}

TEST(Knobs, VerboseLineFormat) {
  RuntimeKnobs knobs;
  knobs.verbose = true;
  Compiler compiler(knobs);
  LogCapture capture;
  ASSERT_TRUE(compiler.compile_text(kSoftmaxText).is_ok());
  ASSERT_TRUE(compiler.compile_text(kSoftmaxText).is_ok());
  std::vector<std::string> lines = capture.lines_starting("rowjit: compile ");
  ASSERT_EQ(lines.size(), 2u);
  std::regex format(
      "rowjit: compile pipeline=softmax kernel=softmax\\.(avx2|avx512|none)\\.[a-z_]+\\.[0-9a-f]{8} "
      "form=[a-z_]+ sweeps=[0-9]+ isa=(avx2|avx512|none) code_bytes=[0-9]+ time_us=[0-9]+\\.[0-9] cache=(hit|miss)");
  EXPECT_TRUE(std::regex_match(lines[0], format)) << lines[0];
  EXPECT_TRUE(std::regex_match(lines[1], format)) << lines[1];
  EXPECT_NE(lines[0].find("cache=miss"), std::string::npos);
  EXPECT_NE(lines[1].find("cache=hit"), std::string::npos);
}

TEST(Knobs, VerboseLineOnFailure) {
  RuntimeKnobs knobs;
  knobs.verbose = true;
  Compiler compiler(knobs);
  LogCapture capture;
  CompileOptions options;
  options.choices.unroll = 9;
  ASSERT_FALSE(compiler.compile_text(kSoftmaxText, options).is_ok());
  std::vector<std::string> lines = capture.lines_starting("rowjit: compile ");
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_NE(lines[0].find("cache=miss failed: invalid argument: unroll 9"), std::string::npos) << lines[0];
}

TEST(Knobs, QuietWithoutVerbose) {
  Compiler compiler(RuntimeKnobs{});
  LogCapture capture;
  ASSERT_TRUE(compiler.compile_text(kSoftmaxText).is_ok());
  EXPECT_TRUE(capture.lines_starting("rowjit: compile ").empty());
}

TEST(Knobs, DumpFileCreated) {
  TempDir dir;
  RuntimeKnobs knobs;
  knobs.dump_dir = dir.path() + "/nested";
  Compiler compiler(knobs);
  auto kernel = compiler.compile_text(kSoftmaxText);
  ASSERT_TRUE(kernel.is_ok());

  std::vector<std::filesystem::path> files;
  for (const auto& entry : std::filesystem::directory_iterator(knobs.dump_dir)) files.push_back(entry.path());
  ASSERT_EQ(files.size(), 1u);
  std::string name = files[0].filename().string();
  std::string form(ir::softmax_form_name((*kernel)->plan().softmax_form));
  std::string prefix = std::string("softmax.") + isa_name((*kernel)->isa()) + "." + form + ".";
  EXPECT_EQ(name.rfind(prefix, 0), 0u) << name;
  EXPECT_EQ(files[0].extension(), ".asm");

  std::string dump = read_file(files[0].string());
  EXPECT_EQ(dump.rfind("; kernel softmax.", 0), 0u) << dump.substr(0, 200);
  EXPECT_NE(dump.find("; kernel softmax(x: f32[n]) -> (y: f32[n]) {"), std::string::npos);
  if ((*kernel)->uses_jit()) {
    EXPECT_NE(dump.find("; sweep 0"), std::string::npos);
  } else {
    EXPECT_NE(dump.find("runs on the reference interpreter"), std::string::npos);
  }

  // A hit writes no second file.
  ASSERT_TRUE(compiler.compile_text(kSoftmaxText).is_ok());
  EXPECT_EQ(std::distance(std::filesystem::directory_iterator(knobs.dump_dir), std::filesystem::directory_iterator()),
            1);
}

TEST(Knobs, DumpFailureLoggedOnce) {
  TempDir dir;
  std::filesystem::create_directories(dir.path());
  std::string blocker = dir.path() + "/file";
  std::ofstream(blocker) << "not a folder";
  RuntimeKnobs knobs;
  knobs.dump_dir = blocker;
  Compiler compiler(knobs);
  LogCapture capture;
  CompileOptions other;
  other.n_hint = 5000;
  EXPECT_TRUE(compiler.compile_text(kSoftmaxText).is_ok());
  EXPECT_TRUE(compiler.compile_text(kSoftmaxText, other).is_ok());
  EXPECT_EQ(capture.lines_starting("rowjit: cannot write a kernel dump").size(), 1u);
}

TEST(Knobs, PerfMapLineFormat) {
  EXPECT_EQ(format_perf_map_line(reinterpret_cast<const void*>(0x7f001000), 0x2c0, "rowjit:softmax"),
            "7f001000 2c0 rowjit:softmax\n");
  EXPECT_EQ(perf_map_path(), "/tmp/perf-" + std::to_string(::getpid()) + ".map");
}

TEST(Knobs, PerfMapLineAppended) {
  if (!testing::host_has_jit()) GTEST_SKIP() << "no JIT on this CPU, so no code to map";
  std::string path = perf_map_path();
  bool existed = std::filesystem::exists(path);
  RuntimeKnobs knobs;
  knobs.perf_map = true;
  Compiler compiler(knobs);
  auto kernel = compiler.compile_text(kSoftmaxText);
  ASSERT_TRUE(kernel.is_ok());
  ASSERT_TRUE((*kernel)->uses_jit());

  const jit::ExecutableBuffer& code = (*kernel)->compiled()->code;
  char expected_start[64];
  std::snprintf(expected_start, sizeof(expected_start), "%lx %zx rowjit:softmax.",
                static_cast<unsigned long>(reinterpret_cast<std::uintptr_t>(code.entry())), code.size());
  std::string map = read_file(path);
  // The line starts the file or follows a newline.
  bool found = map.rfind(expected_start, 0) == 0 || map.find(std::string("\n") + expected_start) != std::string::npos;
  EXPECT_TRUE(found) << "expected a line starting with '" << expected_start << "' in " << path << ":\n" << map;
  if (!existed) std::filesystem::remove(path);
}

}  // namespace
}  // namespace rowjit
