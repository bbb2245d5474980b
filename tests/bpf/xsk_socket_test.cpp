// xsk/socket.h against the kernel, in a lab (two network namespaces joined by
// a veth pair, 198.18.0.0/15): the server's veth runs the tests' own
// xsk_redirect program (tests/bpf/xsk_redirect.bpf.c), which sends each
// frame to the AF_XDP socket put in its XSKMAP under the frame's RX queue.
// Frames come from a packet socket on the client's veth and arrive in the
// socket byte for byte; frames sent from the socket arrive at a packet
// socket on the peer; the errors are those a user would read. Objects are
// made on threads that entered a namespace (run_in_netns) and used from the
// test's thread: sockets and BPF links keep their own namespace and device.
// Every traffic loop is bounded in frames and seconds; the lab goes with the
// fixture, failed assertion or not.
#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "bpf/skeleton.h"
#include "bpf/system.h"
#include "core/unique_fd.h"
#include "lab/lab.h"
#include "support/packet.h"
#include "support/privileged.h"
#include "xsk/socket.h"
#include "xsk_redirect.skel.h"

XDPGUARD_SKELETON(xsk_redirect_bpf);

namespace xdpguard::xsk {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using std::chrono::steady_clock;
using test::Bytes;
using test::Packet;

// Runs f (returning a Result) on a thread in network namespace ns.
template <class F>
auto in_netns(const std::string& ns, F&& f) -> decltype(f()) {
  std::optional<decltype(f())> out;
  if (auto r = run_in_netns(ns, [&] { out.emplace(f()); }); !r) return tl::unexpected(r.error());
  return std::move(*out);
}

// A packet socket on one interface: sends whole frames, receives what
// arrives (not what leaves).
Result<UniqueFd> packet_socket(const std::string& ifname) {
  UniqueFd fd(::socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, htons(ETH_P_ALL)));
  if (!fd) return fail_errno(errno, "packet socket");
  sockaddr_ll a{};
  a.sll_family = AF_PACKET;
  a.sll_protocol = htons(ETH_P_ALL);
  a.sll_ifindex = static_cast<int>(::if_nametoindex(ifname.c_str()));
  if (a.sll_ifindex == 0) return fail(ENODEV, "no interface {}", ifname);
  if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) != 0)
    return fail_errno(errno, "bind " + ifname);
  return fd;
}

// The next incoming frame on a packet socket within `timeout`; nullopt if none.
std::optional<Bytes> packet_recv(int fd, milliseconds timeout) {
  const auto end = steady_clock::now() + timeout;
  while (steady_clock::now() < end) {
    pollfd p{fd, POLLIN, 0};
    const auto left = std::chrono::duration_cast<milliseconds>(end - steady_clock::now());
    if (::poll(&p, 1, static_cast<int>(std::max<long>(left.count(), 1))) <= 0) continue;
    Bytes buf(10000);
    sockaddr_ll from{};
    socklen_t len = sizeof from;
    const ssize_t n =
        ::recvfrom(fd, buf.data(), buf.size(), MSG_DONTWAIT, reinterpret_cast<sockaddr*>(&from), &len);
    if (n <= 0 || from.sll_pkttype == PACKET_OUTGOING) continue;
    buf.resize(static_cast<std::size_t>(n));
    return buf;
  }
  return std::nullopt;
}

using LinkPtr = std::unique_ptr<bpf_link, decltype([](bpf_link* l) { bpf_link__destroy(l); })>;

class XskSocketTest : public ::testing::Test {
 protected:
  void SetUp() override {
    XG_REQUIRE_PRIVILEGES();
    auto lab = Lab::create({.ipv6 = false});
    ASSERT_TRUE(lab) << lab.error().message();
    lab_.emplace(std::move(*lab));
  }
  void TearDown() override {
    // The program's link before its object; both before the lab.
    link_.reset();
    skel_ = {};
    lab_.reset();
  }

  const LabHost& server() const { return lab_->server(); }
  const LabHost& client() const { return lab_->client(); }

