/* SPDX-License-Identifier: Apache-2.0
 * Consumer of the C interface: compresses, inspects and decompresses through
 * <actzip/actzip.h>, linked with the one implementation translation unit. */
#include <actzip/actzip.h>

#include <stdio.h>

int main(void) {
  enum { rows = 100, columns = 200 };
  static float values[rows * columns], back[rows * columns];
  static unsigned char stream[rows * columns * 4 + 4096];
  for (int i = 0; i < rows * columns; ++i) values[i] = (float)(i % 97) * 0.01f;
  const int64_t dims[2] = {rows, columns};
  const actzip_params params = actzip_params_absolute(1e-3);
  uint64_t capacity = 0, size = 0;
  actzip_header header;
  if (actzip_max_compressed_bytes(ACTZIP_FLOAT32, 2, dims, &capacity) != ACTZIP_SUCCESS || capacity > sizeof stream)
    return 1;
  if (actzip_compress(ACTZIP_EXEC_SERIAL, values, ACTZIP_FLOAT32, 2, dims, &params, stream, capacity, &size, NULL, 0) !=
      ACTZIP_SUCCESS)
    return 1;
  if (actzip_inspect(stream, size, &header) != ACTZIP_SUCCESS) return 1;
  if (actzip_decompress(ACTZIP_EXEC_DEFAULT, stream, size, ACTZIP_FLOAT32, back, rows * columns, 0) != ACTZIP_SUCCESS)
    return 1;
  for (int i = 0; i < rows * columns; ++i) {
    const double error = (double)values[i] - (double)back[i];
    if (error > header.absolute_bound || -error > header.absolute_bound) return 1;
  }
  printf("c_consumer: %d bytes -> %llu bytes, bound held (%s)\n", rows * columns * 4, (unsigned long long)size,
         actzip_status_string(ACTZIP_SUCCESS));
  return header.dims[0] == rows && header.dims[1] == columns ? 0 : 1;
}
