// Guard: xdpguard's state on one interface.
//
// Ownership: GuardProgram owns the guard skeleton (BPF object + maps) of this
// process. Guard::attach() builds the whole pipeline (maps, stages, the first
// rule set), pins it under <bpffs>/xdpguard/ns<netns inode>/<ifindex>/, and
// only then hands the parser to libxdp; then it lets go: the kernel keeps
// enforcing after the process exits (fail-static). Guard::open() finds that
// state again from the pins; Guard::detach() removes program and pins.
//
// Identity: an attachment is its xg_meta map (its kernel id). A Guard opened
// before a `detach` + `attach` holds the maps of the old one; lock() notices
// (the map pinned now is another) and moves the Guard to the new one, so a
// change never goes into maps nothing enforces (no ABA).
//
// Failure: every call returns Result with a message fit for the one stderr
// line ("already attached ...", "no xdpguard on veth1").
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "bpf/abi.h"
#include "bpf/attachment.h"
#include "bpf/map.h"
#include "bpf/skeleton.h"
#include "bpf/system.h"
#include "guard/ddos.h"
#include "guard/lock.h"
#include "core/result.h"
#include "classifier/loader.h"
#include "rules/rule.h"

struct guard_bpf;

namespace xdpguard {

inline constexpr const char* kGuardProgName = "xdpguard";

// How an interface starts: the default action (compiled into every
// classifier), the actions for non-IP and malformed frames (xg_meta, which
// `apply` changes in place), the map sizes and the parser's knobs (fixed at
// attach).
struct GuardConfig {
  std::uint32_t default_action = 2;    // XDP_PASS
  std::uint32_t non_ip_action = 2;     // XDP_PASS
  std::uint32_t malformed_action = 2;  // XDP_PASS
  // DDoS (docs/ddos.md): per-source limiter buckets and blocked prefixes
  // the kernel keeps (LRU maps, fixed at attach).
  std::uint32_t limit_buckets = 65536;
  std::uint32_t block_entries = 16384;
  // The limiter's clock is xg_ddos.fake_now, set by set_fake_now: for an
  // in-process pipeline that is never attached (`simulate` replays a
  // capture at its timestamps; tests). Attach and apply never set it.
  bool fake_clock = false;
  // Loaded for `simulate` (BPF_PROG_TEST_RUN, one frame at a time, never
  // attached; attach refuses it): the per-CPU entry xg_percpu is a plain
  // one-entry array and xg_ddos is mmapable, so the simulator reads the
  // deciding rule and drives the clock in place, with no system call of
  // its own per frame. The programs and their bytecode are the same.
  bool simulation = false;
  // Per-protocol counters for flood detection (docs/telemetry.md); off
  // only for the benchmark's baseline (the parser without them).
  bool flood_counters = true;
};

// Where one interface's pins live. Pure: unit-tested.
struct PinPaths {
  std::string bpffs = kDefaultBpffs;
  std::uint64_t netns_id = 0;
  int ifindex = 0;

