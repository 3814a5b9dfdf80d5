// Keys of the tuning file and the runtime's lookup in it (runtime/tuning_file.h).
#include <algorithm>
#include <bit>
#include <cstdlib>
#include <limits>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "ir/printer.h"
#include "runtime/log.h"
#include "runtime/tuning_file.h"

namespace rowjit {
namespace {

struct Feature {
  const char* name;
  bool CpuFeatures::*flag;
};

// The CPUID features that decide which code the JIT emits, named as in `rowjit cpu`.
constexpr Feature kIdentityFeatures[] = {
    {"avx", &CpuFeatures::avx},           {"avx2", &CpuFeatures::avx2},         {"fma", &CpuFeatures::fma},
    {"f16c", &CpuFeatures::f16c},         {"bmi2", &CpuFeatures::bmi2},         {"avx512f", &CpuFeatures::avx512f},
    {"avx512bw", &CpuFeatures::avx512bw}, {"avx512dq", &CpuFeatures::avx512dq}, {"avx512vl", &CpuFeatures::avx512vl},
};

// Returns the entry of `file` that tuned_choices() picks, or null.
const TuningEntry* find_entry(const TuningFile& file, const CpuIdentity& cpu, uint64_t hash, Isa isa, int64_t n,
                              int threads) {
  int bucket = shape_bucket(n);
  const TuningEntry* best = nullptr;
  for (const TuningEntry& entry : file.entries) {
    if (entry.pipeline_hash != hash || entry.isa != isa || entry.shape_bucket != bucket || !(entry.cpu == cpu)) {
      continue;
    }
    if (best == nullptr) {
      best = &entry;
      continue;
    }
    int distance = std::abs(entry.threads - threads);
    int best_distance = std::abs(best->threads - threads);
    if (distance < best_distance || (distance == best_distance && entry.threads < best->threads)) best = &entry;
  }
  return best;
}

}  // namespace

CpuIdentity cpu_identity(const CpuFeatures& features) {
  CpuIdentity cpu;
  cpu.vendor = features.vendor;
  cpu.family = features.family;
  cpu.model = features.model;
  cpu.stepping = features.stepping;
  for (const Feature& feature : kIdentityFeatures) {
    if (features.*feature.flag) {
      cpu.isa_set += feature.name;
      cpu.isa_set += ' ';
    }
  }
  cpu.isa_set += "/ ";
  cpu.isa_set += isa_name(best_isa(features));
  cpu.l1d_bytes = features.caches.l1d_bytes;
  cpu.l2_bytes = features.caches.l2_bytes;
  cpu.l3_bytes = features.caches.l3_bytes;
  return cpu;
}

const CpuIdentity& host_cpu_identity() {
  static const CpuIdentity identity = cpu_identity(host_cpu());
  return identity;
}

std::string describe_cpu_identity(const CpuIdentity& cpu) {
  return cpu.vendor + " family " + std::to_string(cpu.family) + " model " + std::to_string(cpu.model) + " stepping " +
         std::to_string(cpu.stepping) + ", " + cpu.isa_set + ", L1d " + std::to_string(cpu.l1d_bytes) + " L2 " +
         std::to_string(cpu.l2_bytes) + " L3 " + std::to_string(cpu.l3_bytes) + " bytes";
}

uint64_t fnv1a_64(std::string_view bytes) {
  uint64_t hash = 14695981039346656037ull;  // offset basis
  for (char c : bytes) {
    hash ^= static_cast<unsigned char>(c);
    hash *= 1099511628211ull;  // FNV prime
  }
  return hash;
}

uint64_t pipeline_hash(const ir::Pipeline& pipeline) { return fnv1a_64(ir::print_pipeline(pipeline)); }

int shape_bucket(int64_t n) {
  if (n <= 0) return -1;
  return static_cast<int>(std::bit_width(static_cast<uint64_t>(n - 1)));
}

std::optional<ir::PlanChoices> tuned_choices(const TuningFile& file, const CpuIdentity& cpu, uint64_t pipeline_hash,
                                             Isa isa, int64_t n, int threads) {
  const TuningEntry* entry = find_entry(file, cpu, pipeline_hash, isa, n, threads);
  if (entry == nullptr) return std::nullopt;
  return entry->choices;
}

std::optional<TuningFile> read_tuning_file_for_cpu(const std::string& path, const CpuIdentity& cpu,
                                                   std::vector<std::string>& log_lines) {
  const std::string ignoring = std::string("ignoring ") + kTuningFileVariable + ": ";
  Result<TuningFile> file = load_tuning_file(path);
  if (!file) {
    bool invalid = file.status().code() != StatusCode::kIoError;
    log_lines.push_back(ignoring + file.status().message() +
                        (invalid ? "; fix or remove the file, or run rowjit tune again to remake it" : ""));
    return std::nullopt;
  }
  if (file->schema_version != kTuningSchemaVersion) {
    log_lines.push_back(ignoring + "tuning file " + path + " has schema version " +
                        std::to_string(file->schema_version) + ", and this rowjit reads version " +
                        std::to_string(kTuningSchemaVersion) + "; run rowjit tune again to remake it");
    return std::nullopt;
  }

  TuningFile mine;
  size_t other_cpu = 0;
  // An entry with the key of an earlier one never applies: the lookup takes
  // the first. Count those, and name the first pair by its file positions.
  std::vector<size_t> positions;
  size_t repeats = 0;
  std::string first_repeat;
  for (size_t index = 0; index < file->entries.size(); ++index) {
    TuningEntry& entry = file->entries[index];
    if (!(entry.cpu == cpu)) {
      ++other_cpu;
      continue;
    }
    auto earlier = std::find_if(mine.entries.begin(), mine.entries.end(),
                                [&](const TuningEntry& kept) { return kept.same_key(entry); });
    if (earlier != mine.entries.end() && repeats++ == 0) {
      size_t earlier_index = positions[static_cast<size_t>(earlier - mine.entries.begin())];
      first_repeat = "entries[" + std::to_string(index) + "] repeats entries[" + std::to_string(earlier_index) +
                     "] (pipeline '" + entry.pipeline_name + "', " + isa_name(entry.isa) + ", shape bucket " +
                     std::to_string(entry.shape_bucket) + ", " + std::to_string(entry.threads) +
                     (entry.threads == 1 ? " thread)" : " threads)");
    }
    positions.push_back(index);
    mine.entries.push_back(std::move(entry));
  }
  if (other_cpu > 0) {
    log_lines.push_back("tuning file " + path + ": ignoring " + std::to_string(other_cpu) + " of " +
                        std::to_string(other_cpu + mine.entries.size()) +
                        " entries, made on another CPU; this CPU is " + describe_cpu_identity(cpu));
  }
  if (repeats > 0) {
    log_lines.push_back("tuning file " + path + ": " + std::to_string(repeats) +
                        (repeats == 1 ? " entry has" : " entries have") +
                        " the CPU, pipeline hash, isa, shape bucket and threads of an earlier entry and never " +
                        (repeats == 1 ? "applies" : "apply") + ", the first: " + first_repeat +
                        "; remove the entries that should not apply");
  }
  return mine;
}

const TuningFile* process_tuning_file() {
  static const std::optional<TuningFile> file = []() -> std::optional<TuningFile> {
    const char* path = std::getenv(kTuningFileVariable);
    if (path == nullptr || path[0] == '\0') return std::nullopt;
    std::vector<std::string> log_lines;
    std::optional<TuningFile> read = read_tuning_file_for_cpu(path, host_cpu_identity(), log_lines);
    for (const std::string& line : log_lines) log_line(line);
    return read;
  }();
  return file ? &*file : nullptr;
}

Result<ir::Plan> make_plan_with_tuning(const ir::Pipeline& pipeline, const ir::TargetDesc& target, Isa isa,
                                       int64_t n_hint, const ir::PlanChoices& forced, const TuningFile* file,
                                       const CpuIdentity& cpu) {
  std::optional<ir::PlanChoices> tuned;
  if (file != nullptr && isa != Isa::kNone) {
    tuned = tuned_choices(*file, cpu, pipeline_hash(pipeline), isa, n_hint, 1);
  }
  if (!tuned) return ir::make_plan(pipeline, target, n_hint, forced);

  // A forced choice wins over a tuned one.
  ir::PlanChoices choices = forced;
  if (!choices.softmax_form) choices.softmax_form = tuned->softmax_form;
  if (!choices.unroll) choices.unroll = tuned->unroll;
  if (!choices.nontemporal_stores && tuned->nontemporal_stores) {
    // Tuned regular stores replace streaming only where the planner streams
    // the row. Elsewhere they are its own choice, which also keeps the switch
    // by call size (Plan::nontemporal_call_bytes).
    bool tuned_regular = !*tuned->nontemporal_stores;
    auto untuned = ir::make_plan(pipeline, target, n_hint, forced);
    if (!tuned_regular || (untuned && untuned->nontemporal_stores)) {
      choices.nontemporal_stores = tuned->nontemporal_stores;
    }
  }
  bool tuned_group = !choices.exp_group && tuned->exp_group;
  if (tuned_group) choices.exp_group = tuned->exp_group;
  Result<ir::Plan> plan = ir::make_plan(pipeline, target, n_hint, choices);
  if (!plan && tuned_group) {
    // The tuned exp group belongs to the tuned unroll and form: with another
    // one forced, it may not fit, and the planner chooses the group instead.
    choices.exp_group.reset();
    tuned_group = false;
    plan = ir::make_plan(pipeline, target, n_hint, choices);
  }
  if (plan) {
    // make_plan calls every choice it was handed "forced"; name the tuned ones.
    auto relabel = [&](const std::string& prefix, bool from_tuning) {
      if (!from_tuning) return;
      for (std::string& reason : plan->reasons) {
        if (reason.rfind(prefix, 0) == 0 && reason.size() >= 8 && reason.compare(reason.size() - 8, 8, ": forced") == 0) {
          reason.replace(reason.size() - 8, 8, ": tuned");
        }
      }
    };
    relabel("softmax form ", !forced.softmax_form);
    relabel("unroll ", !forced.unroll);
    relabel("non-temporal stores ", !forced.nontemporal_stores);
    relabel("exps ", tuned_group);
    plan->reasons.push_back("tuned choices from the tuning file (" + std::string(kTuningFileVariable) +
                            ") for this CPU, ISA and row length bucket 2^" + std::to_string(shape_bucket(n_hint)));
    return plan;
  }

  static std::mutex mutex;
  static std::set<std::string> logged;
  {
    std::lock_guard<std::mutex> lock(mutex);
    if (logged.insert(pipeline.name).second) {
      log_line("ignoring the tuned choices for pipeline '" + pipeline.name + "': " + plan.status().message() +
               "; run rowjit tune again for this pipeline");
    }
  }
  return ir::make_plan(pipeline, target, n_hint, forced);
}

Result<ir::Plan> make_plan_with_tuning(const ir::Pipeline& pipeline, const ir::TargetDesc& target, Isa isa,
                                       int64_t n_hint, const ir::PlanChoices& forced) {
  return make_plan_with_tuning(pipeline, target, isa, n_hint, forced, process_tuning_file(), host_cpu_identity());
}

}  // namespace rowjit
