// Every kernel entry point of a backend, once: TG_KERNEL(return type, name, (parameters)).
// Included (with TG_KERNEL defined) by kernel_api.h for the KernelTable's members, by each
// backend's ops header for its declarations, and by each backend's table for its entries; a new
// kernel is one line here and its implementations. No include guard, on purpose.
TG_KERNEL(void, fill, (const View& out, double value))
// Elementwise copy with dtype conversion; out and in have the same sizes.
TG_KERNEL(void, copy, (const View& out, const View& in))
TG_KERNEL(void, unary, (UnaryOp op, const View& out, const View& in, double p0, double p1))
TG_KERNEL(void, binary, (BinaryOp op, const View& out, const View& a, const View& b))
TG_KERNEL(void, activation_grad, (ActivationGrad op, const View& grad_in, const View& grad_out,
          const View& x, const View& y, double p0, double p1))
// out = cond ? a : b; cond is Bool, a/b/out share a dtype.
TG_KERNEL(void, where, (const View& out, const View& cond, const View& a, const View& b))
// Reduces the last `reduce_ndim` dims of `in`; `out` has in.ndim - reduce_ndim dims matching
// in's leading sizes. Sum/Prod/Max/Min write in's dtype, ArgMax/ArgMin write Int64 (index into
// the flattened reduced dims), Any/All write Bool. Max/Min/Arg* propagate NaN.
TG_KERNEL(void, reduce, (ReduceOp op, const View& out, const View& in, int reduce_ndim))
TG_KERNEL(void, gemm, (const GemmArgs& args))
// Softmax or log-softmax over the last dim of `in` (any strides), written to `out`.
TG_KERNEL(void, softmax, (bool log, const View& out, const View& in))
// grad_in = softmax: y * (g - sum(g * y)); log: g - exp(y) * sum(g). Over the last dim.
TG_KERNEL(void, softmax_backward, (bool log, const View& grad_in, const View& grad_out,
          const View& out))
// Softmax over the last dim of `in` restricted to the entries where `mask` (Bool, in's sizes,
// stride 0 on broadcast dims) is true; the others get 0. Equal to softmax(in with the masked
// entries set to -inf): a row with no true entry is NaN. Its backward is softmax_backward.
// Optional: core falls back to where + softmax when a backend leaves it null.
TG_KERNEL(void, masked_softmax, (const View& out, const View& in, const View& mask))
// out = in.index_select(dim, index); index is 1-D Int64; out's sizes are in's with dim -> len.
TG_KERNEL(IndexCheck, index_select, (const View& out, const View& in, const View& index, int dim))
// out[.., index[i], ..] += src[.., i, ..] along dim (the backward of index_select).
TG_KERNEL(IndexCheck, index_add, (const View& out, const View& index, const View& src, int dim))
// out[i][j] = in[i][index[i][j]] (dim 1 shown); index and out share sizes.
TG_KERNEL(IndexCheck, gather, (const View& out, const View& in, const View& index, int dim))
// out[i][index[i][j]] += src[i][j] (dim 1 shown); index and src share sizes.
TG_KERNEL(IndexCheck, scatter_add, (const View& out, const View& index, const View& src, int dim))
// Counter-based (Philox4x32-10) random numbers: element i of the flattened out depends only
// on (seed, offset, i), so every device produces the same stream.
TG_KERNEL(void, random, (RandomKind kind, const View& out, uint64_t seed, uint64_t offset, double a,
          double b))

// ---- convolution and pooling (Im2colArgs, Pool2dArgs in kernel_api.h)
// columns = the windows of the images (padding reads as 0).
TG_KERNEL(void, im2col, (const Im2colArgs& args))
// images += the columns summed back into their windows (the adjoint of im2col; padding
// positions are dropped). Accumulates: the caller zeroes the images first if needed.
TG_KERNEL(void, col2im, (const Im2colArgs& args))
// out = the max of each window, indices (int64) = its position y * in_w + x in the input plane
// (the first maximum; NaN counts as the maximum).
TG_KERNEL(void, max_pool2d, (const Pool2dArgs& args, const void* in, void* out, int64_t* indices))
// grad_in (overwritten) = zeros plus grad_out scattered (summed) to the saved indices.
TG_KERNEL(void, max_pool2d_backward, (const Pool2dArgs& args, const void* grad_out,
          const int64_t* indices, void* grad_in))
TG_KERNEL(void, avg_pool2d, (const Pool2dArgs& args, const void* in, void* out))
// grad_in (overwritten) = each window's grad_out / divisor summed back over the window.
TG_KERNEL(void, avg_pool2d_backward, (const Pool2dArgs& args, const void* grad_out, void* grad_in))
TG_KERNEL(void, adaptive_avg_pool2d, (const Pool2dArgs& args, const void* in, void* out))
TG_KERNEL(void, adaptive_avg_pool2d_backward, (const Pool2dArgs& args, const void* grad_out,
          void* grad_in))

// ---- recurrent cells (RnnCellArgs in kernel_api.h); nullptr: core composes the step from other ops.
// LSTM: c_out = f * c + i * g, h_out = o * tanh(c_out).
TG_KERNEL(void, lstm_cell, (const RnnCellArgs& args, void* h_out, void* c_out))
// grad_h / grad_c: gradients w.r.t. h_out / c_out. Writes grad_gates (the gradient w.r.t. both
// gate addends) and grad_state (w.r.t. c).
TG_KERNEL(void, lstm_cell_backward, (const RnnCellArgs& args, const void* grad_h,
          const void* grad_c, void* grad_gates, void* grad_state))
// GRU: n = tanh(in + r * hn), h_out = (1 - z) * n + z * h.
TG_KERNEL(void, gru_cell, (const RnnCellArgs& args, void* h_out))
// Writes the gradients w.r.t. input_gates, hidden_gates and h.
TG_KERNEL(void, gru_cell_backward, (const RnnCellArgs& args, const void* grad_h,
          void* grad_input_gates, void* grad_hidden_gates, void* grad_state))

// ---- layer normalization (LayerNormArgs in kernel_api.h); nullptr: core composes it from ops.
TG_KERNEL(void, layer_norm_rows, (const LayerNormArgs& args, const void* x, void* y, void* mean,
          void* rstd))
TG_KERNEL(void, layer_norm_rows_backward, (const LayerNormArgs& args, const void* x,
          const void* mean, const void* rstd, const void* grad_y, void* grad_x))

// ---- batch normalization (BatchNormArgs in kernel_api.h); nullptr: core composes it.
TG_KERNEL(void, batch_norm, (const BatchNormArgs& args, const void* x, void* mean, void* var, void* y))
TG_KERNEL(void, batch_norm_backward, (const BatchNormArgs& args, const void* x, const void* mean,
          const void* var, const void* grad_y, void* grad_x, void* grad_weight, void* grad_bias))

// ---- softmax cross-entropy (CrossEntropyArgs in kernel_api.h); nullptr: core composes it.
TG_KERNEL(IndexCheck, cross_entropy_rows, (const CrossEntropyArgs& args, const void* logits,
          const int64_t* target, void* loss, void* row_max, void* log_sum, void* row_weight))
TG_KERNEL(void, cross_entropy_rows_backward, (const CrossEntropyArgs& args, const void* logits,
          const int64_t* target, const void* row_max, const void* log_sum, const void* grad_loss,
          void* grad_logits))

// ---- optimizer steps (AdamStepArgs, SgdStepArgs in kernel_api.h); nullptr: core composes
// them from ops.
TG_KERNEL(void, adam_step, (const AdamStepArgs& args))
TG_KERNEL(void, sgd_step, (const SgdStepArgs& args))
