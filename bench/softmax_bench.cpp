// Softmax and log-softmax: rowjit against oneDNN, XNNPACK, plain C++ and the
// memory bandwidth of the machine, single-threaded, on the same buffers, and
// the batched shapes again on all cores.
//
// Benchmarks are named FAMILY/IMPL/SHAPE. FAMILY is softmax or log_softmax.
// SHAPE is n for one row or RxN for a batch. IMPL is one of:
//   rowjit                       the planner's default for the row length
//   rowjit_FORM                  a forced softmax form (three_pass_recompute, ...)
//   rowjit_avx2, rowjit_avx2_FORM  the same, compiled for AVX2
//   onednn, xnnpack              the peers, when the build found them
//   cpp, cpp_fastmath            bench/baseline_three_pass.h without and with -ffast-math
//   probe_read, probe_rw, probe_rw_nt  bandwidth probes (softmax family only)
//   IMPL_threads                 rowjit, onednn, xnnpack or cpp_fastmath on the
//                                batched shapes, on all cores (bench/all_cores.h)
// Each implementation's output is checked once against a double reference
// before it is timed (bench/output_check.h); a wrong one is reported as an
// error instead of a time. The counter `elements` gives the elements per
// iteration, so the time per element is the iteration time divided by it.
// bench/compare runs this program and summarizes it.
#include <benchmark/benchmark.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "bench/all_cores.h"
#include "bench/baseline_three_pass.h"
#include "bench/baselines.h"
#include "bench/output_check.h"
#include "bench/peers_onednn.h"
#include "bench/peers_xnnpack.h"
#include "bench/probes.h"
#include "bench/rowjit_kernels.h"
#include "bench/shape_data.h"

