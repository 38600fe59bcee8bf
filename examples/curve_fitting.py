"""The Python twin of curve_fitting.cpp: y = x^2 fitted by a straight line, and what fixes it. A
line can only tilt and shift, so the best it can do on a parabola is a flat line through the
average; a hidden layer with a nonlinearity (or a feature x^2) gives the model a way to bend.
Run: python examples/curve_fitting.py   (exits non-zero if the line did not underfit or a fix failed)"""
import sys

import tapegrad as tg
from tapegrad import nn
import tapegrad.nn.functional as F


def fit(model, x, y, steps=2000, lr=0.05):
    """Trains `model` on (x, y) with Adam and full batches; returns the final mean squared error."""
    opt = tg.optim.Adam(model.parameters(), lr=lr)
    for _ in range(steps):
        loss = F.mse_loss(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return loss.item()


def show(model, name):
    with tg.no_grad():
        values = [f"  f({v:+.0f}) = {model(tg.tensor([[v]])).item():5.2f}" for v in (-2.0, -1.0, 0.0, 1.0, 2.0)]
    print(f"  {name:<12}" + "".join(values))


tg.manual_seed(0)
x = tg.linspace(-2, 2, 21).reshape(21, 1)  # 21 points of y = x^2 on [-2, 2], as a column
y = x * x

# 1. A line: y = w x + b.
line = nn.Linear(1, 1)
line_loss = fit(line, x, y)
print(f"a line:   y = {line.weight.item():.3f} x + {line.bias.item():.3f}, mean squared error {line_loss:.4f}")
show(line, "line")
print("  The parabola is symmetric, so tilting the line helps nowhere: w goes to 0 and b to\n"
      f"  the mean of y ({y.mean().item():.3f}). No amount of training fixes that; the model is too simple.\n")

# 2. One hidden layer of 16 tanh units: a sum of 16 shifted, scaled S-curves can bend.
mlp = nn.Sequential(nn.Linear(1, 16), nn.Tanh(), nn.Linear(16, 1))
mlp_loss = fit(mlp, x, y, lr=0.02)
print(f"1-16-1 tanh network: mean squared error {mlp_loss:.4f}")
show(mlp, "network")

# 3. Or keep the line but give it the right feature: y = w1 x + w2 x^2 + b is still linear in its
# weights, and x^2 makes the fit exact.
poly = nn.Linear(2, 1)
poly_loss = fit(poly, tg.cat([x, x * x], dim=1), y)
w1, w2 = poly.weight.flatten().tolist()
print(f"\nline on features (x, x^2): y = {w1:.3f} x + {w2:.3f} x^2 + {poly.bias.item():.3f}, "
      f"mean squared error {poly_loss:.6f}")

# The lesson holds when the line is stuck and both fixes are close.
ok = line_loss > 0.5 and mlp_loss < 0.01 and poly_loss < 1e-4
print("as expected: the line underfits, both fixes fit" if ok else "UNEXPECTED RESULT")
sys.exit(0 if ok else 1)
