// A tiny character-level transformer on the same licence text as char_lstm_lm: token and position
// embeddings, two pre-norm encoder layers with causal multi-head self-attention, a final layer
// norm and a linear head, trained with AdamW; then a sampled continuation of a prompt.
// Options: --text PATH, --steps N. Exits non-zero if the model did not learn.
#include <tapegrad/tapegrad.h>

#include "data/char_text.h"

#include <cmath>
#include <cstdio>
#include <memory>
#include <random>
#include <string>
#include <vector>

namespace nn = tg::nn;
namespace F = tg::nn::F;

int main(int argc, char** argv) {
  const auto [path, steps] = tg::data::parse_char_text_options(argc, argv, /*default_steps=*/600);
  const int64_t context = 64, batch = 32, d_model = 64;
  tg::data::CharText data;
  try {
    data = tg::data::load_char_text(path, context);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "tiny_transformer_lm: %s\n", e.what());
    return 2;
  }
  const int64_t vocab = data.vocab();
  std::printf("%s: %lld characters, %lld distinct\n", path.c_str(), static_cast<long long>(data.size()),
              static_cast<long long>(vocab));

  tg::manual_seed(0);
  auto token_embedding = std::make_shared<nn::Embedding>(vocab, d_model);
  auto position_embedding = std::make_shared<nn::Embedding>(context, d_model);
  // Pre-norm layers (norm_first) train stably without a learning-rate warm-up.
  auto layer = std::make_shared<nn::TransformerEncoderLayer>(
      d_model, /*nhead=*/4, /*dim_feedforward=*/4 * d_model, /*dropout=*/0.0, "gelu", 1e-5,
      /*batch_first=*/true, /*norm_first=*/true);
  auto encoder = std::make_shared<nn::TransformerEncoder>(
      layer, /*num_layers=*/2, std::make_shared<nn::LayerNorm>(tg::Shape{d_model}));
  auto head = std::make_shared<nn::Linear>(d_model, vocab);
  nn::Sequential model({token_embedding, position_embedding, encoder, head});  // holds the parameters

  // Logits [N, T, vocab] for token ids [N, T]. Attention has no notion of order, so each position
  // adds a learned embedding of its index; the causal mask lets position t see positions <= t only.
  auto logits_of = [&](const tg::Tensor& ids) {
    const int64_t T = ids.size(1);
    tg::Tensor x = token_embedding->forward(ids) +
                   position_embedding->forward(tg::arange(static_cast<double>(T)));
    tg::Tensor mask = nn::generate_square_subsequent_mask(T);
    return head->forward(encoder->forward(x, mask, tg::Tensor(), /*is_causal=*/true));
  };

  tg::optim::AdamW opt(model.parameters(), {.lr = 3e-3});
  double first = 0, last = 0;
  for (int step = 1; step <= steps; ++step) {
    auto [inputs, targets] = data.random_windows(batch, context);
    tg::Tensor loss = F::cross_entropy(logits_of(inputs).reshape({-1, vocab}), targets.reshape({-1}));
    opt.zero_grad();
    loss.backward();
    tg::optim::clip_grad_norm_(model.parameters(), 1.0);
    opt.step();
    last = loss.item();
    if (step == 1) first = last;
    if (step == 1 || step % 50 == 0 || step == steps)
      std::printf("step %4d  loss %.3f  (%.2f bits per character)\n", step, last, last / std::log(2.0));
  }

  // Sampling: unlike the LSTM there is no state to carry, so each new character re-reads the last
  // `context` characters.
  tg::NoGradGuard no_grad;
  model.eval();
  std::mt19937 rng(1);
  std::string sample = "Licensed under";
  for (int i = 0; i < 200; ++i) {
    const std::string window = sample.substr(sample.size() > static_cast<size_t>(context) ? sample.size() - context : 0);
    const std::vector<int64_t> ids = data.encode(window);
    tg::Tensor logits = logits_of(tg::tensor(ids, {1, static_cast<int64_t>(ids.size())}));
    tg::Tensor last_logits = logits.select(1, logits.size(1) - 1).select(0, 0);
    const std::vector<double> p = F::softmax(tg::mul(last_logits, 1.0 / 0.7), -1).to_vector<double>();  // temperature 0.7
    sample += data.alphabet[static_cast<size_t>(std::discrete_distribution<int64_t>(p.begin(), p.end())(rng))];
  }
  std::printf("sample: \"%s\"\n", sample.c_str());

  const double uniform = std::log(static_cast<double>(vocab));
  if (!(last < uniform - 1.0 && last < first)) {
    std::fprintf(stderr, "tiny_transformer_lm: the loss went from %.3f to %.3f (uniform guess %.3f): it did not learn\n",
                 first, last, uniform);
    return 1;
  }
  return 0;
}
