// SPDX-License-Identifier: Apache-2.0
//
// The CUDA executor tag. Passing `actzip::exec::cuda.on(stream)` to the core layer
// runs the whole pipeline on the GPU, ordered on `stream`. Reached only from
// translation units compiled by nvcc (ACTZIP_HAS_CUDA); the kernels live in
// actzip/exec/cuda/ and the entry points in actzip/cuda.cuh.
#pragma once

#include <actzip/config.hpp>

#if !ACTZIP_HAS_CUDA
#error "actzip/exec/cuda.cuh needs a CUDA compiler: include it only from .cu translation units"
#endif

#include <cuda_runtime.h>

namespace actzip {
namespace exec {

//! The CUDA executor: every stage runs on the current device, stream-ordered on
//! `stream`. Calls taking it never allocate and never synchronize.
struct cuda_t {
  cudaStream_t stream = nullptr;  //!< the stream work is ordered on (null: the default stream)
  //! The same executor ordered on stream `s`: `actzip::exec::cuda.on(s)`.
  constexpr cuda_t on(cudaStream_t s) const noexcept { return cuda_t{s}; }
};

//! The CUDA executor on the default stream; `exec::cuda.on(s)` selects a stream.
inline constexpr cuda_t cuda{};

}  // namespace exec
}  // namespace actzip
