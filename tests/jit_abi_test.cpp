// Conventions of generated code. The System V callee-saved registers and the
// caller's MXCSR survive a call. The kernel computes with its own MXCSR, so
// denormals are kept even when the caller flushes them. Executable memory that
// the system refuses is a clean error, and the ISA cap is honoured.
#include <gtest/gtest.h>
#include <xbyak/xbyak.h>
#include <xmmintrin.h>

#include <cmath>
#include <limits>
#include <vector>

#include "ir/parser.h"
#include "ir/planner.h"
#include "jit/compile.h"
#include "jit/exec_memory.h"
#include "tests/jit_testing.h"
#include "tests/test_util.h"

namespace rowjit::testing {
namespace {

// Calls `target(args)` after loading fixed patterns into rbx, rbp and
// r12-r15, and returns the number of those registers that changed.
class CalleeSavedCheck : public Xbyak::CodeGenerator {
 public:
  CalleeSavedCheck() : Xbyak::CodeGenerator(4096, Xbyak::DontSetProtectRWE) {
    using namespace Xbyak::util;
    const Xbyak::Reg64 saved[] = {rbx, rbp, r12, r13, r14, r15};
    for (const auto& r : saved) push(r);
    sub(rsp, 8);  // 16-byte alignment at the call
    for (int i = 0; i < 6; ++i) mov(saved[i], 0x1111111111111111ull * static_cast<uint64_t>(i + 1));
    // rdi = kernel args, rsi = kernel entry.
    call(rsi);
    xor_(eax, eax);
    for (int i = 0; i < 6; ++i) {
      mov(rcx, 0x1111111111111111ull * static_cast<uint64_t>(i + 1));
      cmp(saved[i], rcx);
      Xbyak::Label same;
      je(same);
      inc(eax);
      L(same);
    }
    add(rsp, 8);
    for (int i = 5; i >= 0; --i) pop(saved[i]);
    ret();
    ready(Xbyak::CodeArray::PROTECT_RW);
  }
};

std::shared_ptr<const Kernel> compile_softmax(Isa isa, std::optional<ir::SoftmaxForm> form = std::nullopt) {
  auto pipeline = parse_example("softmax");
  EXPECT_TRUE(pipeline.is_ok());
  CompileOptions options;
  options.isa = isa;
  options.choices.softmax_form = form;
  auto kernel = compile(*pipeline, options);
  EXPECT_TRUE(kernel.is_ok()) << kernel.status().to_string();
  return *kernel;
}

TEST(JitAbi, PreservesCalleeSavedRegisters) {
  CalleeSavedCheck check;
  auto buffer = jit::ExecutableBuffer::create(check.getCode(), check.getSize());
  ASSERT_TRUE(buffer.is_ok());
  auto call = reinterpret_cast<int (*)(const jit::KernelArgs*, const void*)>(const_cast<void*>(buffer->entry()));
  for (Isa isa : runnable_isas()) {
    auto kernel = compile_softmax(isa);
    ASSERT_TRUE(kernel->uses_jit());
    std::vector<float> x(37, 1.0f), y(37);
    jit::KernelArgs args;
    args.rows = 1;
    args.n = 37;
    args.data[0] = x.data();
    args.data[1] = y.data();
    EXPECT_EQ(call(&args, kernel->compiled()->code.entry()), 0) << isa_name(isa);
    EXPECT_FLOAT_EQ(y[0], 1.0f / 37.0f);
  }
}

TEST(JitAbi, KeepsDenormalsWhenCallerFlushesThem) {
  // The row [0, -88, -100]: exp(-100) = 3.7e-44 is denormal, and so is its
  // softmax. With the caller's FTZ and DAZ in force it would become 0.
  std::vector<float> x = {0.0f, -88.0f, -100.0f};
  for (Isa isa : runnable_isas()) {
    auto kernel = compile_softmax(isa);
    std::vector<float> y(3, -1.0f);
    ir::RunArgs args;
    args.n = 3;
    args.tensors["x"] = {x.data(), ir::ElemType::kF32, 12};
    args.tensors["y"] = {y.data(), ir::ElemType::kF32, 12};
    const unsigned caller_mxcsr = _mm_getcsr();
    _mm_setcsr(caller_mxcsr | 0x8040);  // FTZ | DAZ
    Status ran = kernel->run(args);
    const unsigned after = _mm_getcsr();
    _mm_setcsr(caller_mxcsr);
    ASSERT_TRUE(ran.is_ok());
    EXPECT_EQ(after, caller_mxcsr | 0x8040) << "the kernel must restore the caller's MXCSR";
    EXPECT_GT(y[2], 0.0f) << isa_name(isa) << ": denormal result flushed";
    EXPECT_LT(y[2], 1.2e-38f);
    EXPECT_NEAR(y[2], std::exp(-100.0) / (1 + std::exp(-88.0)), 3e-45);
  }
}

// Results do not depend on the caller's MXCSR, and the caller gets its MXCSR
// back unchanged, exception flags included. 0x1FA0 (the kernel's control bits
// with the inexact flag raised) and 0x1F80 skip the kernel's MXCSR load. The
// row contains -inf, for which AVX-512 raises "invalid" in masked lanes, so
// the test also checks that this flag does not reach the caller.
TEST(JitAbi, KeepsCallerMxcsr) {
  std::vector<float> x(100);
  for (size_t i = 0; i < x.size(); ++i) x[i] = 0.37f * static_cast<float>(i % 17) - 2.9f;
  x[5] = -std::numeric_limits<float>::infinity();
  x[40] = -3e38f;
  const unsigned caller_mxcsr = _mm_getcsr();
  for (Isa isa : runnable_isas()) {
    for (auto form : {ir::SoftmaxForm::kThreePassReload, ir::SoftmaxForm::kTwoPassOnline}) {
      auto kernel = compile_softmax(isa, form);
      auto run_under = [&](unsigned mxcsr, unsigned* after) {
        std::vector<float> y(x.size(), -1.0f);
        ir::RunArgs args;
        args.n = static_cast<int64_t>(x.size());
        args.tensors["x"] = {x.data(), ir::ElemType::kF32, args.n * 4};
        args.tensors["y"] = {y.data(), ir::ElemType::kF32, args.n * 4};
        _mm_setcsr(mxcsr);
        Status ran = kernel->run(args);
        *after = _mm_getcsr();
        _mm_setcsr(caller_mxcsr);
        EXPECT_TRUE(ran.is_ok()) << ran.to_string();
        return y;
      };
      unsigned after = 0;
      const std::vector<float> nearest = run_under(0x1F80, &after);
      EXPECT_EQ(after, 0x1F80u) << isa_name(isa) << ": the kernel left exception flags raised";
      EXPECT_GT(nearest[0], 0.0f);
      EXPECT_EQ(nearest[5], 0.0f);
      for (unsigned mxcsr : {0x1FA0u, 0x3F80u, 0x5F80u, 0x7F80u, 0x9FC0u}) {
        const std::vector<float> y = run_under(mxcsr, &after);
        EXPECT_EQ(after, mxcsr) << isa_name(isa) << ": the caller's MXCSR must survive the call";
        for (size_t i = 0; i < y.size(); ++i) {
          ASSERT_EQ(float_bits(y[i]), float_bits(nearest[i]))
              << isa_name(isa) << " " << ir::softmax_form_name(form) << ", caller MXCSR 0x" << std::hex << mxcsr
              << std::dec << ", element " << i;
        }
      }
    }
  }
}

// The host code around a kernel (parsing literals, planning, building the exp
// table, converting f32 parameters) computes under the IEEE defaults too. So
// the machine code and the results are the same under every caller MXCSR, an
// unmasked precision exception traps nowhere, and the caller gets its MXCSR
// back.
TEST(JitAbi, HostCodeIgnoresCallerMxcsr) {
  const char* text =
      "kernel scaled(x: f32[n], param tau: f32 > 0) -> (y: f32[n]) {\n"
      "  m = max(x * 0.1)\n  e = exp((x * 0.1 - m) / tau)\n  y = e / sum(e)\n}\n";
  const unsigned caller_mxcsr = _mm_getcsr();
  std::vector<float> x(300);
  for (size_t i = 0; i < x.size(); ++i) x[i] = 0.731f * static_cast<float>(i % 23) - 7.0f;
  for (Isa isa : runnable_isas()) {
    auto build_and_run = [&](unsigned mxcsr, double tau, std::vector<uint8_t>* code, unsigned* after) {
      std::vector<float> y(x.size(), -1.0f);
      _mm_setcsr(mxcsr);
      auto pipeline = ir::parse_pipeline(text);
      Result<ir::Plan> plan = pipeline.is_ok() ? ir::make_plan(*pipeline, host_target(isa), 300, {})
                                               : Result<ir::Plan>(pipeline.status());
      Result<jit::CompiledKernel> compiled =
          plan.is_ok() ? jit::compile_kernel(*pipeline, *plan, isa == Isa::kAvx512)
                       : Result<jit::CompiledKernel>(plan.status());
      CompileOptions options;
      options.isa = isa;
      options.n_hint = 300;
      auto kernel = pipeline.is_ok() ? compile(*pipeline, options) : Result<std::shared_ptr<const Kernel>>(pipeline.status());
      Status ran = kernel.is_ok() ? Status::ok() : kernel.status();
      if (ran.is_ok()) {
        ir::RunArgs args;
        args.n = static_cast<int64_t>(x.size());
        args.tensors["x"] = {x.data(), ir::ElemType::kF32, args.n * 4};
        args.tensors["y"] = {y.data(), ir::ElemType::kF32, args.n * 4};
        args.scalars["tau"] = tau;
        ran = (*kernel)->run(args);
      }
      *after = _mm_getcsr();
      _mm_setcsr(caller_mxcsr);
      EXPECT_TRUE(compiled.is_ok()) << compiled.status().to_string();
      EXPECT_TRUE(ran.is_ok()) << ran.to_string();
      if (compiled.is_ok()) *code = compiled->bytes;
      return y;
    };
    std::vector<uint8_t> nearest_code;
    unsigned after = 0;
    const std::vector<float> nearest = build_and_run(0x1F80, 0.7, &nearest_code, &after);
    ASSERT_FALSE(nearest_code.empty());
    EXPECT_EQ(after, 0x1F80u) << isa_name(isa) << ": converting tau left a flag raised";
    // Round down, up and toward zero, FTZ and DAZ, and the precision
    // exception unmasked (0x0F80), which traps on the first inexact result.
    for (unsigned mxcsr : {0x3F80u, 0x5F80u, 0x7F80u, 0x9FC0u, 0x0F80u}) {
      std::vector<uint8_t> code;
      const std::vector<float> y = build_and_run(mxcsr, 0.7, &code, &after);
      EXPECT_EQ(after, mxcsr) << isa_name(isa) << ": the caller's MXCSR changed";
      EXPECT_TRUE(code == nearest_code) << isa_name(isa) << ", caller MXCSR 0x" << std::hex << mxcsr
                                        << ": the machine code depends on the caller's MXCSR";
      for (size_t i = 0; i < y.size(); ++i) {
        ASSERT_EQ(float_bits(y[i]), float_bits(nearest[i]))
            << isa_name(isa) << ", caller MXCSR 0x" << std::hex << mxcsr << std::dec << ", element " << i;
      }
    }
    // A denormal temperature is a positive f32 under FTZ and DAZ too.
    std::vector<uint8_t> code;
    build_and_run(0x9FC0, 1e-40, &code, &after);

    // With the precision and invalid exceptions unmasked, rejected
    // temperatures are errors, not traps, and the caller's MXCSR survives.
    auto pipeline = ir::parse_pipeline(text);
    ASSERT_TRUE(pipeline.is_ok());
    CompileOptions options;
    options.isa = isa;
    auto kernel = compile(*pipeline, options);
    ASSERT_TRUE(kernel.is_ok()) << kernel.status().to_string();
    for (double tau : {-0.7, 1e-46, 1e39}) {
      std::vector<float> y(x.size());
      ir::RunArgs args;
      args.n = static_cast<int64_t>(x.size());
      args.tensors["x"] = {x.data(), ir::ElemType::kF32, args.n * 4};
      args.tensors["y"] = {y.data(), ir::ElemType::kF32, args.n * 4};
      args.scalars["tau"] = tau;
      _mm_setcsr(0x0E80);
      Status ran = (*kernel)->run(args);
      after = _mm_getcsr();
      _mm_setcsr(caller_mxcsr);
      EXPECT_EQ(ran.code(), StatusCode::kInvalidArgument) << isa_name(isa) << ", tau " << tau << ": " << ran.to_string();
      EXPECT_EQ(after, 0x0E80u) << isa_name(isa) << ", tau " << tau;
    }
  }
}

TEST(JitAbi, RefusedExecutableMemoryIsAnError) {
  auto pipeline = parse_example("softmax");
  ASSERT_TRUE(pipeline.is_ok());
  CompileOptions options;
  options.isa = Isa::kAvx2;
  if (best_isa(host_cpu()) < Isa::kAvx2) GTEST_SKIP() << "this CPU has no AVX2";

  // A system that refuses pages both writable and executable: rowjit never
  // maps such pages, so compiling still works and the softmax is right.
  jit::set_exec_memory_policy_for_testing(jit::ExecMemoryPolicy::kDenyWriteExecTogether);
  auto works = compile(*pipeline, options);
  jit::set_exec_memory_policy_for_testing(jit::ExecMemoryPolicy::kNormal);
  ASSERT_TRUE(works.is_ok()) << works.status().to_string();
  std::vector<float> x = {1, 2, 3}, y(3);
  ir::RunArgs args;
  args.n = 3;
  args.tensors["x"] = {x.data(), ir::ElemType::kF32, 12};
  args.tensors["y"] = {y.data(), ir::ElemType::kF32, 12};
  ASSERT_TRUE((*works)->run(args).is_ok());
  EXPECT_NEAR(y[0], 0.09003057f, 4 * 7.5e-9);
  EXPECT_NEAR(y[1], 0.24472848f, 4 * 1.5e-8);
  EXPECT_NEAR(y[2], 0.66524094f, 4 * 6e-8);

  // A system that refuses to make written pages executable: a clean error
  // that names the interpreter fallback.
  jit::set_exec_memory_policy_for_testing(jit::ExecMemoryPolicy::kDenyRwToRx);
  auto refused = compile(*pipeline, options);
  jit::set_exec_memory_policy_for_testing(jit::ExecMemoryPolicy::kNormal);
  ASSERT_FALSE(refused.is_ok());
  EXPECT_EQ(refused.status().code(), StatusCode::kExecMemoryDenied);
  EXPECT_NE(refused.status().message().find("ROWJIT_MAX_ISA=none"), std::string::npos) << refused.status().message();
}

TEST(JitAbi, IsaCapSelectsAvx2) {
  if (best_isa(host_cpu()) < Isa::kAvx2) GTEST_SKIP() << "this CPU has no AVX2";
  set_isa_cap_for_testing(Isa::kAvx2);
  auto pipeline = parse_example("softmax");
  ASSERT_TRUE(pipeline.is_ok());
  auto capped = compile(*pipeline);
  set_isa_cap_for_testing(Isa::kAvx512);
  ASSERT_TRUE(capped.is_ok());
  EXPECT_EQ((*capped)->isa(), Isa::kAvx2);
  EXPECT_EQ((*capped)->compiled()->isa, "avx2");

  set_isa_cap_for_testing(Isa::kNone);
  auto interpreted = compile(*pipeline);
  set_isa_cap_for_testing(Isa::kAvx512);
  ASSERT_TRUE(interpreted.is_ok());
  EXPECT_FALSE((*interpreted)->uses_jit());
}

TEST(JitAbi, IsasAgreeWithinFourUlp) {
  std::vector<Isa> isas = runnable_isas();
  if (isas.size() < 2) GTEST_SKIP() << "needs both AVX2 and AVX-512";
  std::vector<float> x(1000);
  std::mt19937 rng(5);
  std::normal_distribution<float> logits(0, 3);
  for (float& v : x) v = logits(rng);
  std::vector<std::vector<float>> outputs;
  for (Isa isa : isas) {
    auto kernel = compile_softmax(isa, ir::SoftmaxForm::kThreePassReload);
    std::vector<float> y(x.size());
    ir::RunArgs args;
    args.n = static_cast<int64_t>(x.size());
    args.tensors["x"] = {x.data(), ir::ElemType::kF32, args.n * 4};
    args.tensors["y"] = {y.data(), ir::ElemType::kF32, args.n * 4};
    ASSERT_TRUE(kernel->run(args).is_ok());
    outputs.push_back(y);
  }
  for (size_t i = 0; i < x.size(); ++i) {
    EXPECT_LE(ulp_distance(outputs[0][i], outputs[1][i]), 4u) << "element " << i;
  }
}

}  // namespace
}  // namespace rowjit::testing