  std::string root() const;                 // <bpffs>/xdpguard
  std::string ns_dir() const;               // <root>/ns<id>
  std::string dir() const;                  // <ns_dir>/<ifindex>
  std::string map(const char* name) const;  // <dir>/<name>
  // Where attach builds the pins before they go into place (<ns_dir>/staging-<ifindex>; bpffs takes no dots
  // in names).
  std::string staging() const;
};

// Which attachment a Guard (or a reader) is working on: the kernel id of its
// xg_meta map, and where that map is pinned while it is in force.
struct AttachmentId {
  std::uint64_t netns_id = 0;
  int ifindex = 0;
  std::uint32_t meta_id = 0;
  std::string meta_pin;  // empty: in-process (never detached)
};

// Ok while the map pinned at id.meta_pin is id's; else "xdpguard was
// detached" (ENOENT) or "xdpguard was detached and attached again" (ESTALE).
[[nodiscard]] Result<void> check_in_force(const AttachmentId& id);

// Undoes the SYN proxy's host changes that an interface's pins record (its
// nftables table, its registration with the namespace's sysctls) and turns
// the stage off; nothing when the proxy is off. Every path that removes an
// interface's pins calls it first and keeps the pins if it fails.
// (guard_synproxy.cpp)
[[nodiscard]] Result<void> undo_pinned_synproxy(const PinPaths& paths);

// The guard BPF object owned by this process (opened, configured, loaded).
class GuardProgram {
 public:
  // Opens the embedded object and sets its rodata; not loaded yet.
  [[nodiscard]] static Result<GuardProgram> open(const GuardConfig& cfg);
  // The parser alone, in a second instance of the object whose maps are all
  // `pipeline`'s (loaded, its own parser not): what attach hands to libxdp,
  // which loads it (as an XDP program, or as an extension of its dispatcher).
  [[nodiscard]] static Result<GuardProgram> parser_for(const GuardProgram& pipeline);
  // Every program of the object (parser included) over the maps pinned in
  // `dir`, an attachment's: what `upgrade` loads in place of the attached
  // ones. Fails naming the pin when one is missing.
  [[nodiscard]] static Result<GuardProgram> over_pins(const GuardConfig& cfg, const std::string& dir);
  // Loads into the kernel as plain XDP programs (for BPF_PROG_TEST_RUN).
  [[nodiscard]] Result<void> load();
  // load() without link_pipeline(): nothing of the programs is in use yet.
  [[nodiscard]] Result<void> load_programs();
  // After loading (here or by libxdp): puts enforce into the program array.
  [[nodiscard]] Result<void> link_pipeline() const;

  guard_bpf* skel() const { return skel_.get(); }
  const BpfSkeleton<guard_bpf>& skeleton() const { return skel_; }
  const GuardConfig& config() const { return cfg_; }
  int prog_fd() const;
  // The fd of the loaded program `name` (a function of guard.bpf.c); -1 if none.
  int program_fd(const char* name) const;
  [[nodiscard]] Result<MapFd> map(const char* name) const;

