// tapegrad.nn's engine side: the functional ops (_C._F), nn.init (_C._init), the C++ layers the
// Python modules wrap (_C._nn), and safetensors files.
#include <pybind11/functional.h>

#include "bind.h"

namespace tgpy {

namespace {

namespace nn = tg::nn;
namespace F = tg::nn::functional;
using Guard = py::call_guard<py::gil_scoped_release>;

// conv padding: an int, a tuple, or "valid"/"same".
template <class Fn>
Tensor with_conv_padding(const char* op, const py::object& padding, Fn&& fn) {
  if (py::isinstance<py::str>(padding))
    return fn(std::optional<tg::ConvPadding>(tg::conv_padding_from_string(py::cast<std::string>(padding), op)), Shape{});
  return fn(std::optional<tg::ConvPadding>(), int_list(op, "padding", padding));
}

tg::TensorOptions module_options(const py::object& dtype, const py::object& device) {
  return options_from(dtype, device, false);
}

std::vector<std::pair<std::string, Tensor>> local_parameters(const nn::Module& m) {
  return m.named_parameters(false);
}

void init_functional(py::module_& f) {
  f.def("linear", [](const Tensor& x, const Tensor& w, const OptTensor& b) { return F::linear(x, w, or_undefined(b)); },
        py::arg("input"), py::arg("weight"), py::arg("bias") = py::none(), Guard());
  f.def("relu", [](const Tensor& x, bool) { return F::relu(x); }, py::arg("input"), py::arg("inplace") = false);
  f.def("leaky_relu", [](const Tensor& x, double s, bool) { return F::leaky_relu(x, s); }, py::arg("input"),
        py::arg("negative_slope") = 0.01, py::arg("inplace") = false);
  f.def("gelu", [](const Tensor& x, const std::string& a) { return F::gelu(x, a); }, py::arg("input"),
        py::kw_only(), py::arg("approximate") = "none");
  f.def("sigmoid", &F::sigmoid, py::arg("input"));
  f.def("tanh", &F::tanh, py::arg("input"));
  f.def("softplus", [](const Tensor& x, double beta, double threshold) { return tg::softplus(x, beta, threshold); },
        py::arg("input"), py::arg("beta") = 1.0, py::arg("threshold") = 20.0);
  f.def("softmax", [](const Tensor& x, int64_t dim) { return F::softmax(x, dim); }, py::arg("input"), py::arg("dim"));
  f.def("log_softmax", [](const Tensor& x, int64_t dim) { return F::log_softmax(x, dim); }, py::arg("input"), py::arg("dim"));
  f.def("dropout", [](const Tensor& x, double p, bool training, bool) { return F::dropout(x, p, training); },
        py::arg("input"), py::arg("p") = 0.5, py::arg("training") = true, py::arg("inplace") = false);
  // The shape is a Python object: read it before letting go of the GIL.
  f.def("layer_norm", [](const Tensor& x, const py::object& shape, const OptTensor& w, const OptTensor& b, double eps) {
          Shape normalized = int_list("layer_norm", "normalized_shape", shape);
          py::gil_scoped_release no_gil;
          return F::layer_norm(x, normalized, or_undefined(w), or_undefined(b), eps);
        }, py::arg("input"), py::arg("normalized_shape"), py::arg("weight") = py::none(), py::arg("bias") = py::none(),
        py::arg("eps") = 1e-5);
  f.def("batch_norm", [](const Tensor& x, const OptTensor& rm, const OptTensor& rv, const OptTensor& w,
                         const OptTensor& b, bool training, double momentum, double eps) {
          return F::batch_norm(x, or_undefined(rm), or_undefined(rv), or_undefined(w), or_undefined(b), training, momentum, eps);
        }, py::arg("input"), py::arg("running_mean"), py::arg("running_var"), py::arg("weight") = py::none(),
        py::arg("bias") = py::none(), py::arg("training") = false, py::arg("momentum") = 0.1, py::arg("eps") = 1e-5, Guard());
  f.def("embedding", [](const Tensor& x, const Tensor& w, std::optional<int64_t> padding_idx) {
          return F::embedding(x, w, padding_idx);
        }, py::arg("input"), py::arg("weight"), py::arg("padding_idx") = py::none());
  f.def("mse_loss", [](const Tensor& a, const Tensor& b, const std::string& r) { return F::mse_loss(a, b, r); },
        py::arg("input"), py::arg("target"), py::arg("reduction") = "mean");
  f.def("l1_loss", [](const Tensor& a, const Tensor& b, const std::string& r) { return F::l1_loss(a, b, r); },
        py::arg("input"), py::arg("target"), py::arg("reduction") = "mean");
  f.def("smooth_l1_loss", [](const Tensor& a, const Tensor& b, const std::string& r, double beta) {
          return F::smooth_l1_loss(a, b, r, beta);
        }, py::arg("input"), py::arg("target"), py::arg("reduction") = "mean", py::arg("beta") = 1.0);
  f.def("nll_loss", [](const Tensor& a, const Tensor& t, const OptTensor& w, int64_t ignore, const std::string& r) {
          return F::nll_loss(a, t, {or_undefined(w), ignore, r});
        }, py::arg("input"), py::arg("target"), py::arg("weight") = py::none(), py::arg("ignore_index") = -100,
        py::arg("reduction") = "mean");
  f.def("cross_entropy", [](const Tensor& a, const Tensor& t, const OptTensor& w, int64_t ignore,
                            const std::string& r, double ls) {
          return F::cross_entropy(a, t, {or_undefined(w), ignore, r, ls});
        }, py::arg("input"), py::arg("target"), py::arg("weight") = py::none(), py::arg("ignore_index") = -100,
        py::arg("reduction") = "mean", py::arg("label_smoothing") = 0.0, Guard());
  f.def("binary_cross_entropy", [](const Tensor& a, const Tensor& t, const OptTensor& w, const std::string& r) {
          return F::binary_cross_entropy(a, t, {or_undefined(w), r});
        }, py::arg("input"), py::arg("target"), py::arg("weight") = py::none(), py::arg("reduction") = "mean");
  f.def("binary_cross_entropy_with_logits", [](const Tensor& a, const Tensor& t, const OptTensor& w,
                                               const std::string& r, const OptTensor& pw) {
          return F::binary_cross_entropy_with_logits(a, t, {or_undefined(w), r, or_undefined(pw)});
        }, py::arg("input"), py::arg("target"), py::arg("weight") = py::none(), py::arg("reduction") = "mean",
        py::arg("pos_weight") = py::none());
  auto conv = [](bool one_d) {
    return [one_d](const Tensor& x, const Tensor& w, const OptTensor& b, const py::object& stride,
                   const py::object& padding, const py::object& dilation, int64_t groups) {
      const char* op = one_d ? "conv1d" : "conv2d";
      Shape s = int_list(op, "stride", stride), d = int_list(op, "dilation", dilation);
      return with_conv_padding(op, padding, [&](std::optional<tg::ConvPadding> named, const Shape& pad) {
        py::gil_scoped_release release;
        if (named) return one_d ? tg::conv1d(x, w, or_undefined(b), s, *named, d, groups)
                                : tg::conv2d(x, w, or_undefined(b), s, *named, d, groups);
        return one_d ? tg::conv1d(x, w, or_undefined(b), s, pad, d, groups)
                     : tg::conv2d(x, w, or_undefined(b), s, pad, d, groups);
      });
    };
  };
  f.def("conv1d", conv(true), py::arg("input"), py::arg("weight"), py::arg("bias") = py::none(),
        py::arg("stride") = 1, py::arg("padding") = 0, py::arg("dilation") = 1, py::arg("groups") = 1);
  f.def("conv2d", conv(false), py::arg("input"), py::arg("weight"), py::arg("bias") = py::none(),
        py::arg("stride") = 1, py::arg("padding") = 0, py::arg("dilation") = 1, py::arg("groups") = 1);
  f.def("conv_transpose2d", [](const Tensor& x, const Tensor& w, const OptTensor& b, const py::object& stride,
                               const py::object& padding, const py::object& output_padding, int64_t groups,
                               const py::object& dilation) {
          const char* op = "conv_transpose2d";
          Shape s = int_list(op, "stride", stride), p = int_list(op, "padding", padding),
                op_ = int_list(op, "output_padding", output_padding), d = int_list(op, "dilation", dilation);
          py::gil_scoped_release release;
          return tg::conv_transpose2d(x, w, or_undefined(b), s, p, op_, groups, d);
        }, py::arg("input"), py::arg("weight"), py::arg("bias") = py::none(), py::arg("stride") = 1,
        py::arg("padding") = 0, py::arg("output_padding") = 0, py::arg("groups") = 1, py::arg("dilation") = 1);
  f.def("max_pool2d", [](const Tensor& x, const py::object& k, const py::object& stride, const py::object& padding,
                         const py::object& dilation, bool ceil_mode, bool return_indices) -> py::object {
          const char* op = "max_pool2d";
          Shape ks = int_list(op, "kernel_size", k), s = stride.is_none() ? Shape{} : int_list(op, "stride", stride),
                p = int_list(op, "padding", padding), d = int_list(op, "dilation", dilation);
          if (return_indices) return py::cast(tg::max_pool2d_with_indices(x, ks, s, p, d, ceil_mode));
          return py::cast(tg::max_pool2d(x, ks, s, p, d, ceil_mode));
        }, py::arg("input"), py::arg("kernel_size"), py::arg("stride") = py::none(), py::arg("padding") = 0,
        py::arg("dilation") = 1, py::arg("ceil_mode") = false, py::arg("return_indices") = false);
  f.def("avg_pool2d", [](const Tensor& x, const py::object& k, const py::object& stride, const py::object& padding,
                         bool ceil_mode, bool count_include_pad, std::optional<int64_t> divisor_override) {
          const char* op = "avg_pool2d";
          return tg::avg_pool2d(x, int_list(op, "kernel_size", k), stride.is_none() ? Shape{} : int_list(op, "stride", stride),
                                int_list(op, "padding", padding), ceil_mode, count_include_pad, divisor_override);
        }, py::arg("input"), py::arg("kernel_size"), py::arg("stride") = py::none(), py::arg("padding") = 0,
        py::arg("ceil_mode") = false, py::arg("count_include_pad") = true, py::arg("divisor_override") = py::none());
  f.def("adaptive_avg_pool2d", [](const Tensor& x, const py::object& size) {
          return tg::adaptive_avg_pool2d(x, int_list("adaptive_avg_pool2d", "output_size", size));
        }, py::arg("input"), py::arg("output_size"));
  f.def("scaled_dot_product_attention", [](const Tensor& q, const Tensor& k, const Tensor& v, const OptTensor& mask,
                                           double dropout_p, bool is_causal, std::optional<double> scale) {
          return F::scaled_dot_product_attention(q, k, v, or_undefined(mask), dropout_p, is_causal, scale);
        }, py::arg("query"), py::arg("key"), py::arg("value"), py::arg("attn_mask") = py::none(),
        py::arg("dropout_p") = 0.0, py::arg("is_causal") = false, py::kw_only(), py::arg("scale") = py::none(), Guard());
  f.def("masked_softmax", [](const Tensor& x, const Tensor& mask, int64_t dim) { return tg::masked_softmax(x, mask, dim); },
        py::arg("input"), py::arg("mask"), py::arg("dim"));
}

void init_init(py::module_& i) {
  i.def("calculate_gain", &nn::init::calculate_gain, py::arg("nonlinearity"), py::arg("param") = py::none());
  i.def("_calculate_fan_in_and_fan_out", &nn::init::calculate_fan_in_and_fan_out, py::arg("tensor"));
  i.def("uniform_", &nn::init::uniform_, py::arg("tensor"), py::arg("a") = 0.0, py::arg("b") = 1.0);
  i.def("normal_", &nn::init::normal_, py::arg("tensor"), py::arg("mean") = 0.0, py::arg("std") = 1.0);
  i.def("constant_", [](const Tensor& t, const py::object& v) { return nn::init::constant_(t, to_double(v)); },
        py::arg("tensor"), py::arg("val"));
  i.def("zeros_", &nn::init::zeros_, py::arg("tensor"));
  i.def("ones_", &nn::init::ones_, py::arg("tensor"));
  i.def("eye_", &nn::init::eye_, py::arg("tensor"));
  i.def("xavier_uniform_", &nn::init::xavier_uniform_, py::arg("tensor"), py::arg("gain") = 1.0);
  i.def("xavier_normal_", &nn::init::xavier_normal_, py::arg("tensor"), py::arg("gain") = 1.0);
  i.def("kaiming_uniform_", &nn::init::kaiming_uniform_, py::arg("tensor"), py::arg("a") = 0.0,
        py::arg("mode") = "fan_in", py::arg("nonlinearity") = "leaky_relu");
  i.def("kaiming_normal_", &nn::init::kaiming_normal_, py::arg("tensor"), py::arg("a") = 0.0,
        py::arg("mode") = "fan_in", py::arg("nonlinearity") = "leaky_relu");
  i.def("orthogonal_", &nn::init::orthogonal_, py::arg("tensor"), py::arg("gain") = 1.0);
}

// The C++ layers. Python's tapegrad.nn classes build one of these, adopt its parameters, buffers
// and children, and call its forward; constructor arguments are PyTorch's, with dtype/device.
void init_layers(py::module_& l) {
  using ModuleClass = py::class_<nn::Module, std::shared_ptr<nn::Module>>;
  ModuleClass(l, "Module")
      .def("forward", [](nn::Module& m, const Tensor& x) { return m.forward(x); }, Guard())
      .def("named_parameters", &local_parameters)
      .def("named_buffers", [](const nn::Module& m) { return m.named_buffers(false); })
      .def("named_children", &nn::Module::named_children)
      .def("train", &nn::Module::train, py::arg("mode") = true)
      .def("repr", &nn::Module::repr)
      .def("extra_repr", &nn::Module::extra_repr)
      .def_property_readonly("type_name", &nn::Module::type_name);

#define TG_LAYER(Cls) py::class_<nn::Cls, nn::Module, std::shared_ptr<nn::Cls>>(l, #Cls)
  const auto dt = py::arg("dtype") = py::none();
  const auto dev = py::arg("device") = py::none();
  TG_LAYER(Linear).def(py::init([](int64_t i, int64_t o, bool bias, py::object dtype, py::object device) {
    return std::make_shared<nn::Linear>(i, o, bias, module_options(dtype, device));
  }), py::arg("in_features"), py::arg("out_features"), py::arg("bias") = true, dt, dev);
  TG_LAYER(Identity).def(py::init<>());
  TG_LAYER(Flatten).def(py::init<int64_t, int64_t>(), py::arg("start_dim") = 1, py::arg("end_dim") = -1);
  TG_LAYER(ReLU).def(py::init<>());
  TG_LAYER(LeakyReLU).def(py::init<double>(), py::arg("negative_slope") = 0.01);
  TG_LAYER(Sigmoid).def(py::init<>());
  TG_LAYER(Tanh).def(py::init<>());
  TG_LAYER(GELU).def(py::init<std::string>(), py::arg("approximate") = "none");
  TG_LAYER(Softmax).def(py::init<std::optional<int64_t>>(), py::arg("dim") = py::none());
  TG_LAYER(LogSoftmax).def(py::init<std::optional<int64_t>>(), py::arg("dim") = py::none());
  TG_LAYER(Dropout).def(py::init<double>(), py::arg("p") = 0.5);
  TG_LAYER(Embedding).def(py::init([](int64_t n, int64_t d, std::optional<int64_t> pad, py::object dtype, py::object device) {
    return std::make_shared<nn::Embedding>(n, d, pad, module_options(dtype, device));
  }), py::arg("num_embeddings"), py::arg("embedding_dim"), py::arg("padding_idx") = py::none(), dt, dev)
      .def_readonly("padding_idx", &nn::Embedding::padding_idx);
  TG_LAYER(LayerNorm).def(py::init([](const py::object& shape, double eps, bool affine, py::object dtype, py::object device) {
    return std::make_shared<nn::LayerNorm>(int_list("LayerNorm", "normalized_shape", shape), eps, affine,
                                           module_options(dtype, device));
  }), py::arg("normalized_shape"), py::arg("eps") = 1e-5, py::arg("elementwise_affine") = true, dt, dev);
  py::class_<nn::BatchNormBase, nn::Module, std::shared_ptr<nn::BatchNormBase>>(l, "BatchNormBase");
  auto batch_norm = [&](auto tag, const char* name) {
    using B = typename decltype(tag)::type;
    py::class_<B, nn::BatchNormBase, std::shared_ptr<B>>(l, name).def(
        py::init([](int64_t n, double eps, std::optional<double> momentum, bool affine, bool track,
                    py::object dtype, py::object device) {
          return std::make_shared<B>(n, eps, momentum, affine, track, module_options(dtype, device));
        }),
        py::arg("num_features"), py::arg("eps") = 1e-5, py::arg("momentum") = 0.1, py::arg("affine") = true,
        py::arg("track_running_stats") = true, py::arg("dtype") = py::none(), py::arg("device") = py::none());
  };
  batch_norm(std::type_identity<nn::BatchNorm1d>{}, "BatchNorm1d");
  batch_norm(std::type_identity<nn::BatchNorm2d>{}, "BatchNorm2d");

  TG_LAYER(Conv1d).def(py::init([](int64_t in, int64_t out, const py::object& k, const py::object& s, const py::object& p,
                                   const py::object& d, int64_t g, bool bias, const std::string& mode, py::object dtype,
                                   py::object device) {
    const char* op = "Conv1d";
    nn::ConvPaddingArg<1> pad = py::isinstance<py::str>(p) ? nn::ConvPaddingArg<1>(py::cast<std::string>(p))
                                                         : nn::ConvPaddingArg<1>(int_list(op, "padding", p)[0]);
    return std::make_shared<nn::Conv1d>(in, out, int_list(op, "kernel_size", k)[0], int_list(op, "stride", s)[0], pad,
                                        int_list(op, "dilation", d)[0], g, bias, mode, module_options(dtype, device));
  }), py::arg("in_channels"), py::arg("out_channels"), py::arg("kernel_size"), py::arg("stride") = 1,
      py::arg("padding") = 0, py::arg("dilation") = 1, py::arg("groups") = 1, py::arg("bias") = true,
      py::arg("padding_mode") = "zeros", dt, dev);
  auto pair = [](const char* op, const char* name, const py::object& v) {
    Shape s = int_list(op, name, v);
    TG_CHECK(s.size() == 1 || s.size() == 2, Value, op, ": ", name, " must be an int or a pair, got ", s);
    return s.size() == 1 ? nn::ExpandingArray<2>(s[0]) : nn::ExpandingArray<2>({s[0], s[1]});
  };
  TG_LAYER(Conv2d).def(py::init([pair](int64_t in, int64_t out, const py::object& k, const py::object& s, const py::object& p,
                                       const py::object& d, int64_t g, bool bias, const std::string& mode,
                                       py::object dtype, py::object device) {
    const char* op = "Conv2d";
    nn::ConvPaddingArg<2> pad = py::isinstance<py::str>(p) ? nn::ConvPaddingArg<2>(py::cast<std::string>(p))
                                                         : nn::ConvPaddingArg<2>(pair(op, "padding", p));
    return std::make_shared<nn::Conv2d>(in, out, pair(op, "kernel_size", k), pair(op, "stride", s), pad,
                                        pair(op, "dilation", d), g, bias, mode, module_options(dtype, device));
  }), py::arg("in_channels"), py::arg("out_channels"), py::arg("kernel_size"), py::arg("stride") = 1,
      py::arg("padding") = 0, py::arg("dilation") = 1, py::arg("groups") = 1, py::arg("bias") = true,
      py::arg("padding_mode") = "zeros", dt, dev);
  TG_LAYER(ConvTranspose2d).def(py::init([pair](int64_t in, int64_t out, const py::object& k, const py::object& s,
                                                const py::object& p, const py::object& op_, int64_t g, bool bias,
                                                const py::object& d, const std::string& mode, py::object dtype,
                                                py::object device) {
    const char* op = "ConvTranspose2d";
    return std::make_shared<nn::ConvTranspose2d>(in, out, pair(op, "kernel_size", k), pair(op, "stride", s),
                                                 pair(op, "padding", p), pair(op, "output_padding", op_), g, bias,
                                                 pair(op, "dilation", d), mode, module_options(dtype, device));
  }), py::arg("in_channels"), py::arg("out_channels"), py::arg("kernel_size"), py::arg("stride") = 1,
      py::arg("padding") = 0, py::arg("output_padding") = 0, py::arg("groups") = 1, py::arg("bias") = true,
      py::arg("dilation") = 1, py::arg("padding_mode") = "zeros", dt, dev)
      .def("forward_output_size", [](nn::ConvTranspose2d& m, const Tensor& x, const py::object& size) {
        return m.forward(x, int_list("ConvTranspose2d", "output_size", size));
      });
  TG_LAYER(MaxPool2d).def(py::init([pair](const py::object& k, const py::object& s, const py::object& p,
                                          const py::object& d, bool ri, bool ceil) {
    const char* op = "MaxPool2d";
    return std::make_shared<nn::MaxPool2d>(pair(op, "kernel_size", k), s.is_none() ? nn::ExpandingArray<2>() : pair(op, "stride", s),
                                           pair(op, "padding", p), pair(op, "dilation", d), ri, ceil);
  }), py::arg("kernel_size"), py::arg("stride") = py::none(), py::arg("padding") = 0, py::arg("dilation") = 1,
      py::arg("return_indices") = false, py::arg("ceil_mode") = false)
      .def("forward_with_indices", &nn::MaxPool2d::forward_with_indices);
  TG_LAYER(AvgPool2d).def(py::init([pair](const py::object& k, const py::object& s, const py::object& p, bool ceil,
                                          bool cip, std::optional<int64_t> div) {
    const char* op = "AvgPool2d";
    return std::make_shared<nn::AvgPool2d>(pair(op, "kernel_size", k), s.is_none() ? nn::ExpandingArray<2>() : pair(op, "stride", s),
                                           pair(op, "padding", p), ceil, cip, div);
  }), py::arg("kernel_size"), py::arg("stride") = py::none(), py::arg("padding") = 0, py::arg("ceil_mode") = false,
      py::arg("count_include_pad") = true, py::arg("divisor_override") = py::none());
  TG_LAYER(AdaptiveAvgPool2d).def(py::init([pair](const py::object& size) {
    return std::make_shared<nn::AdaptiveAvgPool2d>(pair("AdaptiveAvgPool2d", "output_size", size));
  }), py::arg("output_size"));

  // Recurrent layers.
  TG_LAYER(RNNBase);
  py::class_<nn::RNN, nn::RNNBase, std::shared_ptr<nn::RNN>>(l, "RNN")
      .def(py::init([](int64_t i, int64_t h, int64_t layers, const std::string& nl, bool bias, bool bf, double dropout,
                       bool bi, py::object dtype, py::object device) {
        return std::make_shared<nn::RNN>(i, h, nn::RNNOptions{layers, nl, bias, bf, dropout, bi}, module_options(dtype, device));
      }), py::arg("input_size"), py::arg("hidden_size"), py::arg("num_layers") = 1, py::arg("nonlinearity") = "tanh",
          py::arg("bias") = true, py::arg("batch_first") = false, py::arg("dropout") = 0.0,
          py::arg("bidirectional") = false, dt, dev)
      .def("forward", [](nn::RNN& m, const Tensor& x, const OptTensor& h) { return m.forward(x, or_undefined(h)); },
           py::arg("input"), py::arg("hx") = py::none(), Guard());
  py::class_<nn::LSTM, nn::RNNBase, std::shared_ptr<nn::LSTM>>(l, "LSTM")
      .def(py::init([](int64_t i, int64_t h, int64_t layers, bool bias, bool bf, double dropout, bool bi,
                       py::object dtype, py::object device) {
        return std::make_shared<nn::LSTM>(i, h, nn::LSTMOptions{layers, bias, bf, dropout, bi}, module_options(dtype, device));
      }), py::arg("input_size"), py::arg("hidden_size"), py::arg("num_layers") = 1, py::arg("bias") = true,
          py::arg("batch_first") = false, py::arg("dropout") = 0.0, py::arg("bidirectional") = false, dt, dev)
      .def("forward", [](nn::LSTM& m, const Tensor& x, const std::optional<std::tuple<Tensor, Tensor>>& hx) {
        return m.forward(x, hx);
      }, py::arg("input"), py::arg("hx") = py::none(), Guard());
  py::class_<nn::GRU, nn::RNNBase, std::shared_ptr<nn::GRU>>(l, "GRU")
      .def(py::init([](int64_t i, int64_t h, int64_t layers, bool bias, bool bf, double dropout, bool bi,
                       py::object dtype, py::object device) {
        return std::make_shared<nn::GRU>(i, h, nn::GRUOptions{layers, bias, bf, dropout, bi}, module_options(dtype, device));
      }), py::arg("input_size"), py::arg("hidden_size"), py::arg("num_layers") = 1, py::arg("bias") = true,
          py::arg("batch_first") = false, py::arg("dropout") = 0.0, py::arg("bidirectional") = false, dt, dev)
      .def("forward", [](nn::GRU& m, const Tensor& x, const OptTensor& h) { return m.forward(x, or_undefined(h)); },
           py::arg("input"), py::arg("hx") = py::none(), Guard());
  TG_LAYER(RNNCellBase);
  py::class_<nn::RNNCell, nn::RNNCellBase, std::shared_ptr<nn::RNNCell>>(l, "RNNCell")
      .def(py::init([](int64_t i, int64_t h, bool bias, const std::string& nl, py::object dtype, py::object device) {
        return std::make_shared<nn::RNNCell>(i, h, bias, nl, module_options(dtype, device));
      }), py::arg("input_size"), py::arg("hidden_size"), py::arg("bias") = true, py::arg("nonlinearity") = "tanh", dt, dev)
      .def("forward", [](nn::RNNCell& m, const Tensor& x, const OptTensor& h) { return m.forward(x, or_undefined(h)); },
           py::arg("input"), py::arg("hx") = py::none());
  py::class_<nn::LSTMCell, nn::RNNCellBase, std::shared_ptr<nn::LSTMCell>>(l, "LSTMCell")
      .def(py::init([](int64_t i, int64_t h, bool bias, py::object dtype, py::object device) {
        return std::make_shared<nn::LSTMCell>(i, h, bias, module_options(dtype, device));
      }), py::arg("input_size"), py::arg("hidden_size"), py::arg("bias") = true, dt, dev)
      .def("forward", [](nn::LSTMCell& m, const Tensor& x, const std::optional<std::tuple<Tensor, Tensor>>& hx) {
        return m.forward(x, hx);
      }, py::arg("input"), py::arg("hx") = py::none());
  py::class_<nn::GRUCell, nn::RNNCellBase, std::shared_ptr<nn::GRUCell>>(l, "GRUCell")
      .def(py::init([](int64_t i, int64_t h, bool bias, py::object dtype, py::object device) {
        return std::make_shared<nn::GRUCell>(i, h, bias, module_options(dtype, device));
      }), py::arg("input_size"), py::arg("hidden_size"), py::arg("bias") = true, dt, dev)
      .def("forward", [](nn::GRUCell& m, const Tensor& x, const OptTensor& h) { return m.forward(x, or_undefined(h)); },
           py::arg("input"), py::arg("hx") = py::none());

  // Attention and Transformer layers.
  TG_LAYER(MultiheadAttention)
      .def(py::init([](int64_t e, int64_t h, double dropout, bool bias, bool bkv, bool zero, std::optional<int64_t> kdim,
                       std::optional<int64_t> vdim, bool bf, py::object dtype, py::object device) {
        return std::make_shared<nn::MultiheadAttention>(e, h, dropout, bias, bkv, zero, kdim, vdim, bf, module_options(dtype, device));
      }), py::arg("embed_dim"), py::arg("num_heads"), py::arg("dropout") = 0.0, py::arg("bias") = true,
          py::arg("add_bias_kv") = false, py::arg("add_zero_attn") = false, py::arg("kdim") = py::none(),
          py::arg("vdim") = py::none(), py::arg("batch_first") = false, dt, dev)
      .def("forward", [](nn::MultiheadAttention& m, const Tensor& q, const Tensor& k, const Tensor& v,
                         const OptTensor& kpm, bool need_weights, const OptTensor& mask, bool avg, bool causal) {
        return m.forward(q, k, v, or_undefined(kpm), need_weights, or_undefined(mask), avg, causal);
      }, py::arg("query"), py::arg("key"), py::arg("value"), py::arg("key_padding_mask") = py::none(),
         py::arg("need_weights") = true, py::arg("attn_mask") = py::none(), py::arg("average_attn_weights") = true,
         py::arg("is_causal") = false, Guard());
  auto activation = [](const py::object& a) -> nn::TransformerActivation {
    if (py::isinstance<py::str>(a)) return nn::TransformerActivation(py::cast<std::string>(a));
    auto fn = py::cast<std::function<Tensor(const Tensor&)>>(a);
    return nn::TransformerActivation(fn);
  };
  TG_LAYER(TransformerEncoderLayer)
      .def(py::init([activation](int64_t d, int64_t h, int64_t ff, double dropout, const py::object& act, double eps,
                                 bool bf, bool nf, py::object dtype, py::object device) {
        return std::make_shared<nn::TransformerEncoderLayer>(d, h, ff, dropout, activation(act), eps, bf, nf,
                                                             module_options(dtype, device));
      }), py::arg("d_model"), py::arg("nhead"), py::arg("dim_feedforward") = 2048, py::arg("dropout") = 0.1,
          py::arg("activation") = "relu", py::arg("layer_norm_eps") = 1e-5, py::arg("batch_first") = false,
          py::arg("norm_first") = false, dt, dev)
      .def("forward", [](nn::TransformerEncoderLayer& m, const Tensor& src, const OptTensor& mask, const OptTensor& kpm,
                         bool causal) { return m.forward(src, or_undefined(mask), or_undefined(kpm), causal); },
           py::arg("src"), py::arg("src_mask") = py::none(), py::arg("src_key_padding_mask") = py::none(),
           py::arg("is_causal") = false);
  TG_LAYER(TransformerEncoder)
      .def(py::init([](const std::shared_ptr<nn::TransformerEncoderLayer>& layer, int64_t n,
                       std::shared_ptr<nn::LayerNorm> norm) { return std::make_shared<nn::TransformerEncoder>(layer, n, norm); }),
           py::arg("encoder_layer"), py::arg("num_layers"), py::arg("norm") = nullptr)
      .def("forward", [](nn::TransformerEncoder& m, const Tensor& src, const OptTensor& mask, const OptTensor& kpm,
                         std::optional<bool> causal) { return m.forward(src, or_undefined(mask), or_undefined(kpm), causal); },
           py::arg("src"), py::arg("mask") = py::none(), py::arg("src_key_padding_mask") = py::none(),
           py::arg("is_causal") = py::none());
  TG_LAYER(TransformerDecoderLayer)
      .def(py::init([activation](int64_t d, int64_t h, int64_t ff, double dropout, const py::object& act, double eps,
                                 bool bf, bool nf, py::object dtype, py::object device) {
        return std::make_shared<nn::TransformerDecoderLayer>(d, h, ff, dropout, activation(act), eps, bf, nf,
                                                             module_options(dtype, device));
      }), py::arg("d_model"), py::arg("nhead"), py::arg("dim_feedforward") = 2048, py::arg("dropout") = 0.1,
          py::arg("activation") = "relu", py::arg("layer_norm_eps") = 1e-5, py::arg("batch_first") = false,
          py::arg("norm_first") = false, dt, dev)
      .def("forward", [](nn::TransformerDecoderLayer& m, const Tensor& tgt, const Tensor& memory, const OptTensor& tm,
                         const OptTensor& mm, const OptTensor& tkpm, const OptTensor& mkpm, bool tc, bool mc) {
        return m.forward(tgt, memory, or_undefined(tm), or_undefined(mm), or_undefined(tkpm), or_undefined(mkpm), tc, mc);
      }, py::arg("tgt"), py::arg("memory"), py::arg("tgt_mask") = py::none(), py::arg("memory_mask") = py::none(),
         py::arg("tgt_key_padding_mask") = py::none(), py::arg("memory_key_padding_mask") = py::none(),
         py::arg("tgt_is_causal") = false, py::arg("memory_is_causal") = false);
  TG_LAYER(TransformerDecoder)
      .def(py::init([](const std::shared_ptr<nn::TransformerDecoderLayer>& layer, int64_t n,
                       std::shared_ptr<nn::LayerNorm> norm) { return std::make_shared<nn::TransformerDecoder>(layer, n, norm); }),
           py::arg("decoder_layer"), py::arg("num_layers"), py::arg("norm") = nullptr)
      .def("forward", [](nn::TransformerDecoder& m, const Tensor& tgt, const Tensor& memory, const OptTensor& tm,
                         const OptTensor& mm, const OptTensor& tkpm, const OptTensor& mkpm, std::optional<bool> tc, bool mc) {
        return m.forward(tgt, memory, or_undefined(tm), or_undefined(mm), or_undefined(tkpm), or_undefined(mkpm), tc, mc);
      }, py::arg("tgt"), py::arg("memory"), py::arg("tgt_mask") = py::none(), py::arg("memory_mask") = py::none(),
         py::arg("tgt_key_padding_mask") = py::none(), py::arg("memory_key_padding_mask") = py::none(),
         py::arg("tgt_is_causal") = py::none(), py::arg("memory_is_causal") = false);
  TG_LAYER(Transformer)
      .def(py::init([activation](int64_t d, int64_t h, int64_t ne, int64_t nd, int64_t ff, double dropout,
                                 const py::object& act, std::shared_ptr<nn::TransformerEncoder> ce,
                                 std::shared_ptr<nn::TransformerDecoder> cd, double eps, bool bf, bool nf,
                                 py::object dtype, py::object device) {
        return std::make_shared<nn::Transformer>(d, h, ne, nd, ff, dropout, activation(act), ce, cd, eps, bf, nf,
                                                 module_options(dtype, device));
      }), py::arg("d_model") = 512, py::arg("nhead") = 8, py::arg("num_encoder_layers") = 6,
          py::arg("num_decoder_layers") = 6, py::arg("dim_feedforward") = 2048, py::arg("dropout") = 0.1,
          py::arg("activation") = "relu", py::arg("custom_encoder") = nullptr, py::arg("custom_decoder") = nullptr,
          py::arg("layer_norm_eps") = 1e-5, py::arg("batch_first") = false, py::arg("norm_first") = false, dt, dev)
      .def("forward", [](nn::Transformer& m, const Tensor& src, const Tensor& tgt, const OptTensor& sm, const OptTensor& tm,
                         const OptTensor& mm, const OptTensor& skpm, const OptTensor& tkpm, const OptTensor& mkpm,
                         std::optional<bool> sc, std::optional<bool> tc, bool mc) {
        return m.forward(src, tgt, or_undefined(sm), or_undefined(tm), or_undefined(mm), or_undefined(skpm),
                         or_undefined(tkpm), or_undefined(mkpm), sc, tc, mc);
      }, py::arg("src"), py::arg("tgt"), py::arg("src_mask") = py::none(), py::arg("tgt_mask") = py::none(),
         py::arg("memory_mask") = py::none(), py::arg("src_key_padding_mask") = py::none(),
         py::arg("tgt_key_padding_mask") = py::none(), py::arg("memory_key_padding_mask") = py::none(),
         py::arg("src_is_causal") = py::none(), py::arg("tgt_is_causal") = py::none(), py::arg("memory_is_causal") = false);
  l.def("generate_square_subsequent_mask", [](int64_t sz, py::object dtype, py::object device) {
    return nn::generate_square_subsequent_mask(sz, module_options(dtype, device));
  }, py::arg("sz"), py::arg("dtype") = py::none(), py::arg("device") = py::none());
#undef TG_LAYER
}

}  // namespace

void init_nn(py::module_& m) {
  auto f = m.def_submodule("_F", "tapegrad.nn.functional's ops");
  init_functional(f);
  auto i = m.def_submodule("_init", "tapegrad.nn.init's fills");
  init_init(i);
  auto l = m.def_submodule("_nn", "the C++ layers tapegrad.nn wraps");
  init_layers(l);

  m.def("_save_safetensors", [](const std::string& path, const tg::NamedTensors& tensors,
                                const tg::SafetensorsMetadata& metadata) {
    py::gil_scoped_release release;
    tg::save_safetensors(path, tensors, metadata);
  }, py::arg("path"), py::arg("tensors"), py::arg("metadata"));
  m.def("_load_safetensors", [](const std::string& path) {
    tg::SafetensorsContent c;
    {
      py::gil_scoped_release release;
      c = tg::load_safetensors(path);
    }
    return py::make_tuple(c.tensors, c.metadata);
  }, py::arg("path"));
}

}  // namespace tgpy
