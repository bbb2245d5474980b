#include "core/fault.h"

namespace xdpguard {
namespace {
thread_local int g_off = 0;
}  // namespace

FaultPointsOff::FaultPointsOff() { ++g_off; }
FaultPointsOff::~FaultPointsOff() { --g_off; }
bool fault_points_off() { return g_off > 0; }

}  // namespace xdpguard
