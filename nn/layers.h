// The layers of tg::nn, with PyTorch's constructor arguments (names, order, defaults), default
// initialization, parameter and buffer names and shapes (so a state dict moves between the two
// unchanged) and printed form (extra_repr). `options` (dtype, device) is PyTorch's
// device=/dtype= pair.
#pragma once
#include <optional>
#include <string>

#include "functional.h"
#include "module.h"

namespace tg::nn {

// y = x W^T + b. weight [out_features, in_features] ~ kaiming_uniform(a = sqrt(5)), i.e.
// U(-1/sqrt(in_features), 1/sqrt(in_features)); bias [out_features] ~ the same bound.
class Linear : public Module {
 public:
  Linear(int64_t in_features, int64_t out_features, bool bias = true, TensorOptions options = {});
  Tensor forward(const Tensor& input) override;
  std::string extra_repr() const override;
  void reset_parameters();

  int64_t in_features, out_features;
  Tensor weight, bias;  // bias undefined when bias=false

 protected:
  // For subclasses that print under another name (PyTorch's NonDynamicallyQuantizableLinear).
  Linear(std::string type_name, int64_t in_features, int64_t out_features, bool bias,
         TensorOptions options);
};

class Identity : public Module {
 public:
  Identity() : Module("Identity") {}
  Tensor forward(const Tensor& input) override { return input; }
};

// Flattens dims start_dim..end_dim into one.
class Flatten : public Module {
 public:
  explicit Flatten(int64_t start_dim = 1, int64_t end_dim = -1)
      : Module("Flatten"), start_dim(start_dim), end_dim(end_dim) {}
  Tensor forward(const Tensor& input) override;
  std::string extra_repr() const override;
  int64_t start_dim, end_dim;
};

class ReLU : public Module {
 public:
  ReLU() : Module("ReLU") {}
  Tensor forward(const Tensor& input) override { return F::relu(input); }
};

class LeakyReLU : public Module {
 public:
  explicit LeakyReLU(double negative_slope = 0.01)
      : Module("LeakyReLU"), negative_slope(negative_slope) {}
  Tensor forward(const Tensor& input) override { return F::leaky_relu(input, negative_slope); }
  std::string extra_repr() const override;
  double negative_slope;
};

class Sigmoid : public Module {
 public:
  Sigmoid() : Module("Sigmoid") {}
  Tensor forward(const Tensor& input) override { return F::sigmoid(input); }
};

class Tanh : public Module {
 public:
  Tanh() : Module("Tanh") {}
  Tensor forward(const Tensor& input) override { return F::tanh(input); }
};

// approximate: "none" (erf) or "tanh".
class GELU : public Module {
 public:
  explicit GELU(std::string approximate = "none");
  Tensor forward(const Tensor& input) override { return F::gelu(input, approximate); }
  std::string extra_repr() const override;
  std::string approximate;
};

// dim absent: PyTorch's legacy choice, dim 0 for 0-, 1- and 3-D inputs, else dim 1.
class Softmax : public Module {
 public:
  explicit Softmax(std::optional<int64_t> dim = std::nullopt) : Module("Softmax"), dim(dim) {}
  Tensor forward(const Tensor& input) override;
  std::string extra_repr() const override;
  std::optional<int64_t> dim;
};

class LogSoftmax : public Module {
 public:
  explicit LogSoftmax(std::optional<int64_t> dim = std::nullopt) : Module("LogSoftmax"), dim(dim) {}
  Tensor forward(const Tensor& input) override;
  std::string extra_repr() const override;
  std::optional<int64_t> dim;
};

// Inverted dropout in training (see F::dropout); the identity in eval mode.
class Dropout : public Module {
 public:
  explicit Dropout(double p = 0.5);
  Tensor forward(const Tensor& input) override { return F::dropout(input, p, is_training()); }
  std::string extra_repr() const override;
  double p;
};

// A lookup table: weight [num_embeddings, embedding_dim] ~ N(0, 1); the padding_idx row (negative
// counts from the end; stored normalized) is zeroed at init and never receives a gradient.
class Embedding : public Module {
 public:
  Embedding(int64_t num_embeddings, int64_t embedding_dim,
            std::optional<int64_t> padding_idx = std::nullopt, TensorOptions options = {});
  Tensor forward(const Tensor& input) override;
  std::string extra_repr() const override;
  void reset_parameters();

  int64_t num_embeddings, embedding_dim;
  std::optional<int64_t> padding_idx;
  Tensor weight;
};

// Normalizes over the trailing normalized_shape dims; weight (ones) and bias (zeros) of that
// shape when elementwise_affine.
class LayerNorm : public Module {
 public:
  explicit LayerNorm(Shape normalized_shape, double eps = 1e-5, bool elementwise_affine = true,
                     TensorOptions options = {});
  Tensor forward(const Tensor& input) override;
  std::string extra_repr() const override;
  void reset_parameters();

  Shape normalized_shape;
  double eps;
  bool elementwise_affine;
  Tensor weight, bias;
};

// PyTorch's _BatchNorm: weight (ones) and bias (zeros) [num_features] when affine; buffers
// running_mean (zeros), running_var (ones) [num_features] and num_batches_tracked (int64 scalar)
// when track_running_stats. In training the batch's statistics normalize and update the running
// ones (momentum, or a cumulative average when momentum is absent); in eval mode the running
// statistics normalize (the batch's when track_running_stats is false).
class BatchNormBase : public Module {
 public:
  Tensor forward(const Tensor& input) override;
  std::string extra_repr() const override;
  void reset_running_stats();
  void reset_parameters();

  int64_t num_features;
  double eps;
  std::optional<double> momentum;
  bool affine, track_running_stats;
  Tensor weight, bias, running_mean, running_var, num_batches_tracked;

 protected:
  BatchNormBase(std::string type_name, int64_t num_features, double eps,
                std::optional<double> momentum, bool affine, bool track_running_stats,
                TensorOptions options);
  virtual void check_input_dim(const Tensor& input) const = 0;
};

// Input [N, C] or [N, C, L].
class BatchNorm1d : public BatchNormBase {
 public:
  explicit BatchNorm1d(int64_t num_features, double eps = 1e-5,
                       std::optional<double> momentum = 0.1, bool affine = true,
                       bool track_running_stats = true, TensorOptions options = {})
      : BatchNormBase("BatchNorm1d", num_features, eps, momentum, affine, track_running_stats,
                      options) {}

 protected:
  void check_input_dim(const Tensor& input) const override;
};

// Input [N, C, H, W].
class BatchNorm2d : public BatchNormBase {
 public:
  explicit BatchNorm2d(int64_t num_features, double eps = 1e-5,
                       std::optional<double> momentum = 0.1, bool affine = true,
                       bool track_running_stats = true, TensorOptions options = {})
      : BatchNormBase("BatchNorm2d", num_features, eps, momentum, affine, track_running_stats,
                      options) {}

 protected:
  void check_input_dim(const Tensor& input) const override;
};

// How Python prints these values in PyTorch's reprs: a float as repr(float) ("0.01", "1e-05",
// "1.0"), a shape as a tuple ("(10,)", "(2, 3)").
std::string python_float_repr(double v);
std::string python_tuple_repr(const Shape& s);

}  // namespace tg::nn
