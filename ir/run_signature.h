// The signature of a pipeline in the terms of RunArgs, resolved once, so that
// the arguments of each run are checked without name lookups or string building.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "ir/pipeline.h"
#include "ir/status.h"
#include "ir/tensor.h"

namespace rowjit::ir {

// Everything validate_run_args() checks that depends on the pipeline alone:
// the tensor and scalar parameter names, sorted as RunArgs' maps sort them,
// their element types, which tensors advance per row, the parameter bounds
// and whether each default passes them. accepts() returns true for exactly
// the arguments that validate_run_args() accepts. check() builds a message
// only for rejected arguments, by calling validate_run_args().
//
// A RunSignature keeps no pointer to its pipeline: pass the pipeline it was
// built from to accepts() and check().
class RunSignature {
 public:
  // A name of RunArgs::tensors: an input, a vector parameter or an output.
  struct Tensor {
    std::string name;
    ElemType elem = ElemType::kF32;
    Shape shape;
    bool per_row = true;  // false for a vector parameter, which is one row shared by all rows
  };

  // A name of RunArgs::scalars.
  struct ScalarParam {
    std::string name;
    ElemType elem = ElemType::kF32;
    std::optional<double> default_value;
    std::optional<ParamBound> bound;
    bool is_length = false;      // it is the length of a [k] shape, so it must be a positive integer
    bool default_valid = false;  // the default exists and passes every check of a given value
  };

  RunSignature() = default;
  explicit RunSignature(const Pipeline& pipeline);

  // Whether validate_run_args(pipeline, args) returns OK. Allocates nothing.
  bool accepts(const Pipeline& pipeline, const RunArgs& args) const;

  // Returns OK when accepts(), else the status of validate_run_args().
  Status check(const Pipeline& pipeline, const RunArgs& args) const;

  // Sorted by name. When the arguments were accepted, RunArgs::tensors contains
  // exactly these names in this order, and RunArgs::scalars a subset of
  // scalar_params() in this order.
  const std::vector<Tensor>& tensors() const { return tensors_; }
  const std::vector<ScalarParam>& scalar_params() const { return scalar_params_; }

  // True for a pipeline the verifier would reject (a name declared twice, a
  // [k] whose k is not a scalar parameter, an output named like a scalar
  // parameter) and for one with a literal length [L] above kMaxRowLength,
  // which every run rejects. accepts() then returns false on every call, so that check()
  // always runs validate_run_args(), and the orders above do not hold.
  bool checks_by_reference() const { return checks_by_reference_; }

 private:
  bool scalars_accepted(const RunArgs& args) const;
  bool tensors_accepted(const Pipeline& pipeline, const RunArgs& args) const;

  std::vector<Tensor> tensors_;
  std::vector<ScalarParam> scalar_params_;
  std::vector<size_t> topk_ops_;  // their k may not exceed their operand's length
  bool checks_by_reference_ = false;
};

}  // namespace rowjit::ir
