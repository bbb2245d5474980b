#include "classifier/loader.h"

#include <bpf/bpf.h>
#include <linux/bpf.h>

#include <chrono>
#include <cstring>

#include <spdlog/spdlog.h>

#include "classifier/emit.h"

namespace xdpguard::cls {
namespace {

// The last `n` lines of a verifier log, without its closing statistics.
std::string last_lines(const std::string& log, std::size_t n) {
  std::vector<std::string> lines;
  std::size_t start = 0;
  while (start < log.size()) {
    auto nl = log.find('\n', start);
    std::string line = log.substr(start, nl == std::string::npos ? std::string::npos : nl - start);
    bool stats = line.rfind("processed ", 0) == 0 || line.rfind("verification time", 0) == 0 ||
                 line.rfind("stack depth", 0) == 0;
    if (!line.empty() && !stats) lines.push_back(line);
    if (nl == std::string::npos) break;
    start = nl + 1;
  }
  std::string out;
  for (std::size_t i = lines.size() > n ? lines.size() - n : 0; i < lines.size(); ++i) {
    if (!out.empty()) out += n == 1 ? "" : "\n";
    out += lines[i];
  }
  return out;
}

Result<MapFd> create_table_map(const Tables& t) {
  LIBBPF_OPTS(bpf_map_create_opts, o, .map_flags = BPF_F_RDONLY_PROG);
  int fd = bpf_map_create(BPF_MAP_TYPE_ARRAY, "xg_cls_tables", 4,
                          static_cast<__u32>(t.blob.size()), 1, &o);
  if (fd < 0)
    return fail_errno(errno, fmt::format("create rule table map ({} bytes)", t.blob.size()));
  auto map = XG_TRY(MapFd::adopt(fd));
  __u32 zero = 0;
  if (bpf_map_update_elem(map.fd(), &zero, t.blob.data(), BPF_ANY) != 0)
    return fail_errno(errno, "fill rule table map");
  if (bpf_map_freeze(map.fd()) != 0) return fail_errno(errno, "freeze rule table map");
  return map;
}

}  // namespace

Result<Compiled> compile(const std::vector<RuleEntry>& rules, std::uint32_t default_action,
                         const CompileContext& ctx) {
  auto plan = XG_TRY(make_plan(rules, default_action, ctx));
  auto tables = XG_TRY(build_tables(plan));
  auto program = XG_TRY(emit_classifier(plan, tables));
  return Compiled{std::move(plan), std::move(tables), std::move(program)};
}

Result<LoadedClassifier> load_classifier(const Compiled& c, const PipelineFds& fds) {
  MapFd tables;
  std::vector<int> map_fds(kNumMapSlots, -1);
  map_fds[kMapPercpu] = fds.percpu;
  map_fds[kMapProgs] = fds.progs;
  map_fds[kMapSet4] = fds.set4;
  map_fds[kMapSet6] = fds.set6;
  if (!c.tables.blob.empty()) {
    tables = XG_TRY(create_table_map(c.tables));
    map_fds[kMapBlob] = tables.fd();
  }
  auto insns = XG_TRY(c.program.link(map_fds));

  // Programs in one program array must agree on type and attach type.
  LIBBPF_OPTS(bpf_prog_load_opts, o, .expected_attach_type = BPF_XDP);
  auto t0 = std::chrono::steady_clock::now();
  int fd = bpf_prog_load(BPF_PROG_TYPE_XDP, "xg_classifier", "Dual BSD/GPL", insns.data(),
                         insns.size(), &o);
  auto t1 = std::chrono::steady_clock::now();
  if (fd < 0) {
    int err = errno;
    // Again with the log, to say why (not on success: it costs time).
    std::string log(16u << 20, '\0');
    LIBBPF_OPTS(bpf_prog_load_opts, lo, .expected_attach_type = BPF_XDP);
    lo.log_level = 1;
    lo.log_size = static_cast<__u32>(log.size());
    lo.log_buf = log.data();
    int fd2 = bpf_prog_load(BPF_PROG_TYPE_XDP, "xg_classifier", "Dual BSD/GPL", insns.data(),
                            insns.size(), &lo);
    if (fd2 >= 0) ::close(fd2);
    log.resize(std::strlen(log.c_str()));
    spdlog::info("verifier log (tail):\n{}", last_lines(log, 40));
    std::string last = last_lines(log, 1);
    return fail(err, "load classifier ({} instructions): {}{}{}", insns.size(), std::strerror(err),
                last.empty() ? "" : ": ", last);
  }
  LoadedClassifier out;
  out.prog = UniqueFd(fd);
  bpf_prog_info info{};
  __u32 len = sizeof(info);
  if (bpf_obj_get_info_by_fd(fd, &info, &len) != 0) return fail_errno(errno, "classifier info");
  out.stats.prog_id = info.id;
  out.stats.insns = static_cast<std::uint32_t>(insns.size());
  out.stats.verified_insns = info.verified_insns;
  out.stats.verify_us = static_cast<std::uint32_t>(
      std::chrono::duration_cast<std::chrono::microseconds>(t1 - t0).count());
  out.stats.table_bytes = static_cast<std::uint32_t>(c.tables.blob.size());
  return out;
}

}  // namespace xdpguard::cls
