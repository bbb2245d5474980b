# xdpguard_module(NAME DIR <dir> [DEPS <targets>...] [PRIVATE_DEPS <targets>...])
#
# One library per source folder, with its real dependencies. Headers are
# included as "<NAME>/<file>.h", and a module sees only its own headers and
# those of the modules it depends on: each module's include root is a
# directory of its own (build/modules/<NAME>) holding one link, <NAME> ->
# the source folder. An include of a module not in DEPS (an upward include
# into a layer above, or a layer skipped) is a "file not found" build error.
function(xdpguard_module NAME)
  cmake_parse_arguments(ARG "" "DIR" "DEPS;PRIVATE_DEPS" ${ARGN})
  set(root ${PROJECT_BINARY_DIR}/modules/${NAME})
  file(MAKE_DIRECTORY ${root})
  file(CREATE_LINK ${ARG_DIR} ${root}/${NAME} SYMBOLIC)
  file(GLOB srcs CONFIGURE_DEPENDS ${ARG_DIR}/*.cpp)
  if(srcs)
    add_library(xg_${NAME} STATIC ${srcs})
    target_include_directories(xg_${NAME} PUBLIC ${root})
    target_link_libraries(xg_${NAME} PUBLIC ${ARG_DEPS} PRIVATE ${ARG_PRIVATE_DEPS})
  else()
    add_library(xg_${NAME} INTERFACE)
    target_include_directories(xg_${NAME} INTERFACE ${root})
    target_link_libraries(xg_${NAME} INTERFACE ${ARG_DEPS})
  endif()
endfunction()
