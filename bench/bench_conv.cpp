// conv2d forward + backward on the CPU for the two convolutions of a LeNet-like network, batch
// 64, float32: 1 -> 32 channels at 28x28 (kernel 3, padding 1) and 32 -> 64 channels at 14x14
// (kernel 3, padding 1), plus the forward alone. bench/conv_torch.py is the same work in
// PyTorch; run both with the same thread count (OMP_NUM_THREADS, OPENBLAS_NUM_THREADS, and the
// script's argument) to compare.
#include <benchmark/benchmark.h>
#include <tapegrad/tapegrad.h>

#include <cmath>

namespace {

struct Layer {
  tg::Tensor x, w, b, grad_out;
};

// The first layer's input is the data (no gradient); the second's is an activation (gradient).
Layer make_layer(int64_t in_channels, int64_t out_channels, int64_t size, bool input_grad) {
  tg::manual_seed(0);
  Layer l;
  l.x = tg::randn({64, in_channels, size, size});
  if (input_grad) l.x.requires_grad_();
  const double bound = 1.0 / std::sqrt(static_cast<double>(in_channels * 9));
  l.w = (tg::rand({out_channels, in_channels, 3, 3}) * (2 * bound) - bound).detach().requires_grad_();
  l.b = (tg::rand({out_channels}) * (2 * bound) - bound).detach().requires_grad_();
  l.grad_out = tg::randn({64, out_channels, size, size});
  return l;
}

void forward_backward(benchmark::State& state, Layer& l) {
  for (auto _ : state) {
    tg::Tensor y = tg::conv2d(l.x, l.w, l.b, {1}, {1});
    y.backward(l.grad_out);
    benchmark::DoNotOptimize(l.w.grad().data_ptr());
    // As zero_grad(set_to_none=True) between steps.
    for (tg::Tensor* t : {&l.x, &l.w, &l.b}) t->set_grad(tg::Tensor());
  }
  state.SetItemsProcessed(state.iterations() * 64);
}

void forward(benchmark::State& state, Layer& l) {
  tg::NoGradGuard no_grad;
  for (auto _ : state) benchmark::DoNotOptimize(tg::conv2d(l.x, l.w, l.b, {1}, {1}).data_ptr());
  state.SetItemsProcessed(state.iterations() * 64);
}

void BM_Conv1to32At28FwdBwd(benchmark::State& state) {
  Layer l = make_layer(1, 32, 28, false);
  forward_backward(state, l);
}
BENCHMARK(BM_Conv1to32At28FwdBwd)->Unit(benchmark::kMillisecond)->MinTime(2.0);

void BM_Conv32to64At14FwdBwd(benchmark::State& state) {
  Layer l = make_layer(32, 64, 14, true);
  forward_backward(state, l);
}
BENCHMARK(BM_Conv32to64At14FwdBwd)->Unit(benchmark::kMillisecond)->MinTime(2.0);

void BM_Conv1to32At28Forward(benchmark::State& state) {
  Layer l = make_layer(1, 32, 28, false);
  forward(state, l);
}
BENCHMARK(BM_Conv1to32At28Forward)->Unit(benchmark::kMillisecond)->MinTime(1.0);

void BM_Conv32to64At14Forward(benchmark::State& state) {
  Layer l = make_layer(32, 64, 14, true);
  forward(state, l);
}
BENCHMARK(BM_Conv32to64At14Forward)->Unit(benchmark::kMillisecond)->MinTime(1.0);

// BatchNorm2d forward + backward in training mode on the CNN's first activation [64, 16, 28, 28]:
// the fused node (arg 1) against the composed mean/var/elementwise ops (arg 0).
void BM_BatchNorm2dFwdBwd(benchmark::State& state) {
  tg::manual_seed(0);
  const tg::Tensor x = tg::randn({64, 16, 28, 28}).requires_grad_(), g = tg::randn({64, 16, 28, 28});
  tg::nn::BatchNorm2d bn(16);
  tg::set_fused_batch_norm_enabled(state.range(0) != 0);
  for (auto _ : state) {
    bn(x).backward(g);
    benchmark::DoNotOptimize(x.grad().data_ptr());
    for (const tg::Tensor* t : std::initializer_list<const tg::Tensor*>{&x, &bn.weight, &bn.bias}) t->set_grad(tg::Tensor());
  }
  tg::set_fused_batch_norm_enabled(true);
  state.SetItemsProcessed(state.iterations() * 64);
}
BENCHMARK(BM_BatchNorm2dFwdBwd)->Arg(0)->Arg(1)->Unit(benchmark::kMillisecond)->MinTime(1.0);

}  // namespace

BENCHMARK_MAIN();
