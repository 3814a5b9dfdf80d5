// The tuning file: plan choices that `rowjit tune` measured as fastest on one
// CPU, and the runtime's lookup of them. docs/tuning.md describes the format.
//
// An entry is keyed by
//   - the CPU identity: vendor, family, model, stepping, ISA features and
//     cache sizes, because plans rank differently on other CPUs;
//   - the pipeline's structural hash: FNV-1a 64 of its printed text, so texts
//     that differ only in comments and spacing share entries;
//   - the ISA the kernel was compiled for, after any cap;
//   - the shape bucket ceil(log2(n)), the bucket of the kernel cache's key;
//   - the thread count the rows were split over.
// Its value is the chosen PlanChoices and the times measured for it.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "ir/pipeline.h"
#include "ir/plan.h"
#include "ir/planner.h"
#include "ir/status.h"
#include "ir/target.h"
#include "runtime/cpu_features.h"

namespace rowjit {

// Version of the file layout. A reader skips the entries of any other version.
inline constexpr int kTuningSchemaVersion = 1;

// Environment variable with the path of the tuning file the runtime reads.
inline constexpr const char* kTuningFileVariable = "ROWJIT_TUNING_FILE";

// The facts that identify a CPU model for tuning. Two machines with equal
// identities are assumed to rank plans alike.
struct CpuIdentity {
  std::string vendor;  // CPUID vendor string
  uint32_t family = 0;
  uint32_t model = 0;
  uint32_t stepping = 0;
  // The CPU features the JIT uses that CPUID reports, as `rowjit cpu` names
  // them ("avx2 fma avx512f ..."), then the best ISA that the CPU and the OS
  // allow, after a slash ("... / avx512"): a VM that hides AVX-512 state is
  // another identity.
  std::string isa_set;
  uint64_t l1d_bytes = 0;
  uint64_t l2_bytes = 0;
  uint64_t l3_bytes = 0;

  bool operator==(const CpuIdentity&) const = default;
};

// Returns the identity of the CPU that `features` describes.
CpuIdentity cpu_identity(const CpuFeatures& features);

// Returns the identity of this machine's CPU, computed once. Thread-safe.
const CpuIdentity& host_cpu_identity();

// Describes an identity in one line: "GenuineIntel family 6 model 143
// stepping 8, avx2 fma ... / avx512, L2 2097152 bytes".
std::string describe_cpu_identity(const CpuIdentity& cpu);

// FNV-1a, 64-bit, of `bytes`: stable across runs, builds and platforms.
uint64_t fnv1a_64(std::string_view bytes);

// Returns fnv1a_64(ir::print_pipeline(pipeline)).
uint64_t pipeline_hash(const ir::Pipeline& pipeline);

// Returns ceil(log2(n)) for n >= 1 (4096 gives 12, 4097 gives 13), or -1
// when n is 0 or negative (row length unknown).
int shape_bucket(int64_t n);

struct TuningEntry {
  // The key.
  CpuIdentity cpu;
  uint64_t pipeline_hash = 0;
  Isa isa = Isa::kNone;
  int shape_bucket = -1;
  int threads = 1;

  // The value: the softmax form, unroll, store kind and exp group of the
  // measured plan, pinned even when they are the planner's defaults. Entries
  // from files written before exp groups leave exp_group unset.
  ir::PlanChoices choices;
  bool kept_default = false;  // no candidate beat the default by more than the noise
  double default_ns_per_element = 0;
  double tuned_ns_per_element = 0;
  double noise_ns_per_element = 0;  // median absolute deviation of the tuned time

  // Facts for people reading the file; lookups ignore them.
  std::string pipeline_name;
  int64_t n = 0;     // the row length measured
  int64_t rows = 0;  // rows per call measured

  // Returns whether `other` has the same key.
  bool same_key(const TuningEntry& other) const;
};

struct TuningFile {
  int schema_version = kTuningSchemaVersion;
  // Entries of any CPU. Empty when schema_version is not kTuningSchemaVersion,
  // because the entries of another layout are not read.
  std::vector<TuningEntry> entries;
};

// Parses the JSON text of a tuning file. A file of another schema version
// parses to its version and no entries. Fails with kParseError when the text
// is not JSON, and with kInvalidArgument when a field is missing or has the
// wrong type or value. The message names the field, as in
// "entries[2].choices.unroll".
Result<TuningFile> parse_tuning_file(std::string_view text);

// Formats a tuning file as JSON, one entry per block, in the order given.
std::string format_tuning_file(const TuningFile& file);

// Reads and parses the tuning file at `path`. Fails with kIoError when the
// file cannot be read; other errors are those of parse_tuning_file, with the
// path in front.
Result<TuningFile> load_tuning_file(const std::string& path);

// Writes `file` to `path` atomically: readers see the old file or the whole
// new one, and a failed write leaves the old file as it was.
Status save_tuning_file(const std::string& path, const TuningFile& file);

// Adds `entries` to `file`: an entry with the key of an existing one replaces
// it in place, others are appended. A file of another schema version loses
// its old entries first, since they cannot be read.
void merge_tuning_entries(TuningFile& file, const std::vector<TuningEntry>& entries);

// Returns the choices tuned for this key, or nullopt. An entry matches when
// the CPU identity, the pipeline hash, the ISA and shape_bucket(n) are equal;
// among those, the entry of `threads` wins, else the one with the nearest
// thread count (the smaller count on a tie).
std::optional<ir::PlanChoices> tuned_choices(const TuningFile& file, const CpuIdentity& cpu, uint64_t pipeline_hash,
                                             Isa isa, int64_t n, int threads);

// Reads the tuning file at `path` for a process on `cpu`, dropping the
// entries of other CPUs. Returns nullopt, with the reason in `log_lines`, when
// the file cannot be read, is invalid or has another schema version. Adds one
// line to `log_lines` when it drops entries of other CPUs. Logs nothing
// itself, so that tests can call it.
std::optional<TuningFile> read_tuning_file_for_cpu(const std::string& path, const CpuIdentity& cpu,
                                                   std::vector<std::string>& log_lines);

// Returns the tuning file that ROWJIT_TUNING_FILE names, read with
// read_tuning_file_for_cpu() for this CPU on the first call, which also logs
// its lines. Null when the variable is unset or empty, or the file is unusable.
// Thread-safe.
const TuningFile* process_tuning_file();

// Plans `pipeline` as make_plan does, after filling the choices that `forced`
// leaves unset from the entry of `file` for `cpu`, `isa`, `n_hint` and 1
// thread. A tuned plan that the planner rejects (a stale entry, or a hash
// collision) is logged once per pipeline name and replaced by the plan of
// `forced` alone. Errors are make_plan's for `forced`. A null `file` or
// Isa::kNone plans with `forced` alone.
//
// NOTE: compile() does not know how many threads will run the kernel, so it
// looks up the entry of 1 thread, and the entry with the fewest threads applies.
Result<ir::Plan> make_plan_with_tuning(const ir::Pipeline& pipeline, const ir::TargetDesc& target, Isa isa,
                                       int64_t n_hint, const ir::PlanChoices& forced, const TuningFile* file,
                                       const CpuIdentity& cpu);

// The same with process_tuning_file() and host_cpu_identity(): the call that
// rowjit::compile() makes in place of make_plan.
Result<ir::Plan> make_plan_with_tuning(const ir::Pipeline& pipeline, const ir::TargetDesc& target, Isa isa,
                                       int64_t n_hint, const ir::PlanChoices& forced);

}  // namespace rowjit
