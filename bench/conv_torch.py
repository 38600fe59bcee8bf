"""The same convolutions as bench/bench_conv.cpp, in PyTorch (its peer for comparisons).

Times each case like Google Benchmark does in the C++ twin: repeated runs of a timed loop, the
median of the per-call times, after a warm-up. Usage, with the C++ side under the same threads:

    OMP_NUM_THREADS=2 OPENBLAS_NUM_THREADS=2 build/bench/bench_conv
    /usr/bin/python3 bench/conv_torch.py 2
"""
import os
import sys

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(__file__))
from mlp_step_torch import time_per_step as time_per_call  # noqa: E402


def make_layer(in_channels, out_channels, size, input_grad):
    """Input [64, in, size, size], a 3x3 weight and bias with nn.Conv2d's bounds, an output grad."""
    torch.manual_seed(0)
    x = torch.randn(64, in_channels, size, size, requires_grad=input_grad)
    bound = 1.0 / (in_channels * 9) ** 0.5
    w = (torch.rand(out_channels, in_channels, 3, 3) * 2 * bound - bound).requires_grad_()
    b = (torch.rand(out_channels) * 2 * bound - bound).requires_grad_()
    grad_out = torch.randn(64, out_channels, size, size)
    return x, w, b, grad_out


def forward_backward(layer):
    x, w, b, grad_out = layer

    def step():
        y = F.conv2d(x, w, b, padding=1)
        y.backward(grad_out)
        for t in (x, w, b):
            t.grad = None  # as zero_grad(set_to_none=True)

    return step


def forward(layer):
    x, w, b, _ = layer

    def step():
        with torch.no_grad():
            F.conv2d(x, w, b, padding=1)

    return step


def measure(threads):
    """Median seconds per call of each case, keyed like the C++ benchmarks."""
    torch.set_num_threads(threads)
    first = make_layer(1, 32, 28, False)   # the data: no input gradient
    second = make_layer(32, 64, 14, True)  # an activation: input gradient too
    return {
        "Conv1to32At28FwdBwd": time_per_call(forward_backward(first), 10.0),
        "Conv32to64At14FwdBwd": time_per_call(forward_backward(second), 10.0),
        "Conv1to32At28Forward": time_per_call(forward(first), 5.0),
        "Conv32to64At14Forward": time_per_call(forward(second), 5.0),
    }


if __name__ == "__main__":
    n = int(sys.argv[1]) if len(sys.argv) > 1 else torch.get_num_threads()
    print(f"torch {torch.__version__}, threads={n}, mkldnn={torch.backends.mkldnn.is_available()}")
    for case, seconds in measure(n).items():
        print(f"{case} {seconds * 1e3:.3f} ms")
