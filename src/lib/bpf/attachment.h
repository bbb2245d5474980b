// XdpAttachment: sole owner of one XDP program attached to one interface
// through the libxdp dispatcher, so that xdpguard coexists with other libxdp
// programs (xdp-filter, xdpdump, ...) on the same interface.
//
// Where the kernel refuses the dispatcher (it is built on BPF_PROG_TYPE_EXT,
// which some kernels forbid), libxdp attaches the program alone; it is then
// the interface's only XDP program and nothing can join it (the kernel keeps
// one program per interface, native or generic).
//
// Lifetime: the attachment shares the ownership of the skeleton it was made
// from (libxdp's program refers into its BPF object), so detaching can never
// touch a destroyed object. The destructor detaches the program. release()
// gives the attachment up to the kernel: libxdp has pinned the dispatcher in
// bpffs, so the program keeps running after this process exits
// (fail-static); a later process finds it with find_program() and removes it
// with detach_program().
#pragma once

#include <bpf/libbpf.h>
#include <xdp/libxdp.h>

#include <memory>
#include <optional>
#include <string>

#include "bpf/skeleton.h"
#include "core/result.h"

namespace xdpguard {

enum class AttachMode { Native, Generic, Auto };

// "native" / "generic" (what the kernel reports).
const char* mode_name(enum xdp_attach_mode m);

struct AttachedProgram {
  unsigned prog_id = 0;
  enum xdp_attach_mode mode = XDP_MODE_UNSPEC;
  bool dispatcher = false;  // false: the interface's only program in its mode
};

class XdpAttachment {
 public:
  XdpAttachment() = default;
  XdpAttachment(XdpAttachment&& o) noexcept;
  XdpAttachment& operator=(XdpAttachment&& o) noexcept;
  XdpAttachment(const XdpAttachment&) = delete;
  XdpAttachment& operator=(const XdpAttachment&) = delete;
  ~XdpAttachment();

  // Loads program `prog_name` of the opened, not yet loaded skeleton into the
  // dispatcher on `ifindex`. Auto tries native and falls back to generic,
  // logging one warning. Load errors carry the verifier log tail.
  template <class S>
  [[nodiscard]] static Result<XdpAttachment> attach(const BpfSkeleton<S>& skel, const char* prog_name,
                                                    int ifindex, AttachMode mode) {
    return attach_object(skel.share(), skel.object(), prog_name, ifindex, mode);
  }

  enum xdp_attach_mode mode() const { return mode_; }
  unsigned prog_id() const;
  // Leaves the program attached (pinned by libxdp) and forgets it.
  void release();
  // Detaches now; reports errors the destructor would swallow.
  [[nodiscard]] Result<void> detach();

 private:
  [[nodiscard]] static Result<XdpAttachment> attach_object(std::shared_ptr<const void> owner, bpf_object* obj,
                                                           const char* prog_name, int ifindex,
                                                           AttachMode mode);
  std::shared_ptr<const void> object_;  // declared first: destroyed after prog_ is closed
  xdp_program* prog_ = nullptr;
  int ifindex_ = 0;
  enum xdp_attach_mode mode_ = XDP_MODE_UNSPEC;
};

// Finds a program named `prog_name` among the programs attached to ifindex.
// nullopt when there is none. Fails when the interface holds an XDP program
// that was not attached through libxdp (nothing can be added beside it).
[[nodiscard]] Result<std::optional<AttachedProgram>> find_program(int ifindex, const std::string& prog_name);

// Replaces the program named `prog_name`, attached alone on ifindex (not
// through a dispatcher), with `new_prog_fd` in one netlink request
// (XDP_FLAGS_REPLACE against the old program's fd, in the old one's mode):
// every packet runs the old program or the new one. EEXIST when another
// program took its place meanwhile; ENOTSUP inside a dispatcher. Returns
// the new program's id.
[[nodiscard]] Result<unsigned> replace_program(int ifindex, const std::string& prog_name, int new_prog_fd);

// Detaches the program named `prog_name` from ifindex (other libxdp programs
// stay). ENOENT when it is not attached.
[[nodiscard]] Result<void> detach_program(int ifindex, const std::string& prog_name);

}  // namespace xdpguard
