// Reading the input files of `rowjit run` and fixing the row count and n.
#include <algorithm>
#include <filesystem>
#include <new>
#include <optional>

#include "tools/memory_budget.h"
#include "tools/npy_layout.h"
#include "tools/run_binding.h"
#include "tools/signature.h"

namespace rowjit::cli {
namespace {

// Holds one non-null byte, so that an empty array still gets a valid pointer:
// the interpreter rejects null data whenever rows > 0.
uint8_t empty_tensor_byte = 0;

// One input file as seen against its declaration.
struct InputFile {
  const ir::Value* value = nullptr;
  std::string path;
  const NpyArray* array = nullptr;
  int64_t rows = 1;         // per-row inputs only
  int64_t row_length = 0;   // file elements per row
};

// Names an input file in messages: "x: logits.npy with shape (8, 1000)".
std::string describe(const InputFile& file) {
  return file.value->name + ": " + file.path + " with shape " + file.array->shape_string();
}

CommandStatus check_dtype(const InputFile& file) {
  ir::ElemType type = file.value->type.elem;
  if (!readable_input_type(type)) {
    return run_failure("unsupported input type", declaration(*file.value),
                       npy_save_hint(type) + ", so change the pipeline to read another type");
  }
  if (file.array->dtype != *npy_dtype_for(type)) {
    return run_failure("wrong dtype for input " + file.value->name,
                       file.path + " holds " + std::string(npy_descr(file.array->dtype)) + " (" +
                           std::string(npy_dtype_name(file.array->dtype)) + ")",
                       file.value->name + " is declared " + file.value->type.to_string() + ", so " +
                           npy_save_hint(type));
  }
  return command_ok();
}

// Reads rows and the row length from the file's shape, by the kind of entry.
CommandStatus read_geometry(InputFile& file) {
  const std::vector<int64_t>& shape = file.array->shape;
  const ir::Value& value = *file.value;

  if (value.kind == ir::ValueKind::kParam) {
    if (shape.size() != 1) {
      return run_failure("wrong shape for parameter " + value.name, describe(file),
                         value.name + " is one row shared by all rows, so give a 1-D array, for "
                         "example arr.reshape(-1)");
    }
    file.row_length = shape[0];
    return command_ok();
  }

  if (value.type.shape.is_scalar() && !stored_as_row_bytes(value.type.elem)) {
    if (shape.size() == 2 && shape[1] != 1) {
      return run_failure("wrong shape for input " + value.name, describe(file),
                         value.name + " is a per-row scalar, so give a 1-D array of length rows "
                         "or a 2-D array of shape (rows, 1)");
    }
    file.rows = shape[0];
    file.row_length = 1;
    return command_ok();
  }

  // A 1-D array is a single row.
  file.rows = shape.size() == 2 ? shape[0] : 1;
  file.row_length = shape.back();
  return command_ok();
}

// Row length n implied by an [n] entry, or nullopt when the file cannot give one.
std::optional<int64_t> implied_n(const InputFile& file) {
  if (file.value->type.shape.kind != ir::Shape::Kind::kRow) return std::nullopt;
  if (file.value->type.elem == ir::ElemType::kBF16) {
    if (file.row_length % 2 != 0) return std::nullopt;
    return file.row_length / 2;
  }
  return file.row_length;
}

CommandResult<int64_t> resolve_rows(const ir::Pipeline& pipeline, const RunRequest& request,
                                    const std::vector<InputFile>& files) {
  const InputFile* reference = nullptr;
  for (const InputFile& file : files) {
    if (file.value->kind != ir::ValueKind::kInput) continue;
    if (request.rows_from ? file.value->name == *request.rows_from : reference == nullptr) {
      reference = &file;
    }
  }

  if (reference == nullptr) {
    if (!request.rows) {
      return usage_error("unknown row count",
                         "pipeline " + pipeline.name + " has no per-row inputs",
                         "give --rows N");
    }
    return *request.rows;
  }
  if (request.rows && *request.rows != reference->rows) {
    return run_failure("row count mismatch",
                       "--rows " + std::to_string(*request.rows) + ", but " + describe(*reference) +
                           " has " + std::to_string(reference->rows) + " rows",
                       "leave out --rows or make it agree with the files");
  }
  for (const InputFile& file : files) {
    if (file.value->kind != ir::ValueKind::kInput || file.rows == reference->rows) continue;
    return run_failure("row count mismatch",
                       describe(*reference) + " has " + std::to_string(reference->rows) +
                           " rows, but " + describe(file) + " has " + std::to_string(file.rows),
                       "give every input the same number of rows");
  }
  return reference->rows;
}

CommandResult<int64_t> resolve_n(const ir::Pipeline& pipeline, const RunRequest& request,
                                 const std::vector<InputFile>& files) {
  const InputFile* reference = nullptr;
  int64_t n = 0;
  for (const InputFile& file : files) {
    std::optional<int64_t> file_n = implied_n(file);
    if (!file_n && file.value->type.shape.kind == ir::Shape::Kind::kRow) {
      return run_failure("wrong row length for input " + file.value->name, describe(file),
                         "a bf16 row takes 2 bytes per element, so give an even number of bytes");
    }
    if (!file_n) continue;
    if (reference == nullptr) {
      reference = &file;
      n = *file_n;
    } else if (*file_n != n) {
      return run_failure("row length mismatch",
                         describe(*reference) + " has n = " + std::to_string(n) + ", but " +
                             describe(file) + " has n = " + std::to_string(*file_n),
                         "give every [n] input the same row length");
    }
  }

  if (reference == nullptr) {
    if (request.n) return *request.n;
    if (uses_row_length(pipeline)) {
      return usage_error("unknown row length n",
                         "no input of pipeline " + pipeline.name + " has an [n] shape",
                         "give --n N");
    }
    return int64_t{0};
  }
  if (request.n && *request.n != n) {
    return run_failure("row length mismatch",
                       "--n " + std::to_string(*request.n) + ", but " + describe(*reference) +
                           " has n = " + std::to_string(n),
                       "leave out --n or make it agree with the files");
  }
  return n;
}

// Checks the row length against the declared shape, now that n and the
// parameters are known, and returns the number of elements per row.
CommandResult<int64_t> check_row_length(const ir::Pipeline& pipeline, const ir::RunArgs& args,
                                        const InputFile& file) {
  Result<int64_t> elements = ir::shape_length(pipeline, file.value->type.shape, args);
  if (!elements) return run_failure(elements.status());
  int64_t expected = file_row_length(file.value->type.elem, *elements);
  if (file.row_length == expected) return *elements;

  std::string unit = stored_as_row_bytes(file.value->type.elem) ? " bytes" : " elements";
  std::string where = file.value->kind == ir::ValueKind::kParam ? "" : " per row";
  return run_failure("wrong shape for input " + file.value->name, describe(file),
                     file.value->name + " is declared " + file.value->type.to_string() +
                         " with n = " + std::to_string(args.n) + ", so it needs " +
                         std::to_string(expected) + unit + where);
}

}  // namespace

CommandStatus bind_inputs(const ir::Pipeline& pipeline, const RunRequest& request, BoundRun& run) {
  // Read every file in signature order, so errors come in a stable order.
  std::vector<InputFile> files;
  for (ir::ValueId id : pipeline.inputs) {
    const ir::Value& value = pipeline.value(id);
    if (!is_tensor_entry(value)) continue;
    auto given = std::find_if(request.inputs.begin(), request.inputs.end(),
                              [&](const NameValue& input) { return input.name == value.name; });
    std::optional<Result<NpyArray>> array;
    try {
      array = read_npy(given->value);
    } catch (const std::bad_alloc&) {
      std::error_code error;
      auto file_bytes = std::filesystem::file_size(given->value, error);
      std::string size =
          error ? "" : " of " + describe_bytes(static_cast<int64_t>(file_bytes));
      return run_failure("out of memory",
                         "reading input " + value.name + " from " + given->value + size + " failed",
                         "give a smaller input file, with fewer or shorter rows");
    }
    if (!*array) return run_failure(array->status());
    run.inputs[value.name] = std::move(*array).value();

    InputFile file;
    file.value = &value;
    file.path = given->value;
    file.array = &run.inputs[value.name];
    ROWJIT_CLI_TRY(check_dtype(file));
    ROWJIT_CLI_TRY(read_geometry(file));
    files.push_back(file);
  }

  CommandResult<int64_t> rows = resolve_rows(pipeline, request, files);
  if (!rows) return rows.error();
  CommandResult<int64_t> n = resolve_n(pipeline, request, files);
  if (!n) return n.error();
  run.args.rows = *rows;
  run.args.n = *n;

  for (const InputFile& file : files) {
    CommandResult<int64_t> elements = check_row_length(pipeline, run.args, file);
    if (!elements) return elements.error();
    NpyArray& array = run.inputs[file.value->name];
    ir::TensorRef ref;
    ref.data = array.data.empty() ? &empty_tensor_byte : array.data.data();
    ref.type = file.value->type.elem;
    ref.row_stride_bytes = ir::storage_bytes(ref.type, *elements);
    run.args.tensors[file.value->name] = ref;
  }
  return command_ok();
}

}  // namespace rowjit::cli
