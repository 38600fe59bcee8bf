"""Per-op overhead from Python: tapegrad beside PyTorch in one process, on tiny tensors where the
framework, not the arithmetic, is the cost. Each case is timed as the median of `repeats` runs of
`number` calls, the two libraries interleaved run by run so load on the machine hits both alike.

    build/venv/bin/python bench/overhead_py.py      # after `pip install .` into build/venv
"""
import statistics
import sys
import time

import tapegrad as tg

try:
    import torch
except ImportError:
    sys.exit("overhead_py: PyTorch is not importable (apt install python3-torch, and run a venv "
             "made with --system-site-packages)")


def cases(lib):
    a, b = lib.ones(4), lib.ones(4)
    ga, gb = lib.ones(4, requires_grad=True), lib.ones(4, requires_grad=True)
    m, v = lib.ones(4, 4), lib.ones(4)
    model = lib.nn.Sequential(lib.nn.Linear(4, 8), lib.nn.Tanh(), lib.nn.Linear(8, 2))
    opt = lib.optim.SGD(model.parameters(), lr=0.01)
    x, y = lib.ones(2, 4), lib.zeros(2, 2)

    def step():
        opt.zero_grad()
        lib.nn.functional.mse_loss(model(x), y).backward()
        opt.step()

    def backward():
        (ga * gb).sum().backward()

    def no_grad_linear():
        with lib.no_grad():
            model(x)

    return {
        "a + b (4 elements)": lambda: a + b,
        "a + b, inputs require grad": lambda: ga + gb,
        "a.add_(b) in place": lambda: a.add_(b),
        "a[1] indexing": lambda: a[1],
        "a.sum()": lambda: a.sum(),
        "m @ v (4x4 by 4)": lambda: m @ v,
        "relu(a)": lambda: lib.relu(a),
        "(a * b).sum().backward()": backward,
        "4-8-2 MLP forward, no_grad": no_grad_linear,
        "4-8-2 MLP training step (SGD)": step,
    }


def time_calls(fn, number):
    start = time.perf_counter()
    for _ in range(number):
        fn()
    return (time.perf_counter() - start) / number


def main(number=20000, repeats=7):
    torch.set_num_threads(1)
    tg.set_num_threads(1)
    ours, theirs = cases(tg), cases(torch)
    print(f"tapegrad {tg.__version__}, PyTorch {torch.__version__}, Python "
          f"{sys.version.split()[0]}; median of {repeats} runs x calls, 1 thread")
    print(f"| case | tapegrad | PyTorch | tapegrad / PyTorch |\n|---|---|---|---|")
    for name in ours:
        n = number // 10 if "MLP" in name or "backward" in name else number
        for fn in (ours[name], theirs[name]):  # warm-up
            time_calls(fn, n // 10)
        t_ours, t_theirs = [], []
        for _ in range(repeats):
            t_ours.append(time_calls(ours[name], n))
            t_theirs.append(time_calls(theirs[name], n))
        a, b = statistics.median(t_ours), statistics.median(t_theirs)
        print(f"| {name} | {a * 1e6:.2f} µs | {b * 1e6:.2f} µs | **{a / b:.2f}** |")


if __name__ == "__main__":
    main()
