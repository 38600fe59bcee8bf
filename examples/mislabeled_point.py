"""The Python twin of mislabeled_point.cpp: y = 2x from five points, but one label is wrong (10
typed as 1). The squared error lets that one point drag the whole line; the absolute error bounds
each point's pull, so the four good points win, and the bad one then stands out by its residual.
Run: python examples/mislabeled_point.py   (exits non-zero if the bad point was not found)"""
import sys

import tapegrad as tg
import tapegrad.nn.functional as F


def fit(xs, ys, loss_fn):
    """Fits y = w x + b by full-batch Adam on `loss_fn`; returns (w, b) as floats."""
    x, y = tg.tensor(xs), tg.tensor(ys)
    w = tg.zeros(()).requires_grad_()
    b = tg.zeros(()).requires_grad_()
    opt = tg.optim.Adam([w, b], lr=0.05)
    # The absolute error's gradient never shrinks, so the step size is lowered towards the end.
    sched = tg.optim.lr_scheduler.StepLR(opt, step_size=1000, gamma=0.1)
    for _ in range(3000):
        loss = loss_fn(w * x + b, y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
    return w.item(), b.item()


def residuals(w, b, xs, ys):
    return [y - (w * x + b) for x, y in zip(xs, ys)]


def show_residuals(r):
    print("  residuals y - (w x + b):" + "".join(f" {v:+6.2f}" for v in r))


xs = [1.0, 2.0, 3.0, 4.0, 5.0]
ys = [2.0, 4.0, 6.0, 8.0, 1.0]  # the last label should be 10

sq_w, sq_b = fit(xs, ys, F.mse_loss)
print(f"squared error:  y = {sq_w:.3f} x + {sq_b:.3f}")
show_residuals(residuals(sq_w, sq_b, xs, ys))
print("  Errors count squared: missing the bad point by 9 would cost 81, so the line tilts\n"
      "  towards it and every point ends up wrong; the culprit does not even stand out.\n")

abs_w, abs_b = fit(xs, ys, F.l1_loss)
print(f"absolute error: y = {abs_w:.3f} x + {abs_b:.3f}")
r = residuals(abs_w, abs_b, xs, ys)
show_residuals(r)
worst = max(range(len(xs)), key=lambda i: abs(r[i]))
print("  Each point pulls with the same force whatever its error, so the four that agree win.\n"
      f"  The point x = {xs[worst]:.0f} is off by {r[worst]:.1f}: probably mislabeled.\n")

# Drop the suspicious point and fit the squared error again.
keep = [i for i in range(len(xs)) if i != worst]
clean_w, clean_b = fit([xs[i] for i in keep], [ys[i] for i in keep], F.mse_loss)
print(f"squared error without it: y = {clean_w:.3f} x + {clean_b:.3f} (the truth: y = 2 x + 0)")

ok = abs(sq_w - 2) > 1 and abs(abs_w - 2) < 0.05 and worst == 4 and abs(clean_w - 2) < 0.01 and abs(clean_b) < 0.03
print("as expected" if ok else "UNEXPECTED RESULT")
sys.exit(0 if ok else 1)
