// A character-level causal language model: token and position embeddings, a Transformer encoder
// with a causal mask, and a linear head, trained with AdamW on one short text, then asked to
// continue a prompt greedily.
#include <tapegrad/tapegrad.h>

#include <cstdio>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace nn = tg::nn;
namespace F = tg::nn::F;

int main() {
  const std::string text =
      "the cat sat on the mat. the dog sat on the log. the cat and the dog sat together. ";
  std::map<char, int64_t> index_of;
  std::string alphabet;
  for (char ch : text)
    if (!index_of.count(ch)) {
      index_of[ch] = static_cast<int64_t>(alphabet.size());
      alphabet += ch;
    }
  const int64_t vocab = static_cast<int64_t>(alphabet.size());
  const int64_t context = 24, batch = 16, d_model = 32;

  tg::manual_seed(0);
  auto token_embedding = std::make_shared<nn::Embedding>(vocab, d_model);
  auto position_embedding = std::make_shared<nn::Embedding>(context, d_model);
  auto layer = std::make_shared<nn::TransformerEncoderLayer>(
      d_model, /*nhead=*/4, /*dim_feedforward=*/64, /*dropout=*/0.0, "gelu", 1e-5,
      /*batch_first=*/true, /*norm_first=*/true);
  auto encoder = std::make_shared<nn::TransformerEncoder>(
      layer, /*num_layers=*/2, std::make_shared<nn::LayerNorm>(tg::Shape{d_model}));
  auto head = std::make_shared<nn::Linear>(d_model, vocab);
  nn::Sequential model({token_embedding, position_embedding, encoder, head});  // for parameters()

  // Logits [N, T, vocab] for token ids [N, T]; position t attends to positions <= t only.
  auto logits_of = [&](const tg::Tensor& ids) {
    const int64_t T = ids.size(1);
    tg::Tensor x = token_embedding->forward(ids) +
                   position_embedding->forward(tg::arange(static_cast<double>(T)));
    tg::Tensor mask = nn::generate_square_subsequent_mask(T);
    return head->forward(encoder->forward(x, mask, tg::Tensor(), /*is_causal=*/true));
  };

  tg::optim::AdamW opt(model.parameters(), {.lr = 3e-3});
  const int64_t n = static_cast<int64_t>(text.size());
  for (int step = 1; step <= 150; ++step) {
    // A batch of random windows of the (cyclic) text; targets are the next characters.
    std::vector<int64_t> inputs, targets;
    for (int64_t start : tg::randint(0, n, {batch}).to_vector<int64_t>())
      for (int64_t t = 0; t < context; ++t) {
        inputs.push_back(index_of[text[(start + t) % n]]);
        targets.push_back(index_of[text[(start + t + 1) % n]]);
      }
    tg::Tensor logits = logits_of(tg::tensor(inputs, {batch, context}));
    tg::Tensor loss = F::cross_entropy(logits.reshape({-1, vocab}), tg::tensor(targets, {batch * context}));
    opt.zero_grad();
    loss.backward();
    opt.step();
    if (step == 1 || step % 50 == 0) std::printf("step %3d  loss %.3f\n", step, loss.item());
  }

  tg::NoGradGuard no_grad;
  model.eval();
  std::string generated = "the dog";
  for (int i = 0; i < 60; ++i) {
    const size_t from = generated.size() > static_cast<size_t>(context) ? generated.size() - context : 0;
    std::vector<int64_t> ids;
    for (size_t j = from; j < generated.size(); ++j) ids.push_back(index_of[generated[j]]);
    tg::Tensor logits = logits_of(tg::tensor(ids, {1, static_cast<int64_t>(ids.size())}));
    const int64_t next = logits.select(1, logits.size(1) - 1).argmax(-1).item<int64_t>();
    generated += alphabet[static_cast<size_t>(next)];
  }
  std::printf("continuation: \"%s\"\n", generated.c_str());
}
