// Internal declarations of the CPU kernel entry points collected into the KernelTable.
#pragma once
#include "kernels/kernel_api.h"

namespace tg::kernels::cpu {

void fill(const View& out, double value);
void copy(const View& out, const View& in);
void unary(UnaryOp op, const View& out, const View& in, double p0, double p1);
void binary(BinaryOp op, const View& out, const View& a, const View& b);
void activation_grad(ActivationGrad op, const View& grad_in, const View& grad_out, const View& x,
                     const View& y, double p0, double p1);
void where(const View& out, const View& cond, const View& a, const View& b);
void reduce(ReduceOp op, const View& out, const View& in, int reduce_ndim);
void gemm(const GemmArgs& args);
void softmax(bool log, const View& out, const View& in);
void softmax_backward(bool log, const View& grad_in, const View& grad_out, const View& out);
void masked_softmax(const View& out, const View& in, const View& mask);
IndexCheck index_select(const View& out, const View& in, const View& index, int dim);
IndexCheck index_add(const View& out, const View& index, const View& src, int dim);
IndexCheck gather(const View& out, const View& in, const View& index, int dim);
IndexCheck scatter_add(const View& out, const View& index, const View& src, int dim);
void random(RandomKind kind, const View& out, uint64_t seed, uint64_t offset, double a, double b);

// ---- convolution and pooling (conv.cpp, pool.cpp)
void im2col(const Im2colArgs& args);
void col2im(const Im2colArgs& args);
void max_pool2d(const Pool2dArgs& args, const void* in, void* out, int64_t* indices);
void max_pool2d_backward(const Pool2dArgs& args, const void* grad_out, const int64_t* indices,
                         void* grad_in);
void avg_pool2d(const Pool2dArgs& args, const void* in, void* out);
void avg_pool2d_backward(const Pool2dArgs& args, const void* grad_out, void* grad_in);
void adaptive_avg_pool2d(const Pool2dArgs& args, const void* in, void* out);
void adaptive_avg_pool2d_backward(const Pool2dArgs& args, const void* grad_out, void* grad_in);

// ---- recurrent cells (rnn.cpp)
void lstm_cell(const RnnCellArgs& args, void* h_out, void* c_out);
void lstm_cell_backward(const RnnCellArgs& args, const void* grad_h, const void* grad_c,
                        void* grad_gates, void* grad_state);
void gru_cell(const RnnCellArgs& args, void* h_out);
void gru_cell_backward(const RnnCellArgs& args, const void* grad_h, void* grad_input_gates,
                       void* grad_hidden_gates, void* grad_state);

// ---- optimizer steps (optim.cpp)
void adam_step(const AdamStepArgs& args);
void sgd_step(const SgdStepArgs& args);

}  // namespace tg::kernels::cpu
