#!/usr/bin/env bash
# The main command: installs what it needs, builds tapegrad, runs the examples and then the main
# program's default comparison (an MLP and a CNN on Fashion-MNIST, on the CPU and each GPU).
set -euo pipefail
cd "$(dirname "$0")/.."
bash install-deps.sh
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j "$(nproc)"
for example in linear_regression curve_fitting mislabeled_point xor "fashion_mnist mlp" char_lstm_lm tiny_transformer_lm; do
  echo "== examples/${example%% *}.cpp"
  build/examples/${example}
done
echo "== examples/train.cpp: tapegrad-train (the default comparison; --help lists the options)"
build/examples/tapegrad-train --csv build/tapegrad-train.csv --chart build/tapegrad-train.png
