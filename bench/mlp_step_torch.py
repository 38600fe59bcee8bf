"""The same steps as bench/bench_mlp_step.cpp, in PyTorch (the peer for bench/compare_mlp.sh).

Times each case like Google Benchmark does in the C++ twin: repeated runs of a timed loop, the
median of the per-step times, after a warm-up.
"""
import statistics
import sys
import time

import torch
import torch.nn.functional as F


def make_mlp(sizes):
    layers = []
    for i in range(len(sizes) - 1):
        layers.append(torch.nn.Linear(sizes[i], sizes[i + 1]))
        if i + 2 < len(sizes):
            layers.append(torch.nn.ReLU())
    return torch.nn.Sequential(*layers)


def time_per_step(step, seconds):
    for _ in range(10):
        step()
    runs = []
    for _ in range(5):
        n, start = 0, time.perf_counter()
        while time.perf_counter() - start < seconds / 5:
            step()
            n += 1
        runs.append((time.perf_counter() - start) / n)
    return statistics.median(runs)


def measure(threads):
    """Median seconds per call of each case, keyed like the C++ benchmarks."""
    torch.set_num_threads(threads)
    torch.manual_seed(0)

    model = make_mlp([784, 512, 512, 10])
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    x = torch.randn(128, 784)
    y = torch.randint(0, 10, (128,))

    def train_step():
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)

    def forward():
        with torch.no_grad():
            model(x)

    tiny = make_mlp([4, 8, 2])
    tiny_opt = torch.optim.SGD(tiny.parameters(), lr=0.01)
    tx, ty = torch.randn(2, 4), torch.randint(0, 2, (2,))

    def tiny_step():
        loss = F.cross_entropy(tiny(tx), ty)
        loss.backward()
        tiny_opt.step()
        tiny_opt.zero_grad(set_to_none=True)

    return {
        "MlpTrainingStep": time_per_step(train_step, 10.0),
        "MlpForward": time_per_step(forward, 5.0),
        "TinyStepOverhead": time_per_step(tiny_step, 5.0),
    }


if __name__ == "__main__":
    n = int(sys.argv[1]) if len(sys.argv) > 1 else torch.get_num_threads()
    for case, seconds in measure(n).items():
        print(f"{case} {seconds * 1e3:.3f} ms")
