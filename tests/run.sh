#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# Runs every host test from a fresh Debian checkout: installs what the tests need,
# configures with warnings as errors, builds the tests, examples, benchmarks and
# (when nvcc exists) the CUDA sources, then runs ctest.
#   bash tests/run.sh            # build in ./build
#   BUILD_DIR=out bash tests/run.sh
set -euo pipefail
cd "$(dirname "$0")/.."
build_dir=${BUILD_DIR:-build}

# python3-torch, libtorch-dev, ninja-build: the PyTorch adapter's test (CPU PyTorch).
# libboost-context-dev: the fibers of the SIMT emulator that runs the CUDA kernels.
packages=(cmake g++ make python3 doctest-dev libbenchmark-dev zlib1g-dev libnetcdf-dev
  python3-torch libtorch-dev ninja-build pybind11-dev libboost-context-dev)
bash tests/install-packages.sh "${packages[@]}"

# The CUDA toolkit installs nvcc outside PATH; let CMake find it there.
if ! command -v nvcc >/dev/null 2>&1 && [ -x /usr/local/cuda/bin/nvcc ]; then
  export CUDACXX=/usr/local/cuda/bin/nvcc
fi

cmake -S . -B "$build_dir" -DCMAKE_BUILD_TYPE=Release -DACTZIP_BUILD_TESTS=ON -DACTZIP_BUILD_EXAMPLES=ON \
  -DACTZIP_BUILD_BENCHMARKS=ON -DACTZIP_WARNINGS_AS_ERRORS=ON
cmake --build "$build_dir" -j"$(nproc)"
ctest --test-dir "$build_dir" --output-on-failure -j"$(nproc)"
