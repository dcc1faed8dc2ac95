// SPDX-License-Identifier: Apache-2.0
//
// Build configuration of actzip: the one header that looks at the compiler
// (__CUDACC__, _OPENMP, __FAST_MATH__, __SSE2__, exceptions). Everything else asks the macros
// defined here: ACTZIP_HD marks functions shared by host and device code,
// ACTZIP_HAS_OPENMP and ACTZIP_HAS_CUDA say which executors exist in this
// translation unit, ACTZIP_HAS_SSE2 whether host SIMD fast paths are compiled.
#pragma once

#if defined(__CUDACC__)
//! Marks a function callable from host and device code (empty under a host compiler).
#define ACTZIP_HD __host__ __device__ inline
//! Marks a function callable from device code only.
#define ACTZIP_DEVICE __device__ inline
//! 1 when the translation unit is compiled by a CUDA compiler.
#define ACTZIP_HAS_CUDA 1
#else
#define ACTZIP_HD inline
#define ACTZIP_HAS_CUDA 0
#endif

#if defined(_OPENMP)
//! 1 when OpenMP is enabled for this translation unit: the omp executor exists.
#define ACTZIP_HAS_OPENMP 1
#else
#define ACTZIP_HAS_OPENMP 0
#endif

// The strict error bound relies on IEEE semantics: NaN and Inf tests, correctly
// rounded arithmetic, no reassociation. -ffast-math breaks all three.
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
