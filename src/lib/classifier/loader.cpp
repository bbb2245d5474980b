#include "classifier/loader.h"

#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <linux/bpf.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <memory>

#include <spdlog/spdlog.h>

#include "classifier/emit.h"
#include "rules/printer.h"

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

// A table blob that is a kernel map (table_map_store).
struct TableMap : BlobOwner {
  MapFd map;
  MappedArray values;
};

Result<MapFd> table_map(std::size_t bytes) {
  LIBBPF_OPTS(bpf_map_create_opts, o, .map_flags = BPF_F_MMAPABLE);
  int fd = bpf_map_create(BPF_MAP_TYPE_ARRAY, "xg_cls_tables", 4, static_cast<__u32>(bytes), 1, &o);
  if (fd < 0) return fail_errno(errno, fmt::format("create rule table map ({} bytes)", bytes));
  return MapFd::adopt(fd);
}

// The map behind blob `b`, sealed: its bytes stay readable where they are,
// and nothing writes them again (frozen; the kernel freezes no map with a
// writable mapping left). A blob from elsewhere is copied into a new map.
Result<MapFd> seal_table_map(const Blob& b) {
  if (auto* t = dynamic_cast<TableMap*>(b.owner())) {
    XG_CHECK(t->values.remap_read_only(t->map));
    if (bpf_map_freeze(t->map.fd()) != 0) return fail_errno(errno, "freeze rule table map");
    return MapFd::adopt(::dup(t->map.fd()));
  }
  auto map = XG_TRY(table_map(b.size()));
  {
    auto m = XG_TRY(MappedArray::map(map));
    std::memcpy(m.value(0), b.data(), b.size());
  }
  if (bpf_map_freeze(map.fd()) != 0) return fail_errno(errno, "freeze rule table map");
  return map;
}

// The rule set's record: header, then one entry per rule in order. The map
// is mmapable: the entries are written in place (no 2.8 MB buffer at 10,000
// rules, copied by the kernel twice), and read in place (read_installed).
// The header goes in once the classifier has loaded (load_classifier), then
// the mapping goes and the map is frozen. (No BPF_F_RDONLY_PROG: the kernel
// maps no such map writable. No program reads the record; it is only bound.)
struct Record {
  MapFd map;
  MappedArray values;
  xdpguard_ruleset_entry* entry(std::uint32_t i) const {
    return reinterpret_cast<xdpguard_ruleset_entry*>(values.value(i));
  }
};

Result<Record> create_record(const Plan& plan) {
  LIBBPF_OPTS(bpf_map_create_opts, o, .map_flags = BPF_F_MMAPABLE);
  const std::size_t n = plan.rules.size() + 1;
  int fd = bpf_map_create(BPF_MAP_TYPE_ARRAY, XDPGUARD_RULESET_MAP, 4, sizeof(xdpguard_ruleset_entry),
                          static_cast<__u32>(n), &o);
  if (fd < 0) return fail_errno(errno, "create rule set record");
  Record rec{XG_TRY(MapFd::adopt(fd)), {}};
  rec.values = XG_TRY(MappedArray::map(rec.map));
  // The kernel hands the values over zeroed: each text stays NUL-terminated.
  for (std::size_t i = 0; i < plan.rules.size(); ++i) {
    auto* e = rec.entry(static_cast<std::uint32_t>(i + 1));
    const auto& r = plan.rules[i];
    const std::string text = r.text.empty() ? rules::to_string(r.rule) : r.text;
    if (text.size() >= sizeof(e->text))
      return fail(E2BIG, "rule {}: text longer than {} characters", i + 1, sizeof(e->text) - 1);
    e->rule.id = r.id;
    std::memcpy(e->text, text.data(), text.size());
  }
  return rec;
}

struct BtfFree {
  void operator()(btf* b) const { btf__free(b); }
};
using BtfPtr = std::unique_ptr<btf, BtfFree>;

