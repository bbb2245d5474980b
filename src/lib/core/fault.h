// Fault points: named steps of a change where the test build's binary can be
// killed or stopped (tests/fault/fault_points.cpp); nothing in the product.
#pragma once

namespace xdpguard {

void fault_point(const char* step);

// While one lives (in this thread), fault points are not reached: the
// lockout guard runs the same code as a change on a private copy of the
// pipeline, and that copy is not the step a test means to stop at.
class FaultPointsOff {
 public:
  FaultPointsOff();
  ~FaultPointsOff();
  FaultPointsOff(const FaultPointsOff&) = delete;
  FaultPointsOff& operator=(const FaultPointsOff&) = delete;
};
bool fault_points_off();

}  // namespace xdpguard
