# SPDX-License-Identifier: Apache-2.0
"""Installs the repository into a fresh virtual environment (pip install <repo>, the
build dependencies from PyPI through pip's build isolation, or the wheel built from it
that $ACTZIP_TEST_WHEEL names) and uses it from outside the source tree."""
import os
import pathlib
import shutil
import subprocess
import sys
import time

import pytest

REPO = pathlib.Path(__file__).resolve().parents[2]


def base_python():
    """The interpreter for the new venv: $ACTZIP_TEST_BASE_PYTHON, else Debian's python3
    (numpy from its site packages), else the one running the tests."""
    chosen = os.environ.get("ACTZIP_TEST_BASE_PYTHON")
    if chosen:
        return chosen
    if os.path.exists("/usr/bin/python3"):
        return "/usr/bin/python3"
    return getattr(sys, "_base_executable", sys.executable)


SCRIPT = """
import actzip, numpy as np, os, sys
assert not actzip.__file__.startswith(sys.argv[1]), actzip.__file__
x = np.random.default_rng(1).normal(size=(300, 200)).astype(np.float32)
z = actzip.compress(x, actzip.Params(actzip.rel(1e-3), codec="automatic"), threads=2 if actzip.has_openmp else None)
y = actzip.decompress(z)
h = actzip.inspect(z)
assert y.shape == x.shape and y.dtype == x.dtype
assert np.abs(x.astype(np.float64) - y).max() <= h["absolute_bound"]
assert actzip.verify(z)
assert actzip.has_cuda == (sys.argv[2] == "1"), (actzip.has_cuda, sys.argv[2])
try:
    import torch
except ImportError:
    torch = None
if torch is not None:
    import actzip.torch  # the PyTorch layer imports without compiling anything
print("ok", actzip.__version__, round(h["ratio"], 2), "cuda" if actzip.has_cuda else "cpu")
"""


def nvcc_expected():
    """True when the build will find nvcc (PATH, $CUDACXX, /usr/local/cuda/bin)."""
    return bool(shutil.which("nvcc") or os.environ.get("CUDACXX") or os.path.exists("/usr/local/cuda/bin/nvcc"))


@pytest.mark.slow
def test_pip_install_into_fresh_venv(tmp_path):
    if shutil.which("cmake") is None:
        pytest.skip("cmake is not installed")
    venv = tmp_path / "venv"
    subprocess.run([base_python(), "-m", "venv", "--system-site-packages", str(venv)], check=True)
    python = str(venv / "bin" / "python")
    check = subprocess.run([python, "-c", "import numpy"], capture_output=True)
    if check.returncode != 0:
        subprocess.run([python, "-m", "pip", "install", "-q", "numpy"], check=True)
    env = dict(os.environ, CMAKE_BUILD_PARALLEL_LEVEL=os.environ.get("CMAKE_BUILD_PARALLEL_LEVEL", "1"))
    env.pop("PYTHONPATH", None)
    start = time.monotonic()
    # $ACTZIP_TEST_WHEEL: the wheel tests/run.sh built from this repository (pip
    # install . builds the same); without it, the repository is built here.
    source = os.environ.get("ACTZIP_TEST_WHEEL") or str(REPO)
    result = subprocess.run([python, "-m", "pip", "install", "-q", source], env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    print(f"pip install took {time.monotonic() - start:.1f} s")
    run = subprocess.run([python, "-c", SCRIPT, str(REPO), "1" if nvcc_expected() else "0"], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert run.returncode == 0, run.stdout + run.stderr
    assert run.stdout.startswith("ok ")
