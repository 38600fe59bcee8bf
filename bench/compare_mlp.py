"""tapegrad vs PyTorch on the CPU, in one sitting with the same thread count.

Usage: bash bench/compare_mlp.sh [threads]  (builds bench_mlp_step, then runs this with Debian's
python3, which has PyTorch). Prints per-case medians and the ratio tapegrad / PyTorch.
"""
import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(__file__))
import mlp_step_torch  # noqa: E402


def tapegrad_times(binary):
    out = subprocess.run(
        [binary, "--benchmark_format=json", "--benchmark_repetitions=5",
         "--benchmark_report_aggregates_only=true"],
        check=True, capture_output=True, text=True).stdout
    times = {}
    for b in json.loads(out)["benchmarks"]:
        if b.get("aggregate_name") == "median":
            name = b["run_name"].split("/")[0].removeprefix("BM_")
            scale = {"ms": 1e-3, "us": 1e-6, "ns": 1e-9}[b["time_unit"]]
            times[name] = b["real_time"] * scale
    return times


def main():
    threads = int(sys.argv[1])
    binary = sys.argv[2]
    ours = tapegrad_times(binary)
    theirs = mlp_step_torch.measure(threads)
    print(f"threads={threads}  torch {mlp_step_torch.torch.__version__}")
    print(f"{'case':<20}{'tapegrad':>12}{'pytorch':>12}{'tg/torch':>10}")
    for case, t_torch in theirs.items():
        t_ours = ours[case]
        unit, scale = ("us", 1e6) if t_torch < 1e-3 else ("ms", 1e3)
        print(f"{case:<20}{t_ours * scale:>10.3f}{unit}{t_torch * scale:>10.3f}{unit}"
              f"{t_ours / t_torch:>10.2f}")


if __name__ == "__main__":
    main()
