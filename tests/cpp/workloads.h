// Small training set-ups (MLP, CNN, LSTM, attention) with fixed data and no randomness after
// construction, shared by the thread and memory tests: step() runs forward, backward and the
// optimizer update and returns the loss.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include <tapegrad/tapegrad.h>

namespace tg_test {

class Workload {
 public:
  virtual ~Workload() = default;
  virtual double step() = 0;
  virtual std::vector<tg::Tensor> parameters() = 0;
};

namespace detail {
using tg::Tensor;
namespace nn = tg::nn;
namespace F = tg::nn::F;

// Everything random is drawn here, from `seed`, so that runs can be compared bit for bit.
class Base : public Workload {
 protected:
  void finish(std::shared_ptr<nn::Module> m, double lr) {
    module = std::move(m);
    module->to(device);
    opt = std::make_unique<tg::optim::Adam>(module->parameters(), tg::optim::AdamOptions{.lr = lr});
  }
  double update(const Tensor& loss) {
    opt->zero_grad();
    loss.backward();
    opt->step();
    return loss.item();
  }

 public:
  std::vector<Tensor> parameters() override { return module->parameters(); }
  tg::Device device;
  std::shared_ptr<nn::Module> module;
  std::unique_ptr<tg::optim::Optimizer> opt;
};

class Mlp : public Base {
 public:
  Mlp(uint64_t seed, tg::Device d) {
    device = d;
    tg::manual_seed(seed);
    auto m = std::make_shared<nn::Sequential>();
    m->push_back(std::make_shared<nn::Linear>(16, 32));
    m->push_back(std::make_shared<nn::ReLU>());
    m->push_back(std::make_shared<nn::Linear>(32, 4));
    x = tg::randn({64, 16}).to(d);
    y = tg::randint(0, 4, {64}).to(d);
    finish(m, 0.01);
  }
  double step() override { return update(F::cross_entropy(module->forward(x), y)); }
  Tensor x, y;
};

class Cnn : public Base {
 public:
  Cnn(uint64_t seed, tg::Device d) {
    device = d;
    tg::manual_seed(seed);
    auto m = std::make_shared<nn::Sequential>();
    m->push_back(std::make_shared<nn::Conv2d>(1, 4, 3, 1, 1));
    m->push_back(std::make_shared<nn::BatchNorm2d>(4));
    m->push_back(std::make_shared<nn::ReLU>());
    m->push_back(std::make_shared<nn::MaxPool2d>(2));
    m->push_back(std::make_shared<nn::Flatten>());
    m->push_back(std::make_shared<nn::Linear>(4 * 4 * 4, 3));
    x = tg::randn({8, 1, 8, 8}).to(d);
    y = tg::randint(0, 3, {8}).to(d);
    finish(m, 0.01);
  }
  double step() override { return update(F::cross_entropy(module->forward(x), y)); }
  Tensor x, y;
};

class Lstm : public Base {
 public:
  Lstm(uint64_t seed, tg::Device d) {
    device = d;
    tg::manual_seed(seed);
    auto m = std::make_shared<nn::Sequential>();
    lstm = std::make_shared<nn::LSTM>(6, 12, nn::LSTMOptions{.batch_first = true});
    head = std::make_shared<nn::Linear>(12, 1);
    m->register_module("lstm", lstm);
    m->register_module("head", head);
    x = tg::randn({4, 7, 6}).to(d);
    y = tg::randn({4, 7, 1}).to(d);
    finish(m, 0.01);
  }
  double step() override {
    auto [out, state] = lstm->forward(x);
    return update(F::mse_loss(head->forward(out), y));
  }
  std::shared_ptr<nn::LSTM> lstm;
  std::shared_ptr<nn::Linear> head;
  Tensor x, y;
};

class Attention : public Base {
 public:
  Attention(uint64_t seed, tg::Device d) {
    device = d;
    tg::manual_seed(seed);
    auto m = std::make_shared<nn::Sequential>();
    attn = std::make_shared<nn::MultiheadAttention>(8, 2, 0.0, true, false, false, std::nullopt,
                                                    std::nullopt, /*batch_first=*/true);
    norm = std::make_shared<nn::LayerNorm>(std::vector<int64_t>{8});
    m->register_module("attn", attn);
    m->register_module("norm", norm);
    x = tg::randn({3, 5, 8}).to(d);
    y = tg::randn({3, 5, 8}).to(d);
    mask = nn::generate_square_subsequent_mask(5).to(d);
    finish(m, 0.005);
  }
  double step() override {
    auto [out, weights] = attn->forward(x, x, x, Tensor(), false, mask, true, true);
    return update(F::mse_loss(norm->forward(tg::add(out, x)), y));
  }
  std::shared_ptr<nn::MultiheadAttention> attn;
  std::shared_ptr<nn::LayerNorm> norm;
  Tensor x, y, mask;
};
}  // namespace detail

inline const std::vector<std::string>& workload_kinds() {
  static const std::vector<std::string> kinds{"mlp", "cnn", "lstm", "attention"};
  return kinds;
}

inline std::unique_ptr<Workload> make_workload(const std::string& kind, uint64_t seed,
                                               tg::Device device = tg::Device(tg::kCPU)) {
  if (kind == "mlp") return std::make_unique<detail::Mlp>(seed, device);
  if (kind == "cnn") return std::make_unique<detail::Cnn>(seed, device);
  if (kind == "lstm") return std::make_unique<detail::Lstm>(seed, device);
  if (kind == "attention") return std::make_unique<detail::Attention>(seed, device);
  throw std::invalid_argument("make_workload: unknown kind " + kind);
}

}  // namespace tg_test
