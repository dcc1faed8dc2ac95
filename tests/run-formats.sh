#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# The tests of actzip's scientific-format doors (docs/FORMATS.md): the HDF5 filter
# plugin from C (H5Pset_filter, Debian's libhdf5), from netCDF-C (nc_def_var_filter,
# nccopy -F, ncdump) and with h5dump; and, in a plain PyPI virtual environment with
# the actzip wheel, h5py, hdf5plugin, h5netcdf/xarray, netCDF4-python, numcodecs,
# Zarr 2 and 3 (tests/formats/test_formats.py).
#
#   ACTZIP_PYPI_PYTHON=<venv>/bin/python BUILD_DIR=build bash tests/run-formats.sh
#
# ACTZIP_PYPI_PYTHON: the python of a venv made without system site packages, with
# tests/requirements-pypi.txt and the actzip wheel installed (tests/run.sh makes it).
# Without it, this script makes $BUILD_DIR/formats-venv itself with the format
# packages and a wheel built from this tree (a few minutes more).
# Installs its Debian packages; builds the plugin in $BUILD_DIR/formats. Prints
# "formats: N passed, N failed" (one count per group of tests) and exits 1 on a failure.
set -euo pipefail
cd "$(dirname "$0")/.."
build_dir=${BUILD_DIR:-build}
start=$SECONDS

bash tests/install-packages.sh cmake g++ make pkg-config python3-venv libhdf5-dev hdf5-tools libnetcdf-dev \
  netcdf-bin ferret-datasets

passed=0
failed=0
group() {  # group <name> <command...>: runs one group of tests and counts it
  local name=$1
  shift
  echo "==== $name"
  if "$@"; then
    passed=$((passed + 1))
  else
    echo "FAILED: $name"
    failed=$((failed + 1))
  fi
}

# ---- the plugin and the C programs ------------------------------------------------------
formats_build="$build_dir/formats"
cmake -S . -B "$formats_build" -DCMAKE_BUILD_TYPE=Release -DACTZIP_BUILD_TESTS=OFF -DACTZIP_BUILD_EXAMPLES=OFF \
  -DACTZIP_BUILD_BENCHMARKS=OFF -DACTZIP_WITH_CUDA=OFF -DACTZIP_INSTALL=OFF -DACTZIP_BUILD_HDF5_FILTER=ON \
  -DACTZIP_WARNINGS_AS_ERRORS=ON >/dev/null
cmake --build "$formats_build" -j2 --target actzip_hdf5_filter
plugin_dir="$(cd "$formats_build/src/hdf5" && pwd)"
scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT
hdf5_flags=$(pkg-config --cflags hdf5)
hdf5_libs=$(pkg-config --libs hdf5)
group "the plugin's HDF5 declarations match hdf5.h" \
  g++ -std=c++17 -fsyntax-only -Wall -Wextra -Werror $hdf5_flags tests/formats/hdf5_abi_check.cpp
# shellcheck disable=SC2086
gcc -std=c99 -O1 -Wall -Wextra -Werror -Iinclude $hdf5_flags tests/formats/h5filter.c -o "$formats_build/h5filter" \
  $hdf5_libs -lm
gcc -std=c99 -O1 -Wall -Wextra -Werror -Iinclude tests/formats/ncfilter.c -o "$formats_build/ncfilter" -lnetcdf -lm
group "C: H5Pset_filter (Debian libhdf5)" env HDF5_PLUGIN_PATH="$plugin_dir" "$formats_build/h5filter" "$scratch"
group "C: nc_def_var_filter (Debian libnetcdf)" env HDF5_PLUGIN_PATH="$plugin_dir" "$formats_build/ncfilter" "$scratch"

h5dump_checks() {  # h5dump reads a filtered file with the plugin, and says why it cannot without it
  local out
  out=$(HDF5_PLUGIN_PATH="$plugin_dir" h5dump -d x "$scratch/c-damage.h5") || return 1
  grep -q '(0,0): 3, 3.04' <<<"$out" || { echo "h5dump printed unexpected values"; return 1; }
  mkdir -p "$scratch/empty"
  if out=$(HDF5_PLUGIN_PATH="$scratch/empty" h5dump --enable-error-stack -d x "$scratch/c-damage.h5" 2>&1); then
    echo "h5dump read a filtered dataset without the plugin"; return 1
  fi
  grep -q "required filter 'actzip" <<<"$out" || { echo "h5dump's error does not name the filter: $out"; return 1; }
  echo "h5dump: values with the plugin; without it: $(grep -m1 "required filter" <<<"$out" | sed 's/^ *//')"
}
group "h5dump with and without HDF5_PLUGIN_PATH" h5dump_checks

# ---- Python: the PyPI environment -------------------------------------------------------
python=${ACTZIP_PYPI_PYTHON:-}
if [ -z "$python" ]; then
  venv="$build_dir/formats-venv"
  [ -x "$venv/bin/python" ] || /usr/bin/python3 -m venv "$venv"
  "$venv/bin/python" -m pip install -q pytest h5py hdf5plugin numcodecs "zarr>=3" xarray h5netcdf netCDF4 ml_dtypes
  rm -rf "$build_dir/formats-wheel"
  "$venv/bin/python" -m pip wheel -q --no-deps -w "$build_dir/formats-wheel" .
  "$venv/bin/python" -m pip install -q --force-reinstall --no-deps "$build_dir"/formats-wheel/actzip-*.whl
  python="$venv/bin/python"
fi
echo "Python: $python ($("$python" -c 'import h5py, zarr, numcodecs; print("h5py", h5py.__version__, "HDF5",
  h5py.version.hdf5_version, "zarr", zarr.__version__, "numcodecs", numcodecs.__version__)'))"
group "Python: h5py, hdf5plugin, h5netcdf/xarray, netCDF4, nccopy, numcodecs, Zarr 2 and 3" \
  env -u HDF5_PLUGIN_PATH PYTHONPATH= "$python" -m pytest -q -p no:cacheprovider -rs tests/formats/test_formats.py

echo "run-formats: $((SECONDS - start)) s"
echo "formats: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