  // The redirect program on the server's veth (native XDP, a BPF link:
  // detached when the link goes, from whatever namespace), sockets in its
  // map by queue.
  void attach_redirect() {
    auto skel = BpfSkeleton<xsk_redirect_bpf>::open("xsk_redirect");
    ASSERT_TRUE(skel) << skel.error().message();
    ASSERT_TRUE(skel->load()) << "load xsk_redirect";
    skel_ = std::move(*skel);
    auto link = in_netns(server().netns, [&]() -> Result<LinkPtr> {
      const int ifindex = static_cast<int>(::if_nametoindex(server().veth.c_str()));
      bpf_link* l = bpf_program__attach_xdp(skel_->progs.xsk_redirect, ifindex);
      if (l == nullptr) return fail_errno(errno, "attach xsk_redirect to " + server().veth);
      return LinkPtr(l);
    });
    ASSERT_TRUE(link) << link.error().message();
    link_ = std::move(*link);
  }
  void register_socket(const Socket& s) {
    const std::uint32_t key = s.queue();
    const std::uint32_t fd = static_cast<std::uint32_t>(s.fd());
    ASSERT_EQ(bpf_map__update_elem(skel_->maps.xsks, &key, sizeof key, &fd, sizeof fd, BPF_ANY), 0)
        << std::strerror(errno);
  }

  Result<Socket> socket_on(Umem& umem, const std::string& ns, const std::string& ifname, std::uint32_t queue,
                           const SocketConfig& config = {}) {
    return in_netns(ns, [&] { return Socket::create(umem, ifname, queue, config); });
  }

  // A frame from the client to the server numbered `seq` (in its UDP ports
  // and payload), of 60 + (seq % 700) bytes.
  Bytes frame(std::uint32_t seq) const {
    Bytes body(18 + seq % 700);
    for (std::size_t i = 0; i < body.size(); ++i) body[i] = static_cast<std::uint8_t>(seq * 31 + i);
    return Packet()
        .eth(server().mac, client().mac)
        .ipv4(client().ip4, server().ip4)
        .udp(static_cast<std::uint16_t>(40000 + seq % 20000), 9)
        .payload(std::move(body))
        .bytes();
  }

  std::optional<Lab> lab_;
  BpfSkeleton<xsk_redirect_bpf> skel_;
  LinkPtr link_;
};

// 3,000 frames through a UMEM of 256 frames (fill ring 128): each arrives
// byte for byte, in order, and every frame taken from the pool comes back to
// it (recv/release recycles; nothing leaks).
TEST_F(XskSocketTest, FramesArriveByteIdenticalAndFramesAreRecycled) {
  auto umem = Umem::create({.frame_count = 256, .fill_size = 128, .comp_size = 128});
  ASSERT_TRUE(umem) << umem.error().message();
  auto sock = socket_on(*umem, server().netns, server().veth, 0);
  ASSERT_TRUE(sock) << sock.error().message();
  EXPECT_NE(sock->mode(), Mode::Auto);
  EXPECT_EQ(sock->ifname(), server().veth);
  EXPECT_EQ(sock->queue(), 0U);
  EXPECT_GT(sock->ifindex(), 0);
  EXPECT_EQ(umem->free_frames(), 128U) << "the fill ring took its 128 frames";
  ASSERT_NO_FATAL_FAILURE(attach_redirect());
  ASSERT_NO_FATAL_FAILURE(register_socket(*sock));
  auto tx = in_netns(client().netns, [&] { return packet_socket(client().veth); });
  ASSERT_TRUE(tx) << tx.error().message();

  constexpr std::uint32_t kFrames = 3000;
  constexpr std::uint32_t kBurst = 32;  // within the fill ring: no drop
  std::vector<Frame> got(64);
  std::uint32_t sent = 0, received = 0, mismatched = 0, foreign = 0;
  const auto deadline = steady_clock::now() + seconds(30);
  while (received < kFrames && steady_clock::now() < deadline) {
    if (sent == received) {
      for (std::uint32_t i = 0; i < kBurst && sent < kFrames; ++i, ++sent) {
        const Bytes f = frame(sent);
        ASSERT_EQ(::send(tx->get(), f.data(), f.size(), 0), static_cast<ssize_t>(f.size()))
            << std::strerror(errno);
      }
    }
    Socket* s = &*sock;
    auto ready = wait(std::span(&s, 1), milliseconds(200));
    ASSERT_TRUE(ready) << ready.error().message();
    const std::size_t n = sock->recv(got);
    for (std::size_t i = 0; i < n; ++i) {
      const auto bytes = sock->data(got[i]);
      if (bytes.size() < 42 || bytes[23] != 17) {  // not UDP: not ours (nothing else should come)
        ++foreign;
        continue;
      }
      const Bytes want = frame(received);
      if (!std::equal(bytes.begin(), bytes.end(), want.begin(), want.end())) ++mismatched;
      ++received;
    }
    sock->release(std::span(got).first(n));
  }
  EXPECT_EQ(received, kFrames) << "sent " << sent;
  EXPECT_EQ(mismatched, 0U);
  EXPECT_EQ(foreign, 0U);
  EXPECT_GE(sock->counters().rx_frames, kFrames);
  EXPECT_EQ(umem->free_frames(), 128U) << "frames lost or duplicated on the way round";
  EXPECT_EQ(umem->pool_counters().double_puts, 0U);
  auto st = sock->statistics();
  ASSERT_TRUE(st) << st.error().message();
  EXPECT_EQ(st->rx_dropped, 0U);
  EXPECT_EQ(st->rx_ring_full, 0U);
}