namespace rowjit::bench {
namespace {

enum class Family { kSoftmax, kLogSoftmax };

const char* family_name(Family family) { return family == Family::kSoftmax ? "softmax" : "log_softmax"; }

// One row of each length from in-L1 to far out of cache, and the batches of
// rows that routers and attention produce. Rows of 60 (a router of 60
// experts) end in a tail of 4 elements on AVX2 and 12 on AVX-512.
const std::vector<Shape> kShapes = {
    {1, 64},       {1, 1024},  {1, 16384},  {1, 262144},  {1, 4194304},
    {1, 33554432}, {4096, 60}, {4096, 64},  {4096, 256},  {1024, 4096},
};

// An implementation bound to the buffers of one shape.
struct Prepared {
  std::function<void()> run;                 // one call over every row; the timed part
  std::function<std::string()> run_checked;  // one call for the check; returns "" or an error
  std::string label;                         // shown next to the time: the kernel actually used
  std::string error;                         // set when the implementation cannot run this shape
  bool produces_output = true;               // false for the bandwidth probes
  double tolerance = kDoubleSumTolerance;    // of the output check (bench/output_check.h)
  bool checked = false;
  CheckResult check;
  std::shared_ptr<void> owner;               // keeps the compiled kernel or peer operator alive
};

using Factory = std::function<Prepared(ShapeData&)>;

// Prepared implementations of the current shape, by benchmark name. Google
// Benchmark calls a benchmark function several times (to size the iteration
// count, and once per repetition); compiling and checking happen on the first.
Prepared& prepared_for(const std::string& name, ShapeData& data, const Factory& factory) {
  static std::map<std::string, Prepared> prepared;
  static uint64_t generation = 0;
  if (generation != data.generation()) {
    prepared.clear();
    generation = data.generation();
  }
  auto it = prepared.find(name);
  if (it == prepared.end()) it = prepared.emplace(name, factory(data)).first;
  return it->second;
}

void run_benchmark(benchmark::State& state, const std::string& name, Family family, Shape shape,
                   const Factory& factory) {
  ShapeData& data = shape_data(shape);
  if (!data.allocated()) {
    state.SkipWithError(("cannot allocate the buffers of shape " + shape.name()).c_str());
    return;
  }
  Prepared& impl = prepared_for(name, data, factory);
  if (impl.error.empty() && impl.produces_output && !impl.checked) {
    data.fill_output(NAN);
    impl.error = impl.run_checked();
    if (impl.error.empty()) {
      bool log_form = family == Family::kLogSoftmax;
      impl.check = check_output(data.y(), log_form ? data.log_softmax_reference() : data.softmax_reference(),
                                shape.n, log_form, impl.tolerance);
      if (!impl.check.ok) impl.error = impl.check.message;
    }
    impl.checked = true;
  }
  if (!impl.error.empty()) {
    state.SkipWithError(impl.error.c_str());
    return;
  }

  for (auto _ : state) {
    impl.run();
    benchmark::ClobberMemory();
  }

  int64_t elements = shape.elements();
  state.SetItemsProcessed(state.iterations() * elements);
  // Nominal traffic: x read once and y written once per element.
  state.SetBytesProcessed(state.iterations() * elements * 8);
  state.counters["elements"] = static_cast<double>(elements);
  if (impl.produces_output) state.counters["max_err"] = impl.check.max_error;
  state.SetLabel(impl.label);
}

void register_benchmark(Family family, const std::string& impl, Shape shape, Factory factory) {
  std::string name = std::string(family_name(family)) + "/" + impl + "/" + shape.name();
  benchmark::RegisterBenchmark(name.c_str(), [=](benchmark::State& state) {
    run_benchmark(state, name, family, shape, factory);
  });
}

// ---- implementations ---------------------------------------------------

Factory probe_factory(const std::string& probe) {
  return [probe](ShapeData& data) {
    Prepared p;
    p.produces_output = false;
    const float* x = data.x();
    float* y = data.y();
    int64_t count = data.shape().elements();
    if (probe == "probe_read") {
      p.run = [=] { benchmark::DoNotOptimize(probe_read(x, count)); };
    } else if (probe == "probe_rw") {
      p.run = [=] { probe_read_write(x, y, count, 0.5f); };
    } else {
      p.run = [=] { probe_read_write_nontemporal(x, y, count, 0.5f); };
    }
    return p;
  };
}

Factory cpp_factory(Family family, bool fast_math) {
  return [family, fast_math](ShapeData& data) {
    Prepared p;
    const float* x = data.x();
    float* y = data.y();
    int64_t rows = data.shape().rows;
    int64_t n = data.shape().n;
    if (family == Family::kSoftmax) {
      p.run = fast_math ? std::function<void()>([=] { softmax_cpp_fastmath(x, y, rows, n); })
                        : std::function<void()>([=] { softmax_three_pass(x, y, rows, n); });
    } else {
      p.run = fast_math ? std::function<void()>([=] { log_softmax_cpp_fastmath(x, y, rows, n); })
                        : std::function<void()>([=] { log_softmax_three_pass(x, y, rows, n); });
    }
    p.run_checked = [run = p.run] {
      run();
      return std::string();
    };
    return p;
  };
}

// The -ffast-math baseline with its rows split over rowjit's default pool.
Factory cpp_fastmath_all_cores_factory(Family family) {
  return [family](ShapeData& data) {
    Prepared p;
    const float* x = data.x();
    float* y = data.y();
    int64_t rows = data.shape().rows;
    int64_t n = data.shape().n;
    auto body = family == Family::kSoftmax ? softmax_cpp_fastmath : log_softmax_cpp_fastmath;
    p.run = [=] {
      run_rows_on_all_cores(rows, [=](int64_t first, int64_t count) { body(x + first * n, y + first * n, count, n); });
    };
    p.run_checked = [run = p.run] {
      run();
      return std::string();
    };
    p.label = std::to_string(default_thread_pool().workers() + 1) + " threads";
    return p;
  };
}

// The timed run calls the machine code directly, or with `all_cores` goes
// through Kernel::run with the rows split over rowjit's default pool.
Factory rowjit_factory(const std::string& pipeline_text, RowjitVariant variant, bool all_cores = false) {
  return [pipeline_text, variant, all_cores](ShapeData& data) {
    Prepared p;
    const Shape& shape = data.shape();
    auto kernel = RowjitKernel::create(pipeline_text, variant, shape.rows, shape.n, data.x(), data.y());
    if (!kernel) {
      p.error = kernel.status().to_string();
      return p;
    }
    std::shared_ptr<RowjitKernel> bound = std::move(*kernel);
    const RowjitKernel* raw = bound.get();
    p.owner = bound;
    p.label = raw->label();
    if (all_cores) {
      p.label += ", " + std::to_string(default_thread_pool().workers() + 1) + " threads";
      p.run = [raw] { benchmark::DoNotOptimize(raw->run_on_all_cores()); };
    } else {
      p.run = [raw] { raw->run(); };
    }
    p.run_checked = [raw, all_cores] {
      Status status = all_cores ? raw->run_on_all_cores() : raw->run_checked();
      return status ? std::string() : status.to_string();
    };
    return p;
  };
}

#if defined(ROWJIT_HAVE_ONEDNN)
// With `threads` above 1, OpenMP gets that many threads around the
// primitive's creation and each run, and one again after.
Factory onednn_factory(Family family, int threads = 1) {
  return [family, threads](ShapeData& data) {
    Prepared p;
    const Shape& shape = data.shape();
    set_openmp_threads(threads);
    std::shared_ptr<OnednnSoftmax> op =
        OnednnSoftmax::create(family == Family::kLogSoftmax, shape.rows, shape.n, data.x(), data.y(), p.error);
    set_openmp_threads(1);
    if (!op) return p;
    p.tolerance = kFloatSumTolerance;
    OnednnSoftmax* raw = op.get();
    p.owner = op;
    p.label = raw->implementation();
    if (threads > 1) p.label += ", " + std::to_string(threads) + " threads";
    p.run = [raw, threads] {
      set_openmp_threads(threads);
      raw->run();
      set_openmp_threads(1);
    };
    p.run_checked = [run = p.run] {
      try {
        run();
      } catch (const dnnl::error& e) {
        set_openmp_threads(1);
        return std::string("oneDNN softmax failed: ") + e.what();
      }
      return std::string();
    };
    return p;
  };
}
#endif

#if defined(ROWJIT_HAVE_XNNPACK)
Factory xnnpack_factory(int threads = 1) {
  return [threads](ShapeData& data) {
    Prepared p;
    const Shape& shape = data.shape();
    std::shared_ptr<XnnpackSoftmax> op =
        XnnpackSoftmax::create(shape.rows, shape.n, data.x(), data.y(), p.error, threads);
    if (!op) return p;
    if (threads > 1) p.label = std::to_string(threads) + " threads";
    p.tolerance = kFloatSumTolerance;
    XnnpackSoftmax* raw = op.get();
    p.owner = op;
    p.run = [raw] { raw->run(); };
    p.run_checked = [raw] { return raw->run() ? std::string() : std::string("xnn_run_operator failed"); };
    return p;
  };
}
#endif

// rowjit variants to measure: the default and each forced form, on the
// host's best ISA and, when that is AVX-512, on AVX2 as well.
std::vector<RowjitVariant> rowjit_variants() {
  std::vector<std::optional<Isa>> isas = {std::nullopt};
  if (host_isa() == Isa::kAvx512) isas.push_back(Isa::kAvx2);
  const ir::SoftmaxForm forms[] = {ir::SoftmaxForm::kThreePassRecompute, ir::SoftmaxForm::kThreePassReload,
                                   ir::SoftmaxForm::kTwoPassOnline, ir::SoftmaxForm::kTwoPassExtExp};
  std::vector<RowjitVariant> variants;
  for (auto isa : isas) {
    variants.push_back({isa, std::nullopt, std::nullopt});
    for (auto form : forms) variants.push_back({isa, form, std::nullopt});
    // The planner's choice with each vector's exp emitted on its own, to
    // measure what the exp groups gain (Plan::exp_group).
    variants.push_back({isa, std::nullopt, 1});
  }
  return variants;
}

// True when `variant` applies to the pipeline: a forced form that the
// planner rejects (reload for log-softmax, extexp on AVX2) is not registered.
// Other compile failures are registered, so that they show as errors.
bool variant_applies(const std::string& pipeline_text, const RowjitVariant& variant, int64_t n) {
  CompileOptions options;
  variant.apply(options);
  options.n_hint = n;
  auto kernel = compile_text(pipeline_text, options);
  return kernel || kernel.status().code() != StatusCode::kInvalidArgument;
}

int register_all() {
  auto softmax_text = read_example("softmax");
  auto log_softmax_text = read_example("log_softmax");
  if (!softmax_text || !log_softmax_text) {
    std::fprintf(stderr, "softmax_bench: %s\n",
                 (softmax_text ? log_softmax_text.status() : softmax_text.status()).to_string().c_str());
    return 1;
  }
  for (const Shape& shape : kShapes) {
    for (const char* probe : {"probe_read", "probe_rw", "probe_rw_nt"}) {
      register_benchmark(Family::kSoftmax, probe, shape, probe_factory(probe));
    }
    for (Family family : {Family::kSoftmax, Family::kLogSoftmax}) {
      const std::string& text = family == Family::kSoftmax ? *softmax_text : *log_softmax_text;
      for (const RowjitVariant& variant : rowjit_variants()) {
        if (!variant_applies(text, variant, shape.n)) continue;
        register_benchmark(family, variant.impl_name(), shape, rowjit_factory(text, variant));
      }
#if defined(ROWJIT_HAVE_ONEDNN)
      register_benchmark(family, "onednn", shape, onednn_factory(family));
#endif
#if defined(ROWJIT_HAVE_XNNPACK)
      if (family == Family::kSoftmax) register_benchmark(family, "xnnpack", shape, xnnpack_factory());
#endif
      register_benchmark(family, "cpp", shape, cpp_factory(family, false));
      register_benchmark(family, "cpp_fastmath", shape, cpp_factory(family, true));
    }
  }
  // The batched shapes again, each implementation on all cores.
  int threads = all_core_threads();
  for (const Shape& shape : kShapes) {
    if (shape.rows == 1) continue;
    for (Family family : {Family::kSoftmax, Family::kLogSoftmax}) {
      const std::string& text = family == Family::kSoftmax ? *softmax_text : *log_softmax_text;
      register_benchmark(family, "rowjit_threads", shape, rowjit_factory(text, RowjitVariant{}, true));
#if defined(ROWJIT_HAVE_ONEDNN)
      register_benchmark(family, "onednn_threads", shape, onednn_factory(family, threads));
#endif
#if defined(ROWJIT_HAVE_XNNPACK)
      if (family == Family::kSoftmax) register_benchmark(family, "xnnpack_threads", shape, xnnpack_factory(threads));
#endif
      register_benchmark(family, "cpp_fastmath_threads", shape, cpp_fastmath_all_cores_factory(family));
    }
  }
  return 0;
}


}  // namespace
}  // namespace rowjit::bench

