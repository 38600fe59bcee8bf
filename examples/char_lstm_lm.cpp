// A character-level LSTM language model on a plain-text file every Debian system has (a licence
// text), then a sampled continuation of a prompt. Options: --text PATH, --steps N.
// Exits non-zero if the model did not learn (its loss must fall well below the uniform guess).
#include <tapegrad/tapegrad.h>

#include "data/char_text.h"

#include <cmath>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

namespace nn = tg::nn;
namespace F = tg::nn::F;

int main(int argc, char** argv) {
  const auto [path, steps] = tg::data::parse_char_text_options(argc, argv, /*default_steps=*/300);
  const int64_t context = 64, batch = 32, hidden = 128;
  tg::data::CharText data;
  try {
    data = tg::data::load_char_text(path, context);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "char_lstm_lm: %s\n", e.what());
    return 2;
  }
  const int64_t vocab = data.vocab();
  std::printf("%s: %lld characters, %lld distinct\n", path.c_str(), static_cast<long long>(data.size()),
              static_cast<long long>(vocab));

  tg::manual_seed(0);
  auto embedding = std::make_shared<nn::Embedding>(vocab, 32);
  auto lstm = std::make_shared<nn::LSTM>(32, hidden, nn::LSTMOptions{.batch_first = true});
  auto head = std::make_shared<nn::Linear>(hidden, vocab);
  nn::Sequential model({embedding, lstm, head});  // holds the parameters
  tg::optim::Adam opt(model.parameters(), {.lr = 5e-3});

  double first = 0, last = 0;
  for (int step = 1; step <= steps; ++step) {
    auto [inputs, targets] = data.random_windows(batch, context);
    auto [out, state] = lstm->forward(embedding->forward(inputs));
    tg::Tensor loss = F::cross_entropy(head->forward(out).reshape({-1, vocab}), targets.reshape({-1}));
    opt.zero_grad();
    loss.backward();
    tg::optim::clip_grad_norm_(model.parameters(), 1.0);  // LSTMs' gradients can spike
    opt.step();
    last = loss.item();
    if (step == 1) first = last;
    if (step == 1 || step % 50 == 0 || step == steps)
      std::printf("step %4d  loss %.3f  (%.2f bits per character)\n", step, last, last / std::log(2.0));
  }

  // Sampling: feed the prompt, then one character at a time, carrying the LSTM's state.
  tg::NoGradGuard no_grad;
  std::mt19937 rng(1);
  std::string sample = "Licensed under";
  const std::vector<int64_t> ids = data.encode(sample);
  auto [out, state] = lstm->forward(embedding->forward(tg::tensor(ids, {1, static_cast<int64_t>(ids.size())})));
  tg::Tensor logits = head->forward(out.select(1, out.size(1) - 1));
  for (int i = 0; i < 200; ++i) {
    const std::vector<double> p = F::softmax(tg::mul(logits, 1.0 / 0.7), -1).to_vector<double>();  // temperature 0.7
    const int64_t next = std::discrete_distribution<int64_t>(p.begin(), p.end())(rng);
    sample += data.alphabet[static_cast<size_t>(next)];
    auto [o, s] = lstm->forward(embedding->forward(tg::tensor(std::vector<int64_t>{next}, {1, 1})), state);
    state = s;
    logits = head->forward(o.select(1, 0));
  }
  std::printf("sample: \"%s\"\n", sample.c_str());

  const double uniform = std::log(static_cast<double>(vocab));
  if (!(last < uniform - 1.0 && last < first)) {
    std::fprintf(stderr, "char_lstm_lm: the loss went from %.3f to %.3f (uniform guess %.3f): it did not learn\n",
                 first, last, uniform);
    return 1;
  }
  return 0;
}
