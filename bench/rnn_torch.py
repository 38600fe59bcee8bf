"""The same recurrent layers as bench/bench_rnn.cpp, in PyTorch (its peer for comparisons).

Usage, with the C++ side under the same threads:

    OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 build/bench/bench_rnn
    /usr/bin/python3 bench/rnn_torch.py 1
"""
import os
import sys

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


def measure(threads):
    """Median seconds per call of each case, keyed like the C++ benchmarks."""
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    lstm, gru = nn.LSTM(INPUT, HIDDEN), nn.GRU(INPUT, HIDDEN)
    return {
        "LstmFwdBwd": time_per_call(forward_backward(lstm), 10.0),
        "GruFwdBwd": time_per_call(forward_backward(gru), 10.0),
        "LstmForward": time_per_call(forward(lstm), 5.0),
    }


if __name__ == "__main__":
    n = int(sys.argv[1]) if len(sys.argv) > 1 else torch.get_num_threads()
    print(f"torch {torch.__version__}, threads={n}, mkldnn={torch.backends.mkldnn.is_available()}")
    for case, seconds in measure(n).items():
        print(f"{case} {seconds * 1e3:.3f} ms")
