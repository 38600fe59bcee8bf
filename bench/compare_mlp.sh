#!/usr/bin/env bash
# tapegrad vs PyTorch (CPU) on the MLP training step, same thread count, one sitting.
# Usage: bash bench/compare_mlp.sh [threads]     (default: all cores)
set -euo pipefail
cd "$(dirname "$0")/.."
threads=${1:-$(nproc)}
bash install-deps.sh python3-torch
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build --target bench_mlp_step >/dev/null
export OMP_NUM_THREADS=$threads OPENBLAS_NUM_THREADS=$threads
date -u +"%Y-%m-%d %H:%M UTC"; lscpu | grep "Model name" | sed 's/ \+/ /g'
/usr/bin/python3 bench/compare_mlp.py "$threads" build/bench/bench_mlp_step
