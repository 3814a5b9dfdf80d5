// oneDNN softmax as a peer: dnnl::softmax_v2_forward on a (rows, n) f32
// tensor, softmax over axis 1, with algorithm::softmax_accurate for softmax
// and algorithm::softmax_log for log-softmax. The primitive is created once,
// and each run only executes it on the caller's buffers.
//
// oneDNN picks its kernel for the host's best ISA unless the environment sets
// ONEDNN_MAX_CPU_ISA (for example AVX2) before the first primitive is made.
// Its threading runtime in the Debian build is OpenMP: main() caps it to one
// thread.
#pragma once

#if defined(ROWJIT_HAVE_ONEDNN)

#include <cstdint>
#include <memory>
#include <string>

#include "oneapi/dnnl/dnnl.hpp"

namespace rowjit::bench {

class OnednnSoftmax {
 public:
  // Creates the primitive for `rows` x `n` and binds it to x and y. Returns
  // null with `error` set when oneDNN rejects the shape.
  static std::unique_ptr<OnednnSoftmax> create(bool log_form, int64_t rows, int64_t n, const float* x, float* y,
                                               std::string& error) {
    try {
      auto op = std::unique_ptr<OnednnSoftmax>(new OnednnSoftmax());
      dnnl::memory::desc desc({rows, n}, dnnl::memory::data_type::f32, dnnl::memory::format_tag::ab);
      auto algorithm = log_form ? dnnl::algorithm::softmax_log : dnnl::algorithm::softmax_accurate;
      dnnl::softmax_v2_forward::desc op_desc(dnnl::prop_kind::forward_inference, algorithm, desc, desc, 1);
      dnnl::softmax_v2_forward::primitive_desc pd(op_desc, op->engine_);
      op->implementation_ = pd.impl_info_str();
      op->primitive_ = dnnl::softmax_v2_forward(pd);
      // oneDNN does not write through src; the memory object wants a void*.
      op->src_ = dnnl::memory(desc, op->engine_, const_cast<float*>(x));
      op->dst_ = dnnl::memory(desc, op->engine_, y);
      return op;
    } catch (const dnnl::error& e) {
      error = std::string("oneDNN rejected the softmax primitive: ") + e.what();
      return nullptr;
    }
  }

  void run() {
    primitive_.execute(stream_, {{DNNL_ARG_SRC, src_}, {DNNL_ARG_DST, dst_}});
    stream_.wait();
  }

  // The name of the kernel oneDNN chose, such as "jit:avx512_core".
  const std::string& implementation() const { return implementation_; }

 private:
  OnednnSoftmax() : engine_(dnnl::engine::kind::cpu, 0), stream_(engine_) {}

  dnnl::engine engine_;
  dnnl::stream stream_;
  dnnl::softmax_v2_forward primitive_;
  dnnl::memory src_;
  dnnl::memory dst_;
  std::string implementation_;
};

}  // namespace rowjit::bench

#endif  // ROWJIT_HAVE_ONEDNN
