"""The Python twin of xor.cpp: XOR, the classic function no straight line can separate. A 2-4-1
network with tanh hidden units learns it, once by plain gradient descent (many small steps) and
once by L-BFGS (a few quasi-Newton steps that use the curvature of the loss).
Run: python examples/xor.py   (exits non-zero if either network gets a case wrong)"""
import sys

import tapegrad as tg
from tapegrad import nn
import tapegrad.nn.functional as F

x = tg.tensor([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
y = tg.tensor([[0.0], [1.0], [1.0], [0.0]])


def make_network():
    return nn.Sequential(nn.Linear(2, 4), nn.Tanh(), nn.Linear(4, 1))


def loss_of(net):  # the network outputs a logit; the _with_logits loss applies the sigmoid stably
    return F.binary_cross_entropy_with_logits(net(x), y)


def show(net):
    """Prints the four predictions (as probabilities); True when each is on the right side of 0.5."""
    with tg.no_grad():
        p = net(x).sigmoid().flatten().tolist()
    all_right = True
    for (a, b), t, q in zip(x.tolist(), y.flatten().tolist(), p):
        print(f"  {a:.0f} xor {b:.0f} = {t:.0f}   predicted {q:.3f}")
        all_right = all_right and (q > 0.5) == (t > 0.5)
    return all_right


tg.manual_seed(1)
gd_net = make_network()
sgd = tg.optim.SGD(gd_net.parameters(), lr=0.5)
for step in range(2001):
    loss = loss_of(gd_net)
    sgd.zero_grad()
    loss.backward()
    sgd.step()
    if step % 500 == 0:
        print(f"gradient descent step {step:4d}  loss {loss.item():.4f}")
gd_ok = show(gd_net)

# The same starting weights, now with L-BFGS: each step() runs up to 20 iterations, calling the
# closure to re-evaluate the loss and its gradient as the line search needs.
tg.manual_seed(1)
lbfgs_net = make_network()
lbfgs = tg.optim.LBFGS(lbfgs_net.parameters(), line_search_fn="strong_wolfe")
evaluations = 0


def closure():
    global evaluations
    evaluations += 1
    lbfgs.zero_grad()
    loss = loss_of(lbfgs_net)
    loss.backward()
    return loss


for step in range(1, 4):
    lbfgs.step(closure)
    with tg.no_grad():
        loss = loss_of(lbfgs_net).item()
    print(f"L-BFGS step {step}  loss {loss:.6f}  ({evaluations} loss evaluations so far)")
lbfgs_ok = show(lbfgs_net)
print(f"gradient descent took 2000 steps; L-BFGS {evaluations} evaluations of the loss.")
sys.exit(0 if gd_ok and lbfgs_ok else 1)
