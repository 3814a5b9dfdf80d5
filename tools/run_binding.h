// Binding of `rowjit run` arguments to a pipeline: which files and values feed
// which inputs and parameters, the row count and n, and the output buffers.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "ir/pipeline.h"
#include "ir/plan.h"
#include "ir/tensor.h"
#include "runtime/cpu_features.h"
#include "runtime/npy.h"
#include "tools/args.h"
#include "tools/command_error.h"

namespace rowjit::cli {

// The command line of `rowjit run`, parsed but not yet checked against the pipeline.
struct RunRequest {
  std::string pipeline_path;
  std::vector<NameValue> inputs;   // --input NAME=FILE.npy
  std::vector<NameValue> params;   // --param NAME=VALUE
  std::vector<NameValue> outputs;  // --output NAME=FILE.npy
  std::optional<std::string> rows_from;
  std::optional<int64_t> rows;
  std::optional<int64_t> n;
  std::optional<Isa> isa;  // --isa; the runtime's choice when absent
  ir::PlanChoices choices;  // --plan (the softmax form) and --choice
};

// The memory of one run and the RunArgs that point into it. Arrays live in
// map nodes, whose addresses survive moves of the maps, so moving a BoundRun
// keeps args valid.
struct BoundRun {
  ir::RunArgs args;
  std::map<std::string, NpyArray> inputs;   // inputs and vector parameters
  std::map<std::string, NpyArray> outputs;  // every pipeline output, requested or not
};

// Checks the names in `request` against the pipeline's signature: every
// --input, --param and --output names an entry of the right kind, once;
// every input and every parameter without a default is given; at least one
// output is requested. All failures are usage errors.
CommandStatus check_request_names(const ir::Pipeline& pipeline, const RunRequest& request);

// Parses the --param values into args.scalars. Failures are usage errors.
// This and the binders below expect names that check_request_names accepted.
CommandStatus bind_params(const ir::Pipeline& pipeline, const RunRequest& request,
                          ir::RunArgs& args);

// Reads the input files, checks their dtypes and shapes, and sets rows, n and
// the input tensors of `run`. Call after bind_params, because [k] shapes
// depend on parameters.
CommandStatus bind_inputs(const ir::Pipeline& pipeline, const RunRequest& request, BoundRun& run);

// Allocates an array for every output of the pipeline, in the layout of
// tools/npy_layout.h, and points args at it. Call after bind_inputs.
CommandStatus bind_outputs(const ir::Pipeline& pipeline, BoundRun& run);

}  // namespace rowjit::cli
