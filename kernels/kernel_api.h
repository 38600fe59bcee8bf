// The contract between core/ and the per-device kernels: raw pointers, sizes and strides only.
// Kernels know nothing of Tensor handles or the tape. Every view's strides are in elements.
#pragma once
#include <cstddef>
#include <cstdint>

namespace tg {

enum class DType : uint8_t { Float32, Float64, Int64, Bool };
enum class DeviceType : uint8_t { CPU, CUDA };
constexpr int kNumDeviceTypes = 2;

namespace kernels {

constexpr int kMaxDims = 16;

// A strided window over memory. Operands of one elementwise call always share `sizes`
// (broadcast operands carry stride 0 on the broadcast dims).
struct View {
  void* data = nullptr;
  DType dtype = DType::Float32;
  int ndim = 0;
  int64_t sizes[kMaxDims] = {};
  int64_t strides[kMaxDims] = {};
};

enum class UnaryOp : uint8_t {
  // p0/p1 are the op's scalar parameters where it has them.
  Neg, Exp, Log, Sqrt, Abs, Tanh, Sigmoid, Relu,
  LeakyRelu,   // p0 = negative slope
  Gelu,        // exact (erf) form
  GeluTanh,    // tanh approximation
  Softplus,    // p0 = beta, p1 = threshold
  Clamp,       // p0 = min, p1 = max (NaN bound = no bound)
  AddScalar,   // x + p0
  MulScalar,   // x * p0
  RSubScalar,  // p0 - x
  RDivScalar,  // p0 / x
  PowScalar,   // x ^ p0
  RPowScalar,  // p0 ^ x
  Sign, Square, Reciprocal, Sin, Cos, Log1p, Expm1, Rsqrt, Erf,
  Floor, Ceil, Round, Trunc,  // Round: half to even, as PyTorch
  LogicalNot,  // bool -> bool
};

enum class BinaryOp : uint8_t {
  Add, Sub, Mul, Div, Pow, Maximum, Minimum,
  Remainder,  // Python's %: the sign of the divisor
  Fmod,       // C's fmod: the sign of the dividend
  Eq, Ne, Lt, Le, Gt, Ge,   // output dtype Bool, inputs same dtype
  LogicalAnd, LogicalOr,    // bool inputs
};

// Fused gradients of pointwise functions: grad_in = grad_out * f'(x), with f'(x) written from x
// and/or the saved output y (whichever the op needs; the other view may be empty).
enum class ActivationGrad : uint8_t {
  Tanh,       // uses y: 1 - y^2
  Sigmoid,    // uses y: y (1 - y)
  Relu,       // uses y: y > 0
  LeakyRelu,  // uses x, p0 = slope
  Gelu,       // uses x
  GeluTanh,   // uses x
  Softplus,   // uses x, p0 = beta, p1 = threshold
  Clamp,      // uses x, p0 = min, p1 = max: passes where min <= x <= max
};

enum class ReduceOp : uint8_t { Sum, Prod, Max, Min, ArgMax, ArgMin, Any, All };

// The dtype a reduction writes for input dtype `in`: indices for Arg*, Bool for Any/All, else in's.
constexpr DType reduce_out_dtype(ReduceOp op, DType in) {
  switch (op) {
    case ReduceOp::ArgMax:
    case ReduceOp::ArgMin: return DType::Int64;
    case ReduceOp::Any:
    case ReduceOp::All: return DType::Bool;
    default: return in;
  }
}

enum class RandomKind : uint8_t {
  Uniform,  // [a, b)
  Normal,   // mean a, std b
  IntRange, // integers in [a, b)
  Bernoulli // 1 with probability a
};

// Row-major batched GEMM: C[i] = alpha * op(A[i]) @ op(B[i]) + beta * C[i], i < items().
// op(A) is M x K, op(B) is K x N. trans_a means A is stored K x M (lda >= M).
// The batch has two levels so that views like attention's heads ([N, H, T, d] of an [N, T, E]
// buffer: N and H have no single stride) are read in place: item o * batch + i, o < outer,
// starts at o * outer_stride_x + i * stride_x (in elements).
struct GemmArgs {
  DType dtype = DType::Float32;
  bool trans_a = false, trans_b = false;
  int64_t m = 0, n = 0, k = 0, batch = 1, outer = 1;
  const void* a = nullptr; int64_t lda = 0, stride_a = 0, outer_stride_a = 0;
  const void* b = nullptr; int64_t ldb = 0, stride_b = 0, outer_stride_b = 0;
  void* c = nullptr; int64_t ldc = 0, stride_c = 0, outer_stride_c = 0;
  double alpha = 1.0, beta = 0.0;

