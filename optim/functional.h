// The update rules, one function per optimizer that updates every parameter of one group in one
// call (PyTorch's torch.optim._functional). The optimizers gather a group's parameters that have
// gradients and their state into these lists, call the function, and store the state back.
//
// sgd and adam run fused when the device has the kernels (KernelTable::sgd_step / adam_step: one
// pass per tensor on the CPU, multi-tensor launches on CUDA) and every tensor is dense, of one
// floating dtype and on one device; otherwise, or with set_fused_steps_enabled(false), they run
// the composed loop of in-place ops below, which stays as the reference.
//
// All run without recording onto the tape and write params and state in place. State tensors
// passed undefined are created (e.g. SGD's momentum buffer on the first step).
#pragma once
#include <vector>

#include "../core/tensor.h"
#include "adagrad.h"
#include "adam.h"
#include "rmsprop.h"
#include "sgd.h"

namespace tg::optim::functional {

// On by default; off forces the composed steps (for tests and benchmarks).
void set_fused_steps_enabled(bool enabled);
bool fused_steps_enabled();

void sgd(const std::vector<Tensor>& params, const std::vector<Tensor>& grads,
         std::vector<Tensor>& momentum_buffers, const SGDOptions& options);

// `steps` are the steps taken so far; each is incremented first. decoupled_weight_decay: AdamW
// (the parameter is scaled by 1 - lr * weight_decay) instead of Adam's L2 term in the gradient.
void adam(const std::vector<Tensor>& params, const std::vector<Tensor>& grads,
          std::vector<Tensor>& exp_avgs, std::vector<Tensor>& exp_avg_sqs,
          std::vector<Tensor>& max_exp_avg_sqs, std::vector<double>& steps,
          const AdamOptions& options, bool decoupled_weight_decay = false);

void rmsprop(const std::vector<Tensor>& params, const std::vector<Tensor>& grads,
             std::vector<Tensor>& square_avgs, std::vector<Tensor>& grad_avgs,
             std::vector<Tensor>& momentum_buffers, std::vector<double>& steps,
             const RMSpropOptions& options);

void adagrad(const std::vector<Tensor>& params, const std::vector<Tensor>& grads,
             std::vector<Tensor>& state_sums, std::vector<double>& steps,
             const AdagradOptions& options);

}  // namespace tg::optim::functional
