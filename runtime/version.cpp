#include "runtime/version.h"

namespace rowjit {

const char* version_string() { return "0.1.0"; }

}  // namespace rowjit
