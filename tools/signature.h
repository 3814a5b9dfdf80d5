// Questions about a pipeline's signature that the run arguments are checked against.
#pragma once

#include <string>
#include <vector>

#include "ir/pipeline.h"

namespace rowjit::cli {

bool is_scalar_param(const ir::Value& value);
// Inputs and vector parameters: the entries given with --input.
bool is_tensor_entry(const ir::Value& value);
// Whether any value of the pipeline has a shape that depends on n.
bool uses_row_length(const ir::Pipeline& pipeline);

// Formats an entry as declared: "x: f32[n]", "param tau: f32 > 0 = 1".
std::string declaration(const ir::Value& value);

// Names of the signature entries given with --input, --param and --output.
std::vector<std::string> tensor_entry_names(const ir::Pipeline& pipeline);
std::vector<std::string> scalar_param_names(const ir::Pipeline& pipeline);
std::vector<std::string> per_row_input_names(const ir::Pipeline& pipeline);
std::vector<std::string> output_names(const ir::Pipeline& pipeline);

}  // namespace rowjit::cli