// BTF for the program's functions: the kernel verifies each global function
// once, on its own, trusting only these signatures (classifier/asm.h, FnSig).
// Fills `info` with one record per function.
Result<BtfPtr> functions_btf(const std::vector<FunctionInfo>& fns, std::vector<bpf_func_info>& info) {
  BtfPtr b(btf__new_empty());
  if (!b) return fail_errno(errno, "create BTF");
  btf* t = b.get();
  const int t_int = btf__add_int(t, "int", 4, BTF_INT_SIGNED);
  const int t_u32 = btf__add_int(t, "unsigned int", 4, 0);
  const int t_u8 = btf__add_int(t, "unsigned char", 1, 0);
  // A struct of `size` bytes with one byte-array member: all a pointer
  // argument's type has to tell the verifier is the memory's size.
  auto blob = [&](const char* name, std::uint32_t size) {
    int arr = btf__add_array(t, t_u32, t_u8, size);
    int st = btf__add_struct(t, name, size);
    btf__add_field(t, "bytes", arr, 0, 0);
    return btf__add_ptr(t, st);
  };
  // The context of XDP programs, by the name the kernel knows it.
  const int t_xdp = btf__add_struct(t, "xdp_md", 24);
  int bit = 0;
  for (const char* f :
       {"data", "data_end", "data_meta", "ingress_ifindex", "rx_queue_index", "egress_ifindex"}) {
    btf__add_field(t, f, t_u32, bit, 0);
    bit += 32;
  }
  const int t_ctx = btf__add_ptr(t, t_xdp);
  const int t_addr = blob("xdpguard_addr", 16);
  const int t_percpu = blob("xdpguard_percpu", sizeof(xdpguard_percpu));

  std::vector<int> proto(3);
  proto[static_cast<int>(FnSig::Main)] = btf__add_func_proto(t, t_int);
  btf__add_func_param(t, "ctx", t_ctx);
  proto[static_cast<int>(FnSig::SetMember)] = btf__add_func_proto(t, t_int);
  btf__add_func_param(t, "set", t_u32);
  btf__add_func_param(t, "addr", t_addr);
  proto[static_cast<int>(FnSig::Group)] = btf__add_func_proto(t, t_int);
  btf__add_func_param(t, "s", t_percpu);
  for (int p : proto)
    if (p < 0) return fail(-p, "build BTF: {}", std::strerror(-p));

  info.clear();
  for (const auto& f : fns) {
    int id = btf__add_func(t, f.name.c_str(), BTF_FUNC_GLOBAL, proto[static_cast<int>(f.sig)]);
    if (id < 0) return fail(-id, "build BTF for {}: {}", f.name, std::strerror(-id));
    info.push_back({f.offset, static_cast<__u32>(id)});
  }
  if (int err = btf__load_into_kernel(t)) return fail_errno(err, "load BTF");
  return b;
}

// The record's header and rules, read in place from a read-only mapping.
Result<void> read_record_mapped(UniqueFd fd, InstalledRuleSet& out) {
  auto map = XG_TRY(MapFd::adopt(fd.release()));
  auto values = XG_TRY(MappedArray::map(map, false));
  auto entry = [&](std::uint32_t i) {
    return reinterpret_cast<const xdpguard_ruleset_entry*>(values.value(i));
  };
  out.record = entry(0)->hdr;
  const std::size_t n = std::size_t{out.record.nrules} + 1;
  if (n > map.info().max_entries)
    return fail(EPROTO, "rule set record of classifier {} is short", out.prog_id);
  out.rules.resize(n - 1);
  for (std::uint32_t i = 1; i < n; ++i) {
    const auto* e = entry(i);
    out.rules[i - 1] = {e->rule.id, std::string(e->text, strnlen(e->text, sizeof(e->text)))};
  }
  return {};
}