// Frames the caller keeps starve the fill ring: the kernel counts the drops,
// the socket counts the empty pool, nothing fails; released, they flow again.
TEST_F(XskSocketTest, AnEmptyPoolIsCountedAndRecovers) {
  auto umem = Umem::create({.frame_count = 16, .fill_size = 16, .comp_size = 16});
  ASSERT_TRUE(umem) << umem.error().message();
  auto sock = socket_on(*umem, server().netns, server().veth, 0);
  ASSERT_TRUE(sock) << sock.error().message();
  ASSERT_NO_FATAL_FAILURE(attach_redirect());
  ASSERT_NO_FATAL_FAILURE(register_socket(*sock));
  auto tx = in_netns(client().netns, [&] { return packet_socket(client().veth); });
  ASSERT_TRUE(tx) << tx.error().message();

  std::vector<Frame> held;
  std::vector<Frame> got(8);
  for (std::uint32_t seq = 0; seq < 40; ++seq) {
    const Bytes f = frame(seq);
    ASSERT_EQ(::send(tx->get(), f.data(), f.size(), 0), static_cast<ssize_t>(f.size()));
  }
  const auto deadline = steady_clock::now() + seconds(5);
  while (held.size() < 16 && steady_clock::now() < deadline) {
    Socket* s = &*sock;
    ASSERT_TRUE(wait(std::span(&s, 1), milliseconds(100)));
    const std::size_t n = sock->recv(got);
    held.insert(held.end(), got.begin(), got.begin() + static_cast<std::ptrdiff_t>(n));
  }
  ASSERT_EQ(held.size(), 16U) << "the 16 frames of the UMEM";
  EXPECT_EQ(sock->recv(got), 0U);
  EXPECT_GT(sock->counters().pool_empty, 0U);
  auto st = sock->statistics();
  ASSERT_TRUE(st) << st.error().message();
  EXPECT_GE(st->rx_dropped + st->rx_fill_ring_empty_descs, 24U) << "the 24 frames with nowhere to go";

  sock->release(held);
  EXPECT_EQ(umem->free_frames(), 0U) << "all back in the fill ring";
  const Bytes f = frame(1000);
  ASSERT_EQ(::send(tx->get(), f.data(), f.size(), 0), static_cast<ssize_t>(f.size()));
  std::size_t n = 0;
  for (int i = 0; i < 50 && n == 0; ++i) {
    Socket* s = &*sock;
    ASSERT_TRUE(wait(std::span(&s, 1), milliseconds(100)));
    n = sock->recv(got);
  }
  ASSERT_EQ(n, 1U);
  const auto bytes = sock->data(got[0]);
  EXPECT_TRUE(std::equal(bytes.begin(), bytes.end(), f.begin(), f.end()));
}

