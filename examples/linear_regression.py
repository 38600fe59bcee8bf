"""The Python twin of linear_regression.cpp: learn y = 2x from five points with one weight and one
bias, by plain gradient descent written out by hand (no optimizer, no nn.Module).
Run: python examples/linear_regression.py   (exits non-zero if it did not find w = 2, b = 0)"""
import sys

import tapegrad as tg

x = tg.tensor([1.0, 2.0, 3.0, 4.0, 5.0])
y = 2.0 * x
w = tg.zeros(()).requires_grad_()
b = tg.zeros(()).requires_grad_()
lr = 0.02
for step in range(2001):
    loss = ((w * x + b - y) ** 2).mean()
    loss.backward()
    with tg.no_grad():  # the update itself is not part of the model
        w -= lr * w.grad
        b -= lr * b.grad
        w.grad.zero_()
        b.grad.zero_()
    if step % 500 == 0:
        print(f"step {step:4d}  loss {loss.item():.6f}  w {w.item():.4f}  b {b.item():.4f}")
print(f"learned y = {w.item():.3f} x + {b.item():.3f} (the truth: y = 2 x + 0)")

if not (abs(w.item() - 2) < 0.01 and abs(b.item()) < 0.03):
    sys.exit(1)
