#!/usr/bin/env bash
# The sanitizer jobs, run by tests/run.sh after the main suite (CPU only, no CUDA):
#   1. the whole C++ suite (ctest) built with AddressSanitizer + UndefinedBehaviorSanitizer (gcc),
#      LeakSanitizer on, the caching allocator off so that every tensor's memory is really freed;
#   2. the thread tests built with ThreadSanitizer;
#   3. each libFuzzer target for FUZZ_SECONDS (default 30) from its seed corpus (tests/fuzz/run.sh).
# Any report fails the job. Usage: bash tests/sanitizers.sh [FUZZ_SECONDS]
set -euo pipefail
cd "$(dirname "$0")/.."
jobs="$(nproc)"
quiet_build() {  # the log only when the build fails
  if ! cmake --build "$1" -j "$jobs" "${@:2}" >"$1/build.log" 2>&1; then
    tail -n 60 "$1/build.log"
    return 1
  fi
}

echo "sanitizers: ASan + UBSan build of the C++ suite"
cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_CXX_FLAGS_RELEASE="-O1 -g1" \
  -DTG_SANITIZE=ON -DTG_CUDA=OFF -DTG_BUILD_BENCH=OFF >/dev/null
quiet_build build-asan
# allocator_may_return_null: tests ask for impossible sizes and expect tg::Error, not an abort.
ASAN_OPTIONS=detect_leaks=1:allocator_may_return_null=1:strict_string_checks=1:detect_stack_use_after_return=1 \
UBSAN_OPTIONS=print_stacktrace=1 TG_CACHING_ALLOCATOR=0 \
  ctest --test-dir build-asan --output-on-failure -j "$jobs" >build-asan/ctest.log 2>&1 ||
  { grep -v "^ *Start\|Passed" build-asan/ctest.log | tail -n 150; exit 1; }
grep "tests passed" build-asan/ctest.log

echo "sanitizers: ThreadSanitizer build of the thread tests"
cmake -S . -B build-tsan -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_CXX_FLAGS_RELEASE="-O1 -g1" \
  -DTG_TSAN=ON -DTG_CUDA=OFF -DTG_BLAS=OFF -DTG_BUILD_BENCH=OFF -DTG_BUILD_EXAMPLES=OFF >/dev/null
quiet_build build-tsan --target tapegrad_thread_tests
# One OpenMP thread: libgomp is not instrumented, so its barriers would look like races.
OMP_NUM_THREADS=1 TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1 \
  build-tsan/tests/tapegrad_thread_tests >build-tsan/tests.log 2>&1 || { tail -n 100 build-tsan/tests.log; exit 1; }
grep "PASSED" build-tsan/tests.log

echo "sanitizers: fuzzing the file readers"
bash tests/fuzz/run.sh "${1:-30}"
echo "sanitizers: all clean"
