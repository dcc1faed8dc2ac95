// SPDX-License-Identifier: Apache-2.0
// The GPU test body (executor.cu) on the CPU: compiled by the host compiler with the
// SIMT emulator forced in (tests/simt/simt.hpp), its kernels run as fibers.
#include "executor.cu"
