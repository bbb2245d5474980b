// BpfSkeleton<S>: the one owner of a bpftool-generated skeleton S (its BPF
// object, programs and maps): open() creates it, load() loads it into the
// kernel, the last owner destroys it. An XdpAttachment made from a skeleton
// shares that ownership, so the object outlives the attachment's detach
// whatever order the two are destroyed in: the order cannot be got wrong.
//
// A skeleton type becomes usable with one line next to its #include:
//   XDPGUARD_SKELETON(guard_bpf);   // uses guard_bpf__open/__load/__destroy
//
// Failure: open() and load() return errors naming the object; load()'s
// carries the verifier log's tail (core/log.h).
#pragma once

#include <bpf/libbpf.h>

#include <memory>
#include <string>
#include <utility>

#include "core/log.h"
#include "core/result.h"

namespace xdpguard {

template <class S>
struct SkeletonOps;  // open / load / destroy of skeleton S (XDPGUARD_SKELETON)

template <class S>
class BpfSkeleton {
 public:
  BpfSkeleton() = default;
  BpfSkeleton(BpfSkeleton&&) noexcept = default;
  BpfSkeleton& operator=(BpfSkeleton&&) noexcept = default;
  BpfSkeleton(const BpfSkeleton&) = delete;
  BpfSkeleton& operator=(const BpfSkeleton&) = delete;

  // Opens the embedded object (not loaded: rodata can still be set).
  [[nodiscard]] static Result<BpfSkeleton> open(std::string name) {
    S* s = SkeletonOps<S>::open();
    if (!s) return fail_errno(errno, fmt::format("open {} object", name));
    BpfSkeleton out;
    out.s_ = std::shared_ptr<S>(s, [](S* p) { SkeletonOps<S>::destroy(p); });
    out.name_ = std::move(name);
    return out;
  }
  [[nodiscard]] Result<void> load() {
    return log::bpf_load(name_, [&] { return SkeletonOps<S>::load(s_.get()); });
  }

  explicit operator bool() const { return s_ != nullptr; }
  S* get() const { return s_.get(); }
  S* operator->() const { return s_.get(); }
  bpf_object* object() const { return s_->obj; }
  // A share of the ownership, for what borrows the object (an attachment).
  std::shared_ptr<const void> share() const { return s_; }

 private:
  std::shared_ptr<S> s_;
  std::string name_;
};

}  // namespace xdpguard

// (For clang's static analyzer, open() calls through a pointer it cannot
// follow (an empty asm hides its value): it cannot see that the generated
// __open()'s error path frees what it allocated, and reported a leak in
// every caller.)
#ifdef __clang_analyzer__
#define XDPGUARD_SKELETON_OPEN(S) \
  static S* open() {              \
    S* (*f)() = &S##__open;       \
    __asm__("" : "+r"(f));        \
    return f();                   \
  }
#else
#define XDPGUARD_SKELETON_OPEN(S) \
  static S* open() { return S##__open(); }
#endif

#define XDPGUARD_SKELETON(S)                       \
  template <>                                      \
  struct xdpguard::SkeletonOps<S> {                \
    XDPGUARD_SKELETON_OPEN(S)                      \
    static int load(S* s) { return S##__load(s); } \
    static void destroy(S* s) { S##__destroy(s); } \
  }