// wait() blocks for its timeout when nothing comes, and wakes for a frame.
TEST_F(XskSocketTest, WaitBlocksUntilAFrameOrTheTimeout) {
  auto umem = Umem::create();
  ASSERT_TRUE(umem) << umem.error().message();
  auto sock = socket_on(*umem, server().netns, server().veth, 0);
  ASSERT_TRUE(sock) << sock.error().message();
  ASSERT_NO_FATAL_FAILURE(attach_redirect());
  ASSERT_NO_FATAL_FAILURE(register_socket(*sock));
  Socket* s = &*sock;
  const auto t0 = steady_clock::now();
  auto idle = wait(std::span(&s, 1), milliseconds(300));
  const auto waited = steady_clock::now() - t0;
  ASSERT_TRUE(idle) << idle.error().message();
  EXPECT_EQ(*idle, 0U);
  EXPECT_GE(waited, milliseconds(250));

  auto tx = in_netns(client().netns, [&] { return packet_socket(client().veth); });
  ASSERT_TRUE(tx) << tx.error().message();
  const Bytes f = frame(7);
  ASSERT_EQ(::send(tx->get(), f.data(), f.size(), 0), static_cast<ssize_t>(f.size()));
  bool readable = false;
  auto woke = wait(std::span(&s, 1), milliseconds(5000), std::span(&readable, 1));
  ASSERT_TRUE(woke) << woke.error().message();
  EXPECT_EQ(*woke, 1U);
  EXPECT_TRUE(readable);
  std::vector<Frame> got(4);
  EXPECT_EQ(sock->recv(got), 1U);
}

// A consumer of every queue of a large NIC waits on all its sockets at
// once: 100 queues of one veth (it used to refuse more than 64).
TEST_F(XskSocketTest, WaitTakesASocketForEachOfAHundredQueues) {
  const std::string a = "xw" + std::to_string(::getpid()) + "a";
  const std::string b = "xw" + std::to_string(::getpid()) + "b";
  auto r = lab_->exec(server(), {"ip", "link", "add", a, "numtxqueues", "100", "numrxqueues", "100", "type",
                                 "veth", "peer", "name", b, "numtxqueues", "100", "numrxqueues", "100"});
  ASSERT_TRUE(r) << r.error().message();
  r = lab_->exec(server(), {"ip", "link", "set", a, "up"});
  ASSERT_TRUE(r) << r.error().message();
  auto umem = Umem::create();
  ASSERT_TRUE(umem) << umem.error().message();
  std::vector<Socket> socks;
  for (std::uint32_t q = 0; q < 100; ++q) {
    auto s = socket_on(*umem, server().netns, a, q, {.rx_size = 64, .tx_size = 64});
    ASSERT_TRUE(s) << s.error().message();
    socks.push_back(std::move(*s));
  }
  std::vector<Socket*> all;
  for (auto& s : socks) all.push_back(&s);
  auto flags = std::make_unique<bool[]>(all.size());
  std::fill_n(flags.get(), all.size(), true);
  const std::span<bool> readable(flags.get(), all.size());
  auto idle = wait(all, milliseconds(50), readable);
  ASSERT_TRUE(idle) << idle.error().message();
  EXPECT_EQ(*idle, 0U);
  EXPECT_TRUE(std::none_of(readable.begin(), readable.end(), [](bool f) { return f; }));
}

// Frames built in the UMEM and sent from the socket arrive at the peer; their
// completions return every frame to the pool.
TEST_F(XskSocketTest, SentFramesArriveAtThePeerAndComplete) {
  auto umem = Umem::create({.frame_count = 256, .fill_size = 128, .comp_size = 128});
  ASSERT_TRUE(umem) << umem.error().message();
  auto sock = socket_on(*umem, server().netns, server().veth, 0);
  ASSERT_TRUE(sock) << sock.error().message();
  auto rx = in_netns(client().netns, [&] { return packet_socket(client().veth); });
  ASSERT_TRUE(rx) << rx.error().message();

  constexpr std::uint32_t kFrames = 100;
  // (frame()'s addresses are the client's to the server's: a packet socket
  // sees the frames whatever their destination.)
  std::vector<Frame> frames(kFrames);
  ASSERT_EQ(umem->alloc(frames), kFrames);
  for (std::uint32_t i = 0; i < kFrames; ++i) {
    const Bytes f = frame(5000 + i);
    auto room = umem->room(frames[i]);
    ASSERT_GE(room.size(), f.size());
    std::memcpy(room.data(), f.data(), f.size());
    frames[i].len = static_cast<std::uint32_t>(f.size());
  }
  std::size_t queued = 0;
  const auto deadline = steady_clock::now() + seconds(10);
  while (queued < kFrames && steady_clock::now() < deadline)
    queued += sock->send(std::span(frames).subspan(queued));
  ASSERT_EQ(queued, kFrames);

  std::map<std::uint32_t, bool> seen;
  std::uint32_t mismatched = 0;
  while (seen.size() < kFrames) {
    auto got = packet_recv(rx->get(), milliseconds(2000));
    if (!got) break;
    sock->complete();
    if (got->size() < 42 || (*got)[23] != 17) continue;
    const std::uint32_t seq =
        static_cast<std::uint32_t>(((*got)[34] << 8 | (*got)[35]) - 40000);  // frame()'s port
    const Bytes want = frame(seq);
    if (*got != want) ++mismatched;
    seen[seq] = true;
  }
  EXPECT_EQ(seen.size(), kFrames);
  EXPECT_EQ(mismatched, 0U);
  for (int i = 0; i < 100 && sock->tx_outstanding() > 0; ++i) {
    sock->complete();
    ::usleep(10000);
  }
  EXPECT_EQ(sock->tx_outstanding(), 0U);
  EXPECT_EQ(sock->counters().tx_completed, kFrames);
  EXPECT_EQ(umem->free_frames(), 128U) << "every sent frame came back to the pool";
  auto st = sock->statistics();
  ASSERT_TRUE(st) << st.error().message();
  EXPECT_EQ(st->tx_invalid_descs, 0U);
}

