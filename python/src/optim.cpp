// tapegrad.optim's engine side (_C._optim): the C++ optimizers over Python's parameter groups,
// their state dicts as plain Python data, the schedulers, gradient clipping and early stopping.
#include <pybind11/functional.h>

#include "bind.h"

namespace tgpy {

namespace {

namespace optim = tg::optim;

// Python's groups: a list of (params, {option: number}) pairs.
using PyGroups = std::vector<std::pair<std::vector<Tensor>, optim::OptionMap>>;

template <class Options>
Options options_from_map(const char* name, const optim::OptionMap& given) {
  optim::OptionMap all = Options{}.to_map();
  for (const auto& [k, v] : given) {
    TG_CHECK(all.count(k), Type, name, ": unexpected option '", k, "'");
    all[k] = v;
  }
  return Options::from_group(optim::ParamGroup({}, all));
}

std::vector<optim::ParamGroup> to_groups(const PyGroups& groups) {
  std::vector<optim::ParamGroup> out;
  for (const auto& [params, options] : groups) out.emplace_back(params, options);
  return out;
}

py::dict param_state_to_py(const optim::ParamState& s) {
  py::dict d;
  for (const auto& [k, v] : s.scalars) d[py::str(k)] = v;
  for (const auto& [k, v] : s.tensors) d[py::str(k)] = v;
  for (const auto& [k, v] : s.tensor_lists) d[py::str(k)] = v;
  return d;
}

optim::ParamState param_state_from_py(const py::dict& d) {
  optim::ParamState s;
  for (auto kv : d) {
    const std::string k = py::cast<std::string>(kv.first);
    if (py::isinstance<tg::TensorImpl>(kv.second))
      s.tensors[k] = py::cast<Tensor>(kv.second);
    else if (py::isinstance<py::list>(kv.second) || py::isinstance<py::tuple>(kv.second))
      s.tensor_lists[k] = py::cast<std::vector<Tensor>>(kv.second);
    else
      s.scalars[k] = to_double(kv.second);
  }
  return s;
}

// PyTorch's optimizer.state_dict() layout: {"state": {index: {...}}, "param_groups": [{...,
// "params": [indices]}]}; string options (LBFGS's line_search_fn) sit beside the numbers.
py::dict state_dict_to_py(const optim::OptimizerStateDict& sd) {
  py::dict state;
  for (const auto& [i, s] : sd.state) state[py::int_(i)] = param_state_to_py(s);
  py::list groups;
  for (const auto& g : sd.param_groups) {
    py::dict d;
    for (const auto& [k, v] : g.options) d[py::str(k)] = v;
    for (const auto& [k, v] : g.string_options) d[py::str(k)] = v;
    d["params"] = g.params;
    groups.append(d);
  }
  py::dict out;
  out["state"] = state;
  out["param_groups"] = groups;
  return out;
}

optim::OptimizerStateDict state_dict_from_py(const py::dict& d) {
  TG_CHECK(d.contains("state") && d.contains("param_groups"), Value,
           "load_state_dict: an optimizer state dict has 'state' and 'param_groups'");
  optim::OptimizerStateDict sd;
  for (auto kv : py::cast<py::dict>(d["state"]))
    sd.state[py::cast<int64_t>(kv.first)] = param_state_from_py(py::cast<py::dict>(kv.second));
  for (auto g : py::cast<py::list>(d["param_groups"])) {
    optim::OptimizerStateDict::Group group;
    for (auto kv : py::cast<py::dict>(g)) {
      const std::string k = py::cast<std::string>(kv.first);
      if (k == "params")
        group.params = py::cast<std::vector<int64_t>>(kv.second);
      else if (py::isinstance<py::str>(kv.second))
        group.string_options[k] = py::cast<std::string>(kv.second);
      else if (!kv.second.is_none())
        group.options[k] = to_double(kv.second);
    }
    sd.param_groups.push_back(std::move(group));
  }
  return sd;
}

optim::Optimizer::LossClosure closure_of(const py::object& closure) {
  if (closure.is_none()) return nullptr;
  auto fn = py::cast<py::function>(closure);
  return [fn]() {
    py::gil_scoped_acquire gil;
    py::object r = fn();
    TG_CHECK(py::isinstance<tg::TensorImpl>(r), Type, "step: the closure must return the loss tensor, got ",
             std::string(py::str(py::type::of(r).attr("__name__"))));
    return py::cast<Tensor>(r);
  };
}

template <class Opt, class Options>
void def_optimizer(py::module_& o, const char* name) {
  py::class_<Opt, optim::Optimizer, std::shared_ptr<Opt>>(o, name)
      .def(py::init([name](const PyGroups& groups, const optim::OptionMap& defaults) {
        return std::make_shared<Opt>(to_groups(groups), options_from_map<Options>(name, defaults));
      }), py::arg("groups"), py::arg("defaults"));
}

}  // namespace

void init_optim(py::module_& m) {
  auto o = m.def_submodule("_optim", "the C++ optimizers tapegrad.optim wraps");
  py::class_<optim::Optimizer, std::shared_ptr<optim::Optimizer>>(o, "Optimizer")
      .def("step", [](optim::Optimizer& opt, const py::object& closure) {
        auto c = closure_of(closure);
        py::gil_scoped_release release;
        return opt.step(c);
      }, py::arg("closure") = py::none())
      .def("zero_grad", &optim::Optimizer::zero_grad, py::arg("set_to_none") = true)
      .def("add_param_group", [](optim::Optimizer& opt, const std::vector<Tensor>& params, const optim::OptionMap& options) {
        opt.add_param_group(optim::ParamGroup(params, options));
      })
      .def("num_groups", [](const optim::Optimizer& opt) { return opt.param_groups().size(); })
      .def("group_params", [](const optim::Optimizer& opt, size_t i) {
        TG_CHECK(i < opt.param_groups().size(), Index, "param_groups: index ", i, " out of range");
        return opt.param_groups()[i].params;
      })
      .def("group_options", [](const optim::Optimizer& opt, size_t i) {
        TG_CHECK(i < opt.param_groups().size(), Index, "param_groups: index ", i, " out of range");
        py::dict d;
        for (const auto& [k, v] : opt.param_groups()[i].options) d[py::str(k)] = v;
        for (const auto& [k, v] : opt.param_groups()[i].string_options) d[py::str(k)] = v;
        return d;
      })
      .def("set_group_option", [](optim::Optimizer& opt, size_t i, const std::string& key, double value) {
        TG_CHECK(i < opt.param_groups().size(), Index, "param_groups: index ", i, " out of range");
        opt.param_groups()[i].set(key, value);
      })
      .def_property_readonly("defaults", &optim::Optimizer::defaults)
      .def_property_readonly("name", &optim::Optimizer::name)
      .def("param_state", [](optim::Optimizer& opt, const Tensor& p) -> py::object {
        if (!opt.has_state(p)) return py::dict();
        return param_state_to_py(opt.state(p));
      })
      .def("state_dict", [](const optim::Optimizer& opt) { return state_dict_to_py(opt.state_dict()); })
      .def("load_state_dict", [](optim::Optimizer& opt, const py::dict& d) { opt.load_state_dict(state_dict_from_py(d)); });

  def_optimizer<optim::SGD, optim::SGDOptions>(o, "SGD");
  def_optimizer<optim::Adam, optim::AdamOptions>(o, "Adam");
  def_optimizer<optim::AdamW, optim::AdamWOptions>(o, "AdamW");
  def_optimizer<optim::RMSprop, optim::RMSpropOptions>(o, "RMSprop");
  def_optimizer<optim::Adagrad, optim::AdagradOptions>(o, "Adagrad");
  py::class_<optim::LBFGS, optim::Optimizer, std::shared_ptr<optim::LBFGS>>(o, "LBFGS")
      .def(py::init([](const std::vector<Tensor>& params, const optim::OptionMap& defaults,
                       const std::string& line_search_fn) {
        auto opts = options_from_map<optim::LBFGSOptions>("LBFGS", defaults);
        opts.line_search_fn = line_search_fn;
        return std::make_shared<optim::LBFGS>(params, opts);
      }), py::arg("params"), py::arg("defaults"), py::arg("line_search_fn"));

  o.def("save_state_dict", [](const py::dict& d, const std::string& path) {
    auto sd = state_dict_from_py(d);
    py::gil_scoped_release release;
    optim::save_state_dict(sd, path);
  });
  o.def("load_state_dict", [](const std::string& path) {
    optim::OptimizerStateDict sd;
    {
      py::gil_scoped_release release;
      sd = optim::load_state_dict(path);
    }
    return state_dict_to_py(sd);
  });

  // Schedulers keep their optimizer alive (keep_alive<1, 2>).
  using Sched = optim::LRScheduler;
  py::class_<Sched, std::shared_ptr<Sched>>(o, "LRScheduler")
      .def("step", &Sched::step)
      .def("get_last_lr", &Sched::get_last_lr)
      .def_property_readonly("last_epoch", &Sched::last_epoch)
      .def_property_readonly("base_lrs", &Sched::base_lrs);
  py::class_<optim::StepLR, Sched, std::shared_ptr<optim::StepLR>>(o, "StepLR")
      .def(py::init<optim::Optimizer&, int64_t, double, int64_t>(), py::keep_alive<1, 2>(), py::arg("optimizer"),
           py::arg("step_size"), py::arg("gamma") = 0.1, py::arg("last_epoch") = -1);
  py::class_<optim::MultiStepLR, Sched, std::shared_ptr<optim::MultiStepLR>>(o, "MultiStepLR")
      .def(py::init<optim::Optimizer&, std::vector<int64_t>, double, int64_t>(), py::keep_alive<1, 2>(),
           py::arg("optimizer"), py::arg("milestones"), py::arg("gamma") = 0.1, py::arg("last_epoch") = -1);
  py::class_<optim::ExponentialLR, Sched, std::shared_ptr<optim::ExponentialLR>>(o, "ExponentialLR")
      .def(py::init<optim::Optimizer&, double, int64_t>(), py::keep_alive<1, 2>(), py::arg("optimizer"),
           py::arg("gamma"), py::arg("last_epoch") = -1);
  py::class_<optim::CosineAnnealingLR, Sched, std::shared_ptr<optim::CosineAnnealingLR>>(o, "CosineAnnealingLR")
      .def(py::init<optim::Optimizer&, int64_t, double, int64_t>(), py::keep_alive<1, 2>(), py::arg("optimizer"),
           py::arg("T_max"), py::arg("eta_min") = 0.0, py::arg("last_epoch") = -1);
  py::class_<optim::OneCycleLR, Sched, std::shared_ptr<optim::OneCycleLR>>(o, "OneCycleLR")
      .def(py::init([](optim::Optimizer& opt, std::vector<double> max_lr, int64_t total_steps, int64_t epochs,
                       int64_t steps_per_epoch, double pct_start, const std::string& anneal, bool cycle_momentum,
                       std::vector<double> base_m, std::vector<double> max_m, double div, double final_div,
                       bool three_phase, int64_t last_epoch) {
        optim::OneCycleLROptions x;
        x.max_lr = std::move(max_lr);
        x.total_steps = total_steps;
        x.epochs = epochs;
        x.steps_per_epoch = steps_per_epoch;
        x.pct_start = pct_start;
        x.anneal_strategy = anneal;
        x.cycle_momentum = cycle_momentum;
        x.base_momentum = std::move(base_m);
        x.max_momentum = std::move(max_m);
        x.div_factor = div;
        x.final_div_factor = final_div;
        x.three_phase = three_phase;
        x.last_epoch = last_epoch;
        return std::make_shared<optim::OneCycleLR>(opt, x);
      }), py::keep_alive<1, 2>());
  py::class_<optim::ReduceLROnPlateau, std::shared_ptr<optim::ReduceLROnPlateau>>(o, "ReduceLROnPlateau")
      .def(py::init([](optim::Optimizer& opt, const std::string& mode, double factor, int64_t patience, double threshold,
                       const std::string& threshold_mode, int64_t cooldown, std::vector<double> min_lr, double eps) {
        return std::make_shared<optim::ReduceLROnPlateau>(
            opt, optim::ReduceLROnPlateauOptions{mode, factor, patience, threshold, threshold_mode, cooldown,
                                                 std::move(min_lr), eps});
      }), py::keep_alive<1, 2>())
      .def("step", [](optim::ReduceLROnPlateau& s, const py::object& metric) { s.step(to_double(metric)); },
           py::arg("metrics"))
      .def("get_last_lr", &optim::ReduceLROnPlateau::get_last_lr)
      .def_property_readonly("best", &optim::ReduceLROnPlateau::best)
      .def_property_readonly("num_bad_epochs", &optim::ReduceLROnPlateau::num_bad_epochs)
      .def_property_readonly("last_epoch", &optim::ReduceLROnPlateau::last_epoch)
      .def_property_readonly("in_cooldown", &optim::ReduceLROnPlateau::in_cooldown);

  o.def("clip_grad_norm_", [](const std::vector<Tensor>& params, double max_norm, double norm_type, bool err) {
    py::gil_scoped_release release;
    return optim::clip_grad_norm_(params, max_norm, norm_type, err);
  }, py::arg("parameters"), py::arg("max_norm"), py::arg("norm_type") = 2.0, py::arg("error_if_nonfinite") = false);
  o.def("clip_grad_value_", &optim::clip_grad_value_, py::arg("parameters"), py::arg("clip_value"));
  py::class_<optim::EarlyStopping>(o, "EarlyStopping")
      .def(py::init<int64_t, double, std::string>(), py::arg("patience") = 10, py::arg("min_delta") = 0.0,
           py::arg("mode") = "min")
      .def("step", [](optim::EarlyStopping& e, const py::object& metric) { return e.step(to_double(metric)); },
           py::arg("metric"))
      .def_property_readonly("should_stop", &optim::EarlyStopping::should_stop)
      .def_property_readonly("best", &optim::EarlyStopping::best)
      .def_property_readonly("best_epoch", &optim::EarlyStopping::best_epoch)
      .def_property_readonly("num_bad_epochs", &optim::EarlyStopping::num_bad_epochs)
      .def("reset", &optim::EarlyStopping::reset);
}

}  // namespace tgpy
