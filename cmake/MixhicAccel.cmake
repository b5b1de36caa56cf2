# Resolves MIXHIC_WITH_CUDA and MIXHIC_WITH_NCCL (AUTO|ON|OFF) into
# MIXHIC_CUDA_ENABLED / MIXHIC_NCCL_ENABLED and provides mixhic_accel_link(target).
# AUTO looks in MIXHIC_CUDA_ROOT (default /usr/local/cuda): the NCCL path is compiled and linked
# even on machines without a GPU, so CI proves it builds.

function(_mixhic_resolve opt found out)
  set(_found ${${found}})
  if(${opt} STREQUAL "ON" AND NOT _found)
    message(FATAL_ERROR "${opt}=ON but it was not found under ${MIXHIC_CUDA_ROOT}")
  endif()
  if(${opt} STREQUAL "OFF")
    set(${out} OFF PARENT_SCOPE)
  else()
    set(${out} ${_found} PARENT_SCOPE)
  endif()
endfunction()

# A LibTorch built with CUDA loads a CUDA runtime and an NCCL of its own: a pip wheel's from
# site-packages/nvidia/{cu13,nccl}. mixhic links those then, so that the process holds one
# libcudart and one libnccl (two NCCLs in one process do not share communicators or streams);
# otherwise the toolkit's under MIXHIC_CUDA_ROOT.
set(MIXHIC_TORCH_CUDA FALSE)
if(DEFINED TORCH_INSTALL_PREFIX AND EXISTS "${TORCH_INSTALL_PREFIX}/lib/libtorch_cuda.so")
  set(MIXHIC_TORCH_CUDA TRUE)
endif()
set(_cuda_inc ${MIXHIC_CUDA_ROOT}/include)
set(_cuda_lib ${MIXHIC_CUDA_ROOT}/lib64 ${MIXHIC_CUDA_ROOT}/lib)
set(_nccl_inc ${MIXHIC_CUDA_ROOT}/include)
set(_nccl_lib ${MIXHIC_CUDA_ROOT}/lib64 ${MIXHIC_CUDA_ROOT}/lib)
get_filename_component(_wheel_nvidia "${TORCH_INSTALL_PREFIX}/../nvidia" ABSOLUTE)
if(MIXHIC_TORCH_CUDA AND EXISTS "${_wheel_nvidia}")
  file(GLOB _wheel_cuda_dirs LIST_DIRECTORIES true "${_wheel_nvidia}/cu[0-9]*" "${_wheel_nvidia}/cuda_runtime")
  set(_cuda_inc "")
  set(_cuda_lib "")
  foreach(_d ${_wheel_cuda_dirs})
    list(APPEND _cuda_inc ${_d}/include)
    list(APPEND _cuda_lib ${_d}/lib)
  endforeach()
  set(_nccl_inc ${_wheel_nvidia}/nccl/include)
  set(_nccl_lib ${_wheel_nvidia}/nccl/lib)
  message(STATUS "mixhic: LibTorch with CUDA from a wheel: its CUDA runtime and NCCL under ${_wheel_nvidia}")
  # LibTorch's CMake also names the toolkit's libcudart and libnvrtc (MIXHIC_CUDA_ROOT), whose
  # sonames are the wheel's: the wheel's directories go first in the binaries' runtime path, so
  # the one copy the loader takes is the one LibTorch was built with.
  list(PREPEND CMAKE_BUILD_RPATH ${_cuda_lib} ${_nccl_lib})
  list(PREPEND CMAKE_INSTALL_RPATH ${_cuda_lib} ${_nccl_lib})
endif()
# Wheels ship only the versioned names (libcudart.so.13, libnccl.so.2).
find_path(MIXHIC_CUDA_INCLUDE_DIR cuda_runtime_api.h HINTS ${_cuda_inc} NO_DEFAULT_PATH)
find_library(MIXHIC_CUDART_LIBRARY NAMES cudart libcudart.so.13 libcudart.so.12 HINTS ${_cuda_lib} NO_DEFAULT_PATH)
find_path(MIXHIC_NCCL_INCLUDE_DIR nccl.h HINTS ${_nccl_inc} NO_DEFAULT_PATH)
find_library(MIXHIC_NCCL_LIBRARY NAMES nccl libnccl.so.2 HINTS ${_nccl_lib} NO_DEFAULT_PATH)

set(_cuda_found FALSE)
if(MIXHIC_CUDA_INCLUDE_DIR AND MIXHIC_CUDART_LIBRARY)
  set(_cuda_found TRUE)
endif()
set(_nccl_found FALSE)
if(_cuda_found AND MIXHIC_NCCL_INCLUDE_DIR AND MIXHIC_NCCL_LIBRARY)
  set(_nccl_found TRUE)
endif()
_mixhic_resolve(MIXHIC_WITH_CUDA _cuda_found MIXHIC_CUDA_ENABLED)
_mixhic_resolve(MIXHIC_WITH_NCCL _nccl_found MIXHIC_NCCL_ENABLED)
if(MIXHIC_NCCL_ENABLED AND NOT MIXHIC_CUDA_ENABLED)
  message(FATAL_ERROR "MIXHIC_WITH_NCCL needs CUDA; set MIXHIC_WITH_CUDA to AUTO or ON")
endif()

function(mixhic_accel_link target)
  if(MIXHIC_CUDA_ENABLED)
    target_include_directories(${target} PUBLIC ${MIXHIC_CUDA_INCLUDE_DIR})
    target_link_libraries(${target} PUBLIC ${MIXHIC_CUDART_LIBRARY})
    target_compile_definitions(${target} PUBLIC MIXHIC_HAVE_CUDA=1)
    if(MIXHIC_TORCH_CUDA)  # LibTorch's CUDA API (its current stream) is there too
      target_compile_definitions(${target} PUBLIC MIXHIC_TORCH_HAS_CUDA=1)
    endif()
  endif()
  if(MIXHIC_NCCL_ENABLED)
    target_include_directories(${target} PUBLIC ${MIXHIC_NCCL_INCLUDE_DIR})
    target_link_libraries(${target} PUBLIC ${MIXHIC_NCCL_LIBRARY})
    target_compile_definitions(${target} PUBLIC MIXHIC_HAVE_NCCL=1)
  endif()
endfunction()
