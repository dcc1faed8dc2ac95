#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# The Python package on a GPU: builds actzip's Python module with its CUDA functions
# on the GPU machine (its python3 must have PyTorch with CUDA, nanobind,
# scikit-build-core, CMake and nvcc: the module is compiled for that interpreter),
# then runs
#   pytest python/tests/test_cuda.py     the CUDA path of the module on torch CUDA tensors
#   bench/gpu_training.py                peak memory and step time of a ResNet-18 and a
#                                        transformer training step, with and without
#                                        compressed activations and overlap
# each under its own time limit, and writes the results to RESULTS_DIR.
#
#   bash bench/gpu-training.sh [RESULTS_DIR]       # default bench/results
#
# Limits (seconds; environment): ACTZIP_TRAINING_TIMEOUT_BUILD (240),
# _TESTS (90), _BENCH (180). About 4 to 8 minutes in all; nothing is fetched.
# Exits 0 when every step passed, 77 without a GPU, 1 otherwise.
set -uo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
results="${1:-$repo/bench/results}"
mkdir -p "$results"
results="$(cd "$results" && pwd)"
python="${PYTHON:-python3}"
work="$(mktemp -d)"
site="$work/site"
status=0
say() { printf '==> %s (%s s)\n' "$*" "$SECONDS"; }

if ! command -v nvidia-smi >/dev/null 2>&1 || ! nvidia-smi -L >/dev/null 2>&1; then
  echo "gpu-training: no GPU (nvidia-smi lists none): skipped"
  exit 77
fi
nvidia-smi -L

say "building the module for $("$python" --version 2>&1) (sm_90)"
if ! timeout -k 5 "${ACTZIP_TRAINING_TIMEOUT_BUILD:-240}" "$python" -m pip install -q --no-build-isolation \
    --no-deps --no-index --target "$site" -C cmake.define.CMAKE_CUDA_ARCHITECTURES=90-real \
    -C build-dir="$work/build" "$repo" >"$results/gpu-training-build.log" 2>&1; then
  echo "gpu-training: the build FAILED (see $results/gpu-training-build.log)"
  tail -n 30 "$results/gpu-training-build.log"
  exit 1
fi
export PYTHONPATH="$site"
"$python" -c 'import actzip; assert actzip.has_cuda, "built without CUDA"; print("actzip", actzip.__version__)' ||
  exit 1

say "python/tests/test_cuda.py on torch CUDA tensors"
if ! (cd "$work" && timeout -k 5 "${ACTZIP_TRAINING_TIMEOUT_TESTS:-90}" "$python" -m pytest -q -p no:cacheprovider -rs \
    "$repo/python/tests/test_cuda.py" 2>&1 | tee "$results/gpu-training-test-cuda.log"); then
  echo "gpu-training: test_cuda.py FAILED"
  status=1
fi

say "bench/gpu_training.py"
if ! PYTHONUNBUFFERED=1 timeout -k 5 "${ACTZIP_TRAINING_TIMEOUT_BENCH:-180}" "$python" "$repo/bench/gpu_training.py" \
    --out "$results"; then
  echo "gpu-training: gpu_training.py FAILED"
  status=1
fi
say "done"
exit "$status"
