// The update rules: the fused kernels where they apply (see functional.h), else a loop over the
// group's tensors of the no-autograd ops, in place, with one scratch tensor per parameter at most
// (plus one when weight decay or maximize changes the gradient).
#include "functional.h"

#include <atomic>
#include <cmath>

#include "../autograd/node.h"
#include "../core/native.h"

namespace tg::optim::functional {
namespace {

using native::BinaryOp;
using native::UnaryOp;

constexpr const char* kOp = "optimizer step";

void scale_(const Tensor& t, double s) {
  if (s != 1.0) native::unary_(kOp, UnaryOp::MulScalar, t, s);
}
void add_scalar_(const Tensor& t, double s) { native::unary_(kOp, UnaryOp::AddScalar, t, s); }
void sqrt_(const Tensor& t) { native::unary_(kOp, UnaryOp::Sqrt, t); }
void rdiv_(const Tensor& t, double s) { native::unary_(kOp, UnaryOp::RDivScalar, t, s); }  // s / t
void add_(const Tensor& t, const Tensor& x) { native::binary_(kOp, BinaryOp::Add, t, x); }
void mul_(const Tensor& t, const Tensor& x) { native::binary_(kOp, BinaryOp::Mul, t, x); }
void copy_(const Tensor& t, const Tensor& x) { native::copy_(t, x); }
Tensor scaled(const Tensor& x, double s) { return native::unary(kOp, UnaryOp::MulScalar, x, s); }

// t += alpha * x; `scratch` (same shape, may be x itself when x may be overwritten) avoids an
// allocation.
void add_scaled_(const Tensor& t, const Tensor& x, double alpha, const Tensor& scratch = Tensor()) {
  if (alpha == 1.0) return add_(t, x);
  if (alpha == -1.0) return native::binary_(kOp, BinaryOp::Sub, t, x);
  if (scratch.defined()) {
    if (!scratch.is_same(x)) copy_(scratch, x);
    scale_(scratch, alpha);
    return add_(t, scratch);
  }
  add_(t, scaled(x, alpha));
}

// The gradient the rules use: -grad when maximizing, plus weight_decay * param (L2). Returns the
// gradient itself when neither applies (then it must not be written), else a new tensor.
Tensor effective_grad(const Tensor& grad, const Tensor& param, double weight_decay, bool maximize) {
  if (weight_decay == 0.0) return maximize ? native::unary(kOp, UnaryOp::Neg, grad) : grad;
  Tensor g = scaled(param, weight_decay);
  native::binary_(kOp, maximize ? BinaryOp::Sub : BinaryOp::Add, g, grad);
  return g;
}

void check_lists(const char* op, size_t n, std::initializer_list<size_t> sizes) {
  for (size_t s : sizes)
    TG_CHECK(s == n, Value, op, ": every list must have one entry per parameter (", s, " vs ", n, ")");
}

std::atomic<bool> fused_enabled{true};  // read by every step, possibly from several threads

// The kernels of the parameters' device when the fused steps may run: on, and every tensor
// dense, of the first parameter's floating dtype, device and size (undefined state tensors are
// still to be created; every gradient must be there). Else nullptr.
const kernels::KernelTable* fused_kernels(const std::vector<Tensor>& params, const std::vector<Tensor>& grads,
                                          std::initializer_list<const std::vector<Tensor>*> states) {
  if (!fused_enabled.load(std::memory_order_relaxed) || params.empty()) return nullptr;
  const Tensor& first = params[0];
  if (!first.defined() || (first.dtype() != kFloat32 && first.dtype() != kFloat64)) return nullptr;
  auto fits = [&](const Tensor& t, const Tensor& p) {
    return t.defined() && t.dtype() == first.dtype() && t.device() == first.device() && t.is_contiguous() &&
           t.sizes() == p.sizes();
  };
  for (size_t i = 0; i < params.size(); ++i) {
    if (!fits(params[i], params[i]) || !fits(grads[i], params[i])) return nullptr;
    for (const std::vector<Tensor>* list : states)
      if ((*list)[i].defined() && !fits((*list)[i], params[i])) return nullptr;
  }
  return &native::kernels_for(kOp, first.device());
}

template <typename Ptr>
std::vector<Ptr> pointers(const std::vector<Tensor>& tensors) {
  std::vector<Ptr> out;
  for (const Tensor& t : tensors) out.push_back(t.defined() ? static_cast<Ptr>(t.data_ptr()) : nullptr);
  return out;
}

std::vector<int64_t> numels(const std::vector<Tensor>& tensors) {
  std::vector<int64_t> out;
  for (const Tensor& t : tensors) out.push_back(t.numel());
  return out;
}

bool fused_sgd(const std::vector<Tensor>& params, const std::vector<Tensor>& grads,
               std::vector<Tensor>& momentum_buffers, const SGDOptions& o) {
  const kernels::KernelTable* table = fused_kernels(params, grads, {&momentum_buffers});
  if (!table || !table->sgd_step) return false;
  std::vector<uint8_t> first(params.size(), 0);
  if (o.momentum != 0.0)
    for (size_t i = 0; i < params.size(); ++i)
      if (!momentum_buffers[i].defined()) {
        momentum_buffers[i] = empty_like(params[i]);
        first[i] = 1;
      }
  const auto p = pointers<void*>(params), b = pointers<void*>(momentum_buffers);
  const auto g = pointers<const void*>(grads);
  const auto n = numels(params);
  kernels::SgdStepArgs a;
  a.dtype = params[0].dtype();
  a.count = static_cast<int64_t>(params.size());
  a.params = p.data(), a.grads = g.data(), a.momentum_buffers = b.data(), a.first_step = first.data();
  a.numels = n.data();
  a.lr = o.lr, a.momentum = o.momentum, a.dampening = o.dampening, a.weight_decay = o.weight_decay;
  a.nesterov = o.nesterov, a.maximize = o.maximize;
  table->sgd_step(a);
  return true;
}

bool fused_adam(const std::vector<Tensor>& params, const std::vector<Tensor>& grads,
                std::vector<Tensor>& exp_avgs, std::vector<Tensor>& exp_avg_sqs,
                std::vector<Tensor>& max_exp_avg_sqs, std::vector<double>& steps, const AdamOptions& o,
                bool decoupled) {
  const kernels::KernelTable* table = fused_kernels(params, grads, {&exp_avgs, &exp_avg_sqs, &max_exp_avg_sqs});
  if (!table || !table->adam_step) return false;
  std::vector<double> step_sizes, bias_correction2_sqrts;
  for (size_t i = 0; i < params.size(); ++i) {
    if (!exp_avgs[i].defined()) exp_avgs[i] = zeros_like(params[i]);
    if (!exp_avg_sqs[i].defined()) exp_avg_sqs[i] = zeros_like(params[i]);
    if (o.amsgrad && !max_exp_avg_sqs[i].defined()) max_exp_avg_sqs[i] = zeros_like(params[i]);
    const double step = (steps[i] += 1.0);
    step_sizes.push_back(o.lr / (1.0 - std::pow(o.beta1, step)));
    bias_correction2_sqrts.push_back(std::sqrt(1.0 - std::pow(o.beta2, step)));
  }
  const auto p = pointers<void*>(params), m = pointers<void*>(exp_avgs), v = pointers<void*>(exp_avg_sqs);
  const auto max_v = pointers<void*>(max_exp_avg_sqs);
  const auto g = pointers<const void*>(grads);
  const auto n = numels(params);
  kernels::AdamStepArgs a;
  a.dtype = params[0].dtype();
  a.count = static_cast<int64_t>(params.size());
  a.params = p.data(), a.grads = g.data(), a.exp_avgs = m.data(), a.exp_avg_sqs = v.data();
  a.max_exp_avg_sqs = max_v.data(), a.numels = n.data();
  a.step_sizes = step_sizes.data(), a.bias_correction2_sqrts = bias_correction2_sqrts.data();
  a.lr = o.lr, a.beta1 = o.beta1, a.beta2 = o.beta2, a.eps = o.eps, a.weight_decay = o.weight_decay;
  a.decoupled = decoupled, a.maximize = o.maximize, a.amsgrad = o.amsgrad;
  table->adam_step(a);
  return true;
}

}  // namespace

void set_fused_steps_enabled(bool enabled) { fused_enabled = enabled; }
bool fused_steps_enabled() { return fused_enabled.load(std::memory_order_relaxed); }

void sgd(const std::vector<Tensor>& params, const std::vector<Tensor>& grads,
         std::vector<Tensor>& momentum_buffers, const SGDOptions& o) {
  check_lists("sgd", params.size(), {grads.size(), momentum_buffers.size()});
  NoGradGuard no_grad;
  if (fused_sgd(params, grads, momentum_buffers, o)) return;
  for (size_t i = 0; i < params.size(); ++i) {
    const Tensor& p = params[i];
    Tensor d_p = effective_grad(grads[i], p, o.weight_decay, o.maximize);
    bool own = !d_p.is_same(grads[i]);  // d_p may be overwritten
    if (o.momentum != 0.0) {
      Tensor& buf = momentum_buffers[i];
      if (!buf.defined()) {
        buf = own ? d_p : native::clone(d_p);  // a fresh d_p becomes the buffer
      } else {
        scale_(buf, o.momentum);
        add_scaled_(buf, d_p, 1.0 - o.dampening);
      }
      if (o.nesterov) {
        // d_p + momentum * buf
        Tensor t = scaled(buf, o.momentum);
        add_(t, d_p);
        d_p = t;
        own = true;
      } else {
        d_p = buf;
        own = false;
      }
    }
    add_scaled_(p, d_p, -o.lr, own ? d_p : Tensor());
  }
}

void adam(const std::vector<Tensor>& params, const std::vector<Tensor>& grads,
          std::vector<Tensor>& exp_avgs, std::vector<Tensor>& exp_avg_sqs,
          std::vector<Tensor>& max_exp_avg_sqs, std::vector<double>& steps, const AdamOptions& o,
          bool decoupled) {
  check_lists("adam", params.size(),
              {grads.size(), exp_avgs.size(), exp_avg_sqs.size(), max_exp_avg_sqs.size(), steps.size()});
  NoGradGuard no_grad;
  if (fused_adam(params, grads, exp_avgs, exp_avg_sqs, max_exp_avg_sqs, steps, o, decoupled)) return;
  for (size_t i = 0; i < params.size(); ++i) {
    const Tensor& p = params[i];
    if (!exp_avgs[i].defined()) exp_avgs[i] = zeros_like(p);
    if (!exp_avg_sqs[i].defined()) exp_avg_sqs[i] = zeros_like(p);
    if (o.amsgrad && !max_exp_avg_sqs[i].defined()) max_exp_avg_sqs[i] = zeros_like(p);
    const Tensor& m = exp_avgs[i];
    const Tensor& v = exp_avg_sqs[i];
    const double step = (steps[i] += 1.0);

    Tensor g;
    if (decoupled) {
      scale_(p, 1.0 - o.lr * o.weight_decay);
      g = effective_grad(grads[i], p, 0.0, o.maximize);
    } else {
      g = effective_grad(grads[i], p, o.weight_decay, o.maximize);
    }

    // m = beta1 m + (1 - beta1) g;  v = beta2 v + (1 - beta2) g^2
    Tensor s = native::binary(kOp, BinaryOp::Mul, g, g);  // the scratch, reused below
    scale_(s, 1.0 - o.beta2);
    scale_(v, o.beta2);
    add_(v, s);
    scale_(m, o.beta1);
    add_scaled_(m, g, 1.0 - o.beta1, s);

    const double bias_correction1 = 1.0 - std::pow(o.beta1, step);
    const double bias_correction2 = 1.0 - std::pow(o.beta2, step);
    const double step_size = o.lr / bias_correction1;
    const double bias_correction2_sqrt = std::sqrt(bias_correction2);

    const Tensor* second = &v;
    if (o.amsgrad) {
      native::binary_(kOp, BinaryOp::Maximum, max_exp_avg_sqs[i], v);
      second = &max_exp_avg_sqs[i];
    }
    // denom = sqrt(v) / sqrt(bias_correction2) + eps;  p -= step_size * m / denom
    copy_(s, *second);
    sqrt_(s);
    scale_(s, 1.0 / bias_correction2_sqrt);
    add_scalar_(s, o.eps);
    rdiv_(s, -step_size);
    mul_(s, m);
    add_(p, s);
  }
}

void rmsprop(const std::vector<Tensor>& params, const std::vector<Tensor>& grads,
             std::vector<Tensor>& square_avgs, std::vector<Tensor>& grad_avgs,
             std::vector<Tensor>& momentum_buffers, std::vector<double>& steps,
             const RMSpropOptions& o) {
  check_lists("rmsprop", params.size(),
              {grads.size(), square_avgs.size(), grad_avgs.size(), momentum_buffers.size(), steps.size()});
  NoGradGuard no_grad;
  for (size_t i = 0; i < params.size(); ++i) {
    const Tensor& p = params[i];
    if (!square_avgs[i].defined()) square_avgs[i] = zeros_like(p);
    if (o.momentum > 0.0 && !momentum_buffers[i].defined()) momentum_buffers[i] = zeros_like(p);
    if (o.centered && !grad_avgs[i].defined()) grad_avgs[i] = zeros_like(p);
    const Tensor& sq = square_avgs[i];
    steps[i] += 1.0;
    Tensor g = effective_grad(grads[i], p, o.weight_decay, o.maximize);

    // square_avg = alpha square_avg + (1 - alpha) g^2
    Tensor s = native::binary(kOp, BinaryOp::Mul, g, g);
    scale_(s, 1.0 - o.alpha);
    scale_(sq, o.alpha);
    add_(sq, s);
    if (o.centered) {
      // grad_avg = alpha grad_avg + (1 - alpha) g;  avg = sqrt(square_avg - grad_avg^2)
      const Tensor& ga = grad_avgs[i];
      scale_(ga, o.alpha);
      add_scaled_(ga, g, 1.0 - o.alpha, s);
      copy_(s, ga);
      mul_(s, ga);
      scale_(s, -1.0);
      add_(s, sq);
    } else {
      copy_(s, sq);
    }
    sqrt_(s);
    add_scalar_(s, o.eps);  // s = avg
    if (o.momentum > 0.0) {
      // buf = momentum buf + g / avg;  p -= lr buf
      const Tensor& buf = momentum_buffers[i];
      rdiv_(s, 1.0);
      mul_(s, g);
      scale_(buf, o.momentum);
      add_(buf, s);
      add_scaled_(p, buf, -o.lr, s);
    } else {
      rdiv_(s, -o.lr);
      mul_(s, g);
      add_(p, s);
    }
  }
}

void adagrad(const std::vector<Tensor>& params, const std::vector<Tensor>& grads,
             std::vector<Tensor>& state_sums, std::vector<double>& steps, const AdagradOptions& o) {
  check_lists("adagrad", params.size(), {grads.size(), state_sums.size(), steps.size()});
  NoGradGuard no_grad;
  for (size_t i = 0; i < params.size(); ++i) {
    const Tensor& p = params[i];
    if (!state_sums[i].defined()) state_sums[i] = full_like(p, o.initial_accumulator_value);
    const Tensor& sum = state_sums[i];
    const double step = (steps[i] += 1.0);
    Tensor g = effective_grad(grads[i], p, o.weight_decay, o.maximize);
    const double clr = o.lr / (1.0 + (step - 1.0) * o.lr_decay);
    // sum += g^2;  p -= clr g / (sqrt(sum) + eps)
    Tensor s = native::binary(kOp, BinaryOp::Mul, g, g);
    add_(sum, s);
    copy_(s, sum);
    sqrt_(s);
    add_scalar_(s, o.eps);
    rdiv_(s, -clr);
    mul_(s, g);
    add_(p, s);
  }
}

}  // namespace tg::optim::functional