 private:
  GuardProgram() = default;
  // Every map of the object (not its rodata) from fd_of(name).
  template <class FdOf>
  [[nodiscard]] Result<void> reuse_maps(FdOf&& fd_of, const char* who);
  BpfSkeleton<guard_bpf> skel_;
  GuardConfig cfg_;
};

using CounterArray = PerCpuMap<std::uint32_t, xdpguard_counter>;

// Counters of one interface, summed over CPUs.
// One installed rule with its counters.
struct RuleRecord {
  std::uint32_t id = 0;
  std::uint32_t position = 0;  // 0 = evaluated first
  std::string text;            // canonical form
  rules::Rule rule;
  xdpguard_counter counter{};
};

// One installed prefix set, as its member maps say (what is enforced).
struct SetRecord {
  std::uint32_t index = 0;
  std::string name;
  std::uint64_t nv4 = 0, nv6 = 0;
  // The IPv4 and IPv6 members come from different loads: a `set load` died
  // between its two swaps. Loading the set again repairs it.
  bool torn = false;
};

struct GuardStats {
  std::string ifname;
  std::string mode;
  std::uint32_t default_action = 2;
  bool classifier = true;      // false: none installed, IP packets pass (interrupted attach)
  bool setup_pending = false;  // an attach died after going live, before its record was written
  std::array<xdpguard_counter, XDPGUARD_NUM_ACTIONS> actions{};
  std::array<xdpguard_counter, XDPGUARD_PARSE_MAX> parse{};
  std::array<xdpguard_counter, XDPGUARD_ERR_MAX> errors{};
  // SYN, UDP, ICMP, fragments (enum xdpguard_flood_proto): flood detection's counters.
  std::array<xdpguard_counter, XDPGUARD_FLOOD_MAX> flood{};
  xdpguard_counter default_rule{};
  std::vector<RuleRecord> rules;
  DdosStats ddos;  // limiter, block list and SYN proxy
  // `redirect xsk`: redirected, and fallen back by reason (enum xdpguard_xsk_counter).
  std::array<xdpguard_counter, XDPGUARD_XSK_MAX> xsk{};
};

struct GuardStatus {
  std::string ifname;  // "" when the interface is gone
  int ifindex = 0;
  std::string mode;
  unsigned prog_id = 0;
  bool attached = false;    // the program is still attached to the interface
  bool dispatcher = false;  // through a libxdp dispatcher (else the only program)
  bool pinned = true;       // false: attached, but its state was never pinned
  // The attach died after the program went live, before its record
  // (program id, mode) was written: the pipeline is whole.
  bool setup_pending = false;
  std::uint64_t attached_unix = 0;
};

// What one interface is to enforce: what `apply` puts in force at once.
struct DesiredState {
  std::uint32_t default_action = 2;    // XDP_PASS
  std::uint32_t non_ip_action = 2;     // XDP_PASS
  std::uint32_t malformed_action = 2;  // XDP_PASS
  std::vector<std::string> rules;      // rule texts, evaluation order
  // `rules` are the local ones (guard/groups.h): the FlowSpec group in
  // force stays, in its place (none of `rules` may carry its label).
  // prepare() puts the whole rule set in Pending::want.
  bool keep_flowspec = false;
  // Every set the rules use, with its members; other sets are removed.
  std::vector<std::pair<std::string, std::vector<rules::Prefix>>> sets;
  std::vector<rules::Prefix> never_block;  // [ddos] never-block + [guard] management
  // Sets whose members are maps kept from an earlier state (pinned by
  // keep_state for commit-confirm's rollback), not prefixes: `hash` is
  // set_members_hash of what they hold. A set is in `sets` or here, not both.
  struct KeptSet {
    std::string name;
    std::uint64_t hash = 0;
    std::string pin4, pin6;  // bpffs paths of its IPv4 and IPv6 member maps
    bool operator==(const KeptSet&) const = default;
  };
  std::vector<KeptSet> kept_sets;
};

// What an interface enforces, in DesiredState's terms (for `apply --diff`).
struct CurrentState {
  std::uint32_t default_action = 2, non_ip_action = 2, malformed_action = 2;
  std::vector<RuleRecord> rules;  // ids and canonical texts, no counters
  struct SetState {
    std::string name;
    std::uint64_t hash = 0;  // set_members_hash of what was loaded (0: unknown)
    std::uint64_t nv4 = 0, nv6 = 0;
  };
  std::vector<SetState> sets;
  std::vector<rules::Prefix> never_block;
};

// `xdpguard upgrade`: one stage of the pipeline, the program in force and
// this binary's. Tags are the kernel's (a hash of the instructions without
// map references): equal tags, the same code.
struct UpgradeStage {
  std::string name;  // parser, enforce, limit, synproxy, classifier
  std::uint32_t old_id = 0, new_id = 0;
  std::string old_tag, new_tag;  // 16 hex digits
  bool differs() const { return old_tag != new_tag; }
};
struct UpgradeReport {
  std::vector<UpgradeStage> stages;
  bool differ = false;    // some stage's code differs
  bool replaced = false;  // the new programs are in force
  double seconds = 0;     // from the first program-array write to the parser's replacement
};

// Identity of a set's members (order and duplicates aside): FNV-1a 64 of
// the sorted, unique prefixes; never 0. Pure.
std::uint64_t set_members_hash(std::vector<rules::Prefix> prefixes);

class Guard {
 public:
  // Loads the pipeline, installs the first rule set (default action), runs
  // `setup` (sets, rules, thresholds: the maps are pinned in a staging
  // directory then) under the interface lock, puts the pins into place, and
  // attaches last: no packet meets a half-built pipeline. Any failure leaves
  // nothing behind. Refuses an interface that already has xdpguard.
  using Setup = std::function<Result<void>(Guard&)>;
  [[nodiscard]] static Result<Guard> attach(const Interface& iface, AttachMode mode,
                                            const GuardConfig& cfg = {}, const Setup& setup = {});
  // Reopens the pinned state of an attached interface.
  [[nodiscard]] static Result<Guard> open(const Interface& iface);
  // Removes program and pins; "no xdpguard on IFACE" if there is none.
  [[nodiscard]] static Result<void> detach(const Interface& iface);
  // The same for a caller that holds the interface's lock already.
  [[nodiscard]] static Result<void> detach(const Interface& iface, const InterfaceLock& held);
  // Every interface of the current network namespace with xdpguard state.
  // Removes the pins of interfaces that are gone, under their lock (skipped,
  // for next time, while another command holds it).
  [[nodiscard]] static Result<std::vector<GuardStatus>> list();

