#!/usr/bin/env bash
# The main command: installs what it needs, builds tapegrad and runs the examples.
set -euo pipefail
cd "$(dirname "$0")/.."
bash install-deps.sh
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j "$(nproc)"
for example in linear_regression tiny_transformer_lm; do
  echo "== examples/${example}.cpp"
  "build/examples/${example}"
done