int main(int argc, char** argv) {
  // oneDNN's Debian build runs on OpenMP, which reads OMP_NUM_THREADS when
  // libgomp loads, before main. The single-threaded benchmarks stay on one
  // thread whatever OMP_NUM_THREADS is, and the all-cores ones raise the
  // count around each run.
  rowjit::bench::set_openmp_threads(1);

  // 0.1 s per repetition keeps a full run (9 shapes, 32M included) to a few
  // minutes; --benchmark_min_time on the command line overrides it.
  std::vector<char*> args(argv, argv + argc);
  std::string default_min_time = "--benchmark_min_time=0.1";
  bool has_min_time = false;
  for (int i = 1; i < argc; ++i) has_min_time = has_min_time || std::strncmp(argv[i], "--benchmark_min_time", 20) == 0;
  if (!has_min_time) args.insert(args.begin() + 1, default_min_time.data());
  int arg_count = static_cast<int>(args.size());
  args.push_back(nullptr);

  benchmark::Initialize(&arg_count, args.data());
  if (benchmark::ReportUnrecognizedArguments(arg_count, args.data())) return 1;
  if (rowjit::bench::register_all() != 0) return 1;

  const rowjit::CpuFeatures& cpu = rowjit::host_cpu();
  benchmark::AddCustomContext("cpu_brand", cpu.brand);
  benchmark::AddCustomContext("rowjit_isa", rowjit::isa_name(rowjit::host_isa()));
  benchmark::AddCustomContext("l1d_l2_l3_bytes", std::to_string(cpu.caches.l1d_bytes) + " " +
                                                     std::to_string(cpu.caches.l2_bytes) + " " +
                                                     std::to_string(cpu.caches.l3_bytes));
  // Environment variables that change the kernels measured: a tuning file
  // replaces the planner's defaults, and the two caps lower the ISA.
  for (const char* variable : {"ROWJIT_TUNING_FILE", "ROWJIT_MAX_ISA", "ONEDNN_MAX_CPU_ISA"}) {
    const char* value = std::getenv(variable);
    benchmark::AddCustomContext(variable, value != nullptr && *value != '\0' ? value : "unset");
  }
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
