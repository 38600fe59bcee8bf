"""The same recurrent layers as bench/bench_rnn.cpp, in PyTorch (its peer for comparisons).

Prints the median wall time per call (as the C++ side's "Time") and the process CPU time per
call (its "CPU"; on a loaded machine the one to compare). Usage, with the C++ side under the same
threads:

    OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 build/bench/bench_rnn
    /usr/bin/python3 bench/rnn_torch.py 1
"""
import os
import sys
import time

import torch
import torch.nn as nn

sys.path.insert(0, os.path.dirname(__file__))
from mlp_step_torch import time_per_step as time_per_call  # noqa: E402

STEPS, BATCH, INPUT, HIDDEN = 32, 32, 64, 128


def forward_backward(net):
    torch.manual_seed(1)
    x = torch.randn(STEPS, BATCH, INPUT)
    grad_out = torch.randn(STEPS, BATCH, HIDDEN)

    def step():
        out, _ = net(x)
        out.backward(grad_out)
        net.zero_grad(set_to_none=True)

    return step


def forward(net):
    x = torch.randn(STEPS, BATCH, INPUT)

    def step():
        with torch.no_grad():
            net(x)

    return step


def cpu_time_per_call(step, seconds):
    for _ in range(5):
        step()
    n, start = 0, time.process_time()
    while time.process_time() - start < seconds:
        step()
        n += 1
    return (time.process_time() - start) / n


def measure(threads):
    """(wall, CPU) seconds per call of each case, keyed like the C++ benchmarks."""
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    lstm, gru = nn.LSTM(INPUT, HIDDEN), nn.GRU(INPUT, HIDDEN)
    cases = {
        "LstmFwdBwd": forward_backward(lstm),
        "GruFwdBwd": forward_backward(gru),
        "LstmForward": forward(lstm),
    }
    return {name: (time_per_call(step, 6.0), cpu_time_per_call(step, 3.0))
            for name, step in cases.items()}


if __name__ == "__main__":
    n = int(sys.argv[1]) if len(sys.argv) > 1 else torch.get_num_threads()
    print(f"torch {torch.__version__}, threads={n}, mkldnn={torch.backends.mkldnn.is_available()}")
    for case, (wall, cpu) in measure(n).items():
        print(f"{case} {wall * 1e3:.3f} ms (CPU {cpu * 1e3:.3f} ms)")
