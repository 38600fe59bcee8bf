"""The Python twin of char_lstm_lm.cpp: a character-level LSTM language model on a licence text
every Debian system has, then a sampled continuation. Usage: python char_lstm_lm.py [TEXT] [STEPS]
Exits non-zero if the loss did not fall well below the uniform guess."""
import math
import random
import sys

import tapegrad as tg
from tapegrad import nn
import tapegrad.nn.functional as F

path = sys.argv[1] if len(sys.argv) > 1 else "/usr/share/common-licenses/Apache-2.0"
steps = int(sys.argv[2]) if len(sys.argv) > 2 else 300
text = open(path, encoding="utf-8", errors="replace").read()
alphabet = sorted(set(text))
index_of = {ch: i for i, ch in enumerate(alphabet)}
vocab, context, batch = len(alphabet), 64, 32
print(f"{path}: {len(text)} characters, {vocab} distinct")

tg.manual_seed(0)
embedding, lstm, head = nn.Embedding(vocab, 32), nn.LSTM(32, 128, batch_first=True), nn.Linear(128, vocab)
params = [*embedding.parameters(), *lstm.parameters(), *head.parameters()]
opt = tg.optim.Adam(params, lr=5e-3)
encoded = tg.tensor([index_of[ch] for ch in text])

first = last = None
for step in range(1, steps + 1):
    starts = tg.randint(0, len(text) - context - 1, (batch,))
    windows = tg.stack([encoded[s:s + context + 1] for s in starts.tolist()])  # [batch, context + 1]
    out, _ = lstm(embedding(windows[:, :-1]))
    loss = F.cross_entropy(head(out).reshape(-1, vocab), windows[:, 1:].reshape(-1))
    opt.zero_grad()
    loss.backward()
    nn.utils.clip_grad_norm_(params, 1.0)  # LSTMs' gradients can spike
    opt.step()
    last = loss.item()
    first = first if first is not None else last
    if step == 1 or step % 50 == 0 or step == steps:
        print(f"step {step:4d}  loss {last:.3f}  ({last / math.log(2):.2f} bits per character)")

rng = random.Random(1)
sample = "Licensed under"
with tg.no_grad():
    out, state = lstm(embedding(tg.tensor([[index_of.get(ch, 0) for ch in sample]])))
    logits = head(out[:, -1])
    for _ in range(200):
        p = F.softmax(logits / 0.7, dim=-1)[0].tolist()  # temperature 0.7
        nxt = rng.choices(range(vocab), weights=p)[0]
        sample += alphabet[nxt]
        out, state = lstm(embedding(tg.tensor([[nxt]])), state)
        logits = head(out[:, -1])
print(f'sample: "{sample}"')

if not (last < math.log(vocab) - 1.0 and last < first):
    sys.exit(f"the loss went from {first:.3f} to {last:.3f} (uniform guess {math.log(vocab):.3f}): it did not learn")
