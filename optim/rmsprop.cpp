#include "rmsprop.h"

#include "../autograd/node.h"
#include "functional.h"

namespace tg::optim {

OptionMap RMSpropOptions::to_map() const {
  return {{"lr", lr},
          {"alpha", alpha},
          {"eps", eps},
          {"weight_decay", weight_decay},
          {"momentum", momentum},
          {"centered", centered ? 1.0 : 0.0},
          {"maximize", maximize ? 1.0 : 0.0}};
}

RMSpropOptions RMSpropOptions::from_group(const ParamGroup& g) {
  RMSpropOptions o;
  o.lr = g.get("lr");
  o.alpha = g.get("alpha");
  o.eps = g.get("eps");
  o.weight_decay = g.get("weight_decay");
  o.momentum = g.get("momentum");
  o.centered = g.get("centered") != 0.0;
  o.maximize = g.get("maximize") != 0.0;
  return o;
}

namespace {
void validate_rmsprop(const ParamGroup& g) {
  const RMSpropOptions o = RMSpropOptions::from_group(g);
  detail::check_non_negative("RMSprop", "learning rate", o.lr);
  detail::check_non_negative("RMSprop", "epsilon value", o.eps);
  detail::check_non_negative("RMSprop", "momentum value", o.momentum);
  detail::check_non_negative("RMSprop", "weight_decay value", o.weight_decay);
  detail::check_non_negative("RMSprop", "alpha value", o.alpha);
}
}  // namespace

RMSprop::RMSprop(std::vector<Tensor> params, const RMSpropOptions& options)
    : RMSprop(single_group(std::move(params)), options) {}

RMSprop::RMSprop(std::vector<ParamGroup> groups, const RMSpropOptions& options)
    : Optimizer("RMSprop", options.to_map(), validate_rmsprop) {
  add_param_groups(std::move(groups));
}

Tensor RMSprop::step(const LossClosure& closure) {
  Tensor loss = evaluate(closure);
  std::vector<Tensor> params, grads, square_avgs, grad_avgs, bufs;
  std::vector<double> steps;
  for (const auto& group : groups_) {
    params_with_grad(group, params, grads);
    if (params.empty()) continue;
    const RMSpropOptions o = RMSpropOptions::from_group(group);
    square_avgs.clear();
    grad_avgs.clear();
    bufs.clear();
    steps.clear();
    for (const auto& p : params) {
      const ParamState& st = state(p);
      square_avgs.push_back(st.tensor("square_avg"));
      grad_avgs.push_back(st.tensor("grad_avg"));
      bufs.push_back(st.tensor("momentum_buffer"));
      steps.push_back(st.scalar("step"));
    }
    functional::rmsprop(params, grads, square_avgs, grad_avgs, bufs, steps, o);
    for (size_t i = 0; i < params.size(); ++i) {
      ParamState& st = state(params[i]);
      st.scalars["step"] = steps[i];
      st.tensors["square_avg"] = square_avgs[i];
      if (grad_avgs[i].defined()) st.tensors["grad_avg"] = grad_avgs[i];
      if (bufs[i].defined()) st.tensors["momentum_buffer"] = bufs[i];
    }
  }
  return loss;
}

}  // namespace tg::optim
