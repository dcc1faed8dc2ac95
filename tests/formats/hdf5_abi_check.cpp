// SPDX-License-Identifier: Apache-2.0
//
// Compile-time check that the HDF5 declarations the filter plugin carries
// (src/hdf5/hdf5_abi.hpp) are those of <hdf5.h>: sizes, constants, the filter class
// layout and every function signature. Compiled (not run) by tests/run-formats.sh
// against Debian's libhdf5-dev.
#include <hdf5.h>

#include <cstddef>
#include <type_traits>

#include "../../src/hdf5/hdf5_abi.hpp"

namespace abi = actzip::hdf5;

static_assert(sizeof(abi::hid_t) == sizeof(hid_t) && std::is_signed<hid_t>::value, "hid_t");
static_assert(std::is_same<abi::herr_t, herr_t>::value && std::is_same<abi::htri_t, htri_t>::value, "herr_t, htri_t");
static_assert(sizeof(abi::hsize_t) == sizeof(hsize_t) && sizeof(abi::hbool_t) == sizeof(hbool_t), "hsize_t, hbool_t");
static_assert(std::is_same<abi::H5Z_filter_t, H5Z_filter_t>::value, "H5Z_filter_t");
static_assert(abi::H5T_INTEGER == H5T_INTEGER && abi::H5T_FLOAT == H5T_FLOAT, "H5T_class_t");
static_assert(abi::H5T_ORDER_LE == H5T_ORDER_LE && abi::H5T_ORDER_BE == H5T_ORDER_BE, "H5T_order_t");
static_assert(abi::H5T_NORM_IMPLIED == H5T_NORM_IMPLIED, "H5T_norm_t");
static_assert(abi::H5D_FILL_VALUE_USER_DEFINED == H5D_FILL_VALUE_USER_DEFINED, "H5D_fill_value_t");
static_assert(abi::H5PL_TYPE_FILTER == H5PL_TYPE_FILTER, "H5PL_type_t");
static_assert(abi::FLAG_REVERSE == H5Z_FLAG_REVERSE && abi::CLASS_T_VERS == H5Z_CLASS_T_VERS, "H5Z flags");
static_assert(abi::ERROR_STACK_DEFAULT == H5E_DEFAULT && abi::MAX_RANK == H5S_MAX_RANK, "H5E_DEFAULT, H5S_MAX_RANK");
static_assert(sizeof(H5T_class_t) == sizeof(int) && sizeof(H5T_order_t) == sizeof(int) &&
                  sizeof(H5T_norm_t) == sizeof(int) && sizeof(H5D_fill_value_t) == sizeof(int) &&
                  sizeof(H5PL_type_t) == sizeof(int),
              "enumerations travel as int");

static_assert(sizeof(abi::H5Z_class2_t) == sizeof(H5Z_class2_t), "H5Z_class2_t size");
#define SAME_OFFSET(field) static_assert(offsetof(abi::H5Z_class2_t, field) == offsetof(H5Z_class2_t, field), #field)
SAME_OFFSET(version);
SAME_OFFSET(id);
SAME_OFFSET(encoder_present);
SAME_OFFSET(decoder_present);
SAME_OFFSET(name);
SAME_OFFSET(can_apply);
SAME_OFFSET(set_local);
SAME_OFFSET(filter);
static_assert(std::is_same<abi::H5Z_can_apply_func_t, H5Z_can_apply_func_t>::value, "can_apply");
static_assert(std::is_same<abi::H5Z_set_local_func_t, H5Z_set_local_func_t>::value, "set_local");
static_assert(std::is_same<abi::H5Z_func_t, H5Z_func_t>::value, "filter");

// Function signatures, enumerations replaced by int (same size, same passing).
#define SAME_FUNCTION(name) static_assert(std::is_same<abi::name##_t, decltype(&name)>::value, #name)
SAME_FUNCTION(H5Epush2);
SAME_FUNCTION(H5Pget_chunk);
SAME_FUNCTION(H5Pget_filter_by_id2);
SAME_FUNCTION(H5Pmodify_filter);
SAME_FUNCTION(H5Pget_fill_value);
SAME_FUNCTION(H5Tget_size);
SAME_FUNCTION(H5Tget_precision);
SAME_FUNCTION(H5Tget_offset);
SAME_FUNCTION(H5Tget_fields);
SAME_FUNCTION(H5Tget_ebias);
SAME_FUNCTION(H5free_memory);
static_assert(std::is_same<abi::H5allocate_memory_t, void* (*)(size_t, hbool_t)>::value &&
                  std::is_same<decltype(&H5allocate_memory), void* (*)(size_t, hbool_t)>::value,
              "H5allocate_memory");
static_assert(std::is_same<decltype(&H5Tget_class), H5T_class_t (*)(hid_t)>::value, "H5Tget_class");
static_assert(std::is_same<decltype(&H5Tget_order), H5T_order_t (*)(hid_t)>::value, "H5Tget_order");
static_assert(std::is_same<decltype(&H5Tget_norm), H5T_norm_t (*)(hid_t)>::value, "H5Tget_norm");
static_assert(std::is_same<decltype(&H5Pfill_value_defined), herr_t (*)(hid_t, H5D_fill_value_t*)>::value,
              "H5Pfill_value_defined");

int main() { return 0; }
