# xsk_router_table: the xsk_router example's route table (table.h), linked
# by the example and by the unit tests. Included once, from
# examples/xsk_router/CMakeLists.txt or (unit-only build) tests/CMakeLists.txt.
add_library(xsk_router_table STATIC ${CMAKE_CURRENT_LIST_DIR}/table.cpp)
# Included as "xsk_router/table.h" by the tests, "table.h" by the example.
target_include_directories(xsk_router_table PUBLIC ${CMAKE_CURRENT_LIST_DIR}/..)
target_link_libraries(xsk_router_table PUBLIC xg_core xg_rules xg_consumer)
