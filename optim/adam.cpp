#include "adam.h"

#include "../autograd/node.h"
#include "functional.h"

namespace tg::optim {

namespace {

OptionMap adam_map(double lr, double beta1, double beta2, double eps, double weight_decay,
                   bool amsgrad, bool maximize) {
  return {{"lr", lr},
          {"beta1", beta1},
          {"beta2", beta2},
          {"eps", eps},
          {"weight_decay", weight_decay},
          {"amsgrad", amsgrad ? 1.0 : 0.0},
          {"maximize", maximize ? 1.0 : 0.0}};
}

template <class Options>
Options adam_from_group(const ParamGroup& g) {
  Options o;
  o.lr = g.get("lr");
  o.beta1 = g.get("beta1");
  o.beta2 = g.get("beta2");
  o.eps = g.get("eps");
  o.weight_decay = g.get("weight_decay");
  o.amsgrad = g.get("amsgrad") != 0.0;
  o.maximize = g.get("maximize") != 0.0;
  return o;
}

template <class Options>
void validate_adam(const char* name, const ParamGroup& g) {
  const Options o = adam_from_group<Options>(g);
  detail::check_non_negative(name, "learning rate", o.lr);
  detail::check_non_negative(name, "epsilon value", o.eps);
  detail::check_beta(name, 0, o.beta1);
  detail::check_beta(name, 1, o.beta2);
  detail::check_non_negative(name, "weight_decay value", o.weight_decay);
}

// One Adam/AdamW step over every group.
void adam_step(Optimizer& opt, bool decoupled) {
  std::vector<Tensor> params, grads, exp_avgs, exp_avg_sqs, max_exp_avg_sqs;
  std::vector<double> steps;
  for (const auto& group : opt.param_groups()) {
    params.clear();
    grads.clear();
    for (const auto& p : group.params)
      if (p.grad().defined()) {
        params.push_back(p);
        grads.push_back(p.grad());
      }
    if (params.empty()) continue;
    const AdamOptions o = adam_from_group<AdamOptions>(group);
    exp_avgs.clear();
    exp_avg_sqs.clear();
    max_exp_avg_sqs.clear();
    steps.clear();
    for (const auto& p : params) {
      const ParamState& st = opt.state(p);
      exp_avgs.push_back(st.tensor("exp_avg"));
      exp_avg_sqs.push_back(st.tensor("exp_avg_sq"));
      max_exp_avg_sqs.push_back(st.tensor("max_exp_avg_sq"));
      steps.push_back(st.scalar("step"));
    }
    functional::adam(params, grads, exp_avgs, exp_avg_sqs, max_exp_avg_sqs, steps, o, decoupled);
    for (size_t i = 0; i < params.size(); ++i) {
      ParamState& st = opt.state(params[i]);
      st.scalars["step"] = steps[i];
      st.tensors["exp_avg"] = exp_avgs[i];
      st.tensors["exp_avg_sq"] = exp_avg_sqs[i];
      if (max_exp_avg_sqs[i].defined()) st.tensors["max_exp_avg_sq"] = max_exp_avg_sqs[i];
    }
  }
}

}  // namespace

OptionMap AdamOptions::to_map() const {
  return adam_map(lr, beta1, beta2, eps, weight_decay, amsgrad, maximize);
}
AdamOptions AdamOptions::from_group(const ParamGroup& g) { return adam_from_group<AdamOptions>(g); }

OptionMap AdamWOptions::to_map() const {
  return adam_map(lr, beta1, beta2, eps, weight_decay, amsgrad, maximize);
}
AdamWOptions AdamWOptions::from_group(const ParamGroup& g) { return adam_from_group<AdamWOptions>(g); }

Adam::Adam(std::vector<Tensor> params, const AdamOptions& options)
    : Adam(single_group(std::move(params)), options) {}

Adam::Adam(std::vector<ParamGroup> groups, const AdamOptions& options)
    : Optimizer("Adam", options.to_map(), [](const ParamGroup& g) { validate_adam<AdamOptions>("Adam", g); }) {
  add_param_groups(std::move(groups));
}

Tensor Adam::step(const LossClosure& closure) {
  Tensor loss = evaluate(closure);
  adam_step(*this, false);
  return loss;
}

AdamW::AdamW(std::vector<Tensor> params, const AdamWOptions& options)
    : AdamW(single_group(std::move(params)), options) {}

AdamW::AdamW(std::vector<ParamGroup> groups, const AdamWOptions& options)
    : Optimizer("AdamW", options.to_map(),
                [](const ParamGroup& g) { validate_adam<AdamWOptions>("AdamW", g); }) {
  add_param_groups(std::move(groups));
}

Tensor AdamW::step(const LossClosure& closure) {
  Tensor loss = evaluate(closure);
  adam_step(*this, true);
  return loss;
}

}  // namespace tg::optim
