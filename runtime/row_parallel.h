// Running the rows of one call on several threads. The engine keeps control
// of its threads: it passes a parallel-for hook that runs tasks on its own
// pool, and rowjit only splits the rows into tasks. Without a hook, a small
// built-in pool runs them.
//
// Rows are independent, and each task runs its rows with first_row set to
// their global index, so a split call writes exactly what one unsplit call
// writes, uniform() included.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <mutex>
#include <thread>
#include <vector>

namespace rowjit {

// One task of a parallel loop: processes task number `index`.
using ParallelTask = void (*)(void* task_context, std::size_t index);

// Runs task(task_context, i) once for every i in [0, tasks), in any order and
// on any threads, and returns when every call has returned. The tasks that
// rowjit passes catch every exception, so the hook need not.
using ParallelForFunction = void (*)(void* context, std::size_t tasks, ParallelTask task, void* task_context);

// The parallel-for hook of a split call and the bounds of its tasks.
struct ParallelFor {
  ParallelForFunction function = nullptr;  // null: run every row on the calling thread
  void* context = nullptr;                 // passed to `function` unchanged
  std::size_t max_tasks = 1;               // tasks per call, at most; usually the engine's thread count
  std::int64_t min_rows_per_task = 16;     // fewer rows than this are not worth a task of their own
};

// Returns how many tasks `rows` rows are split into: at most max_tasks, each
// with at least min_rows_per_task rows (except when rows is smaller), never 0
// for rows > 0.
std::size_t row_task_count(std::int64_t rows, const ParallelFor& parallel);

// Returns the first row of task `index` out of `tasks`: rows are dealt in
// contiguous ranges whose sizes differ by at most one.
std::int64_t task_first_row(std::int64_t rows, std::size_t tasks, std::size_t index);

// A fixed set of worker threads that run parallel loops. The calling thread
// runs tasks too, so a pool with 0 workers runs everything on the caller.
// Several threads may call parallel_for() at once; their tasks share the
// workers.
class ThreadPool {
 public:
  explicit ThreadPool(std::size_t workers);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  void parallel_for(std::size_t tasks, ParallelTask task, void* task_context);
  std::size_t workers() const { return threads_.size(); }

  // The hook for this pool: tasks up to workers() + 1.
  ParallelFor hook();

 private:
  struct Loop {
    ParallelTask task = nullptr;
    void* context = nullptr;
    std::size_t tasks = 0;
    std::size_t next = 0;  // first task not yet claimed
    // Tasks that have returned. Written under the mutex, and atomic so that
    // the caller can poll it before it sleeps.
    std::atomic<std::size_t> done{0};
  };

  void work();
  // Claims the next task of `loop` and runs it; `lock` is held on entry and exit.
  void run_one(Loop& loop, std::unique_lock<std::mutex>& lock);

  std::mutex mutex_;
  std::condition_variable work_ready_;
  std::condition_variable loop_done_;
  std::deque<Loop*> loops_;  // loops with unclaimed tasks, oldest first
  bool stopping_ = false;
  // Counts the loops posted and the stop request, so that an idle worker can
  // poll for new work without the mutex before it sleeps.
  std::atomic<std::uint64_t> posted_{0};
  std::vector<std::thread> threads_;
};

// Returns the process-wide pool with one worker fewer than the hardware
// threads, created on the first call. Thread-safe.
ThreadPool& default_thread_pool();

}  // namespace rowjit
