#include "module.h"

#include <set>
#include <sstream>

#include "../core/native.h"

namespace tg::nn {

Tensor Module::forward(const Tensor&) {
  TG_FAIL(Runtime, type_name_, ": this module does not take a single tensor; call its own forward");
}

void Module::check_new_name(const std::string& name) const {
  TG_CHECK(!name.empty() && name.find('.') == std::string::npos, Value, type_name_,
           ": invalid name \"", name, "\" (names must be non-empty and contain no '.')");
  auto taken = [&](const auto& list) {
    for (const auto& [n, _] : list)
      if (n == name) return true;
    return false;
  };
  TG_CHECK(!taken(parameters_) && !taken(buffers_) && !taken(children_), Value, type_name_,
           ": the name \"", name, "\" is already registered");
}

Tensor Module::register_parameter(const std::string& name, Tensor value, bool requires_grad) {
  check_new_name(name);
  if (value.defined()) {
    TG_CHECK(!requires_grad || value.is_floating_point(), Type, type_name_, ": parameter \"", name,
             "\" must be floating-point to require grad, got ", value.dtype());
    if (!value.is_leaf()) value = value.detach();
    value.requires_grad_(requires_grad);
  }
  parameters_.emplace_back(name, value);
  return value;
}

Tensor Module::register_buffer(const std::string& name, Tensor value) {
  check_new_name(name);
  buffers_.emplace_back(name, value);
  return value;
}

void Module::add_child(const std::string& name, std::shared_ptr<Module> module) {
  check_new_name(name);
  TG_CHECK(module != nullptr, Value, type_name_, ": submodule \"", name, "\" is null");
  children_.emplace_back(name, std::move(module));
}

Tensor& Module::parameter_slot(const std::string& name) {
  for (auto& [n, t] : parameters_)
    if (n == name) return t;
  TG_FAIL(Value, type_name_, ": no parameter named \"", name, "\"");
}

StateDict Module::named_parameters(bool recurse) const {
  StateDict out;
  for (const auto& [n, t] : parameters_)
    if (t.defined()) out.emplace_back(n, t);
  if (recurse)
    for (const auto& [child_name, child] : children_)
      for (auto& [n, t] : child->named_parameters(true)) out.emplace_back(child_name + "." + n, t);
  return out;
}

StateDict Module::named_buffers(bool recurse) const {
  StateDict out;
  for (const auto& [n, t] : buffers_)
    if (t.defined()) out.emplace_back(n, t);
  if (recurse)
    for (const auto& [child_name, child] : children_)
      for (auto& [n, t] : child->named_buffers(true)) out.emplace_back(child_name + "." + n, t);
  return out;
}

std::vector<Tensor> Module::parameters(bool recurse) const {
  std::vector<Tensor> out;
  // A tensor shared by two modules (tied weights) is listed once, as in PyTorch.
  std::set<const TensorImpl*> seen;
  for (auto& [n, t] : named_parameters(recurse))
    if (seen.insert(t.impl()).second) out.push_back(t);
  return out;
}

std::vector<std::pair<std::string, std::shared_ptr<Module>>> Module::named_modules() const {
  std::vector<std::pair<std::string, std::shared_ptr<Module>>> out;
  for (const auto& [name, child] : children_) {
    out.emplace_back(name, child);
    for (auto& [n, m] : child->named_modules()) out.emplace_back(name + "." + n, m);
  }
  return out;
}

void Module::train(bool on) {
  training_ = on;
  for (auto& [_, child] : children_) child->train(on);
}

void Module::apply_to_tensors(const std::function<Tensor(const Tensor&)>& convert) {
  NoGradGuard no_grad;
  for (auto* list : {&parameters_, &buffers_})
    for (auto& [_, t] : *list) {
      if (!t.defined()) continue;
      Tensor converted = convert(t);
      if (converted.is_same(t)) continue;
      Tensor grad = t.grad();
      t.set_data(converted);
      if (grad.defined()) t.set_grad(convert(grad));
    }
  for (auto& [_, child] : children_) child->apply_to_tensors(convert);
}

void Module::to(Device device) {
  apply_to_tensors([device](const Tensor& t) { return native::to_device(t, device); });
}

void Module::to(DType dtype) {
  TG_CHECK(is_floating(dtype), Type, type_name_, ".to: expected a floating-point dtype, got ", dtype);
  apply_to_tensors([dtype](const Tensor& t) {
    return t.is_floating_point() ? native::to_dtype(t, dtype) : t;
  });
}

void Module::zero_grad(bool set_to_none) {
  for (const Tensor& p : parameters()) {
    if (!p.grad().defined()) continue;
    if (set_to_none) p.set_grad(Tensor());
    else native::fill_(p.grad(), 0.0);
  }
}

StateDict Module::state_dict() const {
  StateDict out;
  for (const auto& [n, t] : parameters_)
    if (t.defined()) out.emplace_back(n, t.detach());
  for (const auto& [n, t] : buffers_)
    if (t.defined()) out.emplace_back(n, t.detach());
  for (const auto& [child_name, child] : children_)
    for (auto& [n, t] : child->state_dict()) out.emplace_back(child_name + "." + n, t);
  return out;
}

void Module::load_state_dict(const StateDict& dict, bool strict) {
  StateDict own = state_dict();
  std::vector<std::string> missing, unexpected;
  std::set<std::string> given;
  for (const auto& [n, _] : dict) given.insert(n);
  for (const auto& [n, _] : own)
    if (!given.count(n)) missing.push_back(n);
  std::set<std::string> known;
  for (const auto& [n, _] : own) known.insert(n);
  for (const auto& [n, _] : dict)
    if (!known.count(n)) unexpected.push_back(n);
  if (strict && (!missing.empty() || !unexpected.empty())) {
    std::ostringstream os;
    os << type_name_ << ".load_state_dict: ";
    auto list = [&os](const char* what, const std::vector<std::string>& keys) {
      os << what << " keys: ";
      for (size_t i = 0; i < keys.size(); ++i) os << (i ? ", " : "") << '"' << keys[i] << '"';
    };
    if (!missing.empty()) list("missing", missing);
    if (!missing.empty() && !unexpected.empty()) os << "; ";
    if (!unexpected.empty()) list("unexpected", unexpected);
    TG_FAIL(Value, os.str());
  }
  NoGradGuard no_grad;
  for (const auto& [n, target] : own) {
    for (const auto& [m, source] : dict) {
      if (m != n) continue;
      TG_CHECK(source.sizes() == target.sizes(), Value, type_name_, ".load_state_dict: \"", n,
               "\" has shape ", source.sizes(), " in the state dict but ", target.sizes(),
               " in the model");
      native::copy_(target, native::to_device(source, target.device()));
    }
  }
}

std::string Module::repr_indented(int indent) const {
  std::ostringstream os;
  os << type_name_ << "(" << extra_repr();
  if (!children_.empty()) {
    os << "\n";
    for (const auto& [name, child] : children_)
      os << std::string(indent + 2, ' ') << "(" << name << "): " << child->repr_indented(indent + 2) << "\n";
    os << std::string(indent, ' ');
  }
  os << ")";
  return os.str();
}

std::string Module::repr() const { return repr_indented(0); }

std::ostream& operator<<(std::ostream& os, const Module& m) { return os << m.repr(); }

// ---------------------------------------------------------------- containers

Sequential::Sequential(std::vector<std::shared_ptr<Module>> modules) : Module("Sequential") {
  for (auto& m : modules) push_back(std::move(m));
}

void Sequential::push_back(std::shared_ptr<Module> module) {
  register_module(std::to_string(size()), std::move(module));
}

std::shared_ptr<Module> Sequential::operator[](size_t i) const {
  TG_CHECK(i < size(), Index, "Sequential: index ", i, " is out of range for ", size(), " modules");
  return named_children()[i].second;
}

Tensor Sequential::forward(const Tensor& input) {
  Tensor x = input;
  for (const auto& [_, m] : named_children()) x = m->forward(x);
  return x;
}

ModuleList::ModuleList(std::vector<std::shared_ptr<Module>> modules) : Module("ModuleList") {
  for (auto& m : modules) push_back(std::move(m));
}

void ModuleList::push_back(std::shared_ptr<Module> module) {
  register_module(std::to_string(size()), std::move(module));
}

std::shared_ptr<Module> ModuleList::operator[](size_t i) const {
  TG_CHECK(i < size(), Index, "ModuleList: index ", i, " is out of range for ", size(), " modules");
  return named_children()[i].second;
}

}  // namespace tg::nn