  // Builds a Guard over the maps of an in-process, loaded GuardProgram
  // (tests, benchmarks): meta written, an empty rule set installed.
  [[nodiscard]] static Result<Guard> from_program(const GuardProgram& prog);

  [[nodiscard]] Result<GuardStats> stats() const;
  const xdpguard_meta& meta() const { return meta_; }
  // Where the pins are (empty for an in-process program); the network
  // namespace and interface this Guard is for.
  const std::string& pin_dir() const { return pin_dir_; }
  std::uint64_t netns_id() const { return netns_id_; }
  int ifindex() const { return ifindex_; }
  // The attachment this Guard's maps belong to.
  AttachmentId attachment() const;

  // The interface lock (guard/lock.h), for a change of this interface's
  // state; nothing for an in-process program (no pins) or while attach's
  // setup runs (attach holds it). Under the lock it checks that this
  // Guard's maps are the ones in force: if xdpguard was detached and
  // attached again since open(), the Guard moves to the new attachment's
  // pins; if it was detached, "xdpguard was detached meanwhile" (ENOENT);
  // if the pins' program is no longer on the interface, ENOENT too.
  [[nodiscard]] Result<InterfaceLock> lock();
  // The lock held across several calls (commit-confirm reads the state and
  // puts one back under one lock): while the Hold lives, this Guard's calls
  // do not take the lock again. The Guard must not move meanwhile.
  class Hold {
   public:
    Hold() = default;
    Hold(Hold&& o) noexcept : lock_(std::move(o.lock_)), g_(std::exchange(o.g_, nullptr)), was_(o.was_) {}
    Hold& operator=(Hold&&) = delete;
    Hold(const Hold&) = delete;
    Hold& operator=(const Hold&) = delete;
    ~Hold() {
      if (g_) g_->lock_held_ = was_;
    }
    const InterfaceLock& lock() const { return lock_; }

   private:
    friend class Guard;
    InterfaceLock lock_;
    Guard* g_ = nullptr;
    bool was_ = false;
  };
  [[nodiscard]] Result<Hold> hold();

  // ---- AF_XDP (guard_xsk.cpp, abi.h "AF_XDP"): the sockets `redirect xsk`
  // rules hand packets to, one per RX queue.

  // Puts `xsk_fd`, an AF_XDP socket the caller has bound to RX queue `queue`
  // of this interface (xsk/socket.h does), in xg_xsks under the interface
  // lock. Refused if the queue has a socket already (EEXIST: the first keeps
  // it) or is past XDPGUARD_XSK_QUEUES. The kernel removes the entry when
  // the socket closes: a consumer that dies leaves nothing behind, and the
  // rules' fallback applies on that queue from the next packet.
  [[nodiscard]] Result<void> add_xsk(std::uint32_t queue, int xsk_fd);
  // Takes the socket of `queue` out of xg_xsks (none there: nothing to do).
  [[nodiscard]] Result<void> remove_xsk(std::uint32_t queue);
  // The sockets add_xsk put in an interface's map, by queue: add_xsk keeps
  // a record of each (ns<netns>-<ifindex>-q<queue>.xsk in the runtime
  // directory: the socket's inode), remove_xsk deletes it. The kernel lets
  // no one read an XSKMAP, and takes a socket out of it when it closes: a
  // record whose inode no process holds any more (a consumer killed) is a
  // socket gone from the map too (xsk/diag.h finds the holders).
  struct XskRecord {
    std::uint32_t queue = 0;
    std::uint64_t inode = 0;
    bool operator==(const XskRecord&) const = default;
  };
  [[nodiscard]] static Result<std::vector<XskRecord>> xsk_records(std::uint64_t netns_id, int ifindex,
                                                                  const std::string& dir = kRuntimeDir);
  [[nodiscard]] static Result<void> write_xsk_record(std::uint64_t netns_id, int ifindex, const XskRecord& r,
                                                     const std::string& dir = kRuntimeDir);
  static void remove_xsk_record(std::uint64_t netns_id, int ifindex, std::uint32_t queue,
                                const std::string& dir = kRuntimeDir);

