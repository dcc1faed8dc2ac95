#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# Runs every host test from a fresh Debian checkout: installs what the tests need,
# installs the Python package into two virtual environments (Debian's Python with its
# PyTorch 1.13, and a plain one with PyTorch 2.x, transformers, torchvision and the
# scientific formats' packages from PyPI), configures with warnings as errors, builds
# the tests, examples, benchmarks and (when nvcc exists) the CUDA sources, runs ctest
# (the Python package's pytest suites among its tests), then the scientific formats'
# tests (tests/run-formats.sh).
#   bash tests/run.sh            # build in ./build
#   BUILD_DIR=out bash tests/run.sh
set -euo pipefail
cd "$(dirname "$0")/.."
build_dir=${BUILD_DIR:-build}

# python3-torch: the PyTorch layer's tests (CPU PyTorch). libboost-context-dev: the
# fibers of the SIMT emulator that runs the CUDA kernels. python3-venv, python3-dev:
# the virtual environment the Python package is installed into, and its headers.
packages=(cmake g++ make python3 doctest-dev libbenchmark-dev zlib1g-dev libnetcdf-dev
  python3-torch libboost-context-dev python3-venv python3-dev)
bash tests/install-packages.sh "${packages[@]}"

# The CUDA toolkit installs nvcc outside PATH; let CMake find it there.
if ! command -v nvcc >/dev/null 2>&1 && [ -x /usr/local/cuda/bin/nvcc ]; then
  export CUDACXX=/usr/local/cuda/bin/nvcc
fi

# The Python package (pyproject.toml, python/): pip install the repository (its build
# dependencies, scikit-build-core and nanobind, come from PyPI) into a venv made from
# Debian's python3 (numpy and torch from its site packages). ctest runs its pytest
# suites with this interpreter (test_python*), and builds the module once more with
# its CUDA functions on the SIMT emulator, whose nanobind comes from the venv too.
venv="$build_dir/python-venv"
[ -x "$venv/bin/python" ] || /usr/bin/python3 -m venv --system-site-packages "$venv"
"$venv/bin/python" -m pip install -q pytest nanobind
# ml_dtypes gives NumPy a bfloat16 (optional; its tests are skipped without it). Keep
# Debian's numpy: python3-torch is built against it.
numpy_version=$("$venv/bin/python" -c 'import numpy; print(numpy.__version__)')
"$venv/bin/python" -m pip install -q ml_dtypes "numpy==$numpy_version" ||
  echo "ml_dtypes is not available: the NumPy bfloat16 tests are skipped"
venv_python="$(cd "$venv" && pwd)/bin/python"
# A second, plain venv (no system site packages) with current releases from PyPI:
# PyTorch 2.x, transformers, torchvision and the scientific formats' packages
# (tests/requirements-pypi.txt); the PyTorch layer's tests run there too
# (test_python_torch2), and tests/run-formats.sh uses it.
pypi_venv="$build_dir/venv-pypi"
[ -x "$pypi_venv/bin/python" ] || /usr/bin/python3 -m venv "$pypi_venv"
start=$(date +%s)
"$pypi_venv/bin/python" -m pip install -q -r tests/requirements-pypi.txt
echo "installing the PyPI test environment took $(( $(date +%s) - start )) s"
pypi_python="$(cd "$pypi_venv" && pwd)/bin/python"
# The package is built once, as a wheel (what `pip install .` builds), and installed
# from it; the fresh-venv install test (test_python_install) installs the same wheel.
start=$(date +%s)
rm -rf "$build_dir/python-wheel"
"$venv/bin/python" -m pip wheel -q --no-deps -w "$build_dir/python-wheel" .
"$venv/bin/python" -m pip install -q --force-reinstall --no-deps "$build_dir"/python-wheel/actzip-*.whl
"$pypi_python" -m pip install -q --force-reinstall --no-deps "$build_dir"/python-wheel/actzip-*.whl
echo "building and installing the wheel took $(( $(date +%s) - start )) s"
wheel=$(cd "$build_dir/python-wheel" && pwd)/$(cd "$build_dir/python-wheel" && ls actzip-*.whl)

cmake -S . -B "$build_dir" -DCMAKE_BUILD_TYPE=Release -DACTZIP_BUILD_TESTS=ON -DACTZIP_BUILD_EXAMPLES=ON \
  -DACTZIP_BUILD_BENCHMARKS=ON -DACTZIP_WARNINGS_AS_ERRORS=ON -DACTZIP_PYTHON_TEST_INTERPRETER="$venv_python" \
  -DACTZIP_PYTHON_TEST_WHEEL="$wheel" -DACTZIP_PYPI_TEST_INTERPRETER="$pypi_python"
cmake --build "$build_dir" -j"$(nproc)"
ctest --test-dir "$build_dir" --output-on-failure -j"$(nproc)"

# The scientific formats: the HDF5 filter from C, netCDF and h5dump, and the Python
# doors (h5py, xarray, numcodecs, Zarr) in the PyPI environment (docs/FORMATS.md).
ACTZIP_PYPI_PYTHON="$pypi_python" BUILD_DIR="$build_dir" bash tests/run-formats.sh
