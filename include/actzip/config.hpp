// SPDX-License-Identifier: Apache-2.0
//
// Build configuration of actzip: the one header that looks at the compiler
// (__CUDACC__, _OPENMP, __FAST_MATH__, __SSE2__, exceptions). Everything else asks the macros
// defined here: ACTZIP_HD marks functions shared by host and device code,
// ACTZIP_HAS_OPENMP and ACTZIP_HAS_CUDA say which executors exist in this
// translation unit, ACTZIP_HAS_SSE2 whether host SIMD fast paths are compiled,
// ACTZIP_LAUNCH launches a kernel (on a GPU, or on the tests' SIMT emulator).
#pragma once

#if defined(__CUDACC__)
//! Marks a function callable from host and device code (empty under a host compiler).
#define ACTZIP_HD __host__ __device__ inline
//! Marks a function callable from device code only.
#define ACTZIP_DEVICE __device__ inline
//! 1 when the translation unit is compiled by a CUDA compiler, or by a host compiler
//! for the test-only SIMT emulator (ACTZIP_SIMT_EMULATION): the CUDA executor exists.
#define ACTZIP_HAS_CUDA 1
#elif defined(ACTZIP_SIMT_EMULATION)
// Test builds only (tests/simt): the CUDA executor compiled by the host compiler,
// its kernels run on the CPU by the SIMT emulator, which defines the CUDA keywords,
// intrinsics and runtime. Device code takes the host's arithmetic paths
// (ACTZIP_DEVICE_CODE stays 0).
#define ACTZIP_HD inline
#define ACTZIP_DEVICE inline
#define ACTZIP_HAS_CUDA 1
#else
#define ACTZIP_HD inline
#define ACTZIP_HAS_CUDA 0
#endif

//! Launches `kernel` on `grid` blocks of `block` threads, ordered on `stream`, with
//! the kernel's arguments after them: the triple-chevron launch under a CUDA
//! compiler, simt::launch under the SIMT emulator. Every kernel launch of the
//! library goes through it, or through ACTZIP_LAUNCH_SHARED, which also gives each
//! block `shared_bytes` of dynamic shared memory (at most 48 KiB with the static).
#if defined(ACTZIP_SIMT_EMULATION) && !defined(__CUDACC__)
#define ACTZIP_LAUNCH(kernel, grid, block, stream, ...) \
  ::simt::launch(__FILE__, __LINE__, kernel, grid, block, 0, stream, __VA_ARGS__)
#define ACTZIP_LAUNCH_SHARED(kernel, grid, block, shared_bytes, stream, ...) \
  ::simt::launch(__FILE__, __LINE__, kernel, grid, block, shared_bytes, stream, __VA_ARGS__)
#else
#define ACTZIP_LAUNCH(kernel, grid, block, stream, ...) kernel<<<grid, block, 0, stream>>>(__VA_ARGS__)
#define ACTZIP_LAUNCH_SHARED(kernel, grid, block, shared_bytes, stream, ...) \
  kernel<<<grid, block, shared_bytes, stream>>>(__VA_ARGS__)
#endif

#if defined(_OPENMP)
//! 1 when OpenMP is enabled for this translation unit: the omp executor exists.
#define ACTZIP_HAS_OPENMP 1
#else
#define ACTZIP_HAS_OPENMP 0
#endif

// The strict error bound relies on IEEE semantics: NaN and Inf tests, correctly
// rounded arithmetic, no reassociation. -ffast-math breaks all three. nvcc's
// --use_fast_math (-ftz=true, -prec-div=false, -fmad=true) defines no macro and needs
// no check: device code does its floating-point operations through core/ieee.hpp
// (inline PTX with explicit rounding and no .ftz), which those flags cannot change;
// test_fast_math_ptx pins this.
#if defined(__FAST_MATH__)
#error "actzip needs IEEE floating-point semantics: compile this translation unit without -ffast-math"
#endif

#if defined(__CUDA_ARCH__)
//! 1 while compiling device code.
#define ACTZIP_DEVICE_CODE 1
#else
#define ACTZIP_DEVICE_CODE 0
#endif

//! 1 when host code may use SSE2 intrinsics (<emmintrin.h>): x86-64, or x86 with
//! SSE2 enabled, and never in device code. The SIMD fast paths of the bitplane codec
//! and the Lorenzo stage hide behind it; each has a portable twin that produces the
//! same bits. Define ACTZIP_DISABLE_SIMD to force the portable paths.
#if !ACTZIP_DEVICE_CODE && !defined(ACTZIP_DISABLE_SIMD) && \
    (defined(__SSE2__) || defined(_M_X64) || (defined(_M_IX86_FP) && _M_IX86_FP >= 2))
#define ACTZIP_HAS_SSE2 1
#else
#define ACTZIP_HAS_SSE2 0
#endif

//! 1 when C++ exceptions are enabled. Without them (-fno-exceptions) the core layer
//! works unchanged, and the convenience layer, which reports errors by throwing,
//! prints the error and aborts instead.
#if defined(__cpp_exceptions) || defined(__EXCEPTIONS) || defined(_CPPUNWIND)
#define ACTZIP_HAS_EXCEPTIONS 1
#else
#define ACTZIP_HAS_EXCEPTIONS 0
#endif

#if defined(__GNUC__) || defined(__clang__)
#define ACTZIP_LIKELY(x) __builtin_expect(!!(x), 1)
#define ACTZIP_UNLIKELY(x) __builtin_expect(!!(x), 0)
#else
#define ACTZIP_LIKELY(x) (x)
#define ACTZIP_UNLIKELY(x) (x)
#endif