// One UMEM, two interfaces: a frame received on the server's veth is sent,
// as it is in the UMEM (no copy), out of another veth pair with 4 queues, and
// arrives at that pair's other end.
TEST_F(XskSocketTest, AFrameReceivedOnOneInterfaceIsSentOnAnotherFromTheSameUmem) {
  const std::string a = "xq" + std::to_string(::getpid()) + "a";
  const std::string b = "xq" + std::to_string(::getpid()) + "b";
  for (const auto& argv : std::vector<std::vector<std::string>>{
           {"ip", "link", "add", a, "numtxqueues", "4", "numrxqueues", "4", "type", "veth", "peer", "name", b,
            "numtxqueues", "4", "numrxqueues", "4"},
           {"ip", "link", "set", a, "up"},
           {"ip", "link", "set", b, "up"}}) {
    auto r = lab_->exec(server(), argv);
    ASSERT_TRUE(r) << r.error().message();
  }
  auto umem = Umem::create();
  ASSERT_TRUE(umem) << umem.error().message();
  auto in = socket_on(*umem, server().netns, server().veth, 0);
  ASSERT_TRUE(in) << in.error().message();
  auto out = socket_on(*umem, server().netns, a, 2);
  ASSERT_TRUE(out) << out.error().message();
  EXPECT_EQ(out->mode(), in->mode()) << "the second socket inherits the first's mode";
  EXPECT_NE(out->fd(), in->fd());
  ASSERT_NO_FATAL_FAILURE(attach_redirect());
  ASSERT_NO_FATAL_FAILURE(register_socket(*in));
  auto tx = in_netns(client().netns, [&] { return packet_socket(client().veth); });
  ASSERT_TRUE(tx) << tx.error().message();
  auto peer = in_netns(server().netns, [&] { return packet_socket(b); });
  ASSERT_TRUE(peer) << peer.error().message();

  const Bytes f = frame(42);
  ASSERT_EQ(::send(tx->get(), f.data(), f.size(), 0), static_cast<ssize_t>(f.size()));
  std::vector<Frame> got(4);
  std::size_t n = 0;
  for (int i = 0; i < 50 && n == 0; ++i) {
    Socket* s = &*in;
    ASSERT_TRUE(wait(std::span(&s, 1), milliseconds(100)));
    n = in->recv(got);
  }
  ASSERT_EQ(n, 1U);
  const std::uint8_t* where = in->data(got[0]).data();
  ASSERT_EQ(out->send(std::span(got).first(1)), 1U);
  auto arrived = packet_recv(peer->get(), milliseconds(3000));
  ASSERT_TRUE(arrived) << "nothing reached " << b;
  EXPECT_EQ(*arrived, f);
  EXPECT_EQ(out->data(got[0]).data(), where) << "the same bytes in the shared UMEM";
  for (int i = 0; i < 100 && out->tx_outstanding() > 0; ++i) {
    out->complete();
    ::usleep(10000);
  }
  EXPECT_EQ(out->tx_outstanding(), 0U);
  EXPECT_EQ(out->counters().tx_completed, 1U);
}

