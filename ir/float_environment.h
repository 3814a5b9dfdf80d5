// The floating-point environment rowjit's own host code computes under:
// round to nearest even, denormals kept, every exception masked.
#pragma once

#if defined(__x86_64__) || defined(__i386__)
#include <xmmintrin.h>
#endif

namespace rowjit::ir {

// For the duration of a scope, sets the SSE control register to the IEEE
// defaults (MXCSR 0x1F80) and gives the caller its MXCSR back afterwards,
// exception flags included. Host code that converts or rounds floats (the
// parser's literals, the exp table of the JIT, f32 parameters, the
// interpreter) would otherwise follow the caller's rounding mode, flush
// denormals under FTZ or DAZ, and trap on an unmasked exception. Each load
// of MXCSR stalls the instructions after it, so the guard loads only when
// the caller's control bits differ and restores only when MXCSR changed.
class DefaultFloatEnvironment {
 public:
#if defined(__x86_64__) || defined(__i386__)
  DefaultFloatEnvironment() : saved_(_mm_getcsr()) {
    if ((saved_ & kControlBits) != kDefaultMxcsr) _mm_setcsr(kDefaultMxcsr);
  }
  ~DefaultFloatEnvironment() {
    if (_mm_getcsr() != saved_) _mm_setcsr(saved_);
  }
  DefaultFloatEnvironment(const DefaultFloatEnvironment&) = delete;
  DefaultFloatEnvironment& operator=(const DefaultFloatEnvironment&) = delete;

  static constexpr unsigned kDefaultMxcsr = 0x1F80;  // every exception masked, nothing else set
  static constexpr unsigned kControlBits = 0xFFC0;   // all but the six exception flags

 private:
  unsigned saved_;
#else
  // NOTE: on other architectures the caller's floating-point environment is
  // used unchanged, so a flush-to-zero mode would flush denormals.
#endif
};

// Sets the IEEE defaults for the rest of the calling thread's life. For the
// threads rowjit starts, which would otherwise keep the MXCSR of whichever
// thread created them.
inline void use_default_float_environment() {
#if defined(__x86_64__) || defined(__i386__)
  _mm_setcsr(DefaultFloatEnvironment::kDefaultMxcsr);
#endif
}

}  // namespace rowjit::ir
