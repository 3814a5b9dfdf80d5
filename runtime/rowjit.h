/* The C interface of rowjit, for engines written in C or loading rowjit
 * through a foreign function interface. The header is C99. Every call returns
 * a status and never lets a C++ exception out.
 *
 * Handles and lifetimes:
 *   - A rowjit_compiler owns a kernel cache. Create one per engine and share
 *     it between threads: every call on it is thread-safe.
 *   - A rowjit_kernel is a reference to a compiled kernel. Kernels are
 *     reference counted, so a kernel handle stays valid after its compiler is
 *     destroyed or has evicted it, until rowjit_kernel_release(). Any number
 *     of threads may run one kernel handle at once.
 *   - Passing a handle after releasing or destroying it is undefined
 *     behaviour, as for free(); null handles are reported as errors.
 *
 * Errors: a call that fails returns a status other than ROWJIT_OK and stores
 * a message for rowjit_last_error() on the calling thread. docs/embedding.md
 * has a complete example. */
#ifndef ROWJIT_RUNTIME_ROWJIT_H_
#define ROWJIT_RUNTIME_ROWJIT_H_

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Status codes: the values of rowjit::StatusCode (ir/status.h). */
typedef enum rowjit_status {
  ROWJIT_OK = 0,
  ROWJIT_PARSE_ERROR = 1,         /* the pipeline text is malformed */
  ROWJIT_INVALID_PIPELINE = 2,    /* the verifier rejected the pipeline */
  ROWJIT_INVALID_ARGUMENT = 3,    /* a handle, tensor, parameter or option does not match */
  ROWJIT_OUT_OF_RANGE = 4,        /* a run-time value is outside its domain */
  ROWJIT_UNSUPPORTED = 5,         /* valid request that this build or CPU cannot do */
  ROWJIT_IO_ERROR = 6,            /* a file could not be read or written */
  ROWJIT_EXEC_MEMORY_DENIED = 7,  /* the system refused executable memory */
  ROWJIT_INTERNAL = 8             /* a bug in rowjit, or out of memory */
} rowjit_status;

/* Element types: the values of rowjit::ir::ElemType (ir/types.h). */
typedef enum rowjit_dtype {
  ROWJIT_F32 = 0,
  ROWJIT_F16 = 1,
  ROWJIT_BF16 = 2,
  ROWJIT_S32 = 3,
  ROWJIT_S8 = 4,
  ROWJIT_U8 = 5,
  ROWJIT_E4M3 = 6,
  ROWJIT_E5M2 = 7,
  ROWJIT_E2M1 = 8,
  ROWJIT_E8M0 = 9,
  ROWJIT_Q8_0 = 11,
  ROWJIT_Q4_0 = 12,
  ROWJIT_MXFP4 = 13
} rowjit_dtype;

/* Vector ISAs, ordered: a larger value is a superset. */
typedef enum rowjit_isa {
  ROWJIT_ISA_HOST = -1, /* in options: the best the host supports after ROWJIT_MAX_ISA */
  ROWJIT_ISA_NONE = 0,  /* the reference interpreter */
  ROWJIT_ISA_AVX2 = 1,
  ROWJIT_ISA_AVX512 = 2
} rowjit_isa;

typedef struct rowjit_compiler rowjit_compiler;
typedef struct rowjit_kernel rowjit_kernel;

/* Returns the library version, "MAJOR.MINOR.PATCH". */
const char* rowjit_version(void);

/* Returns the message of the most recent failed call on this thread, or ""
 * when none failed. Valid until the next failed call on this thread. */
const char* rowjit_last_error(void);

/* Returns the name of a status code, such as "invalid argument", or
 * "unknown status" for a value that is not a rowjit_status. */
const char* rowjit_status_name(int status);

/* Receives each log line (compile summaries with ROWJIT_VERBOSE=1, warnings),
 * without a trailing newline. */
typedef void (*rowjit_log_fn)(void* context, const char* line);

/* Routes log lines to `fn`, or back to stderr when `fn` is NULL. The
 * callback runs under a lock, on the thread that logs, and must not call
 * rowjit_set_log_callback(). */
void rowjit_set_log_callback(rowjit_log_fn fn, void* context);

/* ---- Compiler ---------------------------------------------------------- */

typedef struct rowjit_compiler_options {
  /* Kernels the cache keeps. Past it, the least recently used are evicted.
   * -1: ROWJIT_CACHE_CAPACITY, or 1024 when it is unset. */
  int64_t cache_capacity;
} rowjit_compiler_options;

/* Sets the defaults: cache_capacity = -1. */
void rowjit_compiler_options_init(rowjit_compiler_options* options);

/* Creates a compiler. `options` may be NULL for the defaults. The knobs
 * ROWJIT_VERBOSE, ROWJIT_DUMP and ROWJIT_PERF_MAP apply to it. */
rowjit_status rowjit_compiler_create(const rowjit_compiler_options* options, rowjit_compiler** compiler);

/* Destroys a compiler and drops its cache. Kernel handles obtained from it
 * stay valid. NULL is ignored. */
void rowjit_compiler_destroy(rowjit_compiler* compiler);

typedef struct rowjit_cache_stats {
  uint64_t hits;             /* lookups served without compiling */
  uint64_t misses;           /* lookups that compiled */
  uint64_t evictions;        /* kernels dropped past the capacity */
  uint64_t failed_compiles;  /* compiles that failed, which are never cached */
  uint64_t size;             /* kernels cached now, compiles in progress included */
  uint64_t capacity;
} rowjit_cache_stats;

