# add_bpf_skeleton(NAME SOURCE <file.bpf.c> [DEPENDS <headers>...]
#                  [AS <skeleton name>] [DEFINES <macro>...])
#
# Compiles a BPF C program with clang -target bpf into ${NAME}.bpf.o, generates
# its libbpf skeleton ${NAME}.skel.h with bpftool (the skeleton embeds the
# bytecode, so nothing extra is installed), and exposes both as the INTERFACE
# target ${NAME}_skel. Link it and `#include "${NAME}.skel.h"`.
#
#   add_bpf_skeleton(guard SOURCE guard.bpf.c DEPENDS include/xdpguard/abi.h)
#   target_link_libraries(mylib PRIVATE guard_skel)
#
# AS names the skeleton another program's (its header and struct are that
# name's, in a directory of NAME's own) and DEFINES compiles the source with
# those macros: a second build of the same program that code written for
# the first includes in its place (tests/CMakeLists.txt, xdpguard-next).
find_program(BPF_CLANG NAMES clang clang-19 clang-16 clang-14 REQUIRED)
find_program(BPFTOOL NAMES bpftool PATHS /usr/sbin /sbin REQUIRED)

# UAPI headers only (no vmlinux.h from the build host, no bpf_tracing.h: no
# __TARGET_ARCH needed); the multiarch dir holds asm/ for the build host's
# architecture, whichever it is.
execute_process(COMMAND ${CMAKE_C_COMPILER} -print-multiarch
                OUTPUT_VARIABLE BPF_MULTIARCH OUTPUT_STRIP_TRAILING_WHITESPACE)
if(NOT BPF_MULTIARCH)
  set(BPF_MULTIARCH "${CMAKE_SYSTEM_PROCESSOR}-linux-gnu")
endif()

function(add_bpf_skeleton NAME)
  cmake_parse_arguments(ARG "" "SOURCE;AS" "DEPENDS;DEFINES" ${ARGN})
  set(src ${CMAKE_CURRENT_SOURCE_DIR}/${ARG_SOURCE})
  set(outdir ${CMAKE_CURRENT_BINARY_DIR}/skel)
  set(skel_name ${NAME})
  if(ARG_AS)
    set(outdir ${CMAKE_CURRENT_BINARY_DIR}/skel-${NAME})
    set(skel_name ${ARG_AS})
  endif()
  list(TRANSFORM ARG_DEFINES PREPEND -D OUTPUT_VARIABLE defines)
  set(obj ${outdir}/${skel_name}.bpf.o)
  set(skel ${outdir}/${skel_name}.skel.h)
  add_custom_command(
    OUTPUT ${obj} ${skel}
    COMMAND ${CMAKE_COMMAND} -E make_directory ${outdir}
    COMMAND ${BPF_CLANG} -target bpf -mcpu=v3 -O2 -g -Wall -Werror
            -I${PROJECT_SOURCE_DIR}/bpf/include -I${CMAKE_CURRENT_SOURCE_DIR}
            -I/usr/include/${BPF_MULTIARCH} ${defines}
            -c ${src} -o ${obj}
    COMMAND ${BPFTOOL} gen skeleton ${obj} name ${skel_name}_bpf > ${skel}
    DEPENDS ${src} ${ARG_DEPENDS}
    COMMENT "BPF ${NAME}: clang -target bpf + bpftool gen skeleton"
    VERBATIM)
  add_custom_target(${NAME}_skel_gen DEPENDS ${skel})
  set_property(GLOBAL APPEND PROPERTY XDPGUARD_GENERATED_TARGETS ${NAME}_skel_gen)
  add_library(${NAME}_skel INTERFACE)
  add_dependencies(${NAME}_skel ${NAME}_skel_gen)
  # SYSTEM: generated code, outside the warnings and the static-analysis gate.
  target_include_directories(${NAME}_skel SYSTEM INTERFACE ${outdir})
  set_property(TARGET ${NAME}_skel PROPERTY BPF_OBJECT ${obj})
endfunction()
