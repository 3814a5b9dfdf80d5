/* A small inference engine in C that embeds rowjit the way a real one does.
 * It compiles its kernels once at start, then runs batches of rows on its own
 * threads, some of them split over its own parallel-for or rowjit's pool.
 * Every output row is checked against a plain C reference.
 *
 * Usage: engine_c EXAMPLES_DIR
 * EXAMPLES_DIR contains softmax.rj and log_softmax.rj. Exits 0 when every row
 * matches, 1 on a mismatch or a failed run, 2 when setup fails. */
#define _POSIX_C_SOURCE 200809L

#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rowjit/runtime/rowjit.h>

enum {
  kThreads = 4,     /* the engine's worker threads */
  kBatches = 60,    /* batches per worker */
  kMaxRows = 24,    /* rows per batch, at most */
  kMaxN = 1500,     /* row length, at most */
  kTypicalN = 1000  /* the row length the kernels are planned for */
};

/* Softmax: relative error against the double reference. exp is within a few
 * ulp and the sum has n terms, so 1e-5 leaves room at these lengths.
 * Log-softmax: error relative to 1 + |reference|, which is absolute near 0,
 * where the log of a sum near 1 has an absolute error of a few ulp of 1. */
static const double kTolerance = 1e-5;

typedef enum { kSoftmax = 0, kLogSoftmax = 1 } pipeline_kind;

static const char* const kPipelineFiles[] = {"softmax.rj", "log_softmax.rj"};

static rowjit_kernel* kernels[2];

/* ---- Reference ---------------------------------------------------------- */

/* Returns the largest error of one output row against the double formula. */
static double row_error(pipeline_kind kind, const float* x, const float* y, int64_t n) {
  double max = -INFINITY;
  double sum = 0.0;
  double worst = 0.0;
  int64_t i;
  for (i = 0; i < n; ++i) max = fmax(max, (double)x[i]);
  for (i = 0; i < n; ++i) sum += exp((double)x[i] - max);
  for (i = 0; i < n; ++i) {
    double shifted = (double)x[i] - max;
    double error;
    if (kind == kSoftmax) {
      double expected = exp(shifted) / sum;
      error = fabs((double)y[i] - expected) / expected;
    } else {
      double expected = shifted - log(sum);
      error = fabs((double)y[i] - expected) / (1.0 + fabs(expected));
    }
    if (!(error <= worst)) worst = error; /* NaN counts as the worst error */
  }
  return worst;
}

/* ---- The engine's parallel-for ------------------------------------------ */

/* Tasks of one loop, claimed one at a time under a mutex. */
typedef struct {
  pthread_mutex_t mutex;
  size_t next;
  size_t tasks;
  rowjit_task_fn task;
  void* task_context;
} task_queue;

static void* drain_tasks(void* argument) {
  task_queue* queue = (task_queue*)argument;
  for (;;) {
    size_t index;
    pthread_mutex_lock(&queue->mutex);
    index = queue->next++;
    pthread_mutex_unlock(&queue->mutex);
    if (index >= queue->tasks) return NULL;
    queue->task(queue->task_context, index);
  }
}

/* Runs the tasks on two helper threads and the calling thread. A real engine
 * would hand them to its long-lived pool instead of starting threads. */
static void engine_parallel_for(void* context, size_t tasks, rowjit_task_fn task, void* task_context) {
  enum { kHelpers = 2 };
  pthread_t helpers[kHelpers];
  int started[kHelpers];
  task_queue queue;
  int h;
  (void)context;
  pthread_mutex_init(&queue.mutex, NULL);
  queue.next = 0;
  queue.tasks = tasks;
  queue.task = task;
  queue.task_context = task_context;
  for (h = 0; h < kHelpers; ++h) started[h] = pthread_create(&helpers[h], NULL, drain_tasks, &queue) == 0;
  drain_tasks(&queue);
  for (h = 0; h < kHelpers; ++h) {
    if (started[h]) pthread_join(helpers[h], NULL);
  }
  pthread_mutex_destroy(&queue.mutex);
}

/* ---- Workers ------------------------------------------------------------ */

typedef struct {
  int index;
  uint64_t random_state;
  long rows_checked;
  long failures;
} worker;

