// LSTM and GRU forward + backward on the CPU: sequence length 32, batch 32, 64 input features,
// 128 hidden units, one layer, float32, plus the LSTM forward alone (no grad). The backward seed
// is a fixed random gradient for the output. bench/rnn_torch.py is the same work in PyTorch; run
// both with the same thread count (OMP_NUM_THREADS, OPENBLAS_NUM_THREADS, and the script's
// argument) to compare. BM_LstmFwdBwdComposed times the cell steps composed from ops instead of
// the fused kernels.
#include <benchmark/benchmark.h>
#include <tapegrad/tapegrad.h>

namespace {

constexpr int64_t kSteps = 32, kBatch = 32, kInput = 64, kHidden = 128;

template <class Net>
void forward_backward(benchmark::State& state, Net& net) {
  tg::manual_seed(1);
  const tg::Tensor x = tg::randn({kSteps, kBatch, kInput});
  const tg::Tensor grad_out = tg::randn({kSteps, kBatch, kHidden});
  for (auto _ : state) {
    tg::Tensor out = std::get<0>(net.forward(x));
    out.backward(grad_out);
    benchmark::DoNotOptimize(net.parameters()[0].grad().data_ptr());
    net.zero_grad();  // set_to_none, as PyTorch's default
  }
  state.SetItemsProcessed(state.iterations() * kSteps * kBatch);
}

void BM_LstmFwdBwd(benchmark::State& state) {
  tg::manual_seed(0);
  tg::nn::LSTM lstm(kInput, kHidden);
  forward_backward(state, lstm);
}
BENCHMARK(BM_LstmFwdBwd)->Unit(benchmark::kMillisecond)->MinTime(2.0);

void BM_LstmFwdBwdComposed(benchmark::State& state) {
  tg::manual_seed(0);
  tg::nn::LSTM lstm(kInput, kHidden);
  tg::set_fused_rnn_cells_enabled(false);
  forward_backward(state, lstm);
  tg::set_fused_rnn_cells_enabled(true);
}
BENCHMARK(BM_LstmFwdBwdComposed)->Unit(benchmark::kMillisecond)->MinTime(2.0);

void BM_GruFwdBwd(benchmark::State& state) {
  tg::manual_seed(0);
  tg::nn::GRU gru(kInput, kHidden);
  forward_backward(state, gru);
}
BENCHMARK(BM_GruFwdBwd)->Unit(benchmark::kMillisecond)->MinTime(2.0);

void BM_LstmForward(benchmark::State& state) {
  tg::manual_seed(0);
  tg::nn::LSTM lstm(kInput, kHidden);
  const tg::Tensor x = tg::randn({kSteps, kBatch, kInput});
  tg::NoGradGuard no_grad;
  for (auto _ : state) benchmark::DoNotOptimize(std::get<0>(lstm.forward(x)).data_ptr());
  state.SetItemsProcessed(state.iterations() * kSteps * kBatch);
}
BENCHMARK(BM_LstmForward)->Unit(benchmark::kMillisecond)->MinTime(2.0);

}  // namespace

BENCHMARK_MAIN();