  int64_t items() const { return outer * batch; }
  int64_t offset_a(int64_t item) const { return item / batch * outer_stride_a + item % batch * stride_a; }
  int64_t offset_b(int64_t item) const { return item / batch * outer_stride_b + item % batch * stride_b; }
  int64_t offset_c(int64_t item) const { return item / batch * outer_stride_c + item % batch * stride_c; }
};

// Result of a kernel that reads user-supplied indices: ok, or the first offending value.
struct IndexCheck {
  bool ok = true;
  int64_t bad_index = 0;
};

// ---- convolution and pooling: sliding 2-D windows over NCHW images
//
// The window of output position (oy, ox) covers input rows y = oy * stride_h - pad_h +
// ky * dilation_h (ky < kernel_h) and columns likewise; positions outside the image are padding
// (zeros for im2col, skipped by pooling). Image planes are dense: element (y, x) of a plane sits
// at plane[y * in_w + x]; output planes likewise with out_w.
struct Window2d {
  int64_t in_h = 0, in_w = 0, out_h = 0, out_w = 0;
  int64_t kernel_h = 1, kernel_w = 1;
  int64_t stride_h = 1, stride_w = 1;
  int64_t pad_h = 0, pad_w = 0;
  int64_t dilation_h = 1, dilation_w = 1;
};

// im2col / col2im over `batch` images of `channels` planes each. Plane (n, c) starts at
// image + n * image_batch_stride + c * image_channel_stride (elements). The column matrix has one
// row per (c, ky, kx), r = (c * kernel_h + ky) * kernel_w + kx, and one column per output
// position: element (r, n, oy * out_w + ox) sits at
// columns + r * col_row_stride + n * col_batch_stride + oy * out_w + ox. So [batch, rows, L]
// (col_batch_stride = rows * L, col_row_stride = L) and [rows, batch * L] (col_row_stride =
// batch * L, col_batch_stride = L) are both expressible (L = out_h * out_w).
struct Im2colArgs {
  DType dtype = DType::Float32;
  Window2d win;
  int64_t batch = 1, channels = 1;
  void* image = nullptr;
  int64_t image_batch_stride = 0, image_channel_stride = 0;
  void* columns = nullptr;
  int64_t col_row_stride = 0, col_batch_stride = 0;
};

// Pooling over `planes` dense input planes [planes, in_h, in_w] into dense output planes
// [planes, out_h, out_w] (planes = batch * channels). Average pooling: the window is clipped to
// the padded input [-pad, in + pad) and its divisor is divisor_override when nonzero, else the
// clipped window's size (count_include_pad) or the number of input elements in it. Adaptive
// pooling ignores kernel/stride/pad: output oy covers rows [floor(oy * in_h / out_h),
// ceil((oy + 1) * in_h / out_h)).
struct Pool2dArgs {
  DType dtype = DType::Float32;
  Window2d win;
  int64_t planes = 0;
  bool count_include_pad = true;
  int64_t divisor_override = 0;
};

// The pointwise step of a recurrent cell over `batch` rows of `hidden` units (all arrays dense,
// row-major). Gate pre-activations come as two addends, input_gates (x W_ih^T + b_ih) and
// hidden_gates (h W_hh^T + b_hh), [batch, G * hidden] in PyTorch's block order: LSTM i, f, g, o
// (G = 4); GRU r, z, n (G = 3).
struct RnnCellArgs {
  DType dtype = DType::Float32;
  int64_t batch = 0, hidden = 0;
  const void* input_gates = nullptr;
  const void* hidden_gates = nullptr;
  const void* state = nullptr;  // LSTM: c [batch, hidden]; GRU: h [batch, hidden]
};

// Layer normalization of `rows` dense rows of `cols` elements: y = (x - mean) * rstd per row,
// rstd = 1 / sqrt(biased variance + eps); mean and rstd ([rows], x's dtype) are written for the
// backward. The backward writes grad_x = rstd * (g - mean(g) - y * mean(g * y)) per row.
struct LayerNormArgs {
  DType dtype = DType::Float32;
  int64_t rows = 0, cols = 0;
  double eps = 1e-5;
};

// Batch normalization of dense x [batch, channels, inner] (inner: the product of the dims after
// the channels), per channel c over its M = batch * inner values:
//   y = (x - mean[c]) * rstd[c] * weight[c] + bias[c],  rstd = 1 / sqrt(var[c] + eps),
// weight and bias optional (1 and 0). training: mean and the biased var ([channels], x's dtype)
// are computed (in double) and written; otherwise they are read (the running statistics). The
// backward writes, with xhat = (x - mean) * rstd and g = grad_y, each output that is not null:
//   grad_weight[c] = sum(g * xhat), grad_bias[c] = sum(g),
//   grad_x = weight * rstd * (g - sum(g) / M - xhat * sum(g * xhat) / M)   (training)
//   grad_x = weight * rstd * g                                             (otherwise)
struct BatchNormArgs {
  DType dtype = DType::Float32;
  int64_t batch = 0, channels = 0, inner = 0;
  double eps = 1e-5;
  bool training = true;
  const void* weight = nullptr;  // [channels] or null
  const void* bias = nullptr;    // [channels] or null
};

// Cross-entropy of `rows` dense rows of logits [rows, cols] against class indices target [rows]
// (int64). Per row, with t = target, lse = log(sum_j exp(x_j)) = max + log_sum (max: the row's
// largest logit, log_sum = log(sum_j exp(x_j - max))), w = weight (all ones when null) and
// s = label_smoothing:
//   loss = (1 - s) * w[t] * (lse - x[t]) + s / cols * sum_j w[j] * (lse - x[j]),
//   row_weight = w[t] (the mean reduction's denominator); both 0 where t == ignore_index.
// max and log_sum ([rows]) are written for the backward (kept apart so that p keeps full precision
// when the logits are large), which writes, with p = exp((x - max) - log_sum) and g = grad_loss:
//   grad_x[j] = g * ((1 - s) * w[t] * (p[j] - [j == t]) + s / cols * (p[j] * sum_k w[k] - w[j])),
// 0 on ignored rows. A target outside [0, cols) that is not ignore_index is reported through
// IndexCheck (the CPU checks every target before writing anything).
struct CrossEntropyArgs {
  DType dtype = DType::Float32;
  int64_t rows = 0, cols = 0;
  int64_t ignore_index = -100;
  double label_smoothing = 0.0;
  const void* weight = nullptr;  // [cols] of dtype, or null
};

// ---- optimizer updates, in place, over `count` dense tensors of one dtype in a single call (on
// CUDA, one launch per batch of tensors, not one per tensor per term). The arrays have `count`
// entries and live in host memory; the pointers in them point to device memory. The element
// formulas are kernels/optimizer_math.h, shared by every backend.
struct AdamStepArgs {
  DType dtype = DType::Float32;
  int64_t count = 0;
  void* const* params = nullptr;
  const void* const* grads = nullptr;
  void* const* exp_avgs = nullptr;
  void* const* exp_avg_sqs = nullptr;
  void* const* max_exp_avg_sqs = nullptr;  // read only with amsgrad
  const int64_t* numels = nullptr;
  const double* step_sizes = nullptr;          // lr / (1 - beta1^step), per tensor
  const double* bias_correction2_sqrts = nullptr;  // sqrt(1 - beta2^step), per tensor
  double lr = 0, beta1 = 0, beta2 = 0, eps = 0, weight_decay = 0;
  bool decoupled = false;  // AdamW: p *= 1 - lr * weight_decay instead of L2 in the gradient
  bool maximize = false, amsgrad = false;
};

struct SgdStepArgs {
  DType dtype = DType::Float32;
  int64_t count = 0;
  void* const* params = nullptr;
  const void* const* grads = nullptr;
  void* const* momentum_buffers = nullptr;  // read only when momentum != 0
  const uint8_t* first_step = nullptr;      // per tensor: 1 when its buffer is to be initialized
  const int64_t* numels = nullptr;
  double lr = 0, momentum = 0, dampening = 0, weight_decay = 0;
  bool nesterov = false, maximize = false;
};

struct KernelTable {
  void* (*allocate)(size_t nbytes) = nullptr;  // nullptr when out of memory (never throws)
  void (*deallocate)(void* ptr) = nullptr;
  // Copies between this device and host memory (contiguous bytes).
  void (*copy_to_host)(void* host_dst, const void* src, size_t nbytes) = nullptr;
  void (*copy_from_host)(void* dst, const void* host_src, size_t nbytes) = nullptr;
  void (*synchronize)() = nullptr;
  // Makes device `index` current on this thread for the calls that follow and names the op they
  // serve (for error messages); throws when the device does not exist. Null on the CPU.
  void (*activate)(int index, const char* op) = nullptr;

  // The ops, each nullptr where a backend lacks it (kernel_entries.h says which are optional).
#define TG_KERNEL(ret, name, params) ret(*name) params = nullptr;
#include "kernel_entries.h"
#undef TG_KERNEL
};

// Defined by each backend that was built; nullptr when absent.
const KernelTable* cpu_kernels();
const KernelTable* cuda_kernels();

inline size_t dtype_size(DType t) {
  switch (t) {
    case DType::Float32: return 4;
    case DType::Float64: return 8;
    case DType::Int64: return 8;
    case DType::Bool: return 1;
  }
  return 0;
}

}  // namespace kernels
}  // namespace tg
