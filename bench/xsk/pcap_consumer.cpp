// The libpcap consumer of xsk_bench (bench_consumer.h).
#include <pcap/pcap.h>

#include "xsk/bench_consumer.h"

namespace xdpguard::bench {
namespace {

// libpcap as tcpdump opens an interface.
class PcapConsumer : public Consumer {
 public:
  ~PcapConsumer() override {
    if (p_) pcap_close(p_);
  }
  Result<void> open(const Interface& i) {
    char err[PCAP_ERRBUF_SIZE] = {};
    p_ = pcap_open_live(i.name.c_str(), 262144, 0, kPcapTimeoutMs, err);
    if (!p_) return fail(EIO, "pcap_open_live {}: {}", i.name, err);
    // The server's ICMP errors going out are not the measured traffic.
    if (pcap_setdirection(p_, PCAP_D_IN) != 0) return fail(EIO, "pcap_setdirection: {}", pcap_geterr(p_));
    return {};
  }
  Session consume(const std::atomic<bool>& stop, Clock::time_point deadline) override {
    Session s;
    char err[PCAP_ERRBUF_SIZE] = {};
    pcap_setnonblock(p_, 0, err);
    const double cpu0 = thread_cpu_s();
    for (;;) {
      const int n = pcap_dispatch(
          p_, -1,
          [](u_char* user, const pcap_pkthdr* h, const u_char* bytes) {
            auto* ss = reinterpret_cast<Session*>(user);
            ss->sum += fold(bytes, h->caplen);
            ++ss->frames;
          },
          reinterpret_cast<u_char*>(&s));
      // Woken by wake(): what is left, without blocking (libpcap waits for
      // a TPACKET_V3 block without a timeout).
      if (n == PCAP_ERROR_BREAK) {
        pcap_setnonblock(p_, 1, err);
        continue;
      }
      if (n < 0) break;
      if (n > 0) continue;
      if (stop.load(std::memory_order_relaxed) || Clock::now() > deadline) break;
      ++s.sleeps;
    }
    s.cpu_s = thread_cpu_s() - cpu0;
    return s;
  }
  void wake() override { pcap_breakloop(p_); }
  Result<Count> count() override {
    pcap_stat st{};
    if (pcap_stats(p_, &st) != 0) return fail(EIO, "pcap_stats: {}", pcap_geterr(p_));
    return Count{st.ps_recv, st.ps_drop, 0, 0, 0, 0};  // libpcap sums them; ps_recv includes drops
  }

 private:
  pcap_t* p_ = nullptr;
};

}  // namespace

Result<std::unique_ptr<Consumer>> open_pcap(const Interface& iface) {
  auto c = std::make_unique<PcapConsumer>();
  XG_CHECK(c->open(iface));
  return std::unique_ptr<Consumer>(std::move(c));
}

}  // namespace xdpguard::bench
