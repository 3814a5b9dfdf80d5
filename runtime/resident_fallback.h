// The plan of a kernel whose resident rows did not fit the vector registers.
// The JIT then compiles the loops instead (jit/compile.h), and the kernel's
// plan is rewritten to say so, so that `rowjit plan`, dumps and logs describe
// the machine code that runs.
#pragma once

#include "ir/pipeline.h"
#include "ir/plan.h"
#include "ir/status.h"
#include "ir/target.h"

namespace rowjit {

// Rewrites `plan`, which keeps rows of plan.resident_vectors vectors in
// registers, into the plan of the loops: no resident rows, the loops' memory
// traffic, and a reason line saying why. The traffic comes from planning again
// for `target` with the plan's own choices and no resident rows.
Status plan_loops_instead_of_resident_rows(const ir::Pipeline& pipeline, const ir::TargetDesc& target,
                                           ir::Plan& plan);

}  // namespace rowjit
