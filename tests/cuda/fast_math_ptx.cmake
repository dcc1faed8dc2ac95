# SPDX-License-Identifier: Apache-2.0
#
# Checks that nvcc's fast-math flags cannot change actzip's device arithmetic
# (cmake -P, no GPU needed). Compiles SOURCE to PTX twice, as is and with
# --use_fast_math (-ftz=true -prec-div=false -prec-sqrt=false -fmad=true), and fails
# when
#   - either PTX holds an instruction those flags produce or may later change:
#     anything .ftz or .approx, div.full, rsqrt/ex2/lg2/sin/cos/tanh, fma/mad on
#     floats, or add/sub/mul/div on .f32/.f64 without an explicit rounding mode
#     (ptxas may fuse those into an FMA);
#   - one of the REQUIRED instructions is missing (so the probe still exercises them;
#     MODE=probe, the default);
#   - the two PTX files differ at all.
# MODE=forbidden checks only the first and the last point, for whole translation units
# (src/actzip_c.cu: every kernel of the CUDA executor) whose instruction mix is not the
# checker's business. NVCC_FLAGS (one string, split like a shell command line) goes to
# both compilations, e.g. "-DNDEBUG -Xcompiler=-ffp-contract=off".
#
#   cmake -DNVCC=<nvcc> -DSOURCE=<file.cu> -DINCLUDE_DIR=<actzip/include> -DWORK_DIR=<dir>
#         [-DHOST_COMPILER=<c++>] [-DARCH=compute_90] [-DMODE=probe|forbidden]
#         [-DREQUIRED=<instr;...>] [-DNVCC_FLAGS="<flags>"] -P fast_math_ptx.cmake
cmake_minimum_required(VERSION 3.21)

foreach(var NVCC SOURCE INCLUDE_DIR WORK_DIR)
  if(NOT DEFINED ${var} OR "${${var}}" STREQUAL "")
    message(FATAL_ERROR "fast_math_ptx.cmake: -D${var}=... is required")
  endif()
endforeach()
if(NOT DEFINED ARCH OR ARCH STREQUAL "")
  set(ARCH compute_90)
endif()
if(NOT DEFINED MODE OR MODE STREQUAL "")
  set(MODE probe)
endif()
if(MODE STREQUAL "forbidden")
  set(REQUIRED)
elseif(NOT MODE STREQUAL "probe")
  message(FATAL_ERROR "fast_math_ptx.cmake: MODE must be probe or forbidden, not '${MODE}'")
elseif(NOT DEFINED REQUIRED)
  set(REQUIRED
    mul.rn.f32 mul.rn.f64 sub.rn.f32 sub.rn.f64 div.rn.f32 div.rn.f64
    cvt.rni.f32.f32 cvt.rni.f64.f64 cvt.rzi.s32.f32 cvt.rzi.s32.f64 cvt.rn.f32.s32 cvt.rn.f64.s32
    cvt.f64.f32 cvt.rn.f32.f64 neg.f32 neg.f64
    setp.lt.f32 setp.lt.f64 setp.gt.f32 setp.gt.f64 setp.le.f32 setp.le.f64
    setp.eq.f32 setp.eq.f64 setp.neu.f32 setp.neu.f64)
endif()

# Floating-point instructions that must never appear: the first match names the problem.
set(forbidden_patterns
  "\\.ftz"
  "\\.approx"
  "^div\\.full"
  "^(fma|mad)(\\.[a-z0-9]+)*\\.(f16|bf16|f16x2|bf16x2|f32|f64)"
  "^(rsqrt|ex2|lg2|sin|cos|tanh)\\."
  "^(add|sub|mul|div)(\\.sat)?\\.f(32|64)")

file(MAKE_DIRECTORY "${WORK_DIR}")
set(host_compiler_args)
if(DEFINED HOST_COMPILER AND NOT HOST_COMPILER STREQUAL "")
  set(host_compiler_args -ccbin "${HOST_COMPILER}")