  // ---- rules (guard_rules.cpp). Every change compiles the whole new rule
  // set and installs it with one map write; counters of untouched rules stay.

  // Installed rules in evaluation order, with counters.
  [[nodiscard]] Result<std::vector<RuleRecord>> rules() const;
  // The same without counters: one read of the rule set, none of the
  // per-CPU counter array (whose size grows with the CPU count).
  [[nodiscard]] Result<std::vector<RuleRecord>> rules_uncounted() const;
  // The canonical text of rule `id`, nullopt when there is none (one read
  // of the rule set's record, nothing parsed).
  [[nodiscard]] Result<std::optional<std::string>> rule_text(std::uint32_t id) const;
  // Appends a rule (or inserts it before rule `before`). One read of the
  // rule set in force, linted before the new one goes live (a rule that can
  // never match is still added, with the warning); no counter is read.
  struct AddedRule {
    std::uint32_t id = 0;
    // "rule id 7 can never match: ...", redirect targets that are gone,
    // limited rules too deep for one packet: one line each.
    std::vector<std::string> warnings;
  };
  [[nodiscard]] Result<AddedRule> add_rule(const std::string& text, std::optional<std::uint32_t> before = {});
  // add_rule() and delete_rule() in two steps, so that something else (the
  // lockout check of `rule add` / `rule del`) can run while the new rule
  // set compiles and loads: prepare_rule() / prepare_delete() do all of it
  // but the swap, under the lock (held by the caller through a Hold, or
  // taken for the call); commit() takes the lock again and swaps it in if
  // the rule set it was built from is still the one in force (false,
  // nothing changed: another change came between, and the caller starts
  // over).
  struct Prepared {
    cls::LoadedClassifier loaded;
    std::uint32_t based_on = 0;        // the classifier in force it changes (program id; 0: none)
    std::vector<std::uint32_t> fresh;  // ids of its new rules: their counters start at zero
  };
  struct PreparedRule : Prepared {
    AddedRule added;
  };
  [[nodiscard]] Result<PreparedRule> prepare_rule(const std::string& text,
                                                  std::optional<std::uint32_t> before = {});
  [[nodiscard]] Result<Prepared> prepare_delete(std::uint32_t id);
  [[nodiscard]] Result<bool> commit(const Prepared& p);
  [[nodiscard]] Result<void> delete_rule(std::uint32_t id);
  // Replaces the whole rule set (all or nothing). A rule whose canonical
  // text was already installed keeps its id and counters. Returns the ids.
  [[nodiscard]] Result<std::vector<std::uint32_t>> replace_rules(const std::vector<std::string>& texts);
  [[nodiscard]] Result<void> set_default_action(std::uint32_t action);
  // Compiles and installs the rule set in force again, for what is on now
  // besides it (cls::CompileContext::capture, ::synproxy): the classifier
  // checks for a capture, the SYN proxy or top talkers only while they are
  // on. A capture calls it when it starts and when it ends; synproxy enable
  // and disable do it themselves, Talkers::enable with recompile_locked().
  // Rules, ids and counters stay.
  [[nodiscard]] Result<void> recompile();
  // recompile() for a caller that holds the lock. `talkers`: compile with
  // (or without) the top-talkers count whatever xg_talk_on says, so that
  // turning them on can compile the count in before it sets the flag.
  [[nodiscard]] Result<void> recompile_locked(std::optional<bool> talkers = std::nullopt);

  // Loads (or atomically replaces) the named prefix set.
  [[nodiscard]] Result<SetRecord> load_set(const std::string& name,
                                           const std::vector<rules::Prefix>& prefixes);
  // Removes a set no rule references.
  [[nodiscard]] Result<void> delete_set(const std::string& name);
  [[nodiscard]] Result<std::vector<SetRecord>> sets() const;
  // Puts those of `from`'s sets named in `names`, members and names, in
  // the same slots of this Guard's maps: the very member maps,
  // shared (programs only read them). For an in-process pipeline that copies
  // an interface's rule set, or checks rules against it (`simulate --iface`,
  // the lockout guard); nothing may use those slots here yet. Only the sets
  // named are shared: each costs the kernel's wait for running programs.
  [[nodiscard]] Result<void> share_sets(const Guard& from, std::span<const std::string> names);

