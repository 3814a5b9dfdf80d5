// The JSON form of the tuning file, and loading, saving and merging it.
#include "runtime/tuning_file.h"

#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cinttypes>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <sstream>

#include "runtime/atomic_file.h"
#include "runtime/json_value.h"

namespace rowjit {
namespace {

// Describes a JSON value for an error message: its kind, and its text when short.
std::string describe_json(const JsonValue& value) {
  switch (value.kind) {
    case JsonValue::Kind::kNull: return "null";
    case JsonValue::Kind::kBool: return value.boolean ? "true" : "false";
    case JsonValue::Kind::kNumber: return "the number " + json_number(value.number);
    case JsonValue::Kind::kString:
      return "the string " + json_quote(value.string.size() <= 40 ? value.string : value.string.substr(0, 40) + "...");
    default: return std::string("an ") + json_kind_name(value.kind);
  }
}

Status invalid_field(const std::string& path, const std::string& expected, const JsonValue& found) {
  return Status(StatusCode::kInvalidArgument, path + ": expected " + expected + ", found " + describe_json(found));
}

// Reads the members of one JSON object, each named by its path in messages.
class ObjectReader {
 public:
  ObjectReader(const JsonValue& object, std::string path) : object_(object), path_(std::move(path)) {}

  std::string path_of(const char* name) const { return path_.empty() ? name : path_ + "." + name; }

  Result<const JsonValue*> member(const char* name, JsonValue::Kind kind, const char* expected) const {
    const JsonValue* value = object_.find(name);
    if (value == nullptr) {
      return Status(StatusCode::kInvalidArgument, "missing field " + path_of(name));
    }
    if (value->kind != kind) return invalid_field(path_of(name), expected, *value);
    return value;
  }

  Status read(const char* name, std::string& out) const {
    auto value = member(name, JsonValue::Kind::kString, "a string");
    if (!value) return value.status();
    out = (*value)->string;
    return Status::ok();
  }

  Status read(const char* name, bool& out) const {
    auto value = member(name, JsonValue::Kind::kBool, "true or false");
    if (!value) return value.status();
    out = (*value)->boolean;
    return Status::ok();
  }

  // Reads an integer in [min, max]. A double represents every integer up to
  // 2^53 exactly, so larger limits lose precision.
  Status read_integer(const char* name, int64_t min, int64_t max, int64_t& out) const {
    std::string expected = min == max ? "the integer " + std::to_string(min)
                                      : "an integer from " + std::to_string(min) + " to " + std::to_string(max);
    auto value = member(name, JsonValue::Kind::kNumber, expected.c_str());
    if (!value) return value.status();
    double number = (*value)->number;
    if (number != std::floor(number) || number < static_cast<double>(min) || number > static_cast<double>(max)) {
      return invalid_field(path_of(name), expected, **value);
    }
    out = static_cast<int64_t>(number);
    return Status::ok();
  }

  template <typename Integer>
  Status read(const char* name, int64_t min, int64_t max, Integer& out) const {
    int64_t value = 0;
    ROWJIT_TRY(read_integer(name, min, max, value));
    out = static_cast<Integer>(value);
    return Status::ok();
  }

  // Reads a finite time that is 0 or more.
  Status read_time(const char* name, double& out) const {
    auto value = member(name, JsonValue::Kind::kNumber, "a time in nanoseconds, 0 or more");
    if (!value) return value.status();
    double number = (*value)->number;
    if (!std::isfinite(number) || number < 0) {
      return invalid_field(path_of(name), "a time in nanoseconds, 0 or more", **value);
    }
    out = number;
    return Status::ok();
  }

