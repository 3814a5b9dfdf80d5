// Argument cases shared by the tests of interpret() and of Kernel::run: both
// check arguments with the rules and messages of validate_run_args, so each
// case expects the same message from both.
#pragma once

#include <functional>
#include <limits>
#include <ostream>
#include <string>
#include <vector>

#include "tests/interpreter_testing.h"

namespace rowjit::ir::testing {

// An input, a bounded f32 parameter, an s32 parameter with a default that
// sizes [k] outputs, and a vector parameter.
inline constexpr const char* kEntriesText = R"(kernel k(x: f32[n], param tau: f32 > 0, param eps: f32 >= 0 = 0,
                                   param k: s32 = 2, param bias: f32[n]) -> (y: f32[n], v: f32[k], i: s32[k]) {
  y = x / tau + bias + eps
  v, i = topk(x, k=k)
})";

// Caller tensors and valid arguments of kEntriesText: two rows of n = 4 and
// tau = 2. The arguments point into the tensors, so the struct is not copyable.
struct EntriesArgs {
  EntriesArgs() {
    x = make_tensor<float>(ElemType::kF32, {{1, 2, 3, 4}, {5, 6, 7, 8}});
    bias = make_tensor<float>(ElemType::kF32, {{0, 0, 0, 0}});
    y = make_output(ElemType::kF32, 2, 16);
    v = make_output(ElemType::kF32, 2, 8);
    i = make_output(ElemType::kS32, 2, 8);
    args.rows = 2;
    args.n = 4;
    args.tensors = {{"x", x.ref()}, {"bias", bias.ref()}, {"y", y.ref()}, {"v", v.ref()}, {"i", i.ref()}};
    args.scalars = {{"tau", 2.0}};
  }
  EntriesArgs(const EntriesArgs&) = delete;
  EntriesArgs& operator=(const EntriesArgs&) = delete;

  TestTensor x, bias, y, v, i;
  RunArgs args;
};

// A change to the arguments and the message expected from the run after it.
// An empty message means the run is accepted.
struct RunArgsStep {
  std::function<void(EntriesArgs&)> change;
  std::string message;
};

// Steps applied in order to one EntriesArgs, each followed by a run.
struct RunArgsCase {
  std::string name;
  std::vector<RunArgsStep> steps;
};

// Names the case in GoogleTest's failure output.
inline void PrintTo(const RunArgsCase& run_args_case, std::ostream* out) { *out << run_args_case.name; }

