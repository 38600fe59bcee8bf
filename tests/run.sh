#!/usr/bin/env bash
# The test command: installs what it needs, builds tapegrad from scratch and runs the whole suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash install-deps.sh
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release
cmake --build build -j "$(nproc)"
ctest --test-dir build --output-on-failure -j "$(nproc)"
# The Python package, installed by pip as a user would, into a venv that sees Debian's NumPy,
# pytest and PyTorch (the reference some tests compare against).
/usr/bin/python3 -m venv --system-site-packages build/venv
CMAKE_BUILD_PARALLEL_LEVEL="$(nproc)" build/venv/bin/pip install --quiet .
build/venv/bin/python -m pytest -q tests/python
# ASan + UBSan over the C++ suite, TSan over the thread tests, and a short run of each fuzzer
# (TG_SKIP_SANITIZERS=1 leaves them out when iterating locally).
if [[ "${TG_SKIP_SANITIZERS:-0}" != 1 ]]; then
  bash tests/sanitizers.sh
fi
