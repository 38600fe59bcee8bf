"""A CNN on Fashion-MNIST with tapegrad's PyTorch-style API (the twin of `tapegrad-train --model cnn`).
Run: python examples/train_cnn.py [data dir] [epochs]   (Debian: apt install dataset-fashion-mnist)"""
import gzip, sys, time
import numpy as np
import tapegrad as tg
from tapegrad import nn
from tapegrad.utils.data import DataLoader, TensorDataset

root = sys.argv[1] if len(sys.argv) > 1 else "/usr/share/datasets/fashion-mnist"
epochs = int(sys.argv[2]) if len(sys.argv) > 2 else 4

def load(split):  # IDX files: a 16-byte header before the images, 8 before the labels
    images = np.frombuffer(gzip.open(f"{root}/{split}-images-idx3-ubyte.gz").read(), np.uint8, offset=16)
    labels = np.frombuffer(gzip.open(f"{root}/{split}-labels-idx1-ubyte.gz").read(), np.uint8, offset=8)
    x = (images.reshape(-1, 1, 28, 28).astype(np.float32) / 255 - 0.2860) / 0.3530
    return TensorDataset(tg.from_numpy(x), tg.from_numpy(labels.astype(np.int64)))

tg.manual_seed(0)
train, test = DataLoader(load("train"), batch_size=64, shuffle=True), DataLoader(load("t10k"), batch_size=1000)
block = lambda cin, cout: [nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(), nn.MaxPool2d(2)]
model = nn.Sequential(*block(1, 16), *block(16, 32), nn.Flatten(), nn.Linear(32 * 7 * 7, 128), nn.ReLU(), nn.Linear(128, 10))
opt = tg.optim.Adam(model.parameters(), lr=2e-3)
sched = tg.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=epochs * len(train))
loss_fn = nn.CrossEntropyLoss()
for epoch in range(epochs):
    model.train()
    start, total = time.perf_counter(), 0.0
    for x, y in train:
        opt.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
        sched.step()
        total += loss.item() * len(y)
    model.eval()
    with tg.no_grad():
        correct = sum((model(x).argmax(1) == y).sum().item() for x, y in test)
    print(f"epoch {epoch + 1}: loss {total / len(train.dataset):.4f}  test accuracy "
          f"{100 * correct / len(test.dataset):.2f}%  ({time.perf_counter() - start:.1f} s)")
