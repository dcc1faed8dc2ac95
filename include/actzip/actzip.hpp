// SPDX-License-Identifier: Apache-2.0
//
// actzip: error-bounded lossy compression of floating-point tensors (float, double,
// half, bfloat16; 1-D to 3-D). This umbrella header brings in the core layer
// (caller-owned buffers, status codes) and the convenience layer (std::vector,
// exceptions); under nvcc also the CUDA executor (actzip/cuda.cuh). See README.md for the quickstart and docs/FORMAT.md for the stream.
#pragma once

#include <actzip/config.hpp>
#include <actzip/version.hpp>
#include <actzip/error.hpp>
#include <actzip/core/dtype.hpp>
#include <actzip/core/extents.hpp>
#include <actzip/core/half.hpp>
#include <actzip/params.hpp>
#include <actzip/format/header.hpp>
#include <actzip/core.hpp>
#include <actzip/convenience.hpp>
#if ACTZIP_HAS_CUDA
#include <actzip/cuda.cuh>
#endif
