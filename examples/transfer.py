"""Transfer learning: reuse a network trained in C++ for a new task with little labelled data.

The lesson: the hidden layers of a classifier trained on a big data set compute features that are
useful beyond its own labels. Here the MLP that `tapegrad-train` trained on 60,000 Fashion-MNIST
images for the 10 fine classes is saved to safetensors, loaded into the same architecture built in
Python (the same 10-class test accuracy proves the weights came across exactly), then its body is
frozen and only a fresh last layer is fitted to a new 3-class task (tops / footwear / other) from
just 200 labelled images. The same network trained from scratch on those 200 images, for as many
steps, does worse (about 93% against 95-96%): it must learn its features from 200 examples, while
the transferred body learned them from tens of thousands. (With 500 images scratch comes within
1-2 points on this easy task; the fewer the labels, the more transfer wins.) Exits non-zero if
fine-tuning does not beat scratch by a point, or misses 92% (measured: 95-96%).

Run:
  build/examples/tapegrad-train --model mlp --device cpu --epochs 1 --save /tmp/mlp.safetensors
  python examples/transfer.py /tmp/mlp.safetensors [--data DIR] [--steps N] [--expect ACCURACY]
"""
import argparse
import gzip
import math
import time

import numpy as np
import tapegrad as tg
from tapegrad import nn
from tapegrad.utils.data import DataLoader, TensorDataset

parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
parser.add_argument("weights", help="the .safetensors file written by tapegrad-train --model mlp --save")
parser.add_argument("--data", default="/usr/share/datasets/fashion-mnist", help="the Fashion-MNIST IDX files")
parser.add_argument("--steps", type=int, default=200, help="training steps on the new task (default 200)")
parser.add_argument("--train-size", type=int, default=200, help="labelled images for the new task (default 200)")
parser.add_argument("--expect", type=float, help="the test accuracy tapegrad-train printed, to check it here")
args = parser.parse_args()
start = time.perf_counter()

def load(split):  # IDX files: a 16-byte header before the images, 8 before the labels
    images = np.frombuffer(gzip.open(f"{args.data}/{split}-images-idx3-ubyte.gz").read(), np.uint8, offset=16)
    labels = np.frombuffer(gzip.open(f"{args.data}/{split}-labels-idx1-ubyte.gz").read(), np.uint8, offset=8)
    # Pixels / 255 rounded to float32 the way tapegrad-train's IDX reader does it.
    return tg.from_numpy((images.reshape(-1, 1, 28, 28) / 255.0).astype(np.float32)), labels.astype(np.int64)

# The network must see exactly the inputs it was trained on: tapegrad-train standardizes with
# the training images' own mean and standard deviation (0.286, 0.353), computed the same way here.
train_x, train_y = load("train")
test_x, test_y = load("t10k")
mean, std = train_x.mean().item(), math.sqrt(train_x.var().item())
train_x, test_x = (train_x - mean) / std, (test_x - mean) / std
print(f"data: {args.data} ({len(train_y)} training, {len(test_y)} test images; "
      f"pixel mean {mean:.3f}, std {std:.3f})")

def mlp(classes):  # make_model("mlp") of examples/train.cpp, with a choice of output size
    return nn.Sequential(nn.Flatten(), nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 128), nn.ReLU(),
                         nn.Linear(128, classes))

def accuracy(model, x, y):  # on the whole test set, in batches of 1000 as tapegrad-train does
    model.eval()
    with tg.no_grad():
        correct = sum((model(xb).argmax(1) == yb).sum().item()
                      for xb, yb in DataLoader(TensorDataset(x, tg.from_numpy(y)), batch_size=1000))
    return 100 * correct / len(y)

# ---- 1. The C++-trained weights, loaded strictly into the same architecture built in Python.
model = mlp(10)
state = tg.load(args.weights)
expected = {k: tuple(v.shape) for k, v in model.state_dict().items()}
found = {k: tuple(v.shape) for k, v in state.items()}
assert found == expected, f"{args.weights} holds {found}, the MLP expects {expected}"
model.load_state_dict(state, strict=True)
print(f"loaded {args.weights}: {', '.join(f'{k} {list(s)}' for k, s in found.items())}")
# tapegrad-train tests on all 10,000 images too (with --limit-batches N, on N * 1000 of them).
loaded = accuracy(model, test_x, test_y)
print(f"10-class test accuracy of the C++-trained MLP in Python: {loaded:.2f}%")
if args.expect is not None and f"{loaded:.2f}" != f"{args.expect:.2f}":
    raise SystemExit(f"tapegrad-train printed {args.expect:.2f}%: the weights did not carry over exactly")