inline std::vector<RunArgsCase> run_args_cases() {
  auto set_scalar = [](const std::string& name, double value) {
    return [=](EntriesArgs& entries) { entries.args.scalars[name] = value; };
  };
  const double inf = std::numeric_limits<double>::infinity();
  const double nan = std::numeric_limits<double>::quiet_NaN();

  return {
      {"MissingTensor",
       {{[](EntriesArgs& e) { e.args.tensors.erase("x"); }, "missing tensor 'x'; it is required by input x: f32[n]"}}},
      {"MissingOutput",
       {{[](EntriesArgs& e) { e.args.tensors.erase("i"); }, "missing tensor 'i'; it is required by output i: s32[k]"}}},
      {"MissingVectorParameter",
       {{[](EntriesArgs& e) { e.args.tensors.erase("bias"); },
         "missing tensor 'bias'; it is required by param bias: f32[n]"}}},
      {"MissingParameter",
       {{[](EntriesArgs& e) { e.args.scalars.erase("tau"); },
         "missing parameter 'tau'; it is required because param tau: f32 has no default"}}},

      {"UnknownTensor",
       {{[](EntriesArgs& e) { e.args.tensors["z"] = e.x.ref(); },
         "unknown tensor 'z'; pipeline 'k' has the tensors x, bias, y, v, i"}}},
      // "a" sorts before every declared name, so it is the first name the check meets.
      {"UnknownTensorSortedFirst",
       {{[](EntriesArgs& e) { e.args.tensors["a"] = e.x.ref(); },
         "unknown tensor 'a'; pipeline 'k' has the tensors x, bias, y, v, i"}}},
      // The same count of names as declared, with one name replaced by an unknown one.
      {"UnknownTensorInPlaceOfDeclared",
       {{[](EntriesArgs& e) {
           e.args.tensors.erase("v");
           e.args.tensors["w"] = e.v.ref();
         },
         "unknown tensor 'w'; pipeline 'k' has the tensors x, bias, y, v, i"}}},
      {"UnknownParameter",
       {{set_scalar("temperature", 1.0),
         "unknown parameter 'temperature'; pipeline 'k' has the scalar parameters tau, eps, k"}}},
      {"UnknownParameterSortedFirst",
       {{set_scalar("alpha", 1.0), "unknown parameter 'alpha'; pipeline 'k' has the scalar parameters tau, eps, k"}}},
      {"ScalarParameterPassedAsTensor",
       {{[](EntriesArgs& e) { e.args.tensors["tau"] = e.x.ref(); },
         "'tau' is a scalar parameter (param tau: f32); pass it in RunArgs::scalars, not in tensors"}}},
      {"TensorPassedAsScalar",
       {{set_scalar("bias", 1.0),
         "'bias' is param bias: f32[n], not a scalar parameter; pass it in RunArgs::tensors"}}},

      {"WrongElementType",
       {{[](EntriesArgs& e) { e.args.tensors["x"].type = ElemType::kS8; },
         "tensor 'x' has element type s8, expected f32"}}},
      {"NullData",
       {{[](EntriesArgs& e) { e.args.tensors["y"].data = nullptr; },
         "tensor 'y' has null data but 2 rows are requested"}}},
      {"NullDataOfZeroRows",
       {{[](EntriesArgs& e) {
           e.args.rows = 0;
           e.args.tensors["y"].data = nullptr;
         },
         ""}}},
      {"StrideSmallerThanRow",
       {{[](EntriesArgs& e) { e.args.tensors["x"].row_stride_bytes = 12; },
         "tensor 'x' has row stride 12 bytes, smaller than one row of 16 bytes (4 x f32); pass a stride of at "
         "least 16"}}},
      // 4 * n would overflow int64 and make every stride look long enough.
      {"RowLengthBeyondAnyMemory",
       {{[](EntriesArgs& e) { e.args.n = (int64_t{1} << 61) + 1; },
         "n = 2305843009213693953 is longer than any row can be (at most 1099511627776 elements); "
         "check the row length passed"}}},
      {"StrideOfKOutput",
       {{set_scalar("k", 3),
         "tensor 'v' has row stride 8 bytes, smaller than one row of 12 bytes (3 x f32); pass a stride of at "
         "least 12"}}},

      {"NonFiniteParameter",
       {{set_scalar("tau", inf), "parameter 'tau' = inf must be finite"},
        {set_scalar("tau", nan), "parameter 'tau' = nan must be finite"}}},
      {"NonIntegralS32Parameter", {{set_scalar("k", 2.5), "parameter 'k' = 2.5 must be an integer (s32)"}}},
      {"S32ParameterOutOfRange",
       {{set_scalar("k", 3e9), "parameter 'k' = 3e+09 is outside the s32 range [-2147483648, 2147483647]"}}},
      {"BoundViolated",
       {{set_scalar("tau", 0), "parameter 'tau' = 0 must be > 0"},
        {[](EntriesArgs& e) {
           e.args.scalars["tau"] = 1;
           e.args.scalars["eps"] = -0.5;
         },
         "parameter 'eps' = -0.5 must be >= 0"}}},
      // f32 parameters are checked after rounding to the f32 the kernel receives.
      {"BoundCheckedInF32",
       {{set_scalar("tau", 1e-50), "parameter 'tau' = 1e-50 (0 in f32) must be > 0"},
        {set_scalar("tau", 1e39), "parameter 'tau' = 1e+39 overflows f32 to inf; use a value within +-3.4e38"}}},
      {"RowCountOverflowingAddressSpace",
       {{[](EntriesArgs& e) { e.args.rows = std::numeric_limits<int64_t>::max(); },
         "tensor 'x': 9223372036854775807 rows of stride 16 bytes overflow the address space; check the row "
         "count"}}},
      {"KParameterNotPositive",
       {{set_scalar("k", -1), "parameter 'k' = -1 must be a positive integer, because it is the length of [k]"},
        {set_scalar("k", 0), "parameter 'k' = 0 must be a positive integer, because it is the length of [k]"}}},
      {"NegativeRowsAndLength",
       {{[](EntriesArgs& e) { e.args.n = -1; }, "n = -1 must be >= 0 (it is the row length)"},
        {[](EntriesArgs& e) {
           e.args.n = 4;
           e.args.rows = -2;
         },
         "rows = -2 must be >= 0"},
        {[](EntriesArgs& e) {
           e.args.rows = 2;
           e.args.first_row = -1;
         },
         "first_row = -1 must be >= 0"}}},
  };
}

}  // namespace rowjit::ir::testing