TEST_F(XskSocketTest, ErrorsNameTheQueueAndTheInterface) {
  const std::string a = "xq" + std::to_string(::getpid()) + "a";
  auto r = lab_->exec(server(), {"ip", "link", "add", a, "numtxqueues", "4", "numrxqueues", "4", "type",
                                 "veth", "peer", "name", "xq" + std::to_string(::getpid()) + "b"});
  ASSERT_TRUE(r) << r.error().message();
  auto umem = Umem::create();
  ASSERT_TRUE(umem) << umem.error().message();

  auto none = socket_on(*umem, server().netns, "xgnosuch0", 0);
  ASSERT_FALSE(none);
  EXPECT_EQ(none.error().message(), "no interface xgnosuch0");

  auto q7 = socket_on(*umem, server().netns, server().veth, 7);
  ASSERT_FALSE(q7);
  EXPECT_EQ(q7.error().message(), "queue 7 does not exist on " + server().veth + " (1 RX queue)");
  auto q4 = socket_on(*umem, server().netns, a, 4);
  ASSERT_FALSE(q4);
  EXPECT_EQ(q4.error().message(), "queue 4 does not exist on " + a + " (4 RX queues)");
  auto count = in_netns(server().netns, [&] { return rx_queue_count(a); });
  ASSERT_TRUE(count) << count.error().message();
  EXPECT_EQ(*count, 4U);

  // A queue taken by a socket of another UMEM: the kernel says EBUSY.
  auto first = socket_on(*umem, server().netns, a, 3);
  ASSERT_TRUE(first) << first.error().message();
  auto other = Umem::create();
  ASSERT_TRUE(other) << other.error().message();
  auto second = socket_on(*other, server().netns, a, 3);
  ASSERT_FALSE(second);
  EXPECT_EQ(second.error().message(), "queue 3 of " + a + " already has an AF_XDP socket");
  EXPECT_EQ(second.error().code(), EBUSY);
  // The same UMEM twice on a queue: refused before the kernel.
  auto again = socket_on(*umem, server().netns, a, 3);
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().message(), "queue 3 of " + a + " already has an AF_XDP socket (of this UMEM)");
  // The UMEM whose first bind failed binds on a free queue.
  auto next = socket_on(*other, server().netns, a, 1);
  EXPECT_TRUE(next) << next.error().message();
}

// veth has no zero-copy: asked for, it is an error; Auto falls back to copy
// on the same UMEM.
TEST_F(XskSocketTest, ZeroCopyIsRefusedOnVethAndAutoFallsBackToCopy) {
  auto umem = Umem::create();
  ASSERT_TRUE(umem) << umem.error().message();
  auto zc = socket_on(*umem, server().netns, server().veth, 0, {.mode = Mode::ZeroCopy});
  if (zc) GTEST_SKIP() << "this kernel's veth has zero-copy AF_XDP";
  EXPECT_EQ(zc.error().message().rfind("zero-copy AF_XDP on " + server().veth + " queue 0: ", 0), 0U)
      << zc.error().message();
  auto copy = socket_on(*umem, server().netns, server().veth, 0);
  ASSERT_TRUE(copy) << copy.error().message();
  EXPECT_EQ(copy->mode(), Mode::Copy);
  EXPECT_EQ(umem->mode(), Mode::Copy);
  EXPECT_TRUE(copy->need_wakeup());
}

TEST_F(XskSocketTest, AnMtuLargerThanAFrameCarriesIsRefused) {
  auto r = lab_->exec(server(), {"ip", "link", "set", "dev", server().veth, "mtu", "9000"});
  ASSERT_TRUE(r) << r.error().message();
  auto umem = Umem::create();
  ASSERT_TRUE(umem) << umem.error().message();
  auto s = socket_on(*umem, server().netns, server().veth, 0);
  ASSERT_FALSE(s);
  EXPECT_EQ(
      s.error().message(),
      "MTU 9000 of " + server().veth +
          " is too large for 4096-byte frames (at most 3822: 256 bytes go to XDP headroom, 18 to an Ethernet "
          "header with a VLAN tag)");
}

}  // namespace
}  // namespace xdpguard::xsk