  // The action taken when no rule matches (kept in the installed rule set).
  [[nodiscard]] Result<std::uint32_t> default_action() const;
  // The actions for non-IP frames and for malformed IP packets (xg_meta).
  struct FrameActions {
    std::uint32_t non_ip = 2, malformed = 2;  // XDP_PASS
  };
  [[nodiscard]] Result<FrameActions> frame_actions() const;

  // The installed rule set compiled again (pure, what `rule plan` shows) and
  // its record: what the kernel took when it was installed.
  struct PlanReport {
    cls::Compiled compiled;
    xdpguard_ruleset_hdr installed{};
  };
  [[nodiscard]] Result<PlanReport> plan() const;

  // ---- apply (guard_apply.cpp): the whole state of the interface at once.
  //
  // prepare() takes the interface lock and holds it in the Pending it
  // returns; loads every set whose members changed into a free slot (staged:
  // nothing refers to it yet), compiles the rule set against those slots and
  // loads it (the verifier has passed it), zeroes nothing and installs
  // nothing: dropping the Pending (or abort()) frees the staged slots and
  // the interface is as it was. swap() installs the classifier with one
  // program-array write: rules and set members go live together. finish()
  // writes the non-IP/malformed actions and never-block list and frees what
  // the old rule set used. A crash between any two steps leaves the old or
  // the new rule set in force; the next lock() settles staged slots
  // (abi.h, XDPGUARD_SET_STAGED). Rules whose canonical text stays keep
  // their ids and counters, as replace_rules.
  struct Pending {
    InterfaceLock lock;
    Guard* guard = nullptr;
    DesiredState want;
    CurrentState before;  // what was in force when prepare() read it, under the lock
    cls::LoadedClassifier classifier;
    std::vector<std::uint32_t> ids, fresh;  // the new rule set's ids; those new in it
    std::vector<std::uint32_t> staged;      // slots loaded for it (XDPGUARD_SET_STAGED)
    UniqueFd replaced;                      // after swap(): the classifier it replaced
    bool swapped = false, done = false;
    bool lock_was_held = false;  // attach's setup holds the lock already
    Pending() = default;
    Pending(const Pending&) = delete;
    Pending& operator=(const Pending&) = delete;
    ~Pending();  // not finished: aborted (or, after swap, left to settle)
  };
  [[nodiscard]] Result<CurrentState> current_state() const;
  // The state in force as a DesiredState that puts it back (commit-confirm,
  // confirm/confirm.h): rule texts, actions, never-block, and every set as a
  // KeptSet whose member maps are pinned in `dir` (made if absent), so that
  // they outlive the change that replaces them. Under the caller's lock.
  [[nodiscard]] Result<DesiredState> keep_state(const std::string& dir) const;
  [[nodiscard]] Result<std::unique_ptr<Pending>> prepare(const DesiredState& want);
  [[nodiscard]] Result<void> swap(Pending& p);
  // Puts back the classifier swap() replaced (an apply of several
  // interfaces that failed on a later one); then the Pending is aborted.
  [[nodiscard]] Result<void> unswap(Pending& p);
  [[nodiscard]] Result<void> finish(Pending& p);
  void abort(Pending& p);

  // ---- upgrade (guard_upgrade.cpp): this binary's programs in place of the
  // attached ones, over the same pinned maps (same ABI: Guard::open refuses
  // another). Under the lock: loads and verifies the parser, enforce and
  // limiter stages, the SYN proxy stage when on, and the rule set compiled
  // again; then (unless `check`, and only when some stage's code differs or
  // `force`) puts each stage into its program-array slot and replaces the
  // parser on the interface with XDP_FLAGS_REPLACE against the old one's
  // fd. No packet meets a missing stage; stages of one ABI mix safely, so a
  // crash between any two writes leaves a whole pipeline (and the record is
  // completed by the next change, as for an interrupted attach). Counters,
  // buckets, blocks, sets, rule ids: all kept. Refuses an attachment inside
  // libxdp's dispatcher (its programs are replaced by detach + attach).
  [[nodiscard]] Result<UpgradeReport> upgrade(bool check, bool force);

