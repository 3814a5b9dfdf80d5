// Memory bandwidth probes: the fastest a pass over the same buffers can go.
// A two-pass softmax reads x once (max and sum) and then reads x and writes y
// once, so read + read-write with non-temporal stores is its bandwidth bound.
// Each probe keeps four independent vectors in flight, as the kernels do.
#pragma once

#include <immintrin.h>

#include <cstdint>
#include <cstring>

namespace rowjit::bench {

#if defined(__AVX512F__)
inline constexpr int kProbeLanes = 16;
using ProbeVector = __m512;
inline ProbeVector probe_load(const float* p) { return _mm512_loadu_ps(p); }
inline ProbeVector probe_add(ProbeVector a, ProbeVector b) { return _mm512_add_ps(a, b); }
inline ProbeVector probe_mul(ProbeVector a, ProbeVector b) { return _mm512_mul_ps(a, b); }
inline ProbeVector probe_broadcast(float v) { return _mm512_set1_ps(v); }
inline void probe_store(float* p, ProbeVector v) { _mm512_storeu_ps(p, v); }
inline void probe_stream(float* p, ProbeVector v) { _mm512_stream_ps(p, v); }
#elif defined(__AVX2__)
inline constexpr int kProbeLanes = 8;
using ProbeVector = __m256;
inline ProbeVector probe_load(const float* p) { return _mm256_loadu_ps(p); }
inline ProbeVector probe_add(ProbeVector a, ProbeVector b) { return _mm256_add_ps(a, b); }
inline ProbeVector probe_mul(ProbeVector a, ProbeVector b) { return _mm256_mul_ps(a, b); }
inline ProbeVector probe_broadcast(float v) { return _mm256_set1_ps(v); }
inline void probe_store(float* p, ProbeVector v) { _mm256_storeu_ps(p, v); }
inline void probe_stream(float* p, ProbeVector v) { _mm256_stream_ps(p, v); }
#else
#error "the bandwidth probes need AVX2 or AVX-512: build with -march=native on an x86-64 machine that has them"
#endif

// Sum of the lanes of v, outside the loops. (Through memory because GCC 12
// warns about the uninitialized halves inside _mm512_reduce_add_ps.)
inline float probe_total(ProbeVector v) {
  float lanes[kProbeLanes];
  std::memcpy(lanes, &v, sizeof(lanes));
  float total = 0;
  for (float lane : lanes) total += lane;
  return total;
}

inline constexpr int64_t kProbeStep = 4 * kProbeLanes;

// Sum of x: reads count floats.
inline float probe_read(const float* x, int64_t count) {
  ProbeVector acc[4] = {probe_broadcast(0), probe_broadcast(0), probe_broadcast(0), probe_broadcast(0)};
  int64_t i = 0;
  for (; i + kProbeStep <= count; i += kProbeStep) {
    for (int k = 0; k < 4; ++k) acc[k] = probe_add(acc[k], probe_load(x + i + k * kProbeLanes));
  }
  float total = probe_total(probe_add(probe_add(acc[0], acc[1]), probe_add(acc[2], acc[3])));
  for (; i < count; ++i) total += x[i];
  return total;
}

// y = x * scale with ordinary stores, which first read each line of y into
// the cache (read for ownership) unless the core elides that.
inline void probe_read_write(const float* x, float* y, int64_t count, float scale) {
  ProbeVector s = probe_broadcast(scale);
  int64_t i = 0;
  for (; i + kProbeStep <= count; i += kProbeStep) {
    for (int k = 0; k < 4; ++k) probe_store(y + i + k * kProbeLanes, probe_mul(probe_load(x + i + k * kProbeLanes), s));
  }
  for (; i < count; ++i) y[i] = x[i] * scale;
}

// y = x * scale with non-temporal stores, which write whole lines to memory
// without reading them. y must be aligned to the vector size.
inline void probe_read_write_nontemporal(const float* x, float* y, int64_t count, float scale) {
  ProbeVector s = probe_broadcast(scale);
  int64_t i = 0;
  for (; i + kProbeStep <= count; i += kProbeStep) {
    for (int k = 0; k < 4; ++k) probe_stream(y + i + k * kProbeLanes, probe_mul(probe_load(x + i + k * kProbeLanes), s));
  }
  for (; i < count; ++i) y[i] = x[i] * scale;
  _mm_sfence();  // orders the streaming stores before later accesses, as a kernel using them must
}

}  // namespace rowjit::bench