# ---- 2. A new task: 3 coarse classes, and only a few hundred labelled images to learn it.
COARSE = ["tops", "footwear", "other"]
# Fashion-MNIST: 0 T-shirt/top, 1 Trouser, 2 Pullover, 3 Dress, 4 Coat, 5 Sandal, 6 Shirt,
# 7 Sneaker, 8 Bag, 9 Ankle boot.
to_coarse = np.array([0, 2, 0, 2, 0, 1, 0, 1, 2, 1])
rng = np.random.default_rng(0)
few = np.sort(rng.choice(len(train_y), args.train_size, replace=False))
few_x = tg.from_numpy(train_x.numpy()[few])
few_y, test_coarse = tg.from_numpy(to_coarse[train_y[few]]), to_coarse[test_y]
print(f"\nnew task: {'/'.join(COARSE)} from {args.train_size} labelled images, {args.steps} steps of Adam")

def fit(net, params, steps, lr):
    """`steps` Adam steps on the few labelled images, batches of 50 reshuffled every pass."""
    tg.manual_seed(1)  # the same batch order for both networks
    opt = tg.optim.Adam(params, lr=lr)
    loader = DataLoader(TensorDataset(few_x, few_y), batch_size=50, shuffle=True)
    loss_fn, step = nn.CrossEntropyLoss(), 0
    net.train()
    while step < steps:
        for x, y in loader:
            opt.zero_grad()
            loss_fn(net(x), y).backward()
            opt.step()
            step += 1
            if step == steps:
                break
    with tg.no_grad():
        return loss_fn(net(few_x), few_y).item()  # the final loss on the whole small training set

# Transfer: keep the trained body, freeze it, and replace the 10-class layer by a fresh 3-class
# one. Only the head's 387 parameters get gradients and optimizer updates; a single layer on fixed
# features takes a larger learning rate than the whole network (tapegrad-train's 1e-3) does.
tg.manual_seed(0)
body = model[:-1]  # Flatten, Linear, ReLU, Linear, ReLU: the loaded layers themselves, not copies
body.requires_grad_(False)
transfer = nn.Sequential(*body, nn.Linear(128, 3))
head = transfer[-1]
loss = fit(transfer, head.parameters(), args.steps, lr=1e-2)
transferred = accuracy(transfer, test_x, test_coarse)
print(f"fine-tuned head on the frozen C++ body:  training loss {loss:.4f}  test accuracy {transferred:.2f}%")
saved = tg.load(args.weights)  # read afresh: the body must still hold exactly the file's weights
assert all(tg.equal(v, saved[k]) for k, v in body.state_dict().items()), "the frozen body changed"
assert all(p.grad is None for p in body.parameters()), "the frozen body got gradients"
print("the frozen body's weights are bit-for-bit what the file holds, and got no gradients")

# From scratch: the same architecture, freshly initialized, every layer trained, same data and steps.
tg.manual_seed(0)
scratch = mlp(3)
loss = fit(scratch, scratch.parameters(), args.steps, lr=1e-3)
baseline = accuracy(scratch, test_x, test_coarse)
print(f"same network trained from scratch:       training loss {loss:.4f}  test accuracy {baseline:.2f}%")

# Measured: 95-96% after a full epoch of tapegrad-train (94.9-95.5% after 300-500 batches) and
# 100-600 steps here, over 3 draws of the labelled images; scratch 92.4-93.6%.
THRESHOLD = 92.0
if not (transferred > baseline + 1.0 and transferred >= THRESHOLD):
    raise SystemExit(f"transfer {transferred:.2f}% vs scratch {baseline:.2f}%: expected transfer >= "
                     f"{THRESHOLD}% and at least 1 point above scratch")
print(f"\ntransfer wins by {transferred - baseline:.2f} points: the body's features were learned from tens of\n"
      f"thousands of labelled images; from scratch, {args.train_size} images are too few to learn them without\n"
      f"overfitting (its training loss falls to ~0 while its test accuracy stalls).\n"
      f"({time.perf_counter() - start:.1f} s in all)")
