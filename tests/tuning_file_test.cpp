// Tests of the tuning file: keys, lookup, the JSON form, merging, atomic
// saving, and the runtime's reading of the file (runtime/tuning_file.h).
#include "runtime/tuning_file.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "ir/parser.h"
#include "ir/printer.h"
#include "runtime/json_value.h"
#include "runtime/log.h"
#include "tests/runtime_testing.h"

namespace rowjit {
namespace {

namespace fs = std::filesystem;
using ir::SoftmaxForm;

CpuIdentity intel_cpu() {
  CpuIdentity cpu;
  cpu.vendor = "GenuineIntel";
  cpu.family = 6;
  cpu.model = 143;
  cpu.stepping = 8;
  cpu.isa_set = "avx avx2 fma avx512f avx512bw avx512dq avx512vl / avx512";
  cpu.l1d_bytes = 48 * 1024;
  cpu.l2_bytes = 2 * 1024 * 1024;
  cpu.l3_bytes = 105 * 1024 * 1024;
  return cpu;
}

CpuIdentity amd_cpu() {
  CpuIdentity cpu;
  cpu.vendor = "AuthenticAMD";
  cpu.family = 25;
  cpu.model = 17;
  cpu.stepping = 1;
  cpu.isa_set = "avx avx2 fma / avx2";
  cpu.l1d_bytes = 32 * 1024;
  cpu.l2_bytes = 1024 * 1024;
  cpu.l3_bytes = 32 * 1024 * 1024;
  return cpu;
}

TuningEntry make_entry(const CpuIdentity& cpu, uint64_t hash, int bucket, int threads, SoftmaxForm form, int unroll,
                       bool nontemporal, Isa isa = Isa::kAvx512) {
  TuningEntry entry;
  entry.cpu = cpu;
  entry.pipeline_hash = hash;
  entry.isa = isa;
  entry.shape_bucket = bucket;
  entry.threads = threads;
  entry.choices.softmax_form = form;
  entry.choices.unroll = unroll;
  entry.choices.nontemporal_stores = nontemporal;
  entry.kept_default = false;
  entry.default_ns_per_element = 0.25;
  entry.tuned_ns_per_element = 0.125;
  entry.noise_ns_per_element = 0.0078125;
  entry.pipeline_name = "softmax";
  entry.n = int64_t{1} << bucket;
  entry.rows = 64;
  return entry;
}

constexpr uint64_t kHash = 0x0123456789abcdefull;

// A folder under the test temp dir, removed with its contents at the end.
class TempFolder {
 public:
  TempFolder() {
    const ::testing::TestInfo* info = ::testing::UnitTest::GetInstance()->current_test_info();
    path_ = fs::path(::testing::TempDir()) /
            ("rowjit_tuning_" + std::string(info->name()) + "_" + std::to_string(getpid()));
    fs::remove_all(path_);
    fs::create_directories(path_);
  }
  ~TempFolder() { fs::remove_all(path_); }
  std::string file(const std::string& name) const { return (path_ / name).string(); }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

void write_file(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary);
  out << text;
}

// Counts the files in `folder` whose names contain ".tmp.", the temporary
// files of AtomicFile.
int count_temp_files(const fs::path& folder) {
  int count = 0;
  for (const auto& item : fs::directory_iterator(folder)) {
    if (item.path().filename().string().find(".tmp.") != std::string::npos) ++count;
  }
  return count;
}

std::string formatted_file_with_one_entry() {
  TuningFile file;
  file.entries.push_back(make_entry(intel_cpu(), kHash, 12, 1, SoftmaxForm::kTwoPassOnline, 8, false));
  return format_tuning_file(file);
}

// Replaces the first `from` in `text` by `to`, failing the test when absent.
std::string replace_once(std::string text, const std::string& from, const std::string& to) {
  size_t at = text.find(from);
  EXPECT_NE(at, std::string::npos) << from;
  if (at != std::string::npos) text.replace(at, from.size(), to);
  return text;
}

TEST(CpuIdentity, FromFeatures) {
  CpuFeatures features;
  features.vendor = "GenuineIntel";
  features.family = 6;
  features.model = 143;
  features.stepping = 8;
  features.avx = true;
  features.avx2 = true;
  features.fma = true;
  features.osxsave = true;
  features.xcr0 = 0x7;  // x87, SSE and AVX state
  features.caches.l1d_bytes = 49152;
  features.caches.l2_bytes = 2097152;
  features.caches.l3_bytes = 110100480;
  CpuIdentity cpu = cpu_identity(features);
  EXPECT_EQ(cpu.vendor, "GenuineIntel");
  EXPECT_EQ(cpu.family, 6u);
  EXPECT_EQ(cpu.model, 143u);
  EXPECT_EQ(cpu.stepping, 8u);
  EXPECT_EQ(cpu.isa_set, "avx avx2 fma / avx2");
  EXPECT_EQ(cpu.l1d_bytes, 49152u);
  EXPECT_EQ(cpu.l2_bytes, 2097152u);
  EXPECT_EQ(cpu.l3_bytes, 110100480u);
}

TEST(CpuIdentity, OsStateInIsaSet) {
  // AVX-512 in CPUID, but the OS saves no opmask or zmm state.
  CpuFeatures features;
  features.avx = features.avx2 = features.fma = true;
  features.avx512f = features.avx512bw = features.avx512dq = features.avx512vl = true;
  features.osxsave = true;
  features.xcr0 = 0x7;
  EXPECT_EQ(cpu_identity(features).isa_set, "avx avx2 fma avx512f avx512bw avx512dq avx512vl / avx2");
  features.xcr0 = 0xE7;
  EXPECT_EQ(cpu_identity(features).isa_set, "avx avx2 fma avx512f avx512bw avx512dq avx512vl / avx512");
}

TEST(TuningKey, Fnv1aVectors) {
  // The FNV-1a 64 test vectors published in the IETF draft "The FNV
  // Non-Cryptographic Hash Algorithm" (draft-eastlake-fnv).
  EXPECT_EQ(fnv1a_64(""), 0xcbf29ce484222325ull);
  EXPECT_EQ(fnv1a_64("a"), 0xaf63dc4c8601ec8cull);
  EXPECT_EQ(fnv1a_64("foobar"), 0x85944171f73967e8ull);
}

TEST(TuningKey, PipelineHashIgnoresSpacing) {
  auto softmax = ir::parse_pipeline(testing::kSoftmaxText);
  auto reformatted = ir::parse_pipeline(testing::kSoftmaxTextReformatted);
  auto log_softmax = ir::parse_pipeline(testing::kLogSoftmaxText);
  ASSERT_TRUE(softmax.is_ok());
  ASSERT_TRUE(reformatted.is_ok());
  ASSERT_TRUE(log_softmax.is_ok());
  EXPECT_EQ(pipeline_hash(*softmax), fnv1a_64(ir::print_pipeline(*softmax)));
  EXPECT_EQ(pipeline_hash(*softmax), pipeline_hash(*reformatted));
  EXPECT_NE(pipeline_hash(*softmax), pipeline_hash(*log_softmax));
}

TEST(TuningKey, ShapeBucket) {
  EXPECT_EQ(shape_bucket(0), -1);
  EXPECT_EQ(shape_bucket(-5), -1);
  EXPECT_EQ(shape_bucket(1), 0);
  EXPECT_EQ(shape_bucket(2), 1);
  EXPECT_EQ(shape_bucket(3), 2);
  EXPECT_EQ(shape_bucket(4096), 12);
  EXPECT_EQ(shape_bucket(4097), 13);
  EXPECT_EQ(shape_bucket(int64_t{1} << 40), 40);
}

TEST(TuningLookup, MatchesKey) {
  TuningFile file;
  file.entries.push_back(make_entry(intel_cpu(), kHash, 12, 1, SoftmaxForm::kTwoPassOnline, 8, false));
  auto choices = tuned_choices(file, intel_cpu(), kHash, Isa::kAvx512, 4096, 1);
  ASSERT_TRUE(choices.has_value());
  EXPECT_EQ(choices->softmax_form, SoftmaxForm::kTwoPassOnline);
  EXPECT_EQ(choices->unroll, 8);
  EXPECT_EQ(choices->nontemporal_stores, false);
}

TEST(TuningLookup, OtherCpuIgnored) {
  TuningFile file;
  file.entries.push_back(make_entry(intel_cpu(), kHash, 12, 1, SoftmaxForm::kTwoPassOnline, 8, false));
  EXPECT_FALSE(tuned_choices(file, amd_cpu(), kHash, Isa::kAvx512, 4096, 1).has_value());
  // One differing field is enough: here the L2 size.
  CpuIdentity smaller_l2 = intel_cpu();
  smaller_l2.l2_bytes = 1024 * 1024;
  EXPECT_FALSE(tuned_choices(file, smaller_l2, kHash, Isa::kAvx512, 4096, 1).has_value());
  CpuIdentity other_stepping = intel_cpu();
  other_stepping.stepping = 7;
  EXPECT_FALSE(tuned_choices(file, other_stepping, kHash, Isa::kAvx512, 4096, 1).has_value());
}

TEST(TuningLookup, OtherPipelineOrIsaIgnored) {
  TuningFile file;
  file.entries.push_back(make_entry(intel_cpu(), kHash, 12, 1, SoftmaxForm::kTwoPassOnline, 8, false));
  EXPECT_FALSE(tuned_choices(file, intel_cpu(), kHash + 1, Isa::kAvx512, 4096, 1).has_value());
  EXPECT_FALSE(tuned_choices(file, intel_cpu(), kHash, Isa::kAvx2, 4096, 1).has_value());
}

TEST(TuningLookup, BucketMatching) {
  TuningFile file;
  file.entries.push_back(make_entry(intel_cpu(), kHash, 12, 1, SoftmaxForm::kTwoPassOnline, 8, false));
  // Bucket 12 contains n from 2049 to 4096.
  EXPECT_TRUE(tuned_choices(file, intel_cpu(), kHash, Isa::kAvx512, 2049, 1).has_value());
  EXPECT_TRUE(tuned_choices(file, intel_cpu(), kHash, Isa::kAvx512, 3000, 1).has_value());
  EXPECT_FALSE(tuned_choices(file, intel_cpu(), kHash, Isa::kAvx512, 2048, 1).has_value());
  EXPECT_FALSE(tuned_choices(file, intel_cpu(), kHash, Isa::kAvx512, 4097, 1).has_value());
  EXPECT_FALSE(tuned_choices(file, intel_cpu(), kHash, Isa::kAvx512, 0, 1).has_value());
}

TEST(TuningLookup, NearestThreads) {
  TuningFile file;
  file.entries.push_back(make_entry(intel_cpu(), kHash, 12, 2, SoftmaxForm::kThreePassReload, 2, false));
  file.entries.push_back(make_entry(intel_cpu(), kHash, 12, 4, SoftmaxForm::kThreePassReload, 4, false));
  file.entries.push_back(make_entry(intel_cpu(), kHash, 12, 16, SoftmaxForm::kThreePassReload, 8, false));
  EXPECT_EQ(tuned_choices(file, intel_cpu(), kHash, Isa::kAvx512, 4096, 4)->unroll, 4);  // exact
  EXPECT_EQ(tuned_choices(file, intel_cpu(), kHash, Isa::kAvx512, 4096, 1)->unroll, 2);  // nearest is 2
  EXPECT_EQ(tuned_choices(file, intel_cpu(), kHash, Isa::kAvx512, 4096, 3)->unroll, 2);  // tie: fewer threads
  EXPECT_EQ(tuned_choices(file, intel_cpu(), kHash, Isa::kAvx512, 4096, 12)->unroll, 8);  // 16 is nearer than 4
}

TEST(TuningFileFormat, RoundTrip) {
  TuningFile file;
  CpuIdentity odd_vendor = amd_cpu();
  odd_vendor.vendor = "Quote\" and \\ back";
  file.entries.push_back(make_entry(intel_cpu(), kHash, 12, 1, SoftmaxForm::kTwoPassOnline, 8, false));
  file.entries.push_back(
      make_entry(odd_vendor, 0xfedcba9876543210ull, 20, 8, SoftmaxForm::kTwoPassExtExp, 2, true, Isa::kAvx2));
  file.entries[1].kept_default = true;
  file.entries[1].default_ns_per_element = 0.1 + 0.2;  // a double with no short decimal form
  file.entries[1].pipeline_name = "router\tgate";
  file.entries[1].choices.exp_group = 2;
  std::string text = format_tuning_file(file);

  Result<TuningFile> parsed = parse_tuning_file(text);
  ASSERT_TRUE(parsed.is_ok()) << parsed.status().to_string() << "\n" << text;
  EXPECT_EQ(parsed->schema_version, kTuningSchemaVersion);
  ASSERT_EQ(parsed->entries.size(), 2u);
  for (size_t i = 0; i < 2; ++i) {
    const TuningEntry& expected = file.entries[i];
    const TuningEntry& actual = parsed->entries[i];
    EXPECT_TRUE(actual.same_key(expected)) << i;
    EXPECT_EQ(actual.cpu, expected.cpu) << i;
    EXPECT_EQ(actual.choices.softmax_form, expected.choices.softmax_form) << i;
    EXPECT_EQ(actual.choices.unroll, expected.choices.unroll) << i;
    EXPECT_EQ(actual.choices.nontemporal_stores, expected.choices.nontemporal_stores) << i;
    EXPECT_EQ(actual.choices.exp_group, expected.choices.exp_group) << i;
    EXPECT_EQ(actual.kept_default, expected.kept_default) << i;
    EXPECT_EQ(actual.default_ns_per_element, expected.default_ns_per_element) << i;
    EXPECT_EQ(actual.tuned_ns_per_element, expected.tuned_ns_per_element) << i;
    EXPECT_EQ(actual.noise_ns_per_element, expected.noise_ns_per_element) << i;
    EXPECT_EQ(actual.pipeline_name, expected.pipeline_name) << i;
    EXPECT_EQ(actual.n, expected.n) << i;
    EXPECT_EQ(actual.rows, expected.rows) << i;
  }
  EXPECT_EQ(format_tuning_file(*parsed), text);
}

// Entries written before exp groups have no exp_group: the planner chooses it.
TEST(TuningFileFormat, EntryWithoutExpGroup) {
  std::string text = formatted_file_with_one_entry();
  ASSERT_EQ(text.find("exp_group"), std::string::npos) << text;
  Result<TuningFile> parsed = parse_tuning_file(text);
  ASSERT_TRUE(parsed.is_ok()) << parsed.status().to_string();
  ASSERT_EQ(parsed->entries.size(), 1u);
  EXPECT_FALSE(parsed->entries[0].choices.exp_group.has_value());
  EXPECT_EQ(parsed->entries[0].choices.unroll, 8);
}

TEST(TuningFileFormat, EmptyFileRoundTrip) {
  Result<TuningFile> parsed = parse_tuning_file(format_tuning_file(TuningFile{}));
  ASSERT_TRUE(parsed.is_ok()) << parsed.status().to_string();
  EXPECT_TRUE(parsed->entries.empty());
}

TEST(TuningFileFormat, IsJsonWithSchemaVersion) {
  Result<JsonValue> json = parse_json(formatted_file_with_one_entry());
  ASSERT_TRUE(json.is_ok()) << json.status().to_string();
  const JsonValue* version = json->find("schema_version");
  ASSERT_NE(version, nullptr);
  EXPECT_EQ(version->number, 1.0);
  const JsonValue* entries = json->find("entries");
  ASSERT_NE(entries, nullptr);
  ASSERT_EQ(entries->kind, JsonValue::Kind::kArray);
  ASSERT_EQ(entries->array.size(), 1u);
  const JsonValue* hash = entries->array[0].find("pipeline_hash");
  ASSERT_NE(hash, nullptr);
  EXPECT_EQ(hash->string, "0123456789abcdef");
}

TEST(TuningFileFormat, OtherSchemaVersionIgnored) {
  // A future layout: the entries are not even an array.
  Result<TuningFile> parsed = parse_tuning_file(R"({"schema_version": 2, "entries": {"by_cpu": []}})");
  ASSERT_TRUE(parsed.is_ok()) << parsed.status().to_string();
  EXPECT_EQ(parsed->schema_version, 2);
  EXPECT_TRUE(parsed->entries.empty());
  EXPECT_FALSE(tuned_choices(*parsed, intel_cpu(), kHash, Isa::kAvx512, 4096, 1).has_value());
}

TEST(TuningFileCorrupt, Truncated) {
  std::string text = formatted_file_with_one_entry();
  Result<TuningFile> parsed = parse_tuning_file(text.substr(0, text.size() / 2));
  ASSERT_FALSE(parsed.is_ok());
  EXPECT_EQ(parsed.status().code(), StatusCode::kParseError);
  EXPECT_NE(parsed.status().message().find("not valid JSON at line"), std::string::npos)
      << parsed.status().message();
  EXPECT_NE(parsed.status().message().find("the end of the text"), std::string::npos) << parsed.status().message();
}

TEST(TuningFileCorrupt, NotJson) {
  for (const char* text : {"", "hello", "{\"schema_version\": 1,}", "[1, 2", "{\"schema_version\": 1} extra"}) {
    Result<TuningFile> parsed = parse_tuning_file(text);
    ASSERT_FALSE(parsed.is_ok()) << text;
    EXPECT_EQ(parsed.status().code(), StatusCode::kParseError) << text;
  }
}

TEST(TuningFileCorrupt, WrongTypes) {
  struct Case {
    std::string from;
    std::string to;
    std::string field;  // expected in the message
  };
  const std::vector<Case> cases = {
      {"\"unroll\": 8", "\"unroll\": \"eight\"", "entries[0].choices.unroll"},
      {"\"unroll\": 8", "\"unroll\": 16", "entries[0].choices.unroll"},
      {"\"threads\": 1", "\"threads\": 1.5", "entries[0].threads"},
      {"\"softmax_form\": \"two_pass_online\"", "\"softmax_form\": \"fast\"", "entries[0].choices.softmax_form"},
      {"\"nontemporal_stores\": false", "\"nontemporal_stores\": 0", "entries[0].choices.nontemporal_stores"},
      {"\"pipeline_hash\": \"0123456789abcdef\"", "\"pipeline_hash\": 81985529216486895", "entries[0].pipeline_hash"},
      {"\"pipeline_hash\": \"0123456789abcdef\"", "\"pipeline_hash\": \"0123456789abcdeg\"",
       "entries[0].pipeline_hash"},
      {"\"isa\": \"avx512\"", "\"isa\": \"sse2\"", "entries[0].isa"},
      {"\"family\": 6", "\"family\": -6", "entries[0].cpu.family"},
      {"\"tuned_ns_per_element\": 0.125", "\"tuned_ns_per_element\": -1", "entries[0].tuned_ns_per_element"},
      {"\"isa\": \"avx512\",", "", "missing field entries[0].isa"},
      {"\"nontemporal_stores\": false", "\"nontemporal_stores\": false, \"exp_group\": 9",
       "entries[0].choices.exp_group"},
      {"\"nontemporal_stores\": false", "\"nontemporal_stores\": false, \"exp_group\": \"all\"",
       "entries[0].choices.exp_group"},
      // Unroll 8: a group is a divisor of it, of at most 6.
      {"\"nontemporal_stores\": false", "\"nontemporal_stores\": false, \"exp_group\": 5",
       "entries[0].choices.exp_group: expected a divisor of the unroll 8"},
      {"\"nontemporal_stores\": false", "\"nontemporal_stores\": false, \"exp_group\": 8",
       "entries[0].choices.exp_group"},
  };
  for (const Case& c : cases) {
    Result<TuningFile> parsed = parse_tuning_file(replace_once(formatted_file_with_one_entry(), c.from, c.to));
    ASSERT_FALSE(parsed.is_ok()) << c.to;
    EXPECT_EQ(parsed.status().code(), StatusCode::kInvalidArgument) << c.to;
    EXPECT_NE(parsed.status().message().find(c.field), std::string::npos) << parsed.status().message();
  }
}

// A FIFO, a device and a file too large to be a tuning file are rejected
// before they are read: a FIFO without a writer would block the open, and
// /dev/zero would be read until memory runs out.
TEST(TuningFileCorrupt, NotARegularFileOrTooLarge) {
  TempFolder folder;
  const std::string fifo = folder.file("tuning.fifo");
  ASSERT_EQ(mkfifo(fifo.c_str(), 0600), 0);
  for (const std::string& path : {fifo, std::string("/dev/zero"), folder.path().string()}) {
    Result<TuningFile> loaded = load_tuning_file(path);
    ASSERT_FALSE(loaded.is_ok()) << path;
    EXPECT_EQ(loaded.status().code(), StatusCode::kIoError) << path;
    EXPECT_NE(loaded.status().message().find("is not a regular file"), std::string::npos) << loaded.status().message();
  }
  const std::string large = folder.file("large.json");
  write_file(large, formatted_file_with_one_entry());
  fs::resize_file(large, (uint64_t{64} << 20) + 1);  // sparse: no 64 MiB written
  Result<TuningFile> loaded = load_tuning_file(large);
  ASSERT_FALSE(loaded.is_ok());
  EXPECT_NE(loaded.status().message().find("more than the 67108864 a tuning file may have"), std::string::npos)
      << loaded.status().message();
}

TEST(TuningFileCorrupt, WrongTopLevel) {
  for (const char* text : {"[]", "42", R"({"entries": []})", R"({"schema_version": "1", "entries": []})",
                           R"({"schema_version": 1})", R"({"schema_version": 1, "entries": [7]})"}) {
    Result<TuningFile> parsed = parse_tuning_file(text);
    ASSERT_FALSE(parsed.is_ok()) << text;
    EXPECT_EQ(parsed.status().code(), StatusCode::kInvalidArgument) << text;
  }
}

TEST(TuningFileMerge, ReplacesSameKeyAppendsOthers) {
  TempFolder folder;
  std::string path = folder.file("tuning.json");
  TuningFile first;
  merge_tuning_entries(first, {make_entry(intel_cpu(), kHash, 12, 1, SoftmaxForm::kThreePassReload, 4, false),
                               make_entry(intel_cpu(), kHash, 16, 1, SoftmaxForm::kThreePassReload, 4, false)});
  ASSERT_TRUE(save_tuning_file(path, first).is_ok());

  // A second tune: bucket 12 again with another winner, and a new bucket.
  Result<TuningFile> loaded = load_tuning_file(path);
  ASSERT_TRUE(loaded.is_ok()) << loaded.status().to_string();
  merge_tuning_entries(*loaded, {make_entry(intel_cpu(), kHash, 12, 1, SoftmaxForm::kTwoPassOnline, 2, false),
                                 make_entry(amd_cpu(), kHash, 12, 1, SoftmaxForm::kThreePassRecompute, 1, false)});
  ASSERT_TRUE(save_tuning_file(path, *loaded).is_ok());

  Result<TuningFile> merged = load_tuning_file(path);
  ASSERT_TRUE(merged.is_ok()) << merged.status().to_string();
  ASSERT_EQ(merged->entries.size(), 3u);
  EXPECT_EQ(merged->entries[0].shape_bucket, 12);
  EXPECT_EQ(merged->entries[0].choices.softmax_form, SoftmaxForm::kTwoPassOnline);  // replaced in place
  EXPECT_EQ(merged->entries[1].shape_bucket, 16);
  EXPECT_EQ(merged->entries[2].cpu, amd_cpu());
  EXPECT_EQ(tuned_choices(*merged, intel_cpu(), kHash, Isa::kAvx512, 4096, 1)->unroll, 2);
  EXPECT_EQ(tuned_choices(*merged, amd_cpu(), kHash, Isa::kAvx512, 4096, 1)->unroll, 1);
}

TEST(TuningFileMerge, DropsOtherSchemaEntries) {
  Result<TuningFile> old = parse_tuning_file(R"({"schema_version": 0, "entries": []})");
  ASSERT_TRUE(old.is_ok()) << old.status().to_string();
  merge_tuning_entries(*old, {make_entry(intel_cpu(), kHash, 12, 1, SoftmaxForm::kTwoPassOnline, 2, false)});
  EXPECT_EQ(old->schema_version, kTuningSchemaVersion);
  EXPECT_EQ(old->entries.size(), 1u);
}

TEST(TuningFileSave, MissingFolder) {
  TempFolder folder;
  std::string path = folder.file("absent/tuning.json");
  Status saved = save_tuning_file(path, TuningFile{});
  ASSERT_FALSE(saved.is_ok());
  EXPECT_EQ(saved.code(), StatusCode::kIoError);
  EXPECT_NE(saved.message().find(path), std::string::npos) << saved.message();
  EXPECT_FALSE(fs::exists(path));
}

TEST(TuningFileSave, PathIsFolder) {
  TempFolder folder;
  std::string path = folder.file("tuning.json");
  fs::create_directories(fs::path(path) / "inside");
  Status saved = save_tuning_file(path, TuningFile{});
  ASSERT_FALSE(saved.is_ok());
  EXPECT_EQ(saved.code(), StatusCode::kIoError);
  EXPECT_TRUE(fs::is_directory(path));
  EXPECT_EQ(count_temp_files(folder.path()), 0);
}

TEST(TuningFileSave, FailedWriteKeepsOldFile) {
  TempFolder folder;
  std::string path = folder.file("tuning.json");
  write_file(path, "old contents");
  TuningFile big;
  for (int bucket = 0; bucket < 20; ++bucket) {
    big.entries.push_back(make_entry(intel_cpu(), kHash, bucket, 1, SoftmaxForm::kTwoPassOnline, 2, false));
  }

  // A file size limit makes write() fail partway, as a full disk would; the
  // limit applies to root too. SIGXFSZ would kill the process, so it is ignored.
  struct rlimit saved_limit;
  ASSERT_EQ(getrlimit(RLIMIT_FSIZE, &saved_limit), 0);
  struct sigaction ignore = {};
  struct sigaction saved_action = {};
  ignore.sa_handler = SIG_IGN;
  ASSERT_EQ(sigaction(SIGXFSZ, &ignore, &saved_action), 0);
  struct rlimit small = saved_limit;
  small.rlim_cur = 1000;
  ASSERT_EQ(setrlimit(RLIMIT_FSIZE, &small), 0);
  Status saved = save_tuning_file(path, big);
  setrlimit(RLIMIT_FSIZE, &saved_limit);
  sigaction(SIGXFSZ, &saved_action, nullptr);

  ASSERT_FALSE(saved.is_ok());
  EXPECT_EQ(saved.code(), StatusCode::kIoError);
  EXPECT_EQ(read_file(path), "old contents");
  EXPECT_EQ(count_temp_files(folder.path()), 0);
}

TEST(TuningFileRuntime, ReadsEntriesOfThisCpu) {
  TempFolder folder;
  std::string path = folder.file("tuning.json");
  TuningFile file;
  file.entries.push_back(make_entry(intel_cpu(), kHash, 12, 1, SoftmaxForm::kTwoPassOnline, 8, false));
  file.entries.push_back(make_entry(amd_cpu(), kHash, 12, 1, SoftmaxForm::kThreePassReload, 2, false));
  file.entries.push_back(make_entry(amd_cpu(), kHash, 16, 1, SoftmaxForm::kThreePassReload, 2, false));
  ASSERT_TRUE(save_tuning_file(path, file).is_ok());

  std::vector<std::string> lines;
  std::optional<TuningFile> read = read_tuning_file_for_cpu(path, intel_cpu(), lines);
  ASSERT_TRUE(read.has_value());
  ASSERT_EQ(read->entries.size(), 1u);
  EXPECT_EQ(read->entries[0].cpu, intel_cpu());
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_NE(lines[0].find("ignoring 2 of 3 entries"), std::string::npos) << lines[0];
}

// Two entries with one key: the lookup takes the first, and the log names
// the one that never applies. Entries of other CPUs do not count.
TEST(TuningFileRuntime, RepeatedKeyLogged) {
  TempFolder folder;
  std::string path = folder.file("tuning.json");
  TuningFile file;
  file.entries.push_back(make_entry(amd_cpu(), kHash, 12, 1, SoftmaxForm::kThreePassReload, 2, false));
  file.entries.push_back(make_entry(intel_cpu(), kHash, 12, 1, SoftmaxForm::kTwoPassOnline, 8, false));
  file.entries.push_back(make_entry(amd_cpu(), kHash, 12, 1, SoftmaxForm::kThreePassReload, 4, false));
  file.entries.push_back(make_entry(intel_cpu(), kHash, 12, 2, SoftmaxForm::kThreePassReload, 2, false));
  file.entries.push_back(make_entry(intel_cpu(), kHash, 12, 1, SoftmaxForm::kThreePassReload, 4, false));
  file.entries.push_back(make_entry(intel_cpu(), kHash, 12, 1, SoftmaxForm::kThreePassRecompute, 1, false));
  ASSERT_TRUE(save_tuning_file(path, file).is_ok());

  std::vector<std::string> lines;
  std::optional<TuningFile> read = read_tuning_file_for_cpu(path, intel_cpu(), lines);
  ASSERT_TRUE(read.has_value());
  EXPECT_EQ(read->entries.size(), 4u);
  auto choices = tuned_choices(*read, intel_cpu(), kHash, Isa::kAvx512, 4096, 1);
  ASSERT_TRUE(choices.has_value());
  EXPECT_EQ(choices->unroll, 8);
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_NE(lines[1].find("2 entries have the CPU, pipeline hash, isa, shape bucket and threads of an earlier entry"),
            std::string::npos)
      << lines[1];
  EXPECT_NE(lines[1].find("entries[4] repeats entries[1]"), std::string::npos) << lines[1];
  EXPECT_NE(lines[1].find(path), std::string::npos) << lines[1];
}

TEST(TuningFileRuntime, CorruptFileMeansNoTuning) {
  TempFolder folder;
  std::string path = folder.file("tuning.json");
  std::string text = formatted_file_with_one_entry();
  write_file(path, text.substr(0, text.size() - 20));
  std::vector<std::string> lines;
  EXPECT_FALSE(read_tuning_file_for_cpu(path, intel_cpu(), lines).has_value());
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_NE(lines[0].find(path), std::string::npos) << lines[0];
  EXPECT_NE(lines[0].find("not valid JSON"), std::string::npos) << lines[0];
  EXPECT_EQ(lines[0].find('\n'), std::string::npos) << lines[0];
}

TEST(TuningFileRuntime, WrongTypeMeansNoTuning) {
  TempFolder folder;
  std::string path = folder.file("tuning.json");
  write_file(path, replace_once(formatted_file_with_one_entry(), "\"threads\": 1", "\"threads\": \"one\""));
  std::vector<std::string> lines;
  EXPECT_FALSE(read_tuning_file_for_cpu(path, intel_cpu(), lines).has_value());
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_NE(lines[0].find("entries[0].threads"), std::string::npos) << lines[0];
}

TEST(TuningFileRuntime, OtherSchemaMeansNoTuning) {
  TempFolder folder;
  std::string path = folder.file("tuning.json");
  write_file(path, R"({"schema_version": 0, "entries": []})");
  std::vector<std::string> lines;
  EXPECT_FALSE(read_tuning_file_for_cpu(path, intel_cpu(), lines).has_value());
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_NE(lines[0].find(path + " has schema version 0"), std::string::npos) << lines[0];
}

TEST(TuningFileRuntime, MissingFileMeansNoTuning) {
  TempFolder folder;
  std::vector<std::string> lines;
  EXPECT_FALSE(read_tuning_file_for_cpu(folder.file("absent.json"), intel_cpu(), lines).has_value());
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_NE(lines[0].find("not found"), std::string::npos) << lines[0];
}

ir::TargetDesc avx512_target() {
  ir::TargetDesc target;
  target.isa = "avx512";
  target.vector_bits = 512;
  target.vector_registers = 32;
  target.l2_bytes = 1024 * 1024;
  target.llc_bytes = 32 * 1024 * 1024;
  return target;
}

TEST(TunedPlan, AppliesTunedChoices) {
  auto pipeline = ir::parse_pipeline(testing::kSoftmaxText);
  ASSERT_TRUE(pipeline.is_ok());
  TuningFile file;
  file.entries.push_back(
      make_entry(intel_cpu(), pipeline_hash(*pipeline), 12, 1, SoftmaxForm::kTwoPassOnline, 2, false));
  auto plan = make_plan_with_tuning(*pipeline, avx512_target(), Isa::kAvx512, 4096, {}, &file, intel_cpu());
  ASSERT_TRUE(plan.is_ok()) << plan.status().to_string();
  EXPECT_EQ(plan->softmax_form, SoftmaxForm::kTwoPassOnline);
  EXPECT_EQ(plan->unroll, 2);
}

// A tuned "regular stores" on a row in cache is the planner's own choice, so it
// keeps the switch by call size. On a row the planner streams, it turns
// streaming off.
TEST(TunedPlan, RegularStoresKeepCallSwitch) {
  auto pipeline = ir::parse_pipeline(testing::kSoftmaxText);
  ASSERT_TRUE(pipeline.is_ok());
  TuningFile file;
  file.entries.push_back(
      make_entry(intel_cpu(), pipeline_hash(*pipeline), 12, 1, SoftmaxForm::kThreePassRecompute, 4, false));
  file.entries.push_back(
      make_entry(intel_cpu(), pipeline_hash(*pipeline), 23, 1, SoftmaxForm::kTwoPassOnline, 4, false));
  auto cached = make_plan_with_tuning(*pipeline, avx512_target(), Isa::kAvx512, 4096, {}, &file, intel_cpu());
  ASSERT_TRUE(cached.is_ok()) << cached.status().to_string();
  EXPECT_FALSE(cached->nontemporal_stores);
  EXPECT_GT(cached->nontemporal_call_bytes, 0);
  auto streamed = make_plan_with_tuning(*pipeline, avx512_target(), Isa::kAvx512, 8 << 20, {}, &file, intel_cpu());
  ASSERT_TRUE(streamed.is_ok()) << streamed.status().to_string();
  EXPECT_EQ(streamed->softmax_form, SoftmaxForm::kTwoPassOnline);
  EXPECT_FALSE(streamed->nontemporal_stores);
  EXPECT_EQ(streamed->nontemporal_call_bytes, 0);
}

TEST(TunedPlan, ForcedChoiceWins) {
  auto pipeline = ir::parse_pipeline(testing::kSoftmaxText);
  ASSERT_TRUE(pipeline.is_ok());
  TuningFile file;
  file.entries.push_back(
      make_entry(intel_cpu(), pipeline_hash(*pipeline), 12, 1, SoftmaxForm::kTwoPassOnline, 2, false));
  ir::PlanChoices forced;
  forced.unroll = 8;
  auto plan = make_plan_with_tuning(*pipeline, avx512_target(), Isa::kAvx512, 4096, forced, &file, intel_cpu());
  ASSERT_TRUE(plan.is_ok()) << plan.status().to_string();
  EXPECT_EQ(plan->softmax_form, SoftmaxForm::kTwoPassOnline);
  EXPECT_EQ(plan->unroll, 8);
}

TEST(TunedPlan, AppliesTunedExpGroup) {
  auto pipeline = ir::parse_pipeline(testing::kSoftmaxText);
  ASSERT_TRUE(pipeline.is_ok());
  TuningFile file;
  file.entries.push_back(
      make_entry(intel_cpu(), pipeline_hash(*pipeline), 12, 1, SoftmaxForm::kThreePassReload, 4, false));
  file.entries[0].choices.exp_group = 1;
  auto plan = make_plan_with_tuning(*pipeline, avx512_target(), Isa::kAvx512, 4096, {}, &file, intel_cpu());
  ASSERT_TRUE(plan.is_ok()) << plan.status().to_string();
  EXPECT_EQ(plan->exp_group, 1);
  bool tuned = false;
  for (const std::string& reason : plan->reasons) tuned = tuned || reason == "exps one vector at a time: tuned";
  EXPECT_TRUE(tuned);

  // A forced unroll below the tuned group lowers the group with it.
  file.entries[0].choices.exp_group = 4;
  ir::PlanChoices forced;
  forced.unroll = 2;
  auto lowered = make_plan_with_tuning(*pipeline, avx512_target(), Isa::kAvx512, 4096, forced, &file, intel_cpu());
  ASSERT_TRUE(lowered.is_ok()) << lowered.status().to_string();
  EXPECT_EQ(lowered->unroll, 2);
  EXPECT_EQ(lowered->exp_group, 2);

  // A tuned group that does not divide a forced unroll is dropped, and the
  // rest of the tuned plan stays.
  forced.unroll = 6;
  auto regrouped = make_plan_with_tuning(*pipeline, avx512_target(), Isa::kAvx512, 4096, forced, &file, intel_cpu());
  ASSERT_TRUE(regrouped.is_ok()) << regrouped.status().to_string();
  EXPECT_EQ(regrouped->unroll, 6);
  EXPECT_EQ(regrouped->exp_group, 6);
  EXPECT_EQ(regrouped->softmax_form, SoftmaxForm::kThreePassReload);
}

TEST(TunedPlan, NoEntryKeepsDefault) {
  auto pipeline = ir::parse_pipeline(testing::kSoftmaxText);
  ASSERT_TRUE(pipeline.is_ok());
  auto expected = ir::make_plan(*pipeline, avx512_target(), 4096);
  ASSERT_TRUE(expected.is_ok());
  TuningFile file;
  file.entries.push_back(make_entry(amd_cpu(), pipeline_hash(*pipeline), 12, 1, SoftmaxForm::kTwoPassOnline, 2, false));
  auto plan = make_plan_with_tuning(*pipeline, avx512_target(), Isa::kAvx512, 4096, {}, &file, intel_cpu());
  ASSERT_TRUE(plan.is_ok()) << plan.status().to_string();
  EXPECT_EQ(plan->softmax_form, expected->softmax_form);
  EXPECT_EQ(plan->unroll, expected->unroll);
  auto without_file = make_plan_with_tuning(*pipeline, avx512_target(), Isa::kAvx512, 4096, {}, nullptr, intel_cpu());
  ASSERT_TRUE(without_file.is_ok());
  EXPECT_EQ(without_file->softmax_form, expected->softmax_form);
}

void collect_line(void* context, const char* line) { static_cast<std::vector<std::string>*>(context)->push_back(line); }

TEST(TunedPlan, StaleEntryFallsBack) {
  // A name of its own: the fallback is logged once per pipeline name.
  auto pipeline = ir::parse_pipeline(R"(kernel softmax_stale_entry(x: f32[n]) -> (y: f32[n]) {
  m = max(x)
  e = exp(x - m)
  y = e / sum(e)
})");
  ASSERT_TRUE(pipeline.is_ok());
  ir::TargetDesc avx2 = avx512_target();
  avx2.isa = "avx2";
  avx2.vector_bits = 256;
  avx2.vector_registers = 16;
  auto expected = ir::make_plan(*pipeline, avx2, 4096);
  ASSERT_TRUE(expected.is_ok());
  // two_pass_extexp is lowered for AVX-512 only, so the planner rejects it here.
  TuningFile file;
  file.entries.push_back(make_entry(intel_cpu(), pipeline_hash(*pipeline), 12, 1, SoftmaxForm::kTwoPassExtExp, 2,
                                    false, Isa::kAvx2));
  std::vector<std::string> lines;
  set_log_sink(collect_line, &lines);
  auto plan = make_plan_with_tuning(*pipeline, avx2, Isa::kAvx2, 4096, {}, &file, intel_cpu());
  set_log_sink(nullptr, nullptr);
  ASSERT_TRUE(plan.is_ok()) << plan.status().to_string();
  EXPECT_EQ(plan->softmax_form, expected->softmax_form);
  EXPECT_EQ(plan->unroll, expected->unroll);
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_NE(lines[0].find("ignoring the tuned choices for pipeline 'softmax_stale_entry'"), std::string::npos)
      << lines[0];
}

}  // namespace
}  // namespace rowjit