endif()
set(extra_flags)
if(DEFINED NVCC_FLAGS AND NOT NVCC_FLAGS STREQUAL "")
  separate_arguments(extra_flags UNIX_COMMAND "${NVCC_FLAGS}")
endif()

set(problems "")
foreach(variant ieee fast_math)
  set(ptx "${WORK_DIR}/${variant}.ptx")
  set(flags)
  if(variant STREQUAL "fast_math")
    set(flags --use_fast_math)
  endif()
  file(REMOVE "${ptx}")
  execute_process(
    COMMAND "${NVCC}" ${host_compiler_args} -std=c++17 -I "${INCLUDE_DIR}" ${extra_flags} ${flags} -ptx -arch=${ARCH}
            -Werror all-warnings "${SOURCE}" -o "${ptx}"
    RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "nvcc ${flags} -ptx failed (${rc}):\n${out}${err}")
  endif()

  if(REQUIRED)
    file(STRINGS "${ptx}" lines)
  else()
    # Only function headers and lines that may hold a forbidden instruction (fast on
    # a whole executor's PTX); every forbidden pattern below is caught by this filter.
    file(STRINGS "${ptx}" lines REGEX
         "\\.(entry|func)|\\.ftz|\\.approx|div\\.|fma|mad|rsqrt|ex2|lg2|sin\\.|cos\\.|tanh|(add|sub|mul)(\\.sat)?\\.f")
  endif()
  set(function "?")
  set(seen)
  set(offending 0)
  set(opcodes)
  foreach(line IN LISTS lines)
    string(STRIP "${line}" text)
    if(text MATCHES "^\\.(visible |weak )?\\.?(entry|func)[ \t]+(\\([^)]*\\)[ \t]*)?([A-Za-z0-9_$]+)")
      set(function "${CMAKE_MATCH_4}")
      continue()
    endif()
    # Instructions only: no directives, comments, braces or labels; drop a predicate guard.
    if(text STREQUAL "" OR text MATCHES "^(\\.|//|\\{|\\}|\\)|[A-Za-z0-9_$]+:)")
      continue()
    endif()
    string(REGEX REPLACE "^@!?%[A-Za-z0-9_]+[ \t]+" "" text "${text}")
    string(REGEX MATCH "^[A-Za-z0-9_.]+" opcode "${text}")
    list(APPEND seen "${opcode}")
    foreach(pattern IN LISTS forbidden_patterns)
      if(opcode MATCHES "${pattern}")
        if(offending LESS 40)
          string(APPEND problems "  ${variant}: ${function}: ${text}\n")
        endif()
        math(EXPR offending "${offending} + 1")
        list(APPEND opcodes "${opcode}")
        break()
      endif()
    endforeach()
  endforeach()
  if(offending GREATER 0)
    list(REMOVE_DUPLICATES opcodes)
    list(JOIN opcodes " " opcodes)
    string(APPEND problems "${variant}: ${offending} instruction(s) that fast-math flags produce or may change: "
                           "${opcodes}\n")
  endif()
  list(REMOVE_DUPLICATES seen)
  foreach(instruction IN LISTS REQUIRED)
    list(FIND seen "${instruction}" found)
    if(found EQUAL -1)
      string(APPEND problems "${variant}: no ${instruction} instruction in the PTX\n")
    endif()
  endforeach()
  file(READ "${ptx}" ptx_${variant})
endforeach()

if(NOT ptx_ieee STREQUAL ptx_fast_math)
  string(APPEND problems "the PTX differs with --use_fast_math: compare ${WORK_DIR}/ieee.ptx and "
                         "${WORK_DIR}/fast_math.ptx\n")
endif()
if(NOT problems STREQUAL "")
  message(FATAL_ERROR "fast-math check of ${SOURCE} failed:\n${problems}")
endif()
list(LENGTH REQUIRED required_count)
message(STATUS "PTX of ${SOURCE} is identical with and without --use_fast_math and uses only IEEE-rounded "
               "floating-point instructions (${required_count} required ones present, MODE=${MODE})")
