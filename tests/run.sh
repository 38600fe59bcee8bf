#!/usr/bin/env bash
# The test command: installs what it needs, builds tapegrad from scratch and runs the whole suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash install-deps.sh
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release
cmake --build build -j "$(nproc)"
ctest --test-dir build --output-on-failure -j "$(nproc)"
