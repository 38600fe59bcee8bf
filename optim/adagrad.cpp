#include "adagrad.h"

#include "../autograd/node.h"
#include "functional.h"

namespace tg::optim {

OptionMap AdagradOptions::to_map() const {
  return {{"lr", lr},
          {"lr_decay", lr_decay},
          {"weight_decay", weight_decay},
          {"initial_accumulator_value", initial_accumulator_value},
          {"eps", eps},
          {"maximize", maximize ? 1.0 : 0.0}};
}

AdagradOptions AdagradOptions::from_group(const ParamGroup& g) {
  AdagradOptions o;
  o.lr = g.get("lr");
  o.lr_decay = g.get("lr_decay");
  o.weight_decay = g.get("weight_decay");
  o.initial_accumulator_value = g.get("initial_accumulator_value");
  o.eps = g.get("eps");
  o.maximize = g.get("maximize") != 0.0;
  return o;
}

namespace {
void validate_adagrad(const ParamGroup& g) {
  const AdagradOptions o = AdagradOptions::from_group(g);
  detail::check_non_negative("Adagrad", "learning rate", o.lr);
  detail::check_non_negative("Adagrad", "lr_decay value", o.lr_decay);
  detail::check_non_negative("Adagrad", "weight_decay value", o.weight_decay);
  detail::check_non_negative("Adagrad", "initial_accumulator_value value", o.initial_accumulator_value);
  detail::check_non_negative("Adagrad", "epsilon value", o.eps);
}
}  // namespace

Adagrad::Adagrad(std::vector<Tensor> params, const AdagradOptions& options)
    : Adagrad(single_group(std::move(params)), options) {}

Adagrad::Adagrad(std::vector<ParamGroup> groups, const AdagradOptions& options)
    : Optimizer("Adagrad", options.to_map(), validate_adagrad) {
  add_param_groups(std::move(groups));
  init_state();
}

void Adagrad::init_state() {
  // As PyTorch, the state exists from the start (so a state_dict taken before any step has it).
  NoGradGuard no_grad;
  for (const auto& group : groups_) {
    const double init = group.get("initial_accumulator_value");
    for (const auto& p : group.params) {
      ParamState& st = state(p);
      if (!st.scalars.count("step")) st.scalars["step"] = 0.0;
      if (!st.tensors.count("sum")) st.tensors["sum"] = full_like(p, init);
    }
  }
}

Tensor Adagrad::step(const LossClosure& closure) {
  Tensor loss = evaluate(closure);
  init_state();  // groups added since construction
  std::vector<Tensor> params, grads, sums;
  std::vector<double> steps;
  for (const auto& group : groups_) {
    params_with_grad(group, params, grads);
    if (params.empty()) continue;
    const AdagradOptions o = AdagradOptions::from_group(group);
    sums.clear();
    steps.clear();
    for (const auto& p : params) {
      const ParamState& st = state(p);
      sums.push_back(st.tensor("sum"));
      steps.push_back(st.scalar("step"));
    }
    functional::adagrad(params, grads, sums, steps, o);
    for (size_t i = 0; i < params.size(); ++i) {
      ParamState& st = state(params[i]);
      st.scalars["step"] = steps[i];
      st.tensors["sum"] = sums[i];
    }
  }
  return loss;
}

}  // namespace tg::optim
