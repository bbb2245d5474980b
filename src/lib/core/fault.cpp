#include "core/fault.h"

namespace xdpguard {

// The product's fault points: none. tests/fault/fault_points.cpp defines the
// one the test binary links instead; nothing else may live in this file (the
// linker takes the test's definition and then never needs this object).
void fault_point(const char* /*step*/) {}

}  // namespace xdpguard