// The same through the map's batch lookup: all elements (header included)
// in as few syscalls as the kernel allows.
Result<void> read_record_batched(int fd, InstalledRuleSet& out) {
  xdpguard_ruleset_entry e0{};
  __u32 zero = 0;
  if (bpf_map_lookup_elem(fd, &zero, &e0) != 0) return fail_errno(errno, "read rule set record");
  out.record = e0.hdr;
  const std::size_t n = std::size_t{out.record.nrules} + 1;
  // Not zeroed first (2.8 MB at 10,000 rules): only what the kernel
  // wrote, the first `done`, is read.
  auto keys = std::make_unique_for_overwrite<__u32[]>(n);
  auto vals = std::make_unique_for_overwrite<xdpguard_ruleset_entry[]>(n);
  std::size_t done = 0;
  __u32 cursor = 0;
  while (done < n) {
    LIBBPF_OPTS(bpf_map_batch_opts, bo);
    __u32 count = static_cast<__u32>(n - done), in = cursor;
    int err = bpf_map_lookup_batch(fd, done ? &in : nullptr, &cursor, &keys[done], &vals[done], &count, &bo);
    if (err && errno != ENOENT) return fail_errno(errno, "read rule set record");
    done += count;
    if (err) break;  // ENOENT: no more elements
  }
  out.rules.resize(n - 1);
  std::vector<bool> seen(n - 1, false);
  for (std::size_t i = 0; i < done; ++i) {
    if (keys[i] == 0 || keys[i] >= n) continue;
    const auto& v = vals[i];
    out.rules[keys[i] - 1] = {v.rule.id, std::string(v.text, strnlen(v.text, sizeof(v.text)))};
    seen[keys[i] - 1] = true;
  }
  if (std::count(seen.begin(), seen.end(), false))
    return fail(EPROTO, "rule set record of classifier {} is short", out.prog_id);
  return {};
}

}  // namespace

Result<Compiled> compile(std::vector<RuleEntry> rules, std::uint32_t default_action,
                         const CompileContext& ctx, const BlobStore& store) {
  auto plan = XG_TRY(make_plan(std::move(rules), default_action, ctx));
  auto tables = XG_TRY(build_tables(plan, store));
  auto program = XG_TRY(emit_classifier(plan, tables));
  return Compiled{std::move(plan), std::move(tables), std::move(program)};
}

BlobStore table_map_store() {
  return [](std::size_t bytes) -> Result<Blob> {
    auto t = std::make_shared<TableMap>();
    t->map = XG_TRY(table_map(bytes));
    t->values = XG_TRY(MappedArray::map(t->map));  // zeroed by the kernel
    std::span<std::uint8_t> span(t->values.value(0), bytes);
    return Blob(span, std::move(t));
  };
}

