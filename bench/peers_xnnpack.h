// XNNPACK softmax as a peer (Debian's libxnnpack, git snapshot of
// 2022-02-16): xnn_create_softmax_nc_f32 for `n` channels, set up once for
// `rows` rows of the caller's buffers, then xnn_run_operator per run. With
// one thread no thread pool is passed, so it runs on the calling thread. With
// more it gets a pthreadpool of that many threads. This XNNPACK has no
// log-softmax operator.
#pragma once

#if defined(ROWJIT_HAVE_XNNPACK)

#include <pthreadpool.h>
#include <xnnpack.h>

#include <cstdint>
#include <memory>
#include <string>

namespace rowjit::bench {

class XnnpackSoftmax {
 public:
  // Returns null with `error` set when XNNPACK cannot initialize or rejects
  // the shape.
  static std::unique_ptr<XnnpackSoftmax> create(int64_t rows, int64_t n, const float* x, float* y,
                                                std::string& error, int threads = 1) {
    static const xnn_status init_status = xnn_initialize(nullptr);
    if (init_status != xnn_status_success) {
      error = "xnn_initialize failed with status " + std::to_string(static_cast<int>(init_status));
      return nullptr;
    }
    auto op = std::unique_ptr<XnnpackSoftmax>(new XnnpackSoftmax());
    if (threads > 1) {
      op->threadpool_ = pthreadpool_create(static_cast<size_t>(threads));
      if (op->threadpool_ == nullptr) {
        error = "pthreadpool_create failed for " + std::to_string(threads) + " threads";
        return nullptr;
      }
    }
    size_t channels = static_cast<size_t>(n);
    xnn_status status = xnn_create_softmax_nc_f32(channels, channels, channels, 0, &op->operator_);
    if (status != xnn_status_success) {
      error = "xnn_create_softmax_nc_f32 failed for " + std::to_string(n) + " channels with status " +
              std::to_string(static_cast<int>(status));
      return nullptr;
    }
    status = xnn_setup_softmax_nc_f32(op->operator_, static_cast<size_t>(rows), x, y, op->threadpool_);
    if (status != xnn_status_success) {
      error = "xnn_setup_softmax_nc_f32 failed for " + std::to_string(rows) + " rows with status " +
              std::to_string(static_cast<int>(status));
      return nullptr;
    }
    return op;
  }

  ~XnnpackSoftmax() {
    if (operator_ != nullptr) xnn_delete_operator(operator_);
    if (threadpool_ != nullptr) pthreadpool_destroy(threadpool_);
  }
  XnnpackSoftmax(const XnnpackSoftmax&) = delete;
  XnnpackSoftmax& operator=(const XnnpackSoftmax&) = delete;

  bool run() { return xnn_run_operator(operator_, threadpool_) == xnn_status_success; }

 private:
  XnnpackSoftmax() = default;

  xnn_operator_t operator_ = nullptr;
  pthreadpool_t threadpool_ = nullptr;
};

}  // namespace rowjit::bench

#endif  // ROWJIT_HAVE_XNNPACK