rowjit_status rowjit_compiler_cache_stats(const rowjit_compiler* compiler, rowjit_cache_stats* stats);

/* Sets the cache capacity, evicting the least recently used kernels past it. */
rowjit_status rowjit_compiler_set_cache_capacity(rowjit_compiler* compiler, uint64_t capacity);

typedef struct rowjit_compile_options {
  /* A rowjit_isa value: the ISA to compile for. ROWJIT_ISA_HOST (the
   * default) takes the host's best after ROWJIT_MAX_ISA. An ISA the host
   * cannot run is an error. Input enums are int32_t fields, so that any value
   * a caller passes can be checked without undefined behaviour in C++. */
  int32_t isa;
  /* Typical row length, which picks the softmax form (0: unknown). Kernels
   * run on any row length. */
  int64_t n_hint;
  /* Forced softmax form: "three_pass_recompute", "three_pass_reload",
   * "two_pass_online" or "two_pass_extexp". NULL lets the planner choose. */
  const char* softmax_form;
  /* Forced unroll, 1 to 8 vectors per iteration. 0 lets the planner choose. */
  int32_t unroll;
} rowjit_compile_options;

/* Sets the defaults: host ISA, n_hint 0, no forced choice. */
void rowjit_compile_options_init(rowjit_compile_options* options);

/* Compiles pipeline text (docs/ir.md) through the compiler's cache, or
 * returns the cached kernel. `options` may be NULL for the defaults. On
 * success *kernel is a new reference that the caller releases. */
rowjit_status rowjit_compile(rowjit_compiler* compiler, const char* pipeline_text,
                             const rowjit_compile_options* options, rowjit_kernel** kernel);

/* Adds a reference to `kernel`, to be released once with rowjit_kernel_release(). */
rowjit_status rowjit_kernel_retain(rowjit_kernel* kernel);

/* Releases one reference. The kernel's memory is returned when the last
 * reference, the cache's included, is gone. NULL is ignored. */
void rowjit_kernel_release(rowjit_kernel* kernel);

typedef struct rowjit_kernel_info {
  int uses_jit;              /* 1 for machine code, 0 for the reference interpreter */
  rowjit_isa isa;            /* ROWJIT_ISA_NONE for the interpreter */
  const char* name;          /* the pipeline's name, valid while the kernel lives */
  const char* softmax_form;  /* "none" or the planner's form, in static storage */
  size_t code_bytes;         /* machine code and constant pool, 0 for the interpreter */
  size_t tensor_count;       /* inputs, vector parameters and outputs */
  size_t scalar_count;       /* scalar parameters */
} rowjit_kernel_info;

rowjit_status rowjit_kernel_query(const rowjit_kernel* kernel, rowjit_kernel_info* info);

/* ---- Running ----------------------------------------------------------- */

/* A view of caller-owned rows of one tensor. Row r starts at
 * data + r * row_stride_bytes. */
typedef struct rowjit_tensor {
  const char* name;          /* the input, vector parameter or output it binds */
  void* data;                /* may be NULL only when rows is 0 */
  int32_t dtype;             /* a rowjit_dtype value, equal to the declared element type */
  int64_t row_stride_bytes;  /* at least one row; ignored for a vector parameter */
  /* Elements per row the buffer holds, checked against the declared shape
   * ([n], [n/B], [k] or 1 for a per-row scalar) when greater than 0. */
  int64_t row_elements;
} rowjit_tensor;

typedef struct rowjit_scalar {
  const char* name;
  double value;
} rowjit_scalar;

typedef struct rowjit_run_args {
  int64_t rows;       /* rows to process; 0 does nothing */
  int64_t n;          /* row length: the extent of [n] */
  int64_t first_row;  /* global index of row 0, for uniform(); usually 0 */
  const rowjit_tensor* tensors;
  size_t tensor_count;
  const rowjit_scalar* scalars;  /* may be NULL when scalar_count is 0 */
  size_t scalar_count;
} rowjit_run_args;

/* Runs the kernel on the calling thread. The arguments are checked against
 * the pipeline's signature first (names, element types, strides, parameter
 * bounds); nothing is written when they are invalid. An output may run in
 * place on an input, with the same data pointer and row stride, for the
 * pipelines that docs/embedding.md ("In place") lists. Any other overlap of an output with another tensor
 * is ROWJIT_INVALID_ARGUMENT. */
rowjit_status rowjit_kernel_run(const rowjit_kernel* kernel, const rowjit_run_args* args);

/* One task of a parallel loop. */
typedef void (*rowjit_task_fn)(void* task_context, size_t index);

/* The engine's parallel-for: calls task(task_context, i) once for every i in
 * [0, tasks), on any of its threads, and returns when all calls returned. */
typedef void (*rowjit_parallel_for_fn)(void* context, size_t tasks, rowjit_task_fn task, void* task_context);

typedef struct rowjit_parallel_for {
  rowjit_parallel_for_fn function;
  void* context;
  size_t max_tasks;           /* tasks per call, at most; usually the engine's thread count */
  int64_t min_rows_per_task;  /* rows below this are not split further; at least 1 */
} rowjit_parallel_for;

/* Runs the rows split into tasks on `parallel`, or on rowjit's built-in pool
 * when `parallel` is NULL. Writes exactly what rowjit_kernel_run() writes. */
rowjit_status rowjit_kernel_run_parallel(const rowjit_kernel* kernel, const rowjit_run_args* args,
                                         const rowjit_parallel_for* parallel);

#ifdef __cplusplus
}
#endif

#endif /* ROWJIT_RUNTIME_ROWJIT_H_ */
