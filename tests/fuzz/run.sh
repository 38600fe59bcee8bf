#!/usr/bin/env bash
# Builds the libFuzzer targets (clang, ASan + UBSan) and runs each for SECONDS (default 30) from
# the seed corpus in tests/fuzz/corpus/<target>; exits non-zero on a finding, whose reproducer
# libFuzzer writes to build-fuzz/findings/. New inputs go to build-fuzz/corpus, not the repository.
# Usage: bash tests/fuzz/run.sh [SECONDS]
set -euo pipefail
cd "$(dirname "$0")/../.."
seconds="${1:-30}"
build=build-fuzz
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_CXX_FLAGS_RELEASE="-O1 -g" \
  -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ -DTG_FUZZ=ON -DTG_CUDA=OFF -DTG_BLAS=OFF \
  -DTG_BUILD_TESTS=OFF -DTG_BUILD_BENCH=OFF -DTG_BUILD_EXAMPLES=OFF >/dev/null
if ! cmake --build "$build" -j "$(nproc)" --target fuzz_safetensors fuzz_idx >"$build/build.log" 2>&1; then
  tail -n 60 "$build/build.log"
  exit 1
fi
mkdir -p "$build/findings"
for target in fuzz_safetensors fuzz_idx; do
  corpus="$build/corpus/$target"
  mkdir -p "$corpus"
  echo "fuzz: $target for ${seconds}s"
  # -rss_limit_mb: a reader that tries to allocate what a hostile header claims is a finding.
  status=0
  "$build/tests/fuzz/$target" "$corpus" "tests/fuzz/corpus/$target" \
    -dict="tests/fuzz/$target.dict" -max_total_time="$seconds" -rss_limit_mb=2048 -max_len=4096 \
    -artifact_prefix="$build/findings/$target-" -print_final_stats=1 >"$build/$target.log" 2>&1 || status=$?
  grep -E "^#[0-9]+ *DONE|^stat::number_of_executed_units|^stat::peak_rss_mb|ERROR|SUMMARY|fuzz_" "$build/$target.log" | tail -n 20 || true
  if ((status != 0)); then
    echo "fuzz: $target found a problem (exit $status); reproducer in $build/findings/"
    exit "$status"
  fi
done