/* xorshift64: each worker has its own state, because rand() is not thread-safe. */
static uint64_t next_random(worker* w) {
  w->random_state ^= w->random_state << 13;
  w->random_state ^= w->random_state >> 7;
  w->random_state ^= w->random_state << 17;
  return w->random_state;
}

/* A float uniform in [-20, 20). */
static float random_logit(worker* w) { return (float)((double)(next_random(w) >> 11) * 0x1.0p-53 * 40.0 - 20.0); }

static void* run_worker(void* argument) {
  worker* w = (worker*)argument;
  float* x = malloc(sizeof(float) * kMaxRows * (kMaxN + 8));
  float* y = malloc(sizeof(float) * kMaxRows * (kMaxN + 8));
  int batch;
  if (x == NULL || y == NULL) {
    fprintf(stderr, "engine: worker %d: out of memory\n", w->index);
    w->failures++;
    free(x);
    free(y);
    return NULL;
  }
  for (batch = 0; batch < kBatches; ++batch) {
    pipeline_kind kind = (pipeline_kind)((batch + w->index) % 2);
    int64_t rows = 1 + (int64_t)(next_random(w) % kMaxRows);
    int64_t n = 1 + (int64_t)(next_random(w) % kMaxN);
    int64_t stride = n + (int64_t)(next_random(w) % 8); /* padding between rows */
    rowjit_tensor tensors[2];
    rowjit_run_args args;
    rowjit_status status;
    int64_t i;
    int64_t r;

    for (i = 0; i < rows * stride; ++i) x[i] = random_logit(w);
    tensors[0].name = "x";
    tensors[0].data = x;
    tensors[0].dtype = ROWJIT_F32;
    tensors[0].row_stride_bytes = stride * (int64_t)sizeof(float);
    tensors[0].row_elements = n;
    tensors[1] = tensors[0];
    tensors[1].name = "y";
    tensors[1].data = y;
    args.rows = rows;
    args.n = n;
    args.first_row = 0;
    args.tensors = tensors;
    args.tensor_count = 2;
    args.scalars = NULL;
    args.scalar_count = 0;

    if (batch % 3 == 0) {
      rowjit_parallel_for parallel;
      parallel.function = engine_parallel_for;
      parallel.context = NULL;
      parallel.max_tasks = 3;
      parallel.min_rows_per_task = 4;
      status = rowjit_kernel_run_parallel(kernels[kind], &args, &parallel);
    } else if (batch % 3 == 1) {
      status = rowjit_kernel_run_parallel(kernels[kind], &args, NULL); /* rowjit's built-in pool */
    } else {
      status = rowjit_kernel_run(kernels[kind], &args);
    }
    if (status != ROWJIT_OK) {
      fprintf(stderr, "engine: worker %d batch %d: %s run failed: %s: %s\n", w->index, batch, kPipelineFiles[kind],
              rowjit_status_name(status), rowjit_last_error());
      w->failures++;
      continue;
    }
    for (r = 0; r < rows; ++r) {
      double error = row_error(kind, x + r * stride, y + r * stride, n);
      w->rows_checked++;
      if (!(error <= kTolerance)) {
        fprintf(stderr, "engine: worker %d batch %d: %s row %lld of n = %lld has error %.3g, above %.1g\n",
                w->index, batch, kPipelineFiles[kind], (long long)r, (long long)n, error, kTolerance);
        w->failures++;
      }
    }
  }
  free(x);
  free(y);
  return NULL;
}

/* ---- Setup -------------------------------------------------------------- */

/* Returns the whole file as a string that the caller frees, or NULL. */
static char* read_text(const char* dir, const char* name) {
  char path[4096];
  FILE* file;
  char* text;
  long size;
  snprintf(path, sizeof(path), "%s/%s", dir, name);
  file = fopen(path, "rb");
  if (file == NULL) {
    fprintf(stderr, "engine: cannot open %s\n", path);
    return NULL;
  }
  fseek(file, 0, SEEK_END);
  size = ftell(file);
  fseek(file, 0, SEEK_SET);
  text = size >= 0 ? malloc((size_t)size + 1) : NULL;
  if (text != NULL && fread(text, 1, (size_t)size, file) != (size_t)size) {
    free(text);
    text = NULL;
  }
  if (text != NULL) text[size] = '\0';
  if (text == NULL) fprintf(stderr, "engine: cannot read %s\n", path);
  fclose(file);
  return text;
}

