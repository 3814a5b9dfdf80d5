#include "runtime/row_parallel.h"

#include <algorithm>
#include <chrono>
#include <new>
#include <string>

#include "ir/float_environment.h"
#include "runtime/compiler.h"

namespace rowjit {

std::size_t row_task_count(std::int64_t rows, const ParallelFor& parallel) {
  if (rows <= 0) return 0;
  std::int64_t min_rows = std::max<std::int64_t>(parallel.min_rows_per_task, 1);
  // ceil(rows / min_rows) without forming rows + min_rows - 1, which
  // overflows for a min_rows_per_task near 2^63.
  std::int64_t by_size = rows / min_rows + (rows % min_rows != 0 ? 1 : 0);
  std::int64_t max_tasks = parallel.function == nullptr ? 1 : static_cast<std::int64_t>(std::max<std::size_t>(parallel.max_tasks, 1));
  return static_cast<std::size_t>(std::clamp<std::int64_t>(std::min(by_size, max_tasks), 1, rows));
}

std::int64_t task_first_row(std::int64_t rows, std::size_t tasks, std::size_t index) {
  // rows * index / tasks without overflow for any rows below 2^63 / tasks.
  std::int64_t t = static_cast<std::int64_t>(tasks);
  std::int64_t i = static_cast<std::int64_t>(index);
  return (rows / t) * i + (rows % t) * i / t;
}

ThreadPool::ThreadPool(std::size_t workers) {
  threads_.reserve(workers);
  for (std::size_t i = 0; i < workers; ++i) threads_.emplace_back([this] { work(); });
}

namespace {

// How long an idle worker, or a caller waiting for the workers, polls before
// it sleeps on a condition variable. Waking a sleeping thread took tens of
// microseconds on the 2-vCPU VM of docs/benchmarks.md, as long as a whole
// call on a batch of short rows. A pool that slept at once made 4096 rows of
// 64 elements slower on two threads than on one.
constexpr std::chrono::microseconds kPollBeforeSleep{50};

// Polls `ready` until it returns true or `deadline` has passed.
template <typename Ready>
void poll_until(std::chrono::steady_clock::time_point deadline, Ready ready) {
  while (!ready()) {
    for (int i = 0; i < 64; ++i) {
#if defined(__x86_64__) || defined(__i386__)
      __builtin_ia32_pause();
#endif
    }
    if (std::chrono::steady_clock::now() >= deadline) return;
  }
}

}  // namespace

ThreadPool::~ThreadPool() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
    posted_.fetch_add(1, std::memory_order_release);
  }
  work_ready_.notify_all();
  for (std::thread& thread : threads_) thread.join();
}

void ThreadPool::run_one(Loop& loop, std::unique_lock<std::mutex>& lock) {
  std::size_t index = loop.next++;
  if (loop.next == loop.tasks) {
    // Every task is claimed: later workers must not see this loop again.
    loops_.erase(std::find(loops_.begin(), loops_.end(), &loop));
  }
  lock.unlock();
  loop.task(loop.context, index);
  lock.lock();
  if (loop.done.fetch_add(1, std::memory_order_release) + 1 == loop.tasks) loop_done_.notify_all();
}

void ThreadPool::work() {
  // A worker computes under the defaults, not under the MXCSR of the thread
  // that happened to create the pool.
  ir::use_default_float_environment();
  std::unique_lock<std::mutex> lock(mutex_);
  while (true) {
    // Poll for the next loop for kPollBeforeSleep after the last task, then
    // sleep; the wait below still decides. A loop posted meanwhile whose
    // tasks others claimed first does not end the polling early.
    auto deadline = std::chrono::steady_clock::now() + kPollBeforeSleep;
    while (!stopping_ && loops_.empty() && std::chrono::steady_clock::now() < deadline) {
      std::uint64_t seen = posted_.load(std::memory_order_relaxed);
      lock.unlock();
      poll_until(deadline, [this, seen] { return posted_.load(std::memory_order_acquire) != seen; });
      lock.lock();
    }
    work_ready_.wait(lock, [this] { return stopping_ || !loops_.empty(); });
    if (loops_.empty()) return;  // stopping, and nothing left to run
    run_one(*loops_.front(), lock);
  }
}