  // ---- DDoS (guard_ddos.cpp, guard_synproxy.cpp; docs/ddos.md)

  // Unexpired blocked source prefixes, longest time left first.
  [[nodiscard]] Result<std::vector<BlockedEntry>> blocked() const;
  // Unblocks every blocked prefix that contains `p` (an address, or a
  // prefix given as such); returns what it removed, ENOENT if nothing.
  [[nodiscard]] Result<std::vector<BlockedEntry>> unblock(const rules::Prefix& p);
  [[nodiscard]] Result<DdosStats> ddos_stats() const;
  // Prefixes a rule's `block` never blocks (docs/ddos.md, "never-block"):
  // a block of a source's /N that would cover one of them (or lie in one)
  // is not made. Setting them replaces the list and removes the blocks in
  // force that overlap it. At most rules::kMaxNeverBlock prefixes.
  [[nodiscard]] Result<std::vector<rules::Prefix>> never_block() const;
  [[nodiscard]] Result<void> set_never_block(const std::vector<rules::Prefix>& prefixes);
  // The kernel's per-source bucket and block-list sizes (fixed at attach).
  [[nodiscard]] Result<std::pair<std::uint32_t, std::uint32_t>> ddos_map_sizes() const;
  // Forgets every bucket and block (tests; a fresh start).
  [[nodiscard]] Result<void> reset_ddos_state();
  // The clock the kernel side uses (CLOCK_MONOTONIC, or the driven one).
  [[nodiscard]] Result<std::uint64_t> ddos_now() const;
  // The driven clock (only with GuardConfig::fake_clock): sets the kernel's "now".
  [[nodiscard]] Result<void> set_fake_now(std::uint64_t ns);

  // The SYN proxy (guard_synproxy.cpp, docs/ddos.md): its settings and
  // state as xg_synproxy says.
  [[nodiscard]] Result<SynproxyStatus> synproxy_status() const;
  // Turns it on for cfg.ports: checks the settings, sets up the host (the
  // nftables SYNPROXY table, the sysctls it needs; `host` false: neither,
  // for in-process tests), loads the synproxy stage into its slot, then
  // activates it. All or nothing: a failed step undoes the ones before.
  // Refuses an interface where it is on already.
  [[nodiscard]] Result<SynproxyStatus> synproxy_enable(const SynproxyConfig& cfg, bool host = true);
  // Turns it off and undoes what enable did (restores the sysctls it
  // changed); also finishes an enable or disable that died half-way.
  // ENOENT when it is off.
  [[nodiscard]] Result<void> synproxy_disable();

 private:
  struct Maps;
  [[nodiscard]] static Result<Guard> from_maps(Maps maps);
  // Compiles and loads the rule set, zeroes the counters of `fresh` (ids
  // that are new in it) and swaps it in; on failure nothing has changed.
  // `record`: the record of the rule set in force, when the caller has read
  // it under the lock (else it is read here). `talkers`: see compile_context.
  [[nodiscard]] Result<void> install(std::vector<cls::RuleEntry> entries, std::uint32_t default_action,
                                     const std::vector<std::uint32_t>& fresh = {},
                                     const xdpguard_ruleset_hdr* record = nullptr,
                                     std::optional<bool> talkers = std::nullopt);
  // `set_slots`: set name -> slot, where apply staged sets (else the live
  // ones). `talkers`: with or without the top-talkers count (else as
  // xg_talk_on says).
  [[nodiscard]] Result<cls::CompileContext> compile_context(
      const std::map<std::string, std::uint32_t>* set_slots = nullptr,
      std::optional<bool> talkers = std::nullopt) const;
  // install()'s second half: the loaded rule set in force (its new rules'
  // counters zeroed first), one write.
  [[nodiscard]] Result<void> swap_in(const cls::LoadedClassifier& loaded,
                                     const std::vector<std::uint32_t>& fresh);
  // install()'s first half: compiles and loads the rule set, installs nothing.
  [[nodiscard]] Result<cls::LoadedClassifier> load_rule_set(
      std::vector<cls::RuleEntry> entries, std::uint32_t default_action,
      const std::vector<std::uint32_t>& fresh, const xdpguard_ruleset_hdr* record,
      const std::map<std::string, std::uint32_t>* set_slots, std::optional<bool> talkers = std::nullopt);
  [[nodiscard]] static Result<void> detach_locked(const Interface& iface, const PinPaths& paths);
  [[nodiscard]] Result<void> synproxy_teardown(xdpguard_synproxy sp);
  // upgrade(): this binary's SYN proxy stage over the pinned maps (its
  // address tries too), loaded, not installed; none when the proxy is off.
  [[nodiscard]] Result<UniqueFd> synproxy_stage_again() const;
  // Under the lock: the pins' program is on the interface (else ENOENT);
  // writes the program id and mode an attach that died after going live
  // left out of xg_meta.
  [[nodiscard]] Result<void> check_program();

