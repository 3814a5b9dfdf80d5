// The batched shapes on all cores: how many threads, how the plain C++
// baseline splits its rows, and how oneDNN's OpenMP runtime gets the count.
// Every implementation runs with the same number of threads: rowjit and the
// C++ baseline on rowjit's default pool (the calling thread plus one worker
// per other hardware thread), oneDNN on OpenMP and XNNPACK on a pthreadpool.
#pragma once

#include <dlfcn.h>

#include <cstdint>
#include <functional>
#include <thread>

#include "runtime/row_parallel.h"

namespace rowjit::bench {

// Threads of the all-cores benchmarks: one per hardware thread.
inline int all_core_threads() {
  unsigned count = std::thread::hardware_concurrency();
  return count == 0 ? 1 : static_cast<int>(count);
}

// Runs body(first_row, row_count) over `rows` rows split into one contiguous
// range per thread of rowjit's default pool.
inline void run_rows_on_all_cores(int64_t rows, const std::function<void(int64_t, int64_t)>& body) {
  ThreadPool& pool = default_thread_pool();
  std::size_t tasks = pool.workers() + 1;
  struct Split {
    int64_t rows;
    std::size_t tasks;
    const std::function<void(int64_t, int64_t)>* body;
  } split{rows, tasks, &body};
  pool.parallel_for(
      tasks,
      [](void* context, std::size_t index) {
        const Split& s = *static_cast<const Split*>(context);
        int64_t first = task_first_row(s.rows, s.tasks, index);
        int64_t next = task_first_row(s.rows, s.tasks, index + 1);
        if (next > first) (*s.body)(first, next - first);
      },
      &split);
}

// Sets the thread count of later OpenMP parallel regions on this thread
// (omp_set_num_threads). The function is looked up at run time, because the
// program does not link libgomp itself (oneDNN's Debian build does), and the
// call does nothing without it.
inline void set_openmp_threads(int threads) {
  using SetNumThreads = void (*)(int);
  static const auto set = reinterpret_cast<SetNumThreads>(dlsym(RTLD_DEFAULT, "omp_set_num_threads"));
  if (set != nullptr) set(threads);
}

}  // namespace rowjit::bench
