# SPDX-License-Identifier: Apache-2.0
# Installs actzip from SOURCE_DIR into a scratch prefix, then configures, builds and
# runs the consumer project next to this script (C++ and C programs) against the
# installed package.
file(REMOVE_RECURSE ${WORK_DIR})
set(prefix ${WORK_DIR}/prefix)
function(run)
  execute_process(COMMAND ${ARGV} RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "failed (${rc}): ${ARGV}")
  endif()
endfunction()
run(${CMAKE_COMMAND} -S ${SOURCE_DIR} -B ${WORK_DIR}/actzip-build -DCMAKE_INSTALL_PREFIX=${prefix}
    -DCMAKE_CXX_COMPILER=${CXX_COMPILER} -DACTZIP_BUILD_TESTS=OFF -DACTZIP_BUILD_EXAMPLES=OFF
    -DACTZIP_BUILD_BENCHMARKS=OFF -DACTZIP_WITH_CUDA=OFF -DACTZIP_INSTALL=ON)
run(${CMAKE_COMMAND} --install ${WORK_DIR}/actzip-build)
run(${CMAKE_COMMAND} -S ${CMAKE_CURRENT_LIST_DIR}/consumer -B ${WORK_DIR}/consumer-build
    -DCMAKE_PREFIX_PATH=${prefix} -DCMAKE_CXX_COMPILER=${CXX_COMPILER})
run(${CMAKE_COMMAND} --build ${WORK_DIR}/consumer-build)
run(${WORK_DIR}/consumer-build/consumer)
run(${WORK_DIR}/consumer-build/c_consumer)

# The same consumer with actzip added from source.
run(${CMAKE_COMMAND} -S ${CMAKE_CURRENT_LIST_DIR}/consumer -B ${WORK_DIR}/subdirectory-build
    -DACTZIP_SOURCE_DIR=${SOURCE_DIR} -DACTZIP_WITH_CUDA=OFF -DCMAKE_CXX_COMPILER=${CXX_COMPILER})
run(${CMAKE_COMMAND} --build ${WORK_DIR}/subdirectory-build)
run(${WORK_DIR}/subdirectory-build/consumer)
run(${WORK_DIR}/subdirectory-build/c_consumer)
