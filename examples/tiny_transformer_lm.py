"""The Python twin of tiny_transformer_lm.cpp: a tiny character-level transformer (token and
position embeddings, two pre-norm encoder layers with causal self-attention, a linear head) on a
licence text every Debian system has, then a sampled continuation.
Run: python examples/tiny_transformer_lm.py [TEXT] [STEPS]
Exits non-zero if the loss did not fall well below the uniform guess."""
import math
import random
import sys

import tapegrad as tg
from tapegrad import nn
import tapegrad.nn.functional as F

path = sys.argv[1] if len(sys.argv) > 1 else "/usr/share/common-licenses/Apache-2.0"
steps = int(sys.argv[2]) if len(sys.argv) > 2 else 600
text = open(path, encoding="utf-8", errors="replace").read()
alphabet = sorted(set(text))
index_of = {ch: i for i, ch in enumerate(alphabet)}
vocab, context, batch, d_model = len(alphabet), 64, 32, 64
print(f"{path}: {len(text)} characters, {vocab} distinct")


class TinyTransformer(nn.Module):
    def __init__(self):
        super().__init__()
        self.tokens = nn.Embedding(vocab, d_model)
        # Attention has no notion of order: each position adds a learned embedding of its index.
        self.positions = nn.Embedding(context, d_model)
        layer = nn.TransformerEncoderLayer(d_model, nhead=4, dim_feedforward=4 * d_model, dropout=0.0,
                                           activation="gelu", batch_first=True, norm_first=True)
        self.encoder = nn.TransformerEncoder(layer, num_layers=2, norm=nn.LayerNorm(d_model))
        self.head = nn.Linear(d_model, vocab)

    def forward(self, ids):  # [N, T] -> logits [N, T, vocab]; position t sees positions <= t only
        T = ids.shape[1]
        x = self.tokens(ids) + self.positions(tg.arange(T))
        mask = nn.Transformer.generate_square_subsequent_mask(T)
        return self.head(self.encoder(x, mask=mask, is_causal=True))


tg.manual_seed(0)
model = TinyTransformer()
opt = tg.optim.AdamW(model.parameters(), lr=3e-3)
encoded = tg.tensor([index_of[ch] for ch in text])

first = last = None
for step in range(1, steps + 1):
    starts = tg.randint(0, len(text) - context - 1, (batch,))
    windows = tg.stack([encoded[s:s + context + 1] for s in starts.tolist()])  # [batch, context + 1]
    loss = F.cross_entropy(model(windows[:, :-1]).reshape(-1, vocab), windows[:, 1:].reshape(-1))
    opt.zero_grad()
    loss.backward()
    nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    opt.step()
    last = loss.item()
    first = first if first is not None else last
    if step == 1 or step % 50 == 0 or step == steps:
        print(f"step {step:4d}  loss {last:.3f}  ({last / math.log(2):.2f} bits per character)")

# No state to carry, unlike the LSTM: each new character re-reads the last `context` characters.
model.eval()
rng = random.Random(1)
sample = "Licensed under"
with tg.no_grad():
    for _ in range(200):
        ids = tg.tensor([[index_of.get(ch, 0) for ch in sample[-context:]]])
        p = F.softmax(model(ids)[0, -1] / 0.7, dim=-1).tolist()  # temperature 0.7
        sample += alphabet[rng.choices(range(vocab), weights=p)[0]]
print(f'sample: "{sample}"')

if not (last < math.log(vocab) - 1.0 and last < first):
    sys.exit(f"the loss went from {first:.3f} to {last:.3f} (uniform guess {math.log(vocab):.3f}): it did not learn")
