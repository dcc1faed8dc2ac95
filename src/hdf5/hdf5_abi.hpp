// SPDX-License-Identifier: Apache-2.0
//
// The part of HDF5's C ABI the actzip filter uses: types, constants, the filter
// class struct and the signatures of the functions it calls, written out so that the
// plugin builds without HDF5's headers and links no libhdf5. At run time the plugin
// finds these functions in the HDF5 library that loads it (hdf5_api.hpp). Every
// value here has been the same from HDF5 1.10 to 2.0; tests/formats/hdf5_abi_check.cpp
// compares each one with <hdf5.h> at compile time.
#pragma once

#include <cstddef>
#include <cstdint>

namespace actzip::hdf5 {

using hid_t = std::int64_t;
using herr_t = int;
using htri_t = int;
using hsize_t = unsigned long long;
using hbool_t = bool;
using H5Z_filter_t = int;

// Enumerations, as int (their C type).
inline constexpr int H5T_INTEGER = 0;
inline constexpr int H5T_FLOAT = 1;
inline constexpr int H5T_ORDER_LE = 0;
inline constexpr int H5T_ORDER_BE = 1;
inline constexpr int H5T_NORM_IMPLIED = 0;
inline constexpr int H5D_FILL_VALUE_USER_DEFINED = 2;
inline constexpr int H5PL_TYPE_FILTER = 0;

inline constexpr unsigned FLAG_REVERSE = 0x0100;      // H5Z_FLAG_REVERSE
inline constexpr int CLASS_T_VERS = 1;               // H5Z_CLASS_T_VERS
inline constexpr hid_t ERROR_STACK_DEFAULT = 0;      // H5E_DEFAULT
inline constexpr int MAX_RANK = 32;                  // H5S_MAX_RANK

using H5Z_can_apply_func_t = htri_t (*)(hid_t dcpl_id, hid_t type_id, hid_t space_id);
using H5Z_set_local_func_t = herr_t (*)(hid_t dcpl_id, hid_t type_id, hid_t space_id);
using H5Z_func_t = std::size_t (*)(unsigned int flags, std::size_t cd_nelmts, const unsigned int cd_values[],
                                   std::size_t nbytes, std::size_t* buf_size, void** buf);

//! HDF5's H5Z_class2_t.
struct H5Z_class2_t {
  int version;
  H5Z_filter_t id;
  unsigned encoder_present;
  unsigned decoder_present;
  const char* name;
  H5Z_can_apply_func_t can_apply;
  H5Z_set_local_func_t set_local;
  H5Z_func_t filter;
};

// The functions the filter calls (their <hdf5.h> signatures; enums as int).
using H5Epush2_t = herr_t (*)(hid_t err_stack, const char* file, const char* func, unsigned line, hid_t cls_id,
                              hid_t maj_id, hid_t min_id, const char* msg, ...);
using H5Pget_chunk_t = int (*)(hid_t plist_id, int max_ndims, hsize_t dim[]);
using H5Pget_filter_by_id2_t = herr_t (*)(hid_t plist_id, H5Z_filter_t filter_id, unsigned int* flags,
                                          std::size_t* cd_nelmts, unsigned cd_values[], std::size_t namelen,
                                          char name[], unsigned* filter_config);
using H5Pmodify_filter_t = herr_t (*)(hid_t plist_id, H5Z_filter_t filter, unsigned int flags, std::size_t cd_nelmts,
                                      const unsigned int cd_values[]);
using H5Pfill_value_defined_t = herr_t (*)(hid_t plist, int* status);
using H5Pget_fill_value_t = herr_t (*)(hid_t plist_id, hid_t type_id, void* value);
using H5Tget_class_t = int (*)(hid_t type_id);
using H5Tget_size_t = std::size_t (*)(hid_t type_id);
using H5Tget_order_t = int (*)(hid_t type_id);
using H5Tget_precision_t = std::size_t (*)(hid_t type_id);
using H5Tget_offset_t = int (*)(hid_t type_id);
using H5Tget_fields_t = herr_t (*)(hid_t type_id, std::size_t* spos, std::size_t* epos, std::size_t* esize,
                                   std::size_t* mpos, std::size_t* msize);
using H5Tget_ebias_t = std::size_t (*)(hid_t type_id);
using H5Tget_norm_t = int (*)(hid_t type_id);
using H5allocate_memory_t = void* (*)(std::size_t size, hbool_t clear);
using H5free_memory_t = herr_t (*)(void* mem);

}  // namespace actzip::hdf5
