#!/usr/bin/env bash
# Gathers into .devdeps/ (git-ignored) what the device machine lacks: GoogleTest's sources and the
# nlohmann-json, DLPack and zlib headers (+ static zlib), and Fashion-MNIST (30 MB, for
# tapegrad-train's GPU row). Run here, then carry .devdeps (the carry limit is 64 MiB).
set -euo pipefail
cd "$(dirname "$0")/.."
rm -rf .devdeps && mkdir -p .devdeps/include .devdeps/lib
cp -r /usr/src/googletest .devdeps/googletest
cp -r /usr/include/nlohmann /usr/include/dlpack /usr/include/zlib.h /usr/include/zconf.h .devdeps/include/
cp /usr/lib/x86_64-linux-gnu/libz.a .devdeps/lib/
cp /usr/share/common-licenses/Apache-2.0 .devdeps/Apache-2.0  # the language models' text
if [ -d /usr/share/datasets/fashion-mnist ]; then
  cp -r /usr/share/datasets/fashion-mnist .devdeps/fashion-mnist
else
  echo "no Fashion-MNIST here (apt-get install dataset-fashion-mnist): run_gpu.sh will skip training"
fi
du -sh .devdeps
