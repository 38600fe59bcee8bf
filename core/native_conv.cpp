// Convolution and pooling without autograd (declared in native.h): the checks, with messages
// that name the op and the values, then the kernels through the dispatch table.
//
// conv2d is im2col + GEMM: the input images are unfolded (im2col) into column matrices of
// [C * kH * kW rows, oH * oW columns] per image, in chunks of images that keep the buffers near
// kColumnBudget bytes, and each group's weight [O / g, C / g * kH * kW] multiplies its rows:
// either one GEMM batched over the chunk's images, or one GEMM over the images side by side
// (GemmLayout below). The input gradient is the transposed GEMM followed by col2im (which sums
// overlapping windows back into the image); the weight gradient is gradient-of-output @
// columns^T, accumulated over the images. A 1x1 kernel with stride 1 and no padding needs no
// unfolding: the image is its own column matrix.
#include <algorithm>
#include <cstdlib>
#include <sstream>
#include <string>

#include "native.h"

namespace tg::native {
namespace {

using Pair = std::array<int64_t, 2>;

std::string pair_str(Pair p) {
  return "(" + std::to_string(p[0]) + ", " + std::to_string(p[1]) + ")";
}

// Column buffers stay near this size (at least one image's columns): small enough that a
// chunk's columns are still in cache when its GEMMs read them.
constexpr int64_t kColumnBudget = int64_t(4) << 20;

// ---------------------------------------------------------------- shared pieces

// The geometry of one convolution: input [N, C, H, W], weight [O, Cg, kH, kW] with
// C = Cg * groups, output [N, O, oH, oW].
struct ConvGeom {
  bool batched = true;
  int64_t N = 0, C = 0, H = 0, W = 0;
  int64_t O = 0, Cg = 0, kh = 0, kw = 0;
  int64_t oh = 0, ow = 0;
  int64_t groups = 1;
  int64_t Og() const { return O / groups; }
  int64_t L() const { return oh * ow; }             // output positions per image
  int64_t K() const { return Cg * kh * kw; }        // column rows per group
  int64_t rows() const { return C * kh * kw; }      // column rows per image
};

std::string padding_str(const Conv2dParams& p) {
  if (p.pad_begin == p.pad_end) return pair_str(p.pad_begin);
  std::ostringstream os;
  os << "(top " << p.pad_begin[0] << ", bottom " << p.pad_end[0] << ", left " << p.pad_begin[1]
     << ", right " << p.pad_end[1] << ")";
  return os.str();
}

void check_conv_params(const char* op, const Conv2dParams& p) {
  TG_CHECK(p.stride[0] > 0 && p.stride[1] > 0, Value, op, ": stride must be positive, got ",
           pair_str(p.stride));
  TG_CHECK(p.pad_begin[0] >= 0 && p.pad_begin[1] >= 0 && p.pad_end[0] >= 0 && p.pad_end[1] >= 0,
           Value, op, ": padding must be non-negative, got ", padding_str(p));
  TG_CHECK(p.dilation[0] > 0 && p.dilation[1] > 0, Value, op, ": dilation must be positive, got ",
           pair_str(p.dilation));
  TG_CHECK(p.groups > 0, Value, op, ": groups must be positive, got ", p.groups);
}

// Dtypes (floating, all the same) and devices of input, weight and (if defined) bias.
void check_operands(const char* op, const Tensor& input, const Tensor& weight, const Tensor& bias) {
  TG_CHECK(input.defined(), Value, op, ": the input is undefined");
  TG_CHECK(weight.defined(), Value, op, ": the weight is undefined");
  TG_CHECK(input.is_floating_point(), Type, op, ": expected a floating-point input, got ",
           input.dtype());
  TG_CHECK(weight.dtype() == input.dtype(), Type, op, ": input (", input.dtype(), ") and weight (",
           weight.dtype(), ") must have the same dtype");
  check_same_device(op, input, weight);
  if (bias.defined()) {
    TG_CHECK(bias.dtype() == input.dtype(), Type, op, ": input (", input.dtype(), ") and bias (",
             bias.dtype(), ") must have the same dtype");
    check_same_device(op, input, bias);
  }
}

void check_image_dims(const char* op, const Shape& input) {
  TG_CHECK(input.size() == 3 || input.size() == 4, Value, op,
           ": expected a 3-D (unbatched [C, H, W]) or 4-D (batched [N, C, H, W]) input, got input "
           "of shape ", input);
}

// Output size of a convolution along one axis; the caller checked the kernel fits.
int64_t conv_out_size(int64_t in, int64_t k, int64_t pad_total, int64_t stride, int64_t dilation) {
  return (in + pad_total - dilation * (k - 1) - 1) / stride + 1;
}

// Input and weight shapes of conv2d, checked; the output size from them.
ConvGeom conv_geometry(const char* op, const Shape& input, const Shape& ws, const Conv2dParams& p) {
  check_conv_params(op, p);
  check_image_dims(op, input);
  TG_CHECK(ws.size() == 4, Value, op,
           ": expected a 4-D weight [out_channels, in_channels / groups, kH, kW], got weight of "
           "shape ", ws);
  ConvGeom g;
  g.batched = input.size() == 4;
  const size_t o = g.batched ? 1 : 0;
  g.N = g.batched ? input[0] : 1;
  g.C = input[o];
  g.H = input[o + 1];
  g.W = input[o + 2];
  g.O = ws[0];
  g.Cg = ws[1];
  g.kh = ws[2];
  g.kw = ws[3];
  g.groups = p.groups;
  TG_CHECK(g.kh > 0 && g.kw > 0, Value, op, ": the kernel size must be positive, got weight of shape ",
           ws);
  TG_CHECK(g.O % p.groups == 0, Value, op, ": out_channels (", g.O, ", weight ", ws,
           ") must be divisible by groups (", p.groups, ")");
  TG_CHECK(g.C == g.Cg * p.groups, Value, op, ": expected input with ", g.Cg * p.groups,
           " channels (weight ", ws, ", groups ", p.groups, "), got input of shape ", input);
  const int64_t ph = g.H + p.pad_begin[0] + p.pad_end[0], pw = g.W + p.pad_begin[1] + p.pad_end[1];
  const int64_t ekh = p.dilation[0] * (g.kh - 1) + 1, ekw = p.dilation[1] * (g.kw - 1) + 1;
  if (ph < ekh || pw < ekw) {
    std::ostringstream os;
    os << op << ": the kernel " << pair_str({g.kh, g.kw});
    if (p.dilation != Pair{1, 1}) os << " (dilated by " << pair_str(p.dilation) << ": " << pair_str({ekh, ekw}) << ")";
    os << " is larger than the padded input " << pair_str({ph, pw}) << " (input of shape "
       << shape_str(input) << ", padding " << padding_str(p) << ")";
    TG_FAIL(Value, os.str());
  }
  g.oh = conv_out_size(g.H, g.kh, p.pad_begin[0] + p.pad_end[0], p.stride[0], p.dilation[0]);
  g.ow = conv_out_size(g.W, g.kw, p.pad_begin[1] + p.pad_end[1], p.stride[1], p.dilation[1]);
  return g;
}

Shape output_shape(const ConvGeom& g) {
  if (g.batched) return {g.N, g.O, g.oh, g.ow};
  return {g.O, g.oh, g.ow};
}

// A contiguous 4-D [N, C, H, W] form of an image tensor (an unbatched one as a batch of one).
Tensor batched_contiguous(const Tensor& t) {
  Tensor c = contiguous(t);
  return c.dim() == 3 ? unsqueeze(c, 0) : c;
}

char* at(const Tensor& t, int64_t elements) {
  return static_cast<char*>(t.data_ptr()) + elements * static_cast<int64_t>(element_size(t.dtype()));
}

kernels::Window2d conv_window(const ConvGeom& g, const Conv2dParams& p) {
  kernels::Window2d w;
  w.in_h = g.H;
  w.in_w = g.W;
  w.out_h = g.oh;
  w.out_w = g.ow;
  w.kernel_h = g.kh;
  w.kernel_w = g.kw;
  w.stride_h = p.stride[0];
  w.stride_w = p.stride[1];
  w.pad_h = p.pad_begin[0];
  w.pad_w = p.pad_begin[1];
  w.dilation_h = p.dilation[0];
  w.dilation_w = p.dilation[1];
  return w;
}

// A 1x1 kernel, stride 1, no padding: the column matrix of an image is the image itself.
bool is_pointwise(const ConvGeom& g, const Conv2dParams& p) {
  return g.kh == 1 && g.kw == 1 && p.stride == Pair{1, 1} && p.pad_begin == Pair{0, 0} &&
         p.pad_end == Pair{0, 0};
}

// Images per chunk: the chunk's buffers (columns, plus `extra` elements per image) stay near
// kColumnBudget bytes, with at least one image.
int64_t chunk_images(const ConvGeom& g, DType dtype, int64_t extra = 0) {
  const int64_t per_image =
      std::max<int64_t>(1, (g.rows() * g.L() + extra) * static_cast<int64_t>(element_size(dtype)));
  return std::clamp<int64_t>(kColumnBudget / per_image, 1, std::max<int64_t>(g.N, 1));
}

// How a chunk of images meets the GEMM:
//  PerImage:   columns [nb, rows, L]; per group one GEMM batched over the images (the weight
//              shared), writing [nb, O, L] in place.
//  WholeBatch: columns [rows, nb * L], the images side by side; per group one GEMM spanning the
//              whole chunk, through an [O, nb * L] buffer transposed to or from [nb, O, L]. Few
//              large GEMMs instead of many small ones, at the price of that transposing copy.
// TG_CONV_GEMM=per_image|whole_batch forces one (for tests and measurements).
enum class GemmLayout { PerImage, WholeBatch };

GemmLayout choose_layout(const ConvGeom& g, bool pointwise) {
  if (pointwise) return GemmLayout::PerImage;  // the images are their own columns
  if (const char* env = std::getenv("TG_CONV_GEMM")) {
    const std::string v(env);
    if (v == "per_image") return GemmLayout::PerImage;
    if (v == "whole_batch") return GemmLayout::WholeBatch;
  }
  // One image's GEMM (O/g x K x L) is too small to run at full speed when both its reduction
  // and its output positions are short; then the chunk's images are batched into one.
  return g.N > 1 && g.K() >= 32 && g.L() < 4096 ? GemmLayout::WholeBatch : GemmLayout::PerImage;
}

struct Gemm {
  const kernels::KernelTable& k;
  DType dtype;
  // C[i] (m x n, ldc) = op(A[i]) @ op(B[i]) + beta C[i], i < batch; pointers are bytes.
  void operator()(bool ta, bool tb, int64_t m, int64_t n, int64_t kk, int64_t batch, const char* a,
                  int64_t lda, int64_t sa, const char* b, int64_t ldb, int64_t sb, char* c,
                  int64_t ldc, int64_t sc, double beta) const {
    kernels::GemmArgs args;
    args.dtype = dtype;
    args.trans_a = ta;
    args.trans_b = tb;
    args.m = m;
    args.n = n;
    args.k = kk;
    args.batch = batch;
    args.a = a;
    args.lda = std::max<int64_t>(lda, 1);
    args.stride_a = sa;
    args.b = b;
    args.ldb = std::max<int64_t>(ldb, 1);
    args.stride_b = sb;
    args.c = c;
    args.ldc = std::max<int64_t>(ldc, 1);
    args.stride_c = sc;
    args.beta = beta;
    k.gemm(args);
  }
};

// im2col/col2im arguments for images [n0, n0 + images) of a contiguous [N, C, H, W] tensor, into
// columns laid out as `layout` says.
kernels::Im2colArgs im2col_args(const ConvGeom& g, const Conv2dParams& p, DType dtype, char* image,
                                int64_t images, char* columns, GemmLayout layout) {
  kernels::Im2colArgs a;
  a.dtype = dtype;
  a.win = conv_window(g, p);
  a.batch = images;
  a.channels = g.C;
  a.image = image;
  a.image_batch_stride = g.C * g.H * g.W;
  a.image_channel_stride = g.H * g.W;
  a.columns = columns;
  if (layout == GemmLayout::PerImage) {
    a.col_row_stride = g.L();
    a.col_batch_stride = g.rows() * g.L();
  } else {
    a.col_row_stride = images * g.L();
    a.col_batch_stride = g.L();
  }
  return a;
}

// Images [n0, n0 + nb) of a contiguous 4-D [N, C, ...] tensor as [nb, C, L].
Tensor image_chunk(const Tensor& t4, int64_t n0, int64_t nb, int64_t c, int64_t l) {
  return as_strided(t4, {nb, c, l}, {c * l, l, 1}, t4.storage_offset() + n0 * c * l);
}

// A [C, nb * L] buffer seen as [nb, C, L] (the layout of a chunk of images).
Tensor batch_major(const Tensor& buf, int64_t nb, int64_t c, int64_t l) {
  return as_strided(buf, {nb, c, l}, {l, nb * l, 1}, buf.storage_offset());
}

// Writes bias (on the channel dim) into every position of the 4-D `out`.
void fill_with_bias(const Tensor& out4, const Tensor& bias) {
  copy_(out4, view(contiguous(bias), {1, bias.numel(), 1, 1}));
}

}  // namespace

// ---------------------------------------------------------------- conv2d

Tensor conv2d(const Tensor& input, const Tensor& weight, const Tensor& bias, const Conv2dParams& p,
              const char* op) {
  check_operands(op, input, weight, bias);
  const ConvGeom g = conv_geometry(op, input.sizes(), weight.sizes(), p);
  if (bias.defined())
    TG_CHECK(bias.dim() == 1 && bias.numel() == g.O, Value, op, ": expected bias of shape [", g.O,
             "] (out_channels), got ", bias.sizes());
  Tensor out = empty(output_shape(g), input.dtype(), input.device());
  if (out.numel() == 0) return out;
  const Tensor out4 = g.batched ? out : unsqueeze(out, 0);
  const Tensor x = batched_contiguous(input), w = contiguous(weight);
  const DType dt = input.dtype();
  const Gemm gemm{kernels_for(op, input.device()), dt};
  const int64_t L = g.L(), K = g.K(), Og = g.Og();
  const bool pointwise = is_pointwise(g, p);
  if (choose_layout(g, pointwise) == GemmLayout::PerImage) {
    double beta = 0.0;
    if (bias.defined()) {
      fill_with_bias(out4, bias);
      beta = 1.0;
    }
    if (pointwise) {
      for (int64_t gi = 0; gi < g.groups; ++gi)
        gemm(false, false, Og, L, g.Cg, g.N, at(w, gi * Og * g.Cg), g.Cg, 0, at(x, gi * g.Cg * L), L,
             g.C * L, at(out4, gi * Og * L), L, g.O * L, beta);
      return out;
    }
    const int64_t chunk = chunk_images(g, dt);
    Tensor cols = empty({chunk, g.rows(), L}, dt, input.device());
    for (int64_t n0 = 0; n0 < g.N; n0 += chunk) {
      const int64_t nb = std::min(chunk, g.N - n0);
      gemm.k.im2col(im2col_args(g, p, dt, at(x, n0 * g.C * g.H * g.W), nb, at(cols, 0),
                                GemmLayout::PerImage));
      for (int64_t gi = 0; gi < g.groups; ++gi)
        gemm(false, false, Og, L, K, nb, at(w, gi * Og * K), K, 0, at(cols, gi * K * L), L,
             g.rows() * L, at(out4, (n0 * g.O + gi * Og) * L), L, g.O * L, beta);
    }
    return out;
  }
  const int64_t chunk = chunk_images(g, dt, g.O * L);
  Tensor cols = empty({g.rows(), chunk * L}, dt, input.device());
  Tensor res = empty({g.O, chunk * L}, dt, input.device());
  for (int64_t n0 = 0; n0 < g.N; n0 += chunk) {
    const int64_t nb = std::min(chunk, g.N - n0), NL = nb * L;
    gemm.k.im2col(im2col_args(g, p, dt, at(x, n0 * g.C * g.H * g.W), nb, at(cols, 0),
                              GemmLayout::WholeBatch));
    const Tensor res3 = batch_major(res, nb, g.O, L);
    double beta = 0.0;
    if (bias.defined()) {
      copy_(res3, view(contiguous(bias), {1, g.O, 1}));
      beta = 1.0;
    }
    for (int64_t gi = 0; gi < g.groups; ++gi)
      gemm(false, false, Og, NL, K, 1, at(w, gi * Og * K), K, 0, at(cols, gi * K * NL), NL, 0,
           at(res, gi * Og * NL), NL, 0, beta);
    copy_(image_chunk(out4, n0, nb, g.O, L), res3);
  }
  return out;
}

namespace {

// The geometry of a conv2d gradient: the input and weight shapes of the forward, the output
// size from grad_out (at most the forward's: conv_transpose2d's output_padding can leave the last
// positions out).
ConvGeom backward_geometry(const char* op, const Tensor& grad_out, const Shape& input_shape,
                           const Shape& weight_shape, const Conv2dParams& p) {
  ConvGeom g = conv_geometry(op, input_shape, weight_shape, p);
  const Shape& gs = grad_out.sizes();
  const bool ok = static_cast<int64_t>(gs.size()) == static_cast<int64_t>(input_shape.size()) &&
                  (!g.batched || gs[0] == g.N) && gs[gs.size() - 3] == g.O &&
                  gs[gs.size() - 2] <= g.oh && gs[gs.size() - 1] <= g.ow;
  TG_CHECK(ok, Value, op, ": grad_output of shape ", gs, " does not fit an input of shape ",
           input_shape, " and a weight of shape ", weight_shape);
  g.oh = gs[gs.size() - 2];
  g.ow = gs[gs.size() - 1];
  return g;
}

}  // namespace

Tensor conv2d_backward_input(const Tensor& grad_out, const Tensor& weight, const Shape& input_shape,
                             const Conv2dParams& p, const Tensor& bias) {
  const char* op = "conv2d_backward_input";
  check_operands(op, grad_out, weight, bias);
  const ConvGeom g = backward_geometry(op, grad_out, input_shape, weight.sizes(), p);
  const DType dt = grad_out.dtype();
  Tensor result = empty(input_shape, dt, grad_out.device());
  if (result.numel() == 0) return result;
  const Tensor res4 = g.batched ? result : unsqueeze(result, 0);
  if (bias.defined()) fill_with_bias(res4, bias);
  const bool pointwise = is_pointwise(g, p) && g.oh == g.H && g.ow == g.W;
  if (!bias.defined() && (!pointwise || g.O == 0 || g.L() == 0)) fill_(result, 0.0);
  if (g.O == 0 || g.L() == 0) return result;
  const Tensor go = batched_contiguous(grad_out), w = contiguous(weight);
  const Gemm gemm{kernels_for(op, grad_out.device()), dt};
  const int64_t L = g.L(), K = g.K(), Og = g.Og();
  if (pointwise) {
    for (int64_t gi = 0; gi < g.groups; ++gi)
      gemm(true, false, g.Cg, L, Og, g.N, at(w, gi * Og * g.Cg), g.Cg, 0, at(go, gi * Og * L), L,
           g.O * L, at(res4, gi * g.Cg * L), L, g.C * L, bias.defined() ? 1.0 : 0.0);
    return result;
  }
  if (choose_layout(g, false) == GemmLayout::PerImage) {
    const int64_t chunk = chunk_images(g, dt);
    Tensor cols = empty({chunk, g.rows(), L}, dt, grad_out.device());
    for (int64_t n0 = 0; n0 < g.N; n0 += chunk) {
      const int64_t nb = std::min(chunk, g.N - n0);
      for (int64_t gi = 0; gi < g.groups; ++gi)
        gemm(true, false, K, L, Og, nb, at(w, gi * Og * K), K, 0, at(go, (n0 * g.O + gi * Og) * L),
             L, g.O * L, at(cols, gi * K * L), L, g.rows() * L, 0.0);
      gemm.k.col2im(im2col_args(g, p, dt, at(res4, n0 * g.C * g.H * g.W), nb, at(cols, 0),
                                GemmLayout::PerImage));
    }
    return result;
  }
  const int64_t chunk = chunk_images(g, dt, g.O * L);
  Tensor cols = empty({g.rows(), chunk * L}, dt, grad_out.device());
  Tensor gbuf = empty({g.O, chunk * L}, dt, grad_out.device());
  for (int64_t n0 = 0; n0 < g.N; n0 += chunk) {
    const int64_t nb = std::min(chunk, g.N - n0), NL = nb * L;
    copy_(batch_major(gbuf, nb, g.O, L), image_chunk(go, n0, nb, g.O, L));
    for (int64_t gi = 0; gi < g.groups; ++gi)
      gemm(true, false, K, NL, Og, 1, at(w, gi * Og * K), K, 0, at(gbuf, gi * Og * NL), NL, 0,
           at(cols, gi * K * NL), NL, 0, 0.0);
    gemm.k.col2im(im2col_args(g, p, dt, at(res4, n0 * g.C * g.H * g.W), nb, at(cols, 0),
                              GemmLayout::WholeBatch));
  }
  return result;
}

Tensor conv2d_backward_weight(const Tensor& grad_out, const Tensor& input, const Shape& weight_shape,
                              const Conv2dParams& p) {
  const char* op = "conv2d_backward_weight";
  TG_CHECK(weight_shape.size() == 4, Value, op, ": expected a 4-D weight shape, got ", weight_shape);
  check_operands(op, grad_out, input, Tensor());
  const ConvGeom g = backward_geometry(op, grad_out, input.sizes(), weight_shape, p);
  const DType dt = grad_out.dtype();
  Tensor gw = empty(weight_shape, dt, grad_out.device());
  if (gw.numel() == 0) return gw;
  if (g.N == 0 || g.L() == 0) {
    fill_(gw, 0.0);
    return gw;
  }
  const Tensor go = batched_contiguous(grad_out), x = batched_contiguous(input);
  const Gemm gemm{kernels_for(op, grad_out.device()), dt};
  const int64_t L = g.L(), K = g.K(), Og = g.Og();
  const int64_t es = static_cast<int64_t>(element_size(dt));
  const bool pointwise = is_pointwise(g, p) && g.oh == g.H && g.ow == g.W;
  if (choose_layout(g, pointwise) == GemmLayout::PerImage) {
    // gw_g += go[n]_g [Og, L] @ columns[n]_g^T [L, K], image by image.
    Tensor cols;
    int64_t chunk = g.N;
    if (!pointwise) {
      chunk = chunk_images(g, dt);
      cols = empty({chunk, g.rows(), L}, dt, grad_out.device());
    }
    for (int64_t n0 = 0; n0 < g.N; n0 += chunk) {
      const int64_t nb = std::min(chunk, g.N - n0);
      if (!pointwise)
        gemm.k.im2col(im2col_args(g, p, dt, at(x, n0 * g.C * g.H * g.W), nb, at(cols, 0),
                                  GemmLayout::PerImage));
      for (int64_t i = 0; i < nb; ++i) {
        const int64_t n = n0 + i;
        const char* col_base = pointwise ? at(x, n * g.C * L) : at(cols, i * g.rows() * L);
        for (int64_t gi = 0; gi < g.groups; ++gi)
          gemm(false, true, Og, K, L, 1, at(go, (n * g.O + gi * Og) * L), L, 0,
               col_base + gi * K * L * es, L, 0, at(gw, gi * Og * K), K, 0, n == 0 ? 0.0 : 1.0);
      }
    }
    return gw;
  }
  // gw_g += go_g [Og, nb * L] @ columns_g^T [nb * L, K], a chunk of images at a time.
  const int64_t chunk = chunk_images(g, dt, g.O * L);
  Tensor cols = empty({g.rows(), chunk * L}, dt, grad_out.device());
  Tensor gbuf = empty({g.O, chunk * L}, dt, grad_out.device());
  for (int64_t n0 = 0; n0 < g.N; n0 += chunk) {
    const int64_t nb = std::min(chunk, g.N - n0), NL = nb * L;
    gemm.k.im2col(im2col_args(g, p, dt, at(x, n0 * g.C * g.H * g.W), nb, at(cols, 0),
                              GemmLayout::WholeBatch));
    copy_(batch_major(gbuf, nb, g.O, L), image_chunk(go, n0, nb, g.O, L));
    for (int64_t gi = 0; gi < g.groups; ++gi)
      gemm(false, true, Og, K, NL, 1, at(gbuf, gi * Og * NL), NL, 0, at(cols, gi * K * NL), NL, 0,
           at(gw, gi * Og * K), K, 0, n0 == 0 ? 0.0 : 1.0);
  }
  return gw;
}

// ---------------------------------------------------------------- conv_transpose2d

Shape conv_transpose2d_output_shape(const Tensor& input, const Tensor& weight, const Tensor& bias,
                                    const Conv2dParams& p, std::array<int64_t, 2> output_padding) {
  const char* op = "conv_transpose2d";
  check_operands(op, input, weight, bias);
  check_conv_params(op, p);
  check_image_dims(op, input.sizes());
  const Shape& ws = weight.sizes();
  TG_CHECK(ws.size() == 4, Value, op,
           ": expected a 4-D weight [in_channels, out_channels / groups, kH, kW], got weight of "
           "shape ", ws);
  TG_CHECK(ws[2] > 0 && ws[3] > 0, Value, op, ": the kernel size must be positive, got weight of shape ",
           ws);
  const bool batched = input.dim() == 4;
  const int64_t c = input.sizes()[batched ? 1 : 0];
  TG_CHECK(ws[0] % p.groups == 0, Value, op, ": in_channels (", ws[0], ", weight ", ws,
           ") must be divisible by groups (", p.groups, ")");
  TG_CHECK(c == ws[0], Value, op, ": expected input with ", ws[0], " channels (weight ", ws,
           ", groups ", p.groups, "), got input of shape ", input.sizes());
  for (int i = 0; i < 2; ++i)
    TG_CHECK(output_padding[i] >= 0 &&
                 (output_padding[i] < p.stride[i] || output_padding[i] < p.dilation[i]),
             Value, op, ": output_padding ", pair_str(output_padding),
             " must be non-negative and smaller than either stride ", pair_str(p.stride),
             " or dilation ", pair_str(p.dilation));
  const int64_t out_c = ws[1] * p.groups;
  if (bias.defined())
    TG_CHECK(bias.dim() == 1 && bias.numel() == out_c, Value, op, ": expected bias of shape [",
             out_c, "] (out_channels), got ", bias.sizes());
  Shape out = input.sizes();
  out[batched ? 1 : 0] = out_c;
  for (int i = 0; i < 2; ++i) {
    const int64_t in = input.sizes()[input.dim() - 2 + i];
    out[out.size() - 2 + i] = (in - 1) * p.stride[i] - p.pad_begin[i] - p.pad_end[i] +
                              p.dilation[i] * (ws[2 + i] - 1) + output_padding[i] + 1;
  }
  const int64_t oh = out[out.size() - 2], ow = out[out.size() - 1];
  TG_CHECK(oh > 0 && ow > 0, Value, op, ": the output size (", oh, ", ", ow,
           ") is not positive (input of shape ", input.sizes(), ", weight ", ws, ", stride ",
           pair_str(p.stride), ", padding ", padding_str(p), ", dilation ", pair_str(p.dilation),
           ", output_padding ", pair_str(output_padding), ")");
  return out;
}

Tensor conv_transpose2d(const Tensor& input, const Tensor& weight, const Tensor& bias,
                        const Conv2dParams& p, std::array<int64_t, 2> output_padding) {
  const Shape out_shape = conv_transpose2d_output_shape(input, weight, bias, p, output_padding);
  return conv2d_backward_input(input, weight, out_shape, p, bias);
}

// ---------------------------------------------------------------- pooling

namespace {

struct PoolGeom {
  bool batched = true;
  int64_t N = 0, C = 0, H = 0, W = 0, oh = 0, ow = 0;
  int64_t planes() const { return N * C; }
};

// PyTorch's pooling_output_shape: floor or ceil, and in ceil mode the last window must start
// inside the input or its left padding.
int64_t pool_out_size(int64_t in, int64_t k, int64_t pad, int64_t stride, int64_t dilation,
                      bool ceil_mode) {
  const int64_t num = in + 2 * pad - dilation * (k - 1) - 1 + (ceil_mode ? stride - 1 : 0);
  int64_t out = (num >= 0 ? num / stride : -((-num + stride - 1) / stride)) + 1;
  if (ceil_mode && (out - 1) * stride >= in + pad) --out;
  return out;
}

PoolGeom pool_input_geometry(const char* op, const Tensor& input) {
  TG_CHECK(input.defined(), Value, op, ": the input is undefined");
  TG_CHECK(input.is_floating_point(), Type, op, ": expected a floating-point input, got ",
           input.dtype());
  const Shape& s = input.sizes();
  TG_CHECK(s.size() == 3 || s.size() == 4, Value, op,
           ": expected a 3-D (unbatched [C, H, W]) or 4-D (batched [N, C, H, W]) input, got input "
           "of shape ", s);
  PoolGeom g;
  g.batched = s.size() == 4;
  const size_t o = g.batched ? 1 : 0;
  g.N = g.batched ? s[0] : 1;
  g.C = s[o];
  g.H = s[o + 1];
  g.W = s[o + 2];
  TG_CHECK(g.C > 0 && g.H > 0 && g.W > 0, Value, op,
           ": expected an input with non-zero channels, height and width (only the batch may be "
           "empty), got input of shape ", s);
  return g;
}

PoolGeom pool_geometry(const char* op, const Tensor& input, const Pool2dParams& p, bool dilated) {
  PoolGeom g = pool_input_geometry(op, input);
  TG_CHECK(p.kernel[0] > 0 && p.kernel[1] > 0, Value, op, ": kernel_size must be positive, got ",
           pair_str(p.kernel));
  TG_CHECK(p.stride[0] > 0 && p.stride[1] > 0, Value, op, ": stride must be positive, got ",
           pair_str(p.stride));
  TG_CHECK(p.dilation[0] > 0 && p.dilation[1] > 0, Value, op, ": dilation must be positive, got ",
           pair_str(p.dilation));
  TG_CHECK(p.padding[0] >= 0 && p.padding[1] >= 0, Value, op, ": padding must be non-negative, got ",
           pair_str(p.padding));
  TG_CHECK(p.padding[0] <= p.kernel[0] / 2 && p.padding[1] <= p.kernel[1] / 2, Value, op,
           ": padding ", pair_str(p.padding), " must be at most half of kernel_size ",
           pair_str(p.kernel));
  const Pair d = dilated ? p.dilation : Pair{1, 1};
  g.oh = pool_out_size(g.H, p.kernel[0], p.padding[0], p.stride[0], d[0], p.ceil_mode);
  g.ow = pool_out_size(g.W, p.kernel[1], p.padding[1], p.stride[1], d[1], p.ceil_mode);
  TG_CHECK(g.oh > 0 && g.ow > 0, Value, op, ": the output size (", g.oh, ", ", g.ow,
           ") is too small for input of shape ", input.sizes(), " (kernel_size ", pair_str(p.kernel),
           ", stride ", pair_str(p.stride), ", padding ", pair_str(p.padding),
           dilated ? ", dilation " + pair_str(p.dilation) : std::string(), ")");
  return g;
}

Shape pool_output_shape(const PoolGeom& g) {
  if (g.batched) return {g.N, g.C, g.oh, g.ow};
  return {g.C, g.oh, g.ow};
}

kernels::Pool2dArgs pool_args(const PoolGeom& g, const Pool2dParams& p, DType dtype) {
  kernels::Pool2dArgs a;
  a.dtype = dtype;
  a.win.in_h = g.H;
  a.win.in_w = g.W;
  a.win.out_h = g.oh;
  a.win.out_w = g.ow;
  a.win.kernel_h = p.kernel[0];
  a.win.kernel_w = p.kernel[1];
  a.win.stride_h = p.stride[0];
  a.win.stride_w = p.stride[1];
  a.win.pad_h = p.padding[0];
  a.win.pad_w = p.padding[1];
  a.win.dilation_h = p.dilation[0];
  a.win.dilation_w = p.dilation[1];
  a.planes = g.planes();
  a.count_include_pad = p.count_include_pad;
  a.divisor_override = p.divisor_override;
  return a;
}

// The geometry of a pooling gradient: the input's from input_shape, the output's from grad_out.
PoolGeom pool_backward_geometry(const char* op, const Tensor& grad_out, const Shape& input_shape) {
  TG_CHECK(input_shape.size() == 3 || input_shape.size() == 4, Value, op,
           ": expected a 3-D or 4-D input shape, got ", input_shape);
  PoolGeom g;
  g.batched = input_shape.size() == 4;
  const size_t o = g.batched ? 1 : 0;
  g.N = g.batched ? input_shape[0] : 1;
  g.C = input_shape[o];
  g.H = input_shape[o + 1];
  g.W = input_shape[o + 2];
  const Shape& gs = grad_out.sizes();
  TG_CHECK(gs.size() == input_shape.size() && (!g.batched || gs[0] == g.N) && gs[o] == g.C, Value,
           op, ": grad_output of shape ", gs, " does not fit an input of shape ", input_shape);
  g.oh = gs[o + 1];
  g.ow = gs[o + 2];
  return g;
}

}  // namespace

std::tuple<Tensor, Tensor> max_pool2d(const Tensor& input, const Pool2dParams& p) {
  const char* op = "max_pool2d";
  const PoolGeom g = pool_geometry(op, input, p, true);
  const Shape shape = pool_output_shape(g);
  Tensor out = empty(shape, input.dtype(), input.device());
  Tensor idx = empty(shape, kInt64, input.device());
  if (out.numel() == 0) return {out, idx};
  const Tensor x = contiguous(input);
  kernels_for(op, input.device())
      .max_pool2d(pool_args(g, p, input.dtype()), x.data_ptr(), out.data_ptr(),
                  static_cast<int64_t*>(idx.data_ptr()));
  return {out, idx};
}

Tensor max_pool2d_backward(const Tensor& grad_out, const Tensor& indices, const Shape& input_shape,
                           const Pool2dParams& p) {
  const char* op = "max_pool2d_backward";
  const PoolGeom g = pool_backward_geometry(op, grad_out, input_shape);
  TG_CHECK(indices.dtype() == kInt64 && indices.sizes() == grad_out.sizes(), Value, op,
           ": indices (", indices.dtype(), " ", indices.sizes(), ") must be int64 of grad_output's shape ",
           grad_out.sizes());
  check_same_device(op, grad_out, indices);
  Tensor gin = empty(input_shape, grad_out.dtype(), grad_out.device());
  if (gin.numel() == 0) return gin;
  const Tensor go = contiguous(grad_out), ix = contiguous(indices);
  kernels_for(op, grad_out.device())
      .max_pool2d_backward(pool_args(g, p, grad_out.dtype()), go.data_ptr(),
                           static_cast<const int64_t*>(ix.data_ptr()), gin.data_ptr());
  return gin;
}

Tensor avg_pool2d(const Tensor& input, const Pool2dParams& p) {
  const char* op = "avg_pool2d";
  const PoolGeom g = pool_geometry(op, input, p, false);
  Tensor out = empty(pool_output_shape(g), input.dtype(), input.device());
  if (out.numel() == 0) return out;
  const Tensor x = contiguous(input);
  kernels_for(op, input.device()).avg_pool2d(pool_args(g, p, input.dtype()), x.data_ptr(), out.data_ptr());
  return out;
}

Tensor avg_pool2d_backward(const Tensor& grad_out, const Shape& input_shape, const Pool2dParams& p) {
  const char* op = "avg_pool2d_backward";
  const PoolGeom g = pool_backward_geometry(op, grad_out, input_shape);
  Tensor gin = empty(input_shape, grad_out.dtype(), grad_out.device());
  if (gin.numel() == 0) return gin;
  const Tensor go = contiguous(grad_out);
  kernels_for(op, grad_out.device())
      .avg_pool2d_backward(pool_args(g, p, grad_out.dtype()), go.data_ptr(), gin.data_ptr());
  return gin;
}

Tensor adaptive_avg_pool2d(const Tensor& input, const Shape& output_size) {
  const char* op = "adaptive_avg_pool2d";
  TG_CHECK(output_size.size() == 2, Value, op, ": output_size must have 2 values, got ",
           output_size);
  TG_CHECK(output_size[0] >= 0 && output_size[1] >= 0, Value, op,
           ": output_size must be non-negative, got ", output_size);
  PoolGeom g = pool_input_geometry(op, input);
  g.oh = output_size[0];
  g.ow = output_size[1];
  Tensor out = empty(pool_output_shape(g), input.dtype(), input.device());
  if (out.numel() == 0) return out;
  const Tensor x = contiguous(input);
  kernels_for(op, input.device())
      .adaptive_avg_pool2d(pool_args(g, Pool2dParams{}, input.dtype()), x.data_ptr(), out.data_ptr());
  return out;
}

Tensor adaptive_avg_pool2d_backward(const Tensor& grad_out, const Shape& input_shape) {
  const char* op = "adaptive_avg_pool2d_backward";
  const PoolGeom g = pool_backward_geometry(op, grad_out, input_shape);
  Tensor gin = empty(input_shape, grad_out.dtype(), grad_out.device());
  if (gin.numel() == 0) return gin;
  const Tensor go = contiguous(grad_out);
  kernels_for(op, grad_out.device())
      .adaptive_avg_pool2d_backward(pool_args(g, Pool2dParams{}, grad_out.dtype()), go.data_ptr(),
                                    gin.data_ptr());
  return gin;
}

}  // namespace tg::native