void ThreadPool::parallel_for(std::size_t tasks, ParallelTask task, void* task_context) {
  if (tasks == 0) return;
  Loop loop;
  loop.task = task;
  loop.context = task_context;
  loop.tasks = tasks;

  std::unique_lock<std::mutex> lock(mutex_);
  loops_.push_back(&loop);
  posted_.fetch_add(1, std::memory_order_release);
  if (tasks > 1) work_ready_.notify_all();
  // The caller works on its own loop too, so the loop finishes even when
  // every worker is busy with other callers' loops.
  while (loop.next < loop.tasks) run_one(loop, lock);
  // `loop` lives on this stack: wait until no worker is still running one of
  // its tasks. No worker can claim a new one, because the loop left loops_
  // when its last task was claimed. The wait takes the mutex before it
  // returns, so the worker that finished last has left run_one by then.
  if (loop.done.load(std::memory_order_acquire) != loop.tasks) {
    lock.unlock();
    poll_until(std::chrono::steady_clock::now() + kPollBeforeSleep,
               [&loop] { return loop.done.load(std::memory_order_acquire) == loop.tasks; });
    lock.lock();
  }
  loop_done_.wait(lock, [&loop] { return loop.done.load(std::memory_order_acquire) == loop.tasks; });
}

namespace {

void run_on_pool(void* pool, std::size_t tasks, ParallelTask task, void* task_context) {
  static_cast<ThreadPool*>(pool)->parallel_for(tasks, task, task_context);
}

}  // namespace

ParallelFor ThreadPool::hook() {
  ParallelFor parallel;
  parallel.function = run_on_pool;
  parallel.context = this;
  parallel.max_tasks = workers() + 1;
  return parallel;
}

ThreadPool& default_thread_pool() {
  static ThreadPool pool([] {
    unsigned hardware = std::thread::hardware_concurrency();
    return hardware > 1 ? static_cast<std::size_t>(hardware - 1) : std::size_t{0};
  }());
  return pool;
}

Status Kernel::run(const ir::RunArgs& args, const ParallelFor& parallel) const {
  ROWJIT_TRY(signature_.check(pipeline_, args));
  std::size_t tasks = row_task_count(args.rows, parallel);
  if (tasks <= 1) return run_rows(args, 0, args.rows);

  struct RowTasks {
    const Kernel* kernel;
    const ir::RunArgs* args;
    std::size_t tasks;
    std::vector<Status> statuses;  // one per task
  };
  RowTasks work{this, &args, tasks, std::vector<Status>(tasks)};

  // A lambda in a member function may call the private run_rows().
  ParallelTask run_task = [](void* context, std::size_t index) {
    auto* work = static_cast<RowTasks*>(context);
    std::int64_t begin = task_first_row(work->args->rows, work->tasks, index);
    std::int64_t end = task_first_row(work->args->rows, work->tasks, index + 1);
    // A task must not throw: the hook may be C code that cannot unwind.
    const char* failure = nullptr;
    try {
      work->statuses[index] = work->kernel->run_rows(*work->args, begin, end - begin);
      return;
    } catch (const std::bad_alloc&) {
      failure = "out of memory while running rows ";
    } catch (...) {
      failure = "unexpected exception while running rows ";
    }
    try {
      work->statuses[index] =
          Status(StatusCode::kInternal, failure + std::to_string(begin) + " to " + std::to_string(end - 1));
    } catch (...) {
      work->statuses[index] = Status(StatusCode::kInternal, "");
    }
  };
  parallel.function(parallel.context, tasks, run_task, &work);
  for (const Status& status : work.statuses) ROWJIT_TRY(status);
  return Status::ok();
}

}  // namespace rowjit
