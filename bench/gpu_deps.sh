#!/usr/bin/env bash
# Gathers into .devdeps/ (git-ignored) what the device machine lacks: GoogleTest's sources and the
# nlohmann-json, DLPack and zlib headers (+ static zlib). Run here, then carry .devdeps.
set -euo pipefail
cd "$(dirname "$0")/.."
rm -rf .devdeps && mkdir -p .devdeps/include .devdeps/lib
cp -r /usr/src/googletest .devdeps/googletest
cp -r /usr/include/nlohmann /usr/include/dlpack /usr/include/zlib.h /usr/include/zconf.h .devdeps/include/
cp /usr/lib/x86_64-linux-gnu/libz.a .devdeps/lib/
du -sh .devdeps
