// SPDX-License-Identifier: Apache-2.0
//
// The C interface's CUDA translation unit (src/actzip_c.cu) compiled by the host
// compiler against the SIMT emulator (tests/simt): the actzip_cuda_* functions of the
// emulated Python module (test_python_emulated_cuda) run the CUDA kernels on the CPU.
#include "../../src/actzip_c.cu"