Result<LoadedClassifier> load_classifier(const Compiled& c, const PipelineFds& fds, std::uint32_t generation,
                                         std::uint32_t next_id) {
  auto record = XG_TRY(create_record(c.plan));
  std::vector<MapFd> tables;  // the program holds them once loaded
  std::vector<int> map_fds(c.program.map_names().size(), -1);
  std::copy(fds.begin(), fds.end(), map_fds.begin());
  for (std::size_t k = 0; k < c.tables.blobs.size(); ++k) {
    tables.push_back(XG_TRY(seal_table_map(c.tables.blobs[k])));
    map_fds[k == 0 ? std::size_t{kMapBlob} : std::size_t{kNumMapSlots} + k - 1] = tables.back().fd();
  }
  auto linked = XG_TRY(c.program.link_program(map_fds));
  const auto& insns = linked.insns;
  std::vector<bpf_func_info> func_info;
  auto btf = XG_TRY(functions_btf(linked.functions, func_info));

  // Programs in one program array must agree on type and attach type.
  LIBBPF_OPTS(bpf_prog_load_opts, o, .expected_attach_type = BPF_XDP);
  o.prog_btf_fd = static_cast<__u32>(btf__fd(btf.get()));
  o.func_info = func_info.data();
  o.func_info_cnt = static_cast<__u32>(func_info.size());
  o.func_info_rec_size = sizeof(bpf_func_info);
  auto t0 = std::chrono::steady_clock::now();
  int fd = bpf_prog_load(BPF_PROG_TYPE_XDP, "xg_classifier", "Dual BSD/GPL", insns.data(), insns.size(), &o);
  auto t1 = std::chrono::steady_clock::now();
  if (fd < 0) {
    int err = errno;
    // Again with the log, to say why (not on success: it costs time).
    std::string log(16u << 20, '\0');
    LIBBPF_OPTS(bpf_prog_load_opts, lo, .expected_attach_type = BPF_XDP);
    lo.prog_btf_fd = o.prog_btf_fd;
    lo.func_info = o.func_info;
    lo.func_info_cnt = o.func_info_cnt;
    lo.func_info_rec_size = o.func_info_rec_size;
    lo.log_level = 1;
    lo.log_size = static_cast<__u32>(log.size());
    lo.log_buf = log.data();
    int fd2 =
        bpf_prog_load(BPF_PROG_TYPE_XDP, "xg_classifier", "Dual BSD/GPL", insns.data(), insns.size(), &lo);
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
  out.prog_id = info.id;
  auto& h = out.record;
  h.nrules = static_cast<std::uint32_t>(c.plan.rules.size());
  h.default_action = c.plan.default_action;
  h.generation = generation;
  h.insns = static_cast<std::uint32_t>(insns.size());
  h.verified_insns = info.verified_insns;
  h.load_us =
      static_cast<std::uint32_t>(std::chrono::duration_cast<std::chrono::microseconds>(t1 - t0).count());
  h.table_bytes = static_cast<std::uint32_t>(c.tables.bytes());
  h.abi_version = XDPGUARD_ABI_VERSION;
  h.next_id = next_id;
  record.entry(0)->hdr = h;
  record.values = {};  // unmapped: no writable mapping may be left to freeze it
  if (bpf_map_freeze(record.map.fd()) != 0) return fail_errno(errno, "freeze rule set record");
  if (bpf_prog_bind_map(fd, record.map.fd(), nullptr) != 0)
    return fail_errno(errno, "bind rule set record to the classifier");
  return out;
}

Result<std::uint32_t> installed_prog_id(int progs_fd) {
  __u32 slot = XDPGUARD_PROG_CLASSIFIER, id = 0;
  if (bpf_map_lookup_elem(progs_fd, &slot, &id) == 0) return id;
  if (errno == ENOENT) return 0;
  return fail_errno(errno, "read the installed classifier");
}

Result<InstalledRuleSet> read_installed(int progs_fd) {
  InstalledRuleSet out;
  // The slot may be swapped between reading its id and opening the program
  // (which then is gone): read again.
  for (int attempt = 0; attempt < 100; ++attempt) {
    __u32 slot = XDPGUARD_PROG_CLASSIFIER, id = 0;
    if (bpf_map_lookup_elem(progs_fd, &slot, &id) != 0) {
      if (errno == ENOENT) return out;
      return fail_errno(errno, "read the installed classifier");
    }
    UniqueFd prog(bpf_prog_get_fd_by_id(id));
    if (!prog) {
      if (errno == ENOENT) continue;
      return fail_errno(errno, fmt::format("open classifier (id {})", id));
    }
    bpf_prog_info info{};
    std::vector<__u32> map_ids(64);
    info.nr_map_ids = static_cast<__u32>(map_ids.size());
    info.map_ids = reinterpret_cast<std::uintptr_t>(map_ids.data());
    __u32 len = sizeof(info);
    if (bpf_obj_get_info_by_fd(prog.get(), &info, &len) != 0) return fail_errno(errno, "classifier info");
    UniqueFd record;
    bpf_map_info mi{};
    for (__u32 i = 0; i < std::min<__u32>(info.nr_map_ids, 64); ++i) {
      UniqueFd m(bpf_map_get_fd_by_id(map_ids[i]));
      if (!m) continue;
      mi = {};
      __u32 ml = sizeof(mi);
      if (bpf_obj_get_info_by_fd(m.get(), &mi, &ml) == 0 && std::strcmp(mi.name, XDPGUARD_RULESET_MAP) == 0 &&
          mi.value_size == sizeof(xdpguard_ruleset_entry)) {
        record = std::move(m);
        break;
      }
    }
    if (!record) return fail(EPROTO, "classifier {} has no rule set record", id);
    out.classifier = true;
    out.prog_id = id;
    if (mi.map_flags & BPF_F_MMAPABLE)
      XG_CHECK(read_record_mapped(std::move(record), out));
    else  // a record made before records were mmapable (an upgrade)
      XG_CHECK(read_record_batched(record.get(), out));
    return out;
  }
  return fail(EAGAIN, "the installed classifier keeps changing; try again");
}

}  // namespace xdpguard::cls
