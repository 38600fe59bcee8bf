// nn::Module: named parameters, buffers and submodules (nested names like "layers.0.weight"),
// train/eval, to(device/dtype), state_dict / load_state_dict, and printing, as in PyTorch.
#pragma once
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "../autograd/functions.h"
#include "../core/tensor.h"

namespace tg::nn {

// Ordered (name, tensor) pairs: the order parameters were registered, depth first.
using StateDict = std::vector<std::pair<std::string, Tensor>>;

class Module {
 public:
  explicit Module(std::string type_name) : type_name_(std::move(type_name)) {}
  virtual ~Module() = default;
  Module(const Module&) = delete;
  Module& operator=(const Module&) = delete;

  // Modules with one input and one output override this; Sequential chains them.
  virtual Tensor forward(const Tensor& input);
  Tensor operator()(const Tensor& input) { return forward(input); }

  std::vector<Tensor> parameters(bool recurse = true) const;
  StateDict named_parameters(bool recurse = true) const;
  StateDict named_buffers(bool recurse = true) const;
  std::vector<std::pair<std::string, std::shared_ptr<Module>>> named_children() const { return children_; }
  // Every module below this one (not this one), depth first, with dotted names.
  std::vector<std::pair<std::string, std::shared_ptr<Module>>> named_modules() const;

  virtual void train(bool on = true);
  void eval() { train(false); }
  bool is_training() const { return training_; }

  void to(Device device);
  void to(DType dtype);  // floating-point parameters and buffers only
  void zero_grad(bool set_to_none = true);

  StateDict state_dict() const;  // parameters, then buffers, of each module in order
  // Copies values into this module's tensors. strict: every key must match both ways; shapes
  // always must. Errors name the keys.
  void load_state_dict(const StateDict& dict, bool strict = true);

  const std::string& type_name() const { return type_name_; }
  virtual std::string extra_repr() const { return ""; }
  std::string repr() const;  // "Sequential(\n  (0): Linear(in_features=...)\n ...)"

  Tensor register_parameter(const std::string& name, Tensor value, bool requires_grad = true);
  Tensor register_buffer(const std::string& name, Tensor value);
  template <class M>
  std::shared_ptr<M> register_module(const std::string& name, std::shared_ptr<M> module) {
    add_child(name, module);
    return module;
  }

 protected:
  Tensor& parameter_slot(const std::string& name);

 private:
  void add_child(const std::string& name, std::shared_ptr<Module> module);
  void check_new_name(const std::string& name) const;
  void apply_to_tensors(const std::function<Tensor(const Tensor&)>& convert);
  std::string repr_indented(int indent) const;

  std::string type_name_;
  bool training_ = true;
  std::vector<std::pair<std::string, Tensor>> parameters_;
  std::vector<std::pair<std::string, Tensor>> buffers_;
  std::vector<std::pair<std::string, std::shared_ptr<Module>>> children_;
};

std::ostream& operator<<(std::ostream& os, const Module& m);

// Runs its children in order.
class Sequential : public Module {
 public:
  Sequential() : Module("Sequential") {}
  explicit Sequential(std::vector<std::shared_ptr<Module>> modules);
  void push_back(std::shared_ptr<Module> module);
  std::shared_ptr<Module> operator[](size_t i) const;
  size_t size() const { return named_children().size(); }
  Tensor forward(const Tensor& input) override;
};

// Holds submodules under the names 0, 1, ...; has no forward of its own.
class ModuleList : public Module {
 public:
  ModuleList() : Module("ModuleList") {}
  explicit ModuleList(std::vector<std::shared_ptr<Module>> modules);
  void push_back(std::shared_ptr<Module> module);
  std::shared_ptr<Module> operator[](size_t i) const;
  size_t size() const { return named_children().size(); }
};

}  // namespace tg::nn
