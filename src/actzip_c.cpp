// SPDX-License-Identifier: Apache-2.0
//
// The C interface (<actzip/actzip.h>) with the host executors: the one translation
// unit that defines it. Compile it with a C++17 compiler (OpenMP optional) and link
// it into exactly one library or program. For the CUDA functions compile
// actzip_c.cu with nvcc instead (never both).
#include <actzip/c/implementation.hpp>
