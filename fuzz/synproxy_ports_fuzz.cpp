// libFuzzer target: the `synproxy enable --ports` parser on arbitrary text.
// It must fail cleanly with a message, or return 1-16 distinct nonzero ports
// that settings validation accepts and that print back into an nft script
// naming each of them.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <set>
#include <string>

#include "guard/synproxy_setup.h"

namespace {

void check(bool ok) {
  if (!ok) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  auto ports = xdpguard::parse_synproxy_ports(text);
  if (!ports) {
    check(!ports.error().message().empty());
    return 0;
  }
  check(!ports->empty() && ports->size() <= XDPGUARD_SYNPROXY_MAX_PORTS);
  check(std::set<std::uint16_t>(ports->begin(), ports->end()).size() == ports->size());
  check(std::none_of(ports->begin(), ports->end(), [](std::uint16_t p) { return p == 0; }));
  xdpguard::SynproxyConfig cfg;
  cfg.ports = *ports;
  check(xdpguard::validate_synproxy(cfg).has_value());
  const std::string script = xdpguard::nft_synproxy_script("t", 1, cfg);
  for (auto p : *ports) check(script.find(std::to_string(p)) != std::string::npos);
  return 0;
}
