#include "sgd.h"

#include "../autograd/node.h"
#include "functional.h"

namespace tg::optim {

OptionMap SGDOptions::to_map() const {
  return {{"lr", lr},
          {"momentum", momentum},
          {"dampening", dampening},
          {"weight_decay", weight_decay},
          {"nesterov", nesterov ? 1.0 : 0.0},
          {"maximize", maximize ? 1.0 : 0.0}};
}

SGDOptions SGDOptions::from_group(const ParamGroup& g) {
  SGDOptions o;
  o.lr = detail::required("SGD", g, "lr");
  o.momentum = g.get("momentum");
  o.dampening = g.get("dampening");
  o.weight_decay = g.get("weight_decay");
  o.nesterov = g.get("nesterov") != 0.0;
  o.maximize = g.get("maximize") != 0.0;
  return o;
}

namespace {
void validate_sgd(const ParamGroup& g) {
  const SGDOptions o = SGDOptions::from_group(g);
  detail::check_non_negative("SGD", "learning rate", o.lr);
  detail::check_non_negative("SGD", "momentum value", o.momentum);
  detail::check_non_negative("SGD", "weight_decay value", o.weight_decay);
  TG_CHECK(!o.nesterov || (o.momentum > 0.0 && o.dampening == 0.0), Value,
           "SGD: Nesterov momentum requires a momentum and zero dampening (got momentum=",
           o.momentum, ", dampening=", o.dampening, ")");
}
}  // namespace

SGD::SGD(std::vector<Tensor> params, const SGDOptions& options)
    : SGD(single_group(std::move(params)), options) {}

SGD::SGD(std::vector<ParamGroup> groups, const SGDOptions& options)
    : Optimizer("SGD", options.to_map(), validate_sgd) {
  add_param_groups(std::move(groups));
}

Tensor SGD::step(const LossClosure& closure) {
  Tensor loss = evaluate(closure);
  std::vector<Tensor> params, grads, bufs;
  for (const auto& group : groups_) {
    params_with_grad(group, params, grads);
    if (params.empty()) continue;
    const SGDOptions o = SGDOptions::from_group(group);
    bufs.clear();
    for (const auto& p : params) bufs.push_back(state(p).tensor("momentum_buffer"));
    functional::sgd(params, grads, bufs, o);
    if (o.momentum != 0.0)
      for (size_t i = 0; i < params.size(); ++i) state(params[i]).tensors["momentum_buffer"] = bufs[i];
  }
  return loss;
}

}  // namespace tg::optim
