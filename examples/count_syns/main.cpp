// count_syns IFACE: attaches count_syns.bpf.c to IFACE, prints the SYN count
// per source address every second, and detaches on Ctrl-C or SIGTERM.
// The "hello world" of libxdpguard: skeleton, attachment, typed map.
#include <arpa/inet.h>
#include <csignal>
#include <cstdio>
#include <memory>
#include <thread>

#include "bpf/attachment.h"
#include "bpf/map.h"
#include "bpf/skeleton.h"
#include "bpf/system.h"
#include "core/log.h"
#include "count_syns.h"
#include "count_syns.skel.h"

XDPGUARD_SKELETON(count_syns_bpf);

using namespace xdpguard;

namespace {

volatile std::sig_atomic_t g_stop = 0;

std::string to_string(const syn_source& s) {
  char buf[INET6_ADDRSTRLEN] = "?";
  inet_ntop(s.family == 6 ? AF_INET6 : AF_INET, s.addr, buf, sizeof buf);
  return buf;
}

Result<void> run(const std::string& ifname) {
  XG_CHECK(require_privileges());
  XG_CHECK(ensure_bpffs());
  Interface iface = XG_TRY(find_interface(ifname));

  auto skel = XG_TRY(BpfSkeleton<count_syns_bpf>::open("count_syns"));
  // libxdp loads the object and attaches it; the attachment shares the
  // ownership of the object, so it stays valid until the attachment is gone.
  auto att = XG_TRY(XdpAttachment::attach(skel, "count_syns", iface.ifindex, AttachMode::Auto));
  auto counts = XG_TRY((Map<syn_source, __u64>::wrap(XG_TRY(MapFd::from_libbpf(skel->maps.syn_counts)))));
  std::printf("attached to %s (%s mode); counting SYNs, Ctrl-C to stop\n", ifname.c_str(),
              mode_name(att.mode()));
  std::fflush(stdout);

  for (int t = 1; !g_stop; ++t) {
    for (int i = 0; i < 10 && !g_stop; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(100));
    std::printf("--- %ds\n", t);
    for (const auto& key : XG_TRY(counts.keys()))
      if (auto n = counts.get(key)) std::printf("%s %llu\n", to_string(key).c_str(), (unsigned long long)*n);
    std::fflush(stdout);
  }
  XG_CHECK(att.detach());
  std::printf("detached from %s\n", ifname.c_str());
  return {};
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: count_syns IFACE\n");
    return 2;
  }
  log::init();
  std::signal(SIGINT, [](int) { g_stop = 1; });
  std::signal(SIGTERM, [](int) { g_stop = 1; });
  if (auto r = run(argv[1]); !r) {
    std::fprintf(stderr, "count_syns: %s: %s\n", argv[1], r.error().message().c_str());
    return 1;
  }
  return 0;
}
