#include "bpf/attachment.h"

#include <bpf/bpf.h>
#include <linux/if_link.h>

#include <memory>
#include <utility>

#include <spdlog/spdlog.h>

#include "core/log.h"
#include "core/unique_fd.h"

namespace xdpguard {
namespace {

struct MultiprogCloser {
  void operator()(xdp_multiprog* mp) const { xdp_multiprog__close(mp); }
};
using MultiprogPtr = std::unique_ptr<xdp_multiprog, MultiprogCloser>;

// libxdp returns either NULL+errno or an ERR_PTR; normalise to an errno.
int xdp_err(const void* ptr) {
  long e = libxdp_get_error(ptr);
  if (e) return static_cast<int>(-e);
  return ptr ? 0 : (errno ? errno : ENOENT);
}

Result<MultiprogPtr> get_multiprog(int ifindex) {
  errno = 0;
  xdp_multiprog* mp = xdp_multiprog__get_from_ifindex(ifindex);
  if (int err = xdp_err(mp)) {
    if (err == ENOENT) return MultiprogPtr{};
    return fail_errno(err, "query XDP programs");
  }
  return MultiprogPtr(mp);
}

__u32 mode_flag(enum xdp_attach_mode m) {
  return m == XDP_MODE_SKB ? XDP_FLAGS_SKB_MODE : XDP_FLAGS_DRV_MODE;
}

// What the kernel has attached in each mode, by program id and name.
struct KernelSlot {
  unsigned id = 0;
  std::string name;
};
struct KernelSlots {
  KernelSlot native, generic;
  KernelSlot& in(enum xdp_attach_mode m) { return m == XDP_MODE_SKB ? generic : native; }
};

std::string prog_name_by_id(unsigned id) {
  UniqueFd fd(bpf_prog_get_fd_by_id(id));
  if (!fd) return "";
  bpf_prog_info info{};
  __u32 len = sizeof(info);
  if (bpf_obj_get_info_by_fd(fd.get(), &info, &len) != 0) return "";
  return info.name;
}

Result<KernelSlots> query_slots(int ifindex) {
  LIBBPF_OPTS(bpf_xdp_query_opts, q);
  if (int err = bpf_xdp_query(ifindex, 0, &q)) return fail_errno(err, "query XDP programs");
  KernelSlots s;
  s.native = {q.drv_prog_id, q.drv_prog_id ? prog_name_by_id(q.drv_prog_id) : ""};
  s.generic = {q.skb_prog_id, q.skb_prog_id ? prog_name_by_id(q.skb_prog_id) : ""};
  return s;
}

constexpr const char* kDispatcherName = "xdp_dispatcher";

// Why an attach failed: a program the verifier refused fails in every mode,
// so the caller does not try the next one.
struct AttachFailure {
  Error error;
  bool refused_by_verifier = false;
};

tl::expected<xdp_program*, AttachFailure> libxdp_attach(bpf_object* obj, const char* prog_name, int ifindex,
                                                        enum xdp_attach_mode mode) {
  xdp_program_opts opts{};
  opts.sz = sizeof(opts);
  opts.obj = obj;
  opts.prog_name = prog_name;
  xdp_program* prog = xdp_program__create(&opts);
  if (int err = xdp_err(prog))
    return tl::unexpected(AttachFailure{fail_errno(err, "create libxdp program").value(), false});
  log::clear_bpf_log();
  int err = xdp_program__attach(prog, ifindex, mode, 0);
  if (err) {
    xdp_program__close(prog);
    std::string tail = log::bpf_log_tail();
    // The verifier answers EACCES or EINVAL, and libbpf prints its log.
    if ((err == -EACCES || err == -EINVAL) && !tail.empty())
      return tl::unexpected(
          AttachFailure{fail(-err, "load {}: {}: {}", prog_name, std::strerror(-err), tail).value(), true});
    return tl::unexpected(
        AttachFailure{fail_errno(err, fmt::format("attach ({} mode)", mode_name(mode))).value(), false});
  }
  return prog;
}

}  // namespace

const char* mode_name(enum xdp_attach_mode m) {
  switch (m) {
    case XDP_MODE_NATIVE: return "native";
    case XDP_MODE_SKB: return "generic";
    case XDP_MODE_HW: return "offload";
    default: return "none";
  }
}

XdpAttachment::XdpAttachment(XdpAttachment&& o) noexcept
    : object_(std::move(o.object_)),
      prog_(std::exchange(o.prog_, nullptr)),
      ifindex_(o.ifindex_),
      mode_(o.mode_) {}

XdpAttachment& XdpAttachment::operator=(XdpAttachment&& o) noexcept {
  if (this != &o) {
    (void)detach();
    object_ = std::move(o.object_);
    prog_ = std::exchange(o.prog_, nullptr);
    ifindex_ = o.ifindex_;
    mode_ = o.mode_;
  }
  return *this;
}

XdpAttachment::~XdpAttachment() {
  if (auto r = detach(); !r) spdlog::warn("detach on cleanup: {}", r.error().message());
}

Result<XdpAttachment> XdpAttachment::attach_object(std::shared_ptr<const void> owner, bpf_object* obj,
                                                   const char* prog_name, int ifindex, AttachMode mode) {
  // The kernel holds one XDP program per interface (native or generic, not
  // both). A program outside a libxdp dispatcher cannot be joined: say so,
  // naming it, instead of libxdp's bare EBUSY.
  auto slots = XG_TRY(query_slots(ifindex));
  for (enum xdp_attach_mode m : {XDP_MODE_NATIVE, XDP_MODE_SKB}) {
    const KernelSlot& s = slots.in(m);
    if (s.id && s.name != kDispatcherName)
      return fail(EBUSY,
                  "interface already has XDP program \"{}\" (id {}, {} mode) outside a libxdp "
                  "dispatcher; remove it first (ip link set dev <iface> {} off)",
                  s.name, s.id, mode_name(m), m == XDP_MODE_SKB ? "xdpgeneric" : "xdp");
  }
  std::vector<enum xdp_attach_mode> tries;
  if (mode != AttachMode::Generic) tries.push_back(XDP_MODE_NATIVE);
  if (mode != AttachMode::Native) tries.push_back(XDP_MODE_SKB);

  std::optional<Error> last;
  for (std::size_t i = 0; i < tries.size(); ++i) {
    enum xdp_attach_mode want = tries[i];
    auto prog = libxdp_attach(obj, prog_name, ifindex, want);
    if (prog) {
      XdpAttachment a;
      a.object_ = owner;
      a.prog_ = *prog;
      a.ifindex_ = ifindex;
      a.mode_ = want;
      if (auto mp = get_multiprog(ifindex); mp && *mp && xdp_multiprog__is_legacy(mp->get()))
        spdlog::info(
            "libxdp dispatcher unavailable (the kernel refused it); {} is the "
            "interface's only XDP program",
            prog_name);
      return a;
    }
    // A load (verifier) failure would fail in any mode: stop there.
    const bool refused = prog.error().refused_by_verifier;
    if (i + 1 < tries.size() && !refused)
      spdlog::warn(
          "native XDP failed ({}); falling back to generic mode (not all drivers "
          "support XDP)",
          prog.error().error.message());
    last = std::move(prog.error().error);
    if (refused) break;
  }
  if (!last) return fail(EINVAL, "attach: no mode to try");
  return tl::unexpected(std::move(*last));
}

unsigned XdpAttachment::prog_id() const { return prog_ ? xdp_program__id(prog_) : 0; }

void XdpAttachment::release() {
  if (prog_) xdp_program__close(prog_);
  prog_ = nullptr;
}

Result<void> XdpAttachment::detach() {
  if (!prog_) return {};
  xdp_program* p = std::exchange(prog_, nullptr);
  int err = xdp_program__detach(p, ifindex_, mode_, 0);
  xdp_program__close(p);
  if (err) return fail_errno(err, "detach");
  return {};
}

Result<std::optional<AttachedProgram>> find_program(int ifindex, const std::string& prog_name) {
  auto slots = XG_TRY(query_slots(ifindex));
  for (enum xdp_attach_mode m : {XDP_MODE_NATIVE, XDP_MODE_SKB}) {
    const KernelSlot& s = slots.in(m);
    if (s.id && s.name == prog_name) return AttachedProgram{s.id, m, false};
  }
  if (slots.native.name != kDispatcherName && slots.generic.name != kDispatcherName)
    return std::optional<AttachedProgram>{};
  auto mp = XG_TRY(get_multiprog(ifindex));
  if (!mp || xdp_multiprog__is_legacy(mp.get())) return std::optional<AttachedProgram>{};
  for (xdp_program* p = xdp_multiprog__next_prog(nullptr, mp.get()); p;
       p = xdp_multiprog__next_prog(p, mp.get())) {
    if (prog_name == xdp_program__name(p))
      return AttachedProgram{xdp_program__id(p), xdp_multiprog__attach_mode(mp.get()), true};
  }
  return std::optional<AttachedProgram>{};
}

Result<unsigned> replace_program(int ifindex, const std::string& prog_name, int new_prog_fd) {
  auto found = XG_TRY(find_program(ifindex, prog_name));
  if (!found) return fail(ENOENT, "program {} is not attached", prog_name);
  if (found->dispatcher)
    return fail(ENOTSUP,
                "program {} runs inside libxdp's dispatcher, which has no replace of one program; detach "
                "and attach it again",
                prog_name);
  UniqueFd old(bpf_prog_get_fd_by_id(found->prog_id));
  if (!old) return fail_errno(errno, fmt::format("open program id {}", found->prog_id));
  LIBBPF_OPTS(bpf_xdp_attach_opts, o, .old_prog_fd = old.get());
  if (int err = bpf_xdp_attach(ifindex, new_prog_fd, XDP_FLAGS_REPLACE | mode_flag(found->mode), &o))
    return fail_errno(err,
                      fmt::format("replace program id {} ({} mode)", found->prog_id, mode_name(found->mode)));
  bpf_prog_info info{};
  __u32 len = sizeof(info);
  if (bpf_obj_get_info_by_fd(new_prog_fd, &info, &len) != 0) return fail_errno(errno, "program info");
  return info.id;
}

Result<void> detach_program(int ifindex, const std::string& prog_name) {
  auto found = XG_TRY(find_program(ifindex, prog_name));
  if (!found) return fail(ENOENT, "program {} is not attached", prog_name);
  if (!found->dispatcher) {
    UniqueFd fd(bpf_prog_get_fd_by_id(found->prog_id));
    LIBBPF_OPTS(bpf_xdp_attach_opts, o, .old_prog_fd = fd.get());
    if (int err = bpf_xdp_detach(ifindex, mode_flag(found->mode), &o)) return fail_errno(err, "detach");
    // libxdp may have left its (empty) pin directory behind; let it tidy up.
    libxdp_clean_references(ifindex);
    return {};
  }
  auto mp = XG_TRY(get_multiprog(ifindex));
  for (xdp_program* p = xdp_multiprog__next_prog(nullptr, mp.get()); p;
       p = xdp_multiprog__next_prog(p, mp.get())) {
    if (prog_name == xdp_program__name(p)) {
      if (int err = xdp_program__detach(p, ifindex, found->mode, 0)) return fail_errno(err, "detach");
      return {};
    }
  }
  return fail(ENOENT, "program {} is not attached", prog_name);
}

}  // namespace xdpguard