  PinPaths pins() const { return {kDefaultBpffs, netns_id_, ifindex_}; }
  // The rule set in force (from the classifier in slot 0), without counters.
  struct Installed {
    bool classifier = false;    // slot 0 holds one (else IP packets pass)
    std::uint32_t prog_id = 0;  // its program id
    xdpguard_ruleset_hdr record{};
    std::vector<RuleRecord> rules;
  };
  [[nodiscard]] Result<Installed> installed() const;
  // The same record unparsed: ids and texts (the default action pass when
  // slot 0 is empty, as the parser does then).
  [[nodiscard]] Result<cls::InstalledRuleSet> read_record() const;
  // The records' rules as the compiler takes them, moved out (a 10,000-rule
  // set is not copied).
  static std::vector<cls::RuleEntry> take_entries(std::vector<RuleRecord>& records);
  [[nodiscard]] Result<void> add_counters(std::vector<RuleRecord>& rules) const;
  // current_state() around a rule set already read.
  [[nodiscard]] Result<CurrentState> current_state(Installed in) const;
  // Under the lock: finishes or frees set slots an interrupted apply left
  // staged (guard_apply.cpp).
  [[nodiscard]] Result<void> settle_staged_sets();
  // Rule ids for `canon` (the new rule set's canonical texts): a text
  // installed now keeps its id, the others get fresh ones (returned too).
  struct IdPlan {
    std::vector<std::uint32_t> ids;
    std::vector<std::uint32_t> fresh;
  };
  static IdPlan plan_ids(const Installed& cur, const std::vector<std::string>& canon);

  xdpguard_meta meta_{};
  std::string pin_dir_;  // empty for an in-process program (tests)
  std::uint64_t netns_id_ = 0;
  int ifindex_ = 0;
  std::string ifname_;
  bool lock_held_ = false;  // by the caller: attach's setup
  Map<std::uint32_t, xdpguard_meta> meta_map_;
  PerCpuMap<std::uint32_t, xdpguard_percpu> percpu_;
  CounterArray rule_stats_;
  MapFd progs_;
  MapFd set4_;
  MapFd set6_;
  Map<std::uint32_t, xdpguard_set_info> set_names_;
  struct DdosMaps {
    MapFd limit_agg, limit_src, blocked, ddos, synproxy, noblock;
  };
  DdosMaps ddos_maps_;
  MapFd telemetry_;  // xg_telemetry, which every classifier reads
  MapFd xsks_;       // xg_xsks: AF_XDP sockets by RX queue (guard_xsk.cpp)
  MapFd talkers_;    // xg_talkers and xg_talk_on: top talkers, which a
  MapFd talk_on_;    // classifier counts while they are on
};

// A warning when the rule's `redirect dev` names no interface of the current
// network namespace: such a rule drops the packets it matches
// (docs/classifier.md, "Redirect targets"). For the commands that show rules.
std::optional<std::string> redirect_warning(std::uint32_t id, const rules::Rule& rule);

// "pass", "drop", ... for XDP_* values; "" for unknown.
const char* action_name(std::uint32_t action);
// Inverse of action_name for pass/drop (the actions a user may configure).
std::optional<std::uint32_t> parse_action(const std::string& name);
const char* parse_counter_name(int idx);

}  // namespace xdpguard
