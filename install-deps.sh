#!/usr/bin/env bash
# Installs the Debian packages tapegrad's build and tests need (run as root); instant when present.
# Usage: bash install-deps.sh [extra packages...]
set -euo pipefail
packages=(cmake ninja-build g++ libopenblas-dev libgtest-dev libgmock-dev libbenchmark-dev
  nlohmann-json3-dev zlib1g-dev dataset-fashion-mnist
  # the Python package: its build (DLPack header, venv) and tests (PyTorch 1.13 as a reference)
  libdlpack-dev python3-venv python3-numpy python3-pytest python3-torch
  # the fuzz targets (tests/fuzz): clang with libFuzzer and its sanitizer runtimes, OpenMP for clang
  clang libclang-rt-14-dev libomp-14-dev "$@")
missing=()
for p in "${packages[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "install-deps: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
