# xdpguard_module(NAME DIR <dir> [DEPS <targets>...] [PRIVATE_DEPS <targets>...]
#                 [ALONE <files>...] [OWN_OBJECT <files>...])
#
# One library per source folder, with its real dependencies. Headers are
# included as "<NAME>/<file>.h", and a module sees only its own headers and
# those of the modules it depends on: each module's include root is a
# directory of its own (build/modules/<NAME>) holding one link, <NAME> ->
# the source folder. An include of a module not in DEPS (an upward include
# into a layer above, or a layer skipped) is a "file not found" build error.
#
# A module's files are compiled as unity files of up to eight: the compiler
# parses the standard library, fmt, spdlog and json once per batch instead
# of once per file. Two kinds of files are compiled by themselves:
#   ALONE       files that cannot share a unit with the others: those that
#               include libpcap (its pcap/bpf.h defines struct bpf_insn as
#               linux/bpf.h does) and those whose glibc socket headers clash
#               with the kernel's. scripts/lint.sh checks them alone too (the
#               rest a module at a time), from the list the configure step
#               writes to <build>/alone-sources.txt;
#   OWN_OBJECT  files another target replaces with its own object (the test
#               build's binaries, src/CMakeLists.txt: core, guard).
function(xdpguard_module NAME)
  cmake_parse_arguments(ARG "" "DIR" "DEPS;PRIVATE_DEPS;ALONE;OWN_OBJECT" ${ARGN})
  set(root ${PROJECT_BINARY_DIR}/modules/${NAME})
  file(MAKE_DIRECTORY ${root})
  file(CREATE_LINK ${ARG_DIR} ${root}/${NAME} SYMBOLIC)
  file(GLOB srcs CONFIGURE_DEPENDS ${ARG_DIR}/*.cpp)
  if(srcs)
    add_library(xg_${NAME} STATIC ${srcs})
    target_include_directories(xg_${NAME} PUBLIC ${root})
    target_link_libraries(xg_${NAME} PUBLIC ${ARG_DEPS} PRIVATE ${ARG_PRIVATE_DEPS})
    set_target_properties(xg_${NAME} PROPERTIES UNITY_BUILD ON UNITY_BUILD_BATCH_SIZE 8)
    # g++ takes a file a unity file includes for a header, and warns of a
    # class there with a member of a type from the file's anonymous
    # namespace (meant for headers, where each includer gets another type).
    target_compile_options(xg_${NAME} PRIVATE $<$<CXX_COMPILER_ID:GNU>:-Wno-subobject-linkage>)
    foreach(f ${ARG_ALONE} ${ARG_OWN_OBJECT})
      if(NOT EXISTS ${ARG_DIR}/${f})
        message(FATAL_ERROR "xdpguard_module(${NAME}): ${f} is not in ${ARG_DIR}")
      endif()
      set_source_files_properties(${ARG_DIR}/${f} PROPERTIES SKIP_UNITY_BUILD_INCLUSION ON)
    endforeach()
    foreach(f ${ARG_ALONE})
      file(RELATIVE_PATH rel ${PROJECT_SOURCE_DIR} ${ARG_DIR}/${f})
      set_property(GLOBAL APPEND PROPERTY XDPGUARD_ALONE_SOURCES ${rel})
    endforeach()
  else()
    add_library(xg_${NAME} INTERFACE)
    target_include_directories(xg_${NAME} INTERFACE ${root})
    target_link_libraries(xg_${NAME} INTERFACE ${ARG_DEPS})
  endif()
endfunction()

# <build>/alone-sources.txt: every module's ALONE files, one per line (for
# scripts/lint.sh). Called once, after the last module.
function(xdpguard_write_alone_sources)
  get_property(alone GLOBAL PROPERTY XDPGUARD_ALONE_SOURCES)
  list(JOIN alone "\n" text)
  file(CONFIGURE OUTPUT ${PROJECT_BINARY_DIR}/alone-sources.txt CONTENT "${text}\n" @ONLY)
endfunction()
