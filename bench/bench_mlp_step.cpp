// One training step of a 784-512-512-10 ReLU MLP, batch 128, float32, on the CPU: forward,
// cross-entropy, backward, SGD update. bench/mlp_step_torch.py is the same step in PyTorch;
// bench/compare_mlp.sh runs both with the same thread count and prints the ratio.
#include <benchmark/benchmark.h>
#include <tapegrad/tapegrad.h>

#include <cmath>
#include <vector>

namespace {

struct Mlp {
  std::vector<tg::Tensor> weights, biases;  // weight [out, in] as nn.Linear

  explicit Mlp(const std::vector<int64_t>& sizes) {
    for (size_t i = 0; i + 1 < sizes.size(); ++i) {
      const double bound = 1.0 / std::sqrt(static_cast<double>(sizes[i]));
      weights.push_back((tg::rand({sizes[i + 1], sizes[i]}) * (2 * bound) - bound).detach().requires_grad_());
      biases.push_back((tg::rand({sizes[i + 1]}) * (2 * bound) - bound).detach().requires_grad_());
    }
  }

  tg::Tensor forward(const tg::Tensor& x) const {
    tg::Tensor h = x;
    for (size_t i = 0; i < weights.size(); ++i) {
      h = tg::matmul(h, weights[i].t()) + biases[i];
      if (i + 1 < weights.size()) h = tg::relu(h);
    }
    return h;
  }

  void sgd_step(double lr) {
    tg::NoGradGuard no_grad;
    for (auto* group : {&weights, &biases})
      for (tg::Tensor& p : *group) {
        p.add_(p.grad(), -lr);
        p.set_grad(tg::Tensor());  // as zero_grad(set_to_none=True)
      }
  }
};

tg::Tensor cross_entropy(const tg::Tensor& logits, const tg::Tensor& labels) {
  return -tg::log_softmax(logits, 1).gather(1, labels.unsqueeze(1)).mean();
}

void BM_MlpTrainingStep(benchmark::State& state) {
  tg::manual_seed(0);
  Mlp model({784, 512, 512, 10});
  const tg::Tensor x = tg::randn({128, 784});
  const tg::Tensor y = tg::randint(0, 10, {128});
  for (auto _ : state) {
    tg::Tensor loss = cross_entropy(model.forward(x), y);
    loss.backward();
    model.sgd_step(0.01);
    benchmark::DoNotOptimize(loss.data_ptr());
  }
  state.SetItemsProcessed(state.iterations() * 128);
}
BENCHMARK(BM_MlpTrainingStep)->Unit(benchmark::kMillisecond)->MinTime(2.0);

void BM_MlpForward(benchmark::State& state) {
  tg::manual_seed(0);
  Mlp model({784, 512, 512, 10});
  const tg::Tensor x = tg::randn({128, 784});
  tg::NoGradGuard no_grad;
  for (auto _ : state) benchmark::DoNotOptimize(model.forward(x).data_ptr());
}
BENCHMARK(BM_MlpForward)->Unit(benchmark::kMillisecond)->MinTime(1.0);

// Framework overhead: a tiny step where the arithmetic is negligible.
void BM_TinyStepOverhead(benchmark::State& state) {
  tg::manual_seed(0);
  Mlp model({4, 8, 2});
  const tg::Tensor x = tg::randn({2, 4});
  const tg::Tensor y = tg::randint(0, 2, {2});
  for (auto _ : state) {
    tg::Tensor loss = cross_entropy(model.forward(x), y);
    loss.backward();
    model.sgd_step(0.01);
  }
}
BENCHMARK(BM_TinyStepOverhead)->Unit(benchmark::kMicrosecond)->MinTime(1.0);

// The optimizer's update alone over the MLP's parameters (669,706 floats): Adam, fused (one
// pass per tensor, optimizer_math.h) against the composed in-place ops (arg 0).
void BM_AdamUpdate(benchmark::State& state) {
  tg::manual_seed(0);
  Mlp model({784, 512, 512, 10});
  std::vector<tg::Tensor> params;
  for (auto* group : {&model.weights, &model.biases})
    for (tg::Tensor& p : *group) {
      p.set_grad(tg::randn(p.sizes()));
      params.push_back(p);
    }
  tg::optim::functional::set_fused_steps_enabled(state.range(0) != 0);
  tg::optim::Adam adam(params, {.lr = 1e-3});
  for (auto _ : state) adam.step();
  tg::optim::functional::set_fused_steps_enabled(true);
  state.SetItemsProcessed(state.iterations() * 669706);
}
BENCHMARK(BM_AdamUpdate)->Arg(0)->Arg(1)->Unit(benchmark::kMicrosecond)->MinTime(1.0);

// Cross-entropy forward + backward on logits [rows, classes]: the MLP's batch (128 x 10) and a
// character LM's (64 x 64 positions, 96 symbols). Fused softmax + loss node (arg 1) against
// log_softmax + nll_loss composed (arg 0).
void BM_CrossEntropyFwdBwd(benchmark::State& state) {
  const int64_t rows = state.range(1), classes = state.range(2);
  tg::manual_seed(0);
  const tg::Tensor x = tg::randn({rows, classes}).requires_grad_();
  const tg::Tensor target = tg::randint(0, classes, {rows});
  tg::set_fused_cross_entropy_enabled(state.range(0) != 0);
  for (auto _ : state) {
    tg::nn::F::cross_entropy(x, target).backward();
    benchmark::DoNotOptimize(x.grad().data_ptr());
    x.set_grad(tg::Tensor());
  }
  tg::set_fused_cross_entropy_enabled(true);
  state.SetItemsProcessed(state.iterations() * rows);
}
BENCHMARK(BM_CrossEntropyFwdBwd)
    ->Args({0, 128, 10})->Args({1, 128, 10})->Args({0, 4096, 96})->Args({1, 4096, 96})
    ->Unit(benchmark::kMicrosecond)->MinTime(1.0);

}  // namespace

BENCHMARK_MAIN();
