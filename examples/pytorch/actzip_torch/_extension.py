# SPDX-License-Identifier: Apache-2.0
"""Builds (just in time) and loads the C++ extension of actzip_torch.

The sources are ../actzip_torch.cpp (and ../actzip_torch_cuda.cu when PyTorch was
built with CUDA and nvcc is found); the include path is the repository's include/.
They are compiled with the library's floating-point flags (-ffp-contract=off
-fno-trapping-math, never -ffast-math) and OpenMP. The build is cached in
$ACTZIP_TORCH_BUILD_DIR, or ~/.cache/actzip_torch/<torch version>-<cpu|cuda>;
ninja rebuilds it when a source or an actzip header changes.
"""
import os
import shutil
from pathlib import Path

import torch
import torch.utils.cpp_extension as cpp_extension

_HERE = Path(__file__).resolve().parent.parent          # examples/pytorch
_INCLUDE = _HERE.parent.parent / "include"               # the repository's include/

#: Host compiler flags: those of the library's own builds.
CXX_FLAGS = ["-O2", "-std=c++17", "-ffp-contract=off", "-fno-trapping-math", "-fopenmp"]
#: nvcc flags: the same for the host side; no fused multiply-add in device code.
CUDA_FLAGS = ["-O2", "-std=c++17", "--fmad=false", "-Xcompiler=-ffp-contract=off,-fno-trapping-math,-fopenmp"]

_module = None


def _want_cuda():
    """True when PyTorch has CUDA and nvcc can be found."""
    if torch.version.cuda is None:
        return False
    home = cpp_extension.CUDA_HOME
    nvcc = os.path.join(home, "bin", "nvcc") if home else None
    return bool((nvcc and os.path.exists(nvcc)) or shutil.which("nvcc"))


def build_directory(with_cuda=None):
    """Where the extension is built and cached."""
    if with_cuda is None:
        with_cuda = _want_cuda()
    root = os.environ.get("ACTZIP_TORCH_BUILD_DIR")
    if root is None:
        root = os.path.join(os.path.expanduser("~"), ".cache", "actzip_torch")
    path = Path(root) / f"torch-{torch.__version__}-{'cuda' if with_cuda else 'cpu'}"
    path.mkdir(parents=True, exist_ok=True)
    return str(path)


def load(verbose=False):
    """Returns the compiled extension module, building it on first use."""
    global _module
    if _module is not None:
        return _module
    if not (_INCLUDE / "actzip" / "core.hpp").exists():
        raise RuntimeError(f"actzip_torch: actzip headers not found under {_INCLUDE}")
    with_cuda = _want_cuda()
    sources = [str(_HERE / "actzip_torch.cpp")]
    cflags = list(CXX_FLAGS)
    if with_cuda:
        sources.append(str(_HERE / "actzip_torch_cuda.cu"))
        cflags.append("-DACTZIP_TORCH_WITH_CUDA")
    _module = cpp_extension.load(
            name="actzip_torch_ext",
            sources=sources,
            extra_include_paths=[str(_INCLUDE), str(_HERE)],
            extra_cflags=cflags,
            extra_cuda_cflags=CUDA_FLAGS + ["-DACTZIP_TORCH_WITH_CUDA"],
            extra_ldflags=["-fopenmp"],
            build_directory=build_directory(with_cuda),
            with_cuda=with_cuda,
            verbose=verbose)
    return _module
