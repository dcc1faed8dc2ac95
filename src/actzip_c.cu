// SPDX-License-Identifier: Apache-2.0
//
// The C interface (<actzip/actzip.h>) with the host executors and the actzip_cuda_*
// functions: the one translation unit that defines it, compiled by nvcc
// (-std=c++17, sm_80 or newer). Link it into exactly one library or program,
// instead of actzip_c.cpp (never both).
#include <actzip/c/implementation.hpp>
