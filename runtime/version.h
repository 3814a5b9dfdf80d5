// Version of the rowjit library.
#pragma once

namespace rowjit {

// Returns the version as "MAJOR.MINOR.PATCH".
const char* version_string();

}  // namespace rowjit
