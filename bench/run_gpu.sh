#!/usr/bin/env bash
# Everything a GPU session checks, in one call of the device tool:
#   bash bench/gpu_deps.sh            # here, once
#   run: bash bench/run_gpu.sh        # there, with carry [".devdeps"], timeout_s 600
# Builds with CUDA (sm_90), runs the CUDA tests, the whole ctest suite, the CUDA benchmark, the
# Python tests against the GPU build, tapegrad-train on CPU and GPU (the GPU row), the example
# models vs PyTorch on the GPU, and compute-sanitizer over the CUDA tests; a step that would start
# after 8.5 minutes is skipped (the call's limit is 10). Logs go to $OUT (or bench/results/latest
# when OUT is unset); commit them under bench/results/<date>-<device>/.
set -uo pipefail
cd "$(dirname "$0")/.."
out="${OUT:-bench/results/latest}"
mkdir -p "$out"
jobs="$(nproc)"
deps="$PWD/.devdeps"
{
  date -u +"%Y-%m-%dT%H:%MZ"
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>&1
  nvcc --version | tail -1
  git log -1 --format="commit %H %s" 2>/dev/null || true
} > "$out/device.txt"
cat "$out/device.txt"

cmake_args=(-G Ninja -DCMAKE_BUILD_TYPE=Release -DTG_CUDA=ON -DTG_BLAS=OFF -DTG_PYTHON=ON
            -DCMAKE_CUDA_ARCHITECTURES=90)
if [ -d "$deps" ]; then
  cmake_args+=(-DTG_GTEST_SOURCE_DIR="$deps/googletest" -DTG_NLOHMANN_JSON_INCLUDE="$deps/include"
               -DTG_DLPACK_INCLUDE="$deps/include" -DZLIB_INCLUDE_DIR="$deps/include"
               -DZLIB_LIBRARY="$deps/lib/libz.a")
fi
python_bin="$(command -v python3)"
cmake_args+=(-DPython_EXECUTABLE="$python_bin" -Dpybind11_DIR="$("$python_bin" -m pybind11 --cmakedir)")

step() { echo "== $1 ($(date -u +%T), ${SECONDS} s in)"; }
# True when there is time left for a step; otherwise says it was skipped.
time_left() {
  if [ "$SECONDS" -gt 510 ]; then echo "== skipped: $1 (${SECONDS} s in)"; return 1; fi
}
step "configure and build" | tee "$out/build.log"
if ! { cmake -S . -B build-gpu "${cmake_args[@]}" && cmake --build build-gpu -j "$jobs"; } >> "$out/build.log" 2>&1; then
  tail -50 "$out/build.log"
  exit 1
fi
tail -3 "$out/build.log"

step "CUDA tests"
timeout 300 build-gpu/tests/tapegrad_tests --gtest_filter='Cuda*' 2>&1 | tee "$out/cuda_tests.log" | grep -E "^\[  (FAILED|PASSED|SKIPPED) |Failure|error" | head -80

step "whole ctest suite"
timeout 400 ctest --test-dir build-gpu -j "$jobs" --output-on-failure > "$out/ctest.log" 2>&1
grep -E "tests passed|tests failed|Failed|\*\*\*" "$out/ctest.log" | head -40

step "CUDA benchmark"
timeout 300 build-gpu/bench/bench_cuda ${BENCH_ARGS:-} 2>&1 | tee "$out/bench_cuda.log"

step "Python tests on the GPU build"
mkdir -p build-gpu/pydev/tapegrad
ln -sf "$PWD"/python/tapegrad/* build-gpu/pydev/tapegrad/
ln -sf "$PWD"/build-gpu/python/_C*.so build-gpu/pydev/tapegrad/
PYTHONPATH=build-gpu/pydev timeout 300 python3 -m pytest -q -x tests/python -k "not train_cnn" > "$out/pytest.log" 2>&1
tail -15 "$out/pytest.log"

data="$deps/fashion-mnist"
if [ -d "$data" ] && time_left "tapegrad-train"; then
  step "tapegrad-train, one epoch each, CPU and GPU"
  timeout 150 build-gpu/examples/tapegrad-train --data "$data" --epochs 1 --csv "$out/train.csv" \
    --chart "$out/train.png" > "$out/train.log" 2>&1
  grep -v "batches " "$out/train.log" | tail -12
fi

if time_left "example models vs PyTorch on the GPU"; then
  step "example models vs PyTorch on the GPU"
  PYTHONPATH=build-gpu/pydev timeout 120 python3 bench/compare_models.py --device cuda --reps 3 \
    --data "$data" --text "$deps/Apache-2.0" > "$out/compare_models_cuda.log" 2>&1
  tail -8 "$out/compare_models_cuda.log"
fi

time_left "compute-sanitizer" || { step "done"; exit 0; }
step "compute-sanitizer (memcheck, racecheck) over the CUDA tests"
{
  timeout 240 compute-sanitizer --tool memcheck --error-exitcode 1 \
    build-gpu/tests/tapegrad_tests --gtest_filter='Cuda*:-*Large*:*TrainingLoop*' 2>&1 | tail -30
  echo "memcheck exit: ${PIPESTATUS[0]}"
  timeout 120 compute-sanitizer --tool racecheck --error-exitcode 1 \
    build-gpu/tests/tapegrad_tests --gtest_filter='Cuda.Reductions*:Cuda.Softmax*:Cuda.Matmul*' 2>&1 | tail -30
  echo "racecheck exit: ${PIPESTATUS[0]}"
} > "$out/sanitizer.log" 2>&1
grep -E "exit:|ERROR SUMMARY" "$out/sanitizer.log"
step "done"
