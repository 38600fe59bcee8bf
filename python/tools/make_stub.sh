#!/usr/bin/env bash
# Regenerates python/tapegrad/_C.pyi (the types editors see for tapegrad.Tensor and the engine's
# functions) from the built extension, with pybind11-stubgen. Run after changing the bindings:
#   bash python/tools/make_stub.sh build/venv/bin/python     # a python that imports tapegrad
# tests/python/test_stub.py fails when the stub misses a public name.
set -euo pipefail
cd "$(dirname "$0")/../.."
python="${1:-build/venv/bin/python}"
"$python" -m pip install --quiet pybind11-stubgen
out="$(mktemp -d)"
"$python" -m pybind11_stubgen tapegrad._C -o "$out" --ignore-unresolved-names '^(Tensor|capsule)$' 2>/dev/null
# The private submodules (_F, _nn, _init, _optim) are reached through tapegrad.nn and
# tapegrad.optim, whose Python sources editors read directly.
# stubgen reads our "dtype" as NumPy's and knows no "capsule" type.
sed -E -e 's/^from \. import (_[A-Za-z]+)$/\1: typing.Any/' -e 's/numpy\.dtype\[typing\.Any\]/dtype/g' \
  -e 's/-> capsule:/-> typing.Any:/' "$out/tapegrad/_C/__init__.pyi" > python/tapegrad/_C.pyi
rm -rf "$out"
echo "wrote python/tapegrad/_C.pyi"
