// Resident rows: a row of v vectors is loaded into registers once and every
// sweep works there. Each pipeline, with each three-pass form, is forced to
// keep rows of 1 to kMaxResidentVectors vectors in registers. It is compared
// with the interpreter on every row length around that size. Lengths of v
// vectors take the resident code, and their neighbours the loops of the same
// kernel.
#include <gtest/gtest.h>

#include <random>

#include "jit/disassembler.h"
#include "tests/jit_pipeline_cases.h"

namespace rowjit::testing {
namespace {

const std::vector<std::optional<ir::SoftmaxForm>> kResidentForms = {
    std::nullopt, ir::SoftmaxForm::kThreePassRecompute, ir::SoftmaxForm::kThreePassReload};

int lanes_of(Isa isa) { return isa == Isa::kAvx512 ? 16 : 8; }

// Compiles with rows of `vectors` vectors resident; null if the form does not
// apply. Asserts that the kernel keeps them in registers, unless the registers ran out on
// AVX2 beyond 2 vectors, where the kernel falls back to the loops and says so.
std::shared_ptr<const Kernel> compile_resident(const ir::Pipeline& pipeline, Isa isa,
                                               const std::optional<ir::SoftmaxForm>& form, int vectors) {
  auto kernel = compile_for(pipeline, isa, form, false, vectors);
  if (!kernel) return nullptr;
  EXPECT_TRUE(kernel->uses_jit());
  int held = kernel->compiled()->resident_vectors;
  if (isa == Isa::kAvx512 || vectors <= 2) {
    EXPECT_EQ(held, vectors) << pipeline.name << " on " << isa_name(isa);
  }
  EXPECT_TRUE(held == vectors || held == 0) << pipeline.name << " on " << isa_name(isa) << ": " << held;
  // The kernel's plan follows the code: the loops where the row did not fit.
  EXPECT_EQ(kernel->plan().resident_vectors, held) << pipeline.name << " on " << isa_name(isa);
  std::string listing = jit::format_listing(*kernel->compiled(), {});
  EXPECT_EQ(listing.find("resident rows") != std::string::npos, held > 0);
  return kernel;
}

class ResidentRows : public ::testing::TestWithParam<JitCase> {};

TEST_P(ResidentRows, MatchInterpreterAroundEachSize) {
  const JitCase& c = GetParam();
  ir::Pipeline pipeline = load(c.name);
  std::mt19937 rng(4321);
  for (Isa isa : runnable_isas()) {
    int lanes = lanes_of(isa);
    for (const auto& form : kResidentForms) {
      for (int vectors = 1; vectors <= ir::kMaxResidentVectors; ++vectors) {
        auto kernel = compile_resident(pipeline, isa, form, vectors);
        if (!kernel) break;
        int64_t nonzero = 0;
        for (int64_t n = std::max<int64_t>(1, (vectors - 1) * lanes - 1); n <= vectors * lanes + 1; ++n) {
          RowTensors jit(pipeline, 3, n, 5, 3);
          RowTensors reference(pipeline, 3, n, 5, 3);
          fill_random(pipeline, jit, rng);
          copy_inputs(pipeline, jit, reference);
          expect_matches_reference(*kernel, c, jit, reference,
                                   std::string(c.name) + " on " + isa_name(isa) + ", form " + form_name(form) +
                                       ", " + std::to_string(vectors) + " resident vectors, n = " + std::to_string(n));
          std::string unused;
          compare_outputs(pipeline, jit, jit, c.tolerance, unused, &nonzero);
          if (HasFailure()) return;
        }
        EXPECT_GT(nonzero, 0) << c.name << " wrote only zeros";
      }
    }
  }
}

TEST_P(ResidentRows, MatchInterpreterOnSpecialValues) {
  const JitCase& c = GetParam();
  ir::Pipeline pipeline = load(c.name);
  const auto patterns = special_patterns();
  for (Isa isa : runnable_isas()) {
    int lanes = lanes_of(isa);
    for (const auto& form : kResidentForms) {
      for (int vectors : {1, 2, 4}) {
        auto kernel = compile_resident(pipeline, isa, form, vectors);
        if (!kernel) break;
        for (int64_t n : {int64_t{vectors} * lanes, int64_t{vectors - 1} * lanes + 1}) {
          for (size_t k = 0; k < patterns.size(); ++k) {
            RowTensors jit(pipeline, 2, n, 0, 0);
            RowTensors reference(pipeline, 2, n, 0, 0);
            fill_pattern(pipeline, patterns[k], jit, reference);
            expect_matches_reference(*kernel, c, jit, reference,
                                     std::string(c.name) + " on " + isa_name(isa) + ", form " + form_name(form) +
                                         ", resident, n = " + std::to_string(n) + ", special pattern " +
                                         std::to_string(k));
            if (HasFailure()) return;
          }
        }
      }
    }
  }
}

// In place: the output overwrites the row that the registers were loaded from.
TEST_P(ResidentRows, RunInPlace) {
  const JitCase& c = GetParam();
  ir::Pipeline pipeline = load(c.name);
  if (!has_row_output_y(pipeline)) GTEST_SKIP() << c.name << " has no output y of the shape of x";
  std::mt19937 rng(17);
  for (Isa isa : runnable_isas()) {
    for (const auto& form : kResidentForms) {
      auto kernel = compile_resident(pipeline, isa, form, 3);
      if (!kernel) continue;
      int64_t n = 3 * lanes_of(isa) - 2;
      RowTensors jit(pipeline, 4, n, 0, 0);
      RowTensors reference(pipeline, 4, n, 0, 0);
      fill_random(pipeline, jit, rng);
      copy_inputs(pipeline, jit, reference);
      jit.alias("y", "x");
      ir::RunArgs args = jit.args();
      ir::RunArgs reference_args = reference.args();
      for (const auto& [name, value] : c.scalars) {
        args.scalars[name] = value;
        reference_args.scalars[name] = value;
      }
      ASSERT_TRUE(kernel->run(args).is_ok());
      ASSERT_TRUE(ir::interpret(pipeline, reference_args).is_ok());
      for (int64_t r = 0; r < 4; ++r) {
        for (int64_t i = 0; i < n; ++i) {
          float want = reference.row("y", r)[i];
          ASSERT_NEAR(jit.row("x", r)[i], want, c.tolerance.relative * std::fabs(want) + c.tolerance.absolute)
              << c.name << " in place on " << isa_name(isa) << ", form " << form_name(form) << ", i = " << i;
        }
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Examples, ResidentRows, ::testing::ValuesIn(kCases),
                         [](const ::testing::TestParamInfo<JitCase>& info) {
                           return std::string(info.param.label ? info.param.label : info.param.name);
                         });

}  // namespace
}  // namespace rowjit::testing
