// `xdpguard demo`: a self-contained lab showing xdpguard at work, in three
// acts of real traffic with `top`'s live view of the server's interface:
//   1. the firewall: a TCP echo session and pings pass, a burst of SYNs to a
//      closed port is dropped by a rule before a socket exists;
//   2. a SYN flood from random sources at the generator's full rate,
//      answered by the XDP SYN proxy, while a real client keeps opening new
//      connections;
//   3. one source over a rate limit, auto-blocked (`blocked list`), while the
//      legitimate client's datagrams keep arriving.
// Creates a Lab (src/lib/lab), attaches xdpguard to both ends (the client's
// drops the SYN-ACKs to the flood's spoofed sources), and removes everything
// at the end, also after Ctrl-C.
#pragma once

#include <cstdio>

#include "core/result.h"

namespace xdpguard {

struct DemoOptions {
  int seconds = 8;       // traffic per act
  int syn_rate = 500;    // act 1: SYNs per second to the closed port (bounded)
  bool generic = false;  // attach in generic mode (acts 2 and 3 then skip: the
                         // generator's frames reach only native XDP)
  std::FILE* out = stdout;
};

[[nodiscard]] Result<void> run_demo(const DemoOptions& opts);

}  // namespace xdpguard
