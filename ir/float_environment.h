// The floating-point environment rowjit's own host code computes under:
// round to nearest even, denormals kept, every exception masked.
#pragma once

namespace rowjit::ir {

// Scope guard that sets MXCSR to the IEEE defaults (0x1F80) and restores the
// caller's MXCSR, exception flags included, at the end of the scope. Without
// it, host code that rounds floats (literals, the JIT's exp table, f32
// parameters, the interpreter) would follow the caller's rounding mode, flush
// denormals under FTZ or DAZ, and trap on unmasked exceptions. A load of
// MXCSR stalls the instructions after it, so the guard loads only when the
// caller's control bits differ and restores only when MXCSR changed.
class DefaultFloatEnvironment {
 public:
#if defined(__x86_64__) || defined(__i386__)
  DefaultFloatEnvironment() : saved_(read_mxcsr()) {
    if ((saved_ & kControlBits) != kDefaultMxcsr) write_mxcsr(kDefaultMxcsr);
  }
  ~DefaultFloatEnvironment() {
    if (read_mxcsr() != saved_) write_mxcsr(saved_);
  }
  DefaultFloatEnvironment(const DefaultFloatEnvironment&) = delete;
  DefaultFloatEnvironment& operator=(const DefaultFloatEnvironment&) = delete;

  static constexpr unsigned kDefaultMxcsr = 0x1F80;  // every exception masked, nothing else set
  static constexpr unsigned kControlBits = 0xFFC0;   // all but the six exception flags

  // stmxcsr and ldmxcsr as volatile asm, which the compiler keeps in order
  // with other volatile asm (the intrinsics it may move past arithmetic).
  static unsigned read_mxcsr() {
    unsigned value;
    asm volatile("stmxcsr %0" : "=m"(value) : : "memory");
    return value;
  }
  static void write_mxcsr(unsigned value) { asm volatile("ldmxcsr %0" : : "m"(value) : "memory"); }

 private:
  unsigned saved_;
#else
  // NOTE: on other architectures the caller's floating-point environment is
  // used unchanged, so a flush-to-zero mode would flush denormals.
#endif
};

namespace float_environment_detail {

// The conversions as volatile asm, which the compiler keeps in order with the
// guard's reads and writes of MXCSR.
inline float narrow(double value) {
#if defined(__x86_64__) || defined(__i386__)
  float result;
  asm volatile("cvtsd2ss %1, %0" : "=x"(result) : "x"(value) : "memory");
  return result;
#else
  return static_cast<float>(value);
#endif
}

inline double widen(float value) {
#if defined(__x86_64__) || defined(__i386__)
  double result;
  asm volatile("cvtss2sd %1, %0" : "=x"(result) : "x"(value) : "memory");
  return result;
#else
  return static_cast<double>(value);
#endif
}

}  // namespace float_environment_detail

// Rounds `value` to the nearest float, keeping denormals, with no trap and no
// flag left raised, whatever the caller's MXCSR.
inline float to_f32_nearest(double value) {
  DefaultFloatEnvironment environment;
  return float_environment_detail::narrow(value);
}

// Rounds `value` to float and widens it back to double, as to_f32_nearest:
// the f32 value a kernel receives, for checks in double. The widening runs
// under the guard too, because a caller's DAZ reads a denormal float as 0.
inline double f32_value_of(double value) {
  DefaultFloatEnvironment environment;
  return float_environment_detail::widen(float_environment_detail::narrow(value));
}

// Sets the IEEE defaults for the rest of the calling thread's life. For the
// threads rowjit starts, which would otherwise keep the MXCSR of whichever
// thread created them.
inline void use_default_float_environment() {
#if defined(__x86_64__) || defined(__i386__)
  DefaultFloatEnvironment::write_mxcsr(DefaultFloatEnvironment::kDefaultMxcsr);
#endif
}

}  // namespace rowjit::ir