static const char* isa_name(rowjit_isa isa) {
  switch (isa) {
    case ROWJIT_ISA_AVX512: return "avx512";
    case ROWJIT_ISA_AVX2: return "avx2";
    default: return "none";
  }
}

static void log_to_engine(void* context, const char* line) {
  (void)context;
  fprintf(stderr, "engine log: %s\n", line);
}

/* Returns 1 when a run with a wrong dtype fails with ROWJIT_INVALID_ARGUMENT. */
static int check_rejects_wrong_dtype(void) {
  float x[4] = {0.0f, 1.0f, 2.0f, 3.0f};
  float y[4];
  rowjit_tensor tensors[2] = {{"x", x, ROWJIT_F16, 16, 0}, {"y", y, ROWJIT_F32, 16, 0}};
  rowjit_run_args args = {1, 4, 0, tensors, 2, NULL, 0};
  rowjit_status status = rowjit_kernel_run(kernels[kSoftmax], &args);
  if (status != ROWJIT_INVALID_ARGUMENT) {
    fprintf(stderr, "engine: a run with an f16 x returned %s, expected invalid argument\n", rowjit_status_name(status));
    return 0;
  }
  printf("rejected as expected: %s\n", rowjit_last_error());
  return 1;
}

int main(int argc, char** argv) {
  rowjit_compiler* compiler = NULL;
  rowjit_compile_options options;
  rowjit_cache_stats stats;
  pthread_t threads[kThreads];
  worker workers[kThreads];
  long rows_checked = 0;
  long failures = 0;
  int k;
  int t;

  if (argc != 2) {
    fprintf(stderr, "usage: %s EXAMPLES_DIR\n", argv[0]);
    return 2;
  }
  printf("rowjit %s\n", rowjit_version());
  rowjit_set_log_callback(log_to_engine, NULL);
  if (rowjit_compiler_create(NULL, &compiler) != ROWJIT_OK) {
    fprintf(stderr, "engine: cannot create a compiler: %s\n", rowjit_last_error());
    return 2;
  }

  /* Model load: compile every kernel once. */
  rowjit_compile_options_init(&options);
  options.n_hint = kTypicalN;
  for (k = 0; k < 2; ++k) {
    rowjit_kernel_info info;
    char* text = read_text(argv[1], kPipelineFiles[k]);
    rowjit_status status;
    if (text == NULL) return 2;
    status = rowjit_compile(compiler, text, &options, &kernels[k]);
    free(text);
    if (status != ROWJIT_OK) {
      fprintf(stderr, "engine: cannot compile %s: %s: %s\n", kPipelineFiles[k], rowjit_status_name(status),
              rowjit_last_error());
      return 2;
    }
    rowjit_kernel_query(kernels[k], &info);
    printf("kernel %s: %s, isa %s, softmax form %s, %zu code bytes\n", info.name,
           info.uses_jit ? "jit" : "interpreter", isa_name(info.isa), info.softmax_form, info.code_bytes);
  }
  if (!check_rejects_wrong_dtype()) failures++;

  /* The engine no longer needs the compiler: its kernel handles stay valid. */
  rowjit_compiler_cache_stats(compiler, &stats);
  printf("cache: %llu misses, %llu hits\n", (unsigned long long)stats.misses, (unsigned long long)stats.hits);
  rowjit_compiler_destroy(compiler);

  for (t = 0; t < kThreads; ++t) {
    workers[t].index = t;
    workers[t].random_state = 0x9E3779B97F4A7C15ull * (uint64_t)(t + 1);
    workers[t].rows_checked = 0;
    workers[t].failures = 0;
    if (pthread_create(&threads[t], NULL, run_worker, &workers[t]) != 0) {
      fprintf(stderr, "engine: cannot start worker %d\n", t);
      return 2;
    }
  }
  for (t = 0; t < kThreads; ++t) {
    pthread_join(threads[t], NULL);
    rows_checked += workers[t].rows_checked;
    failures += workers[t].failures;
  }
  for (k = 0; k < 2; ++k) rowjit_kernel_release(kernels[k]);
  rowjit_set_log_callback(NULL, NULL);

  printf("%ld rows checked on %d threads, %ld failures\n", rows_checked, kThreads, failures);
  return failures == 0 ? 0 : 1;
}
