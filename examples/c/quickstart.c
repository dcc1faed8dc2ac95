/* SPDX-License-Identifier: Apache-2.0
 *
 * quickstart-c: actzip from C99 through <actzip/actzip.h>. Builds a ReLU-like 2-D
 * activation (about half exact zeros), asks for the buffer sizes, compresses it
 * with a bound relative to its value range into a caller-owned buffer, reads the
 * stream's header back, decompresses, checks every element against the bound the
 * header reports, and prints one line. Exits 1 on any error or bound violation.
 * Link it with the one implementation translation unit (the CMake target
 * actzip::c, or src/actzip_c.cpp compiled by a C++17 compiler). */
#include <actzip/actzip.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

/* Prints a failed call and exits. */
static void check(actzip_status status, const char* call) {
  if (status != ACTZIP_SUCCESS) {
    fprintf(stderr, "%s: %s\n", call, actzip_status_string(status));
    exit(1);
  }
}

int main(void) {
  const int64_t dims[2] = {512, 1000}; /* e.g. (batch * tokens, hidden), C order */
  const uint64_t count = (uint64_t)dims[0] * (uint64_t)dims[1];
  float* activation = (float*)malloc(count * sizeof(float));
  float* restored = (float*)malloc(count * sizeof(float));
  if (activation == NULL || restored == NULL) return 1;
  for (uint64_t i = 0; i < count; ++i) {
    const double x = sin(0.001 * (double)i) + 0.5 * cos(0.037 * (double)i);
    activation[i] = x > 0 ? (float)x : 0.0f; /* ReLU */
  }

  /* Sizes first: both are known before any data exists. */
  uint64_t capacity = 0, workspace_size = 0;
  check(actzip_max_compressed_bytes(ACTZIP_FLOAT32, 2, dims, &capacity), "actzip_max_compressed_bytes");
  check(actzip_workspace_bytes(ACTZIP_EXEC_DEFAULT, 2, dims, &workspace_size), "actzip_workspace_bytes");
  unsigned char* stream = (unsigned char*)malloc(capacity);
  void* workspace = workspace_size != 0 ? malloc(workspace_size) : NULL;
  if (stream == NULL || (workspace_size != 0 && workspace == NULL)) return 1;

  actzip_params params = actzip_params_relative(1e-3);
  params.preserve_sign = 1; /* the mask x > 0 of the reconstruction is exact */
  uint64_t stream_size = 0;
  check(actzip_compress(ACTZIP_EXEC_DEFAULT, activation, ACTZIP_FLOAT32, 2, dims, &params, stream, capacity,
                        &stream_size, workspace, workspace_size),
        "actzip_compress");

  actzip_header header;
  check(actzip_inspect(stream, stream_size, &header), "actzip_inspect");
  check(actzip_decompress(ACTZIP_EXEC_DEFAULT, stream, stream_size, ACTZIP_FLOAT32, restored, count, 0),
        "actzip_decompress");

  uint64_t violations = 0;
  double worst = 0;
  for (uint64_t i = 0; i < count; ++i) {
    const double error = fabs((double)activation[i] - (double)restored[i]);
    if (error > worst) worst = error;
    if (error > header.absolute_bound || ((activation[i] > 0) != (restored[i] > 0))) ++violations;
  }
  printf(
      "%lld x %lld float32: %llu -> %llu bytes (ratio %.1f), absolute bound %.3g, max error %.3g, "
      "violations %llu\n",
      (long long)header.dims[0], (long long)header.dims[1], (unsigned long long)(count * sizeof(float)),
      (unsigned long long)stream_size, (double)(count * sizeof(float)) / (double)stream_size, header.absolute_bound,
      worst, (unsigned long long)violations);

  free(workspace);
  free(stream);
  free(restored);
  free(activation);
  return violations == 0 ? 0 : 1;
}
