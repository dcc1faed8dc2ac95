/* SPDX-License-Identifier: Apache-2.0
 *
 * actzip's HDF5 filter: its filter ID and the layout of its client data (the
 * `cd_values` of H5Pset_filter, nc_def_var_filter and `nccopy -F`), for C programs
 * that write compressed datasets. The filter itself is the plugin library
 * `libh5actzip.so` (CMake target actzip::hdf5_filter, built with
 * -DACTZIP_BUILD_HDF5_FILTER=ON; the Python wheel carries one too), which HDF5
 * loads from a directory in HDF5_PLUGIN_PATH. docs/FORMATS.md shows every door.
 *
 * C99 and C++; this header declares nothing that needs HDF5's headers or library.
 *
 *   unsigned cd[ACTZIP_H5Z_USER_VALUES];
 *   actzip_h5z_client_data(ACTZIP_H5Z_BOUND_ABSOLUTE, 1e-3, ACTZIP_H5Z_CODEC_HUFFMAN, 0, cd);
 *   H5Pset_chunk(dcpl, 3, chunk);
 *   H5Pset_filter(dcpl, ACTZIP_H5Z_FILTER_ID, H5Z_FLAG_MANDATORY, ACTZIP_H5Z_USER_VALUES, cd);
 *
 * Every chunk becomes one self-describing actzip stream (docs/FORMAT.md), checksum
 * included. When the dataset is created the filter's set_local callback appends the
 * element type, the byte order, the fill value and the chunk shape to these values
 * (layout below); integer and other non-floating-point types are refused there.
 */
#ifndef ACTZIP_HDF5_FILTER_H
#define ACTZIP_HDF5_FILTER_H

#include <stdint.h>
#include <string.h>

/** The filter's HDF5 ID. PROVISIONAL: HDF5 keeps 256-511 for filters that are not
 *  registered with The HDF Group; this ID changes once actzip's is registered. */
#define ACTZIP_H5Z_FILTER_ID 386

/** Version of the client-data layout below (its first value). */
#define ACTZIP_H5Z_CD_VERSION 1

/* ---- client data: the values a writer gives ------------------------------------ */
#define ACTZIP_H5Z_CD_LAYOUT 0         /**< ACTZIP_H5Z_CD_VERSION */
#define ACTZIP_H5Z_CD_BOUND_MODE 1     /**< ACTZIP_H5Z_BOUND_ABSOLUTE or ACTZIP_H5Z_BOUND_RELATIVE */
#define ACTZIP_H5Z_CD_BOUND_LOW 2      /**< the bound, an IEEE binary64: its low 32 bits */
#define ACTZIP_H5Z_CD_BOUND_HIGH 3     /**< ... and its high 32 bits */
#define ACTZIP_H5Z_CD_CODEC 4          /**< ACTZIP_H5Z_CODEC_* */
#define ACTZIP_H5Z_CD_PRESERVE_SIGN 5  /**< 1: no non-zero value becomes zero or changes sign; 0: off */
#define ACTZIP_H5Z_USER_VALUES 6       /**< how many values a writer gives */

/* ---- client data: the values set_local appends ---------------------------------- */
#define ACTZIP_H5Z_CD_DTYPE 6          /**< element type: 1 float32, 2 float64, 3 float16, 4 bfloat16 */
#define ACTZIP_H5Z_CD_FLAGS 7          /**< ACTZIP_H5Z_FLAG_* */
#define ACTZIP_H5Z_CD_FILL_LOW 8       /**< the fill value's bits (native order, zero-extended): low 32 */
#define ACTZIP_H5Z_CD_FILL_HIGH 9      /**< ... high 32 */
#define ACTZIP_H5Z_CD_RANK 10          /**< the chunk's rank r, 1..32 */
#define ACTZIP_H5Z_CD_CHUNK 11         /**< r values: the chunk's extents, slowest first */
#define ACTZIP_H5Z_MAX_VALUES (ACTZIP_H5Z_CD_CHUNK + 32)

#define ACTZIP_H5Z_FLAG_BIG_ENDIAN 1u  /**< the file stores the elements big-endian */
#define ACTZIP_H5Z_FLAG_FILL_VALUE 2u  /**< the dataset has a user-defined fill value (CD_FILL_*) */

/** Bound modes (the values of actzip_bound_mode in <actzip/actzip.h>). A relative
 *  bound is relative to each chunk's range of finite values other than the fill value. */
#define ACTZIP_H5Z_BOUND_ABSOLUTE 1
#define ACTZIP_H5Z_BOUND_RELATIVE 2

/** Codecs (the values of actzip_codec in <actzip/actzip.h>). */
#define ACTZIP_H5Z_CODEC_BITPLANE 1
#define ACTZIP_H5Z_CODEC_HUFFMAN 2
#define ACTZIP_H5Z_CODEC_AUTOMATIC 3

/** Fills the ACTZIP_H5Z_USER_VALUES values a writer passes to H5Pset_filter (or
 *  nc_def_var_filter) for a bound of `bound_mode` and value `bound`, a codec and
 *  preserve_sign (0 or 1). The values are checked when the dataset is created. */
static inline void actzip_h5z_client_data(int bound_mode, double bound, int codec, int preserve_sign,
                                          unsigned cd_values[ACTZIP_H5Z_USER_VALUES]) {
  uint64_t bits;
  memcpy(&bits, &bound, sizeof bits);
  cd_values[ACTZIP_H5Z_CD_LAYOUT] = ACTZIP_H5Z_CD_VERSION;
  cd_values[ACTZIP_H5Z_CD_BOUND_MODE] = (unsigned)bound_mode;
  cd_values[ACTZIP_H5Z_CD_BOUND_LOW] = (unsigned)(bits & 0xffffffffu);
  cd_values[ACTZIP_H5Z_CD_BOUND_HIGH] = (unsigned)(bits >> 32);
  cd_values[ACTZIP_H5Z_CD_CODEC] = (unsigned)codec;
  cd_values[ACTZIP_H5Z_CD_PRESERVE_SIGN] = (unsigned)preserve_sign;
}

#endif /* ACTZIP_HDF5_FILTER_H */