 private:
  const JsonValue& object_;
  std::string path_;
};

constexpr int64_t kMaxExactInteger = int64_t{1} << 53;

// A tuning file has one entry per tuned shape, a few hundred bytes each. A
// file this large is not one, and reading it could exhaust memory.
constexpr int64_t kMaxTuningFileBytes = int64_t{64} << 20;

Status read_cpu(const ObjectReader& entry, CpuIdentity& cpu) {
  auto object = entry.member("cpu", JsonValue::Kind::kObject, "an object");
  if (!object) return object.status();
  ObjectReader reader(**object, entry.path_of("cpu"));
  ROWJIT_TRY(reader.read("vendor", cpu.vendor));
  ROWJIT_TRY(reader.read("family", 0, UINT32_MAX, cpu.family));
  ROWJIT_TRY(reader.read("model", 0, UINT32_MAX, cpu.model));
  ROWJIT_TRY(reader.read("stepping", 0, UINT32_MAX, cpu.stepping));
  ROWJIT_TRY(reader.read("isa_set", cpu.isa_set));
  ROWJIT_TRY(reader.read("l1d_bytes", 0, kMaxExactInteger, cpu.l1d_bytes));
  ROWJIT_TRY(reader.read("l2_bytes", 0, kMaxExactInteger, cpu.l2_bytes));
  ROWJIT_TRY(reader.read("l3_bytes", 0, kMaxExactInteger, cpu.l3_bytes));
  return Status::ok();
}

Status read_choices(const ObjectReader& entry, ir::PlanChoices& choices) {
  auto object = entry.member("choices", JsonValue::Kind::kObject, "an object");
  if (!object) return object.status();
  ObjectReader reader(**object, entry.path_of("choices"));

  std::string form_name;
  ROWJIT_TRY(reader.read("softmax_form", form_name));
  std::optional<ir::SoftmaxForm> form =
      form_name == "none" ? std::optional<ir::SoftmaxForm>(ir::SoftmaxForm::kNone) : ir::parse_softmax_form(form_name);
  if (!form) {
    return invalid_field(reader.path_of("softmax_form"),
                         "none, three_pass_recompute, three_pass_reload, two_pass_online or two_pass_extexp",
                         *(*object)->find("softmax_form"));
  }
  choices.softmax_form = *form;

  int unroll = 0;
  ROWJIT_TRY(reader.read("unroll", 1, 8, unroll));
  choices.unroll = unroll;

  bool nontemporal = false;
  ROWJIT_TRY(reader.read("nontemporal_stores", nontemporal));
  choices.nontemporal_stores = nontemporal;

  // Files written before exp groups existed lack the field: the planner
  // chooses the group for them.
  if ((*object)->find("exp_group") != nullptr) {
    int exp_group = 0;
    ROWJIT_TRY(reader.read("exp_group", 1, std::min(unroll, ir::kMaxExpGroup), exp_group));
    if (unroll % exp_group != 0) {
      return invalid_field(reader.path_of("exp_group"), "a divisor of the unroll " + std::to_string(unroll),
                           *(*object)->find("exp_group"));
    }
    choices.exp_group = exp_group;
  }
  return Status::ok();
}

Status read_entry(const JsonValue& value, const std::string& path, TuningEntry& entry) {
  if (value.kind != JsonValue::Kind::kObject) return invalid_field(path, "an object", value);
  ObjectReader reader(value, path);
  ROWJIT_TRY(read_cpu(reader, entry.cpu));

  ROWJIT_TRY(reader.read("pipeline", entry.pipeline_name));
  std::string hash_text;
  ROWJIT_TRY(reader.read("pipeline_hash", hash_text));
  char* end = nullptr;
  errno = 0;
  unsigned long long hash = std::strtoull(hash_text.c_str(), &end, 16);
  if (hash_text.size() != 16 || errno != 0 || end != hash_text.c_str() + hash_text.size() ||
      hash_text.find_first_not_of("0123456789abcdef") != std::string::npos) {
    return invalid_field(reader.path_of("pipeline_hash"), "16 lowercase hexadecimal digits",
                         *value.find("pipeline_hash"));
  }
  entry.pipeline_hash = hash;

  std::string isa_text;
  ROWJIT_TRY(reader.read("isa", isa_text));
  Result<Isa> isa = parse_isa(isa_text);
  if (!isa || *isa == Isa::kNone) {
    return invalid_field(reader.path_of("isa"), "avx2 or avx512", *value.find("isa"));
  }
  entry.isa = *isa;

  ROWJIT_TRY(reader.read("shape_bucket", -1, 62, entry.shape_bucket));
  ROWJIT_TRY(reader.read("threads", 1, 4096, entry.threads));
  ROWJIT_TRY(reader.read("n", 0, kMaxExactInteger, entry.n));
  ROWJIT_TRY(reader.read("rows", 0, kMaxExactInteger, entry.rows));
  ROWJIT_TRY(read_choices(reader, entry.choices));
  ROWJIT_TRY(reader.read("kept_default", entry.kept_default));
  ROWJIT_TRY(reader.read_time("default_ns_per_element", entry.default_ns_per_element));
  ROWJIT_TRY(reader.read_time("tuned_ns_per_element", entry.tuned_ns_per_element));
  ROWJIT_TRY(reader.read_time("noise_ns_per_element", entry.noise_ns_per_element));
  return Status::ok();
}

std::string hash_hex(uint64_t hash) {
  char text[24];
  std::snprintf(text, sizeof text, "%016" PRIx64, hash);
  return text;
}

void format_entry(std::ostringstream& out, const TuningEntry& entry) {
  const CpuIdentity& cpu = entry.cpu;
  const ir::PlanChoices& choices = entry.choices;
  out << "    {\n";
  out << "      \"cpu\": {\"vendor\": " << json_quote(cpu.vendor) << ", \"family\": " << cpu.family
      << ", \"model\": " << cpu.model << ", \"stepping\": " << cpu.stepping << ",\n";
  out << "              \"isa_set\": " << json_quote(cpu.isa_set) << ",\n";
  out << "              \"l1d_bytes\": " << cpu.l1d_bytes << ", \"l2_bytes\": " << cpu.l2_bytes
      << ", \"l3_bytes\": " << cpu.l3_bytes << "},\n";
  out << "      \"pipeline\": " << json_quote(entry.pipeline_name) << ",\n";
  out << "      \"pipeline_hash\": \"" << hash_hex(entry.pipeline_hash) << "\",\n";
  out << "      \"isa\": " << json_quote(isa_name(entry.isa)) << ",\n";
  out << "      \"shape_bucket\": " << entry.shape_bucket << ",\n";
  out << "      \"threads\": " << entry.threads << ",\n";
  out << "      \"n\": " << entry.n << ",\n";
  out << "      \"rows\": " << entry.rows << ",\n";
  out << "      \"choices\": {\"softmax_form\": "
      << json_quote(ir::softmax_form_name(choices.softmax_form.value_or(ir::SoftmaxForm::kNone)))
      << ", \"unroll\": " << choices.unroll.value_or(4)
      << ", \"nontemporal_stores\": " << (choices.nontemporal_stores.value_or(false) ? "true" : "false");
  if (choices.exp_group) out << ", \"exp_group\": " << *choices.exp_group;
  out << "},\n";
  out << "      \"kept_default\": " << (entry.kept_default ? "true" : "false") << ",\n";
  out << "      \"default_ns_per_element\": " << json_number(entry.default_ns_per_element) << ",\n";
  out << "      \"tuned_ns_per_element\": " << json_number(entry.tuned_ns_per_element) << ",\n";
  out << "      \"noise_ns_per_element\": " << json_number(entry.noise_ns_per_element) << "\n";
  out << "    }";
}

}  // namespace

bool TuningEntry::same_key(const TuningEntry& other) const {
  return cpu == other.cpu && pipeline_hash == other.pipeline_hash && isa == other.isa &&
         shape_bucket == other.shape_bucket && threads == other.threads;
}

Result<TuningFile> parse_tuning_file(std::string_view text) {
  Result<JsonValue> json = parse_json(text);
  if (!json) return json.status();
  if (json->kind != JsonValue::Kind::kObject) {
    return invalid_field("the top level", "an object with schema_version and entries", *json);
  }
  ObjectReader top(*json, "");
  TuningFile file;
  ROWJIT_TRY(top.read("schema_version", 0, 1 << 30, file.schema_version));
  if (file.schema_version != kTuningSchemaVersion) return file;

  auto entries = top.member("entries", JsonValue::Kind::kArray, "an array");
  if (!entries) return entries.status();
  for (size_t i = 0; i < (*entries)->array.size(); ++i) {
    TuningEntry entry;
    ROWJIT_TRY(read_entry((*entries)->array[i], "entries[" + std::to_string(i) + "]", entry));
    file.entries.push_back(std::move(entry));
  }
  return file;
}

std::string format_tuning_file(const TuningFile& file) {
  std::ostringstream out;
  out << "{\n";
  out << "  \"schema_version\": " << file.schema_version << ",\n";
  out << "  \"entries\": [";
  for (size_t i = 0; i < file.entries.size(); ++i) {
    out << (i == 0 ? "\n" : ",\n");
    format_entry(out, file.entries[i]);
  }
  out << (file.entries.empty() ? "]\n" : "\n  ]\n");
  out << "}\n";
  return out.str();
}

Result<TuningFile> load_tuning_file(const std::string& path) {
  // Checked before opening: opening a FIFO would wait for a writer, and a
  // device such as /dev/zero would be read without end.
  struct stat info {};
  if (::stat(path.c_str(), &info) == 0) {
    if (!S_ISREG(info.st_mode)) {
      return Status(StatusCode::kIoError,
                    "tuning file " + path + " is not a regular file; give the path of a JSON file that rowjit tune wrote");
    }
    if (info.st_size > kMaxTuningFileBytes) {
      return Status(StatusCode::kIoError, "tuning file " + path + " has " + std::to_string(info.st_size) +
                                              " bytes, more than the " + std::to_string(kMaxTuningFileBytes) +
                                              " a tuning file may have; give the path of a file that rowjit tune wrote");
    }
  }
  std::FILE* stream = std::fopen(path.c_str(), "rb");
  if (stream == nullptr) {
    int error = errno;
    if (error == ENOENT) {
      return Status(StatusCode::kIoError, "tuning file not found: " + path + "; check the path");
    }
    return Status(StatusCode::kIoError, "cannot open tuning file " + path + " (" + std::strerror(error) +
                                            "); check the file's permissions");
  }
  std::string text;
  char buffer[4096];
  size_t count = 0;
  while (text.size() <= static_cast<size_t>(kMaxTuningFileBytes) &&
         (count = std::fread(buffer, 1, sizeof buffer, stream)) > 0) {
    text.append(buffer, count);
  }
  bool failed = std::ferror(stream) != 0;
  std::fclose(stream);
  if (failed) {
    return Status(StatusCode::kIoError, "cannot read tuning file " + path + "; check that it is a readable file");
  }
  if (text.size() > static_cast<size_t>(kMaxTuningFileBytes)) {
    return Status(StatusCode::kIoError, "tuning file " + path + " grew past " + std::to_string(kMaxTuningFileBytes) +
                                            " bytes while it was read; give the path of a file that rowjit tune wrote");
  }

  Result<TuningFile> file = parse_tuning_file(text);
  if (!file) {
    return Status(file.status().code(), "invalid tuning file " + path + ": " + file.status().message());
  }
  return file;
}

Status save_tuning_file(const std::string& path, const TuningFile& file) {
  Result<AtomicFile> output = AtomicFile::create(path);
  if (!output) return output.status();
  ROWJIT_TRY(output->write(format_tuning_file(file)));
  return output->commit();
}

void merge_tuning_entries(TuningFile& file, const std::vector<TuningEntry>& entries) {
  if (file.schema_version != kTuningSchemaVersion) {
    file.schema_version = kTuningSchemaVersion;
    file.entries.clear();
  }
  for (const TuningEntry& entry : entries) {
    bool replaced = false;
    for (TuningEntry& existing : file.entries) {
      if (existing.same_key(entry)) {
        existing = entry;
        replaced = true;
        break;
      }
    }
    if (!replaced) file.entries.push_back(entry);
  }
}

}  // namespace rowjit
