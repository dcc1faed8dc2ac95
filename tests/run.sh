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
# python3-venv: the virtual environment the Python package's tests install it into.
packages+=(python3-venv)
bash tests/install-packages.sh "${packages[@]}"

# The CUDA toolkit installs nvcc outside PATH; let CMake find it there.
if ! command -v nvcc >/dev/null 2>&1 && [ -x /usr/local/cuda/bin/nvcc ]; then
  export CUDACXX=/usr/local/cuda/bin/nvcc
fi

cmake -S . -B "$build_dir" -DCMAKE_BUILD_TYPE=Release -DACTZIP_BUILD_TESTS=ON -DACTZIP_BUILD_EXAMPLES=ON \
  -DACTZIP_BUILD_BENCHMARKS=ON -DACTZIP_WARNINGS_AS_ERRORS=ON
cmake --build "$build_dir" -j"$(nproc)"
ctest --test-dir "$build_dir" --output-on-failure -j"$(nproc)"

# The Python package (pyproject.toml, python/): pip install the repository (its build
# dependencies, scikit-build-core and nanobind, come from PyPI) into a venv made from
# Debian's python3 (numpy and torch from its site packages), then run its tests,
# among them a second install into a fresh venv. A failing test fails this script.
venv="$build_dir/python-venv"
[ -x "$venv/bin/python" ] || /usr/bin/python3 -m venv --system-site-packages "$venv"
"$venv/bin/python" -m pip install -q pytest
# ml_dtypes gives NumPy a bfloat16 (optional; its tests are skipped without it). Keep
# Debian's numpy: python3-torch is built against it.
numpy_version=$("$venv/bin/python" -c 'import numpy; print(numpy.__version__)')
"$venv/bin/python" -m pip install -q ml_dtypes "numpy==$numpy_version" ||
  echo "ml_dtypes is not available: the NumPy bfloat16 tests are skipped"
"$venv/bin/python" -m pip install -q .
"$venv/bin/python" -m pytest -q -p no:cacheprovider python/tests
