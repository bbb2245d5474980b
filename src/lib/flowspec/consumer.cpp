#include "flowspec/consumer.h"

#include <poll.h>
#include <signal.h>
#include <fcntl.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <future>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "bpf/system.h"
#include "core/process.h"
#include "core/unique_fd.h"
#include "flowspec/exabgp.h"
#include "flowspec/gobgp.h"
#include "rules/parser.h"
#include "rules/printer.h"
#include "simulate/lockout.h"
#include "simulate/simulate.h"

namespace xdpguard::flowspec {

// ---- Consumer --------------------------------------------------------------

Consumer::Consumer(Settings s, Timing t, std::vector<std::string> adopted, Clock::time_point start,
                   Installer install, Logger log)
    : rib_(s), timing_(t), adopted_(std::move(adopted)), install_(std::move(install)), log_(std::move(log)) {
  in_force_ = adopted_;
  if (!adopted_.empty()) {
    adopt_until_ = start + timing_.stale;
    log_(fmt::format(
        "{} FlowSpec rules already installed stay in force until the speaker's routes replace them "
        "(its end of RIB, or {} s)",
        adopted_.size(), timing_.stale.count() / 1000.0));
  }
}

void Consumer::on_event(const Event& e, Clock::time_point now) {
  std::vector<std::string> lines;
  bool ch = rib_.apply(e, now, &lines);
  for (const auto& l : lines) log_(l);
  if (e.kind == Event::Kind::EndOfRib && adopt_until_) {
    // The adopted rules of that family give way to the speaker's routes.
    const std::string mark =
        fmt::format("comment \"{}{} ", kLabelPrefix, e.route.family == rules::Family::V4 ? "ipv4" : "ipv6");
    const std::size_t n =
        std::erase_if(adopted_, [&](const std::string& t) { return t.find(mark) != std::string::npos; });
    if (adopted_.empty()) adopt_until_.reset();
    if (n) {
      log_(fmt::format("end of RIB: {} adopted rules give way to the speaker's routes", n));
      ch = true;
    }
  }
  if (ch) changed(now);
}

void Consumer::on_error(const std::string& message) {
  ++errors_;
  log_(message);
}

void Consumer::changed(Clock::time_point now) {
  if (!first_pending_) first_pending_ = now;
  last_change_ = now;
}

std::vector<std::string> Consumer::group() const {
  auto g = rib_.rule_texts();
  if (adopt_until_) {
    std::set<std::string> have(g.begin(), g.end());
    for (const auto& t : adopted_)
      if (!have.count(t)) g.push_back(t);
  }
  return g;
}

void Consumer::flush(Clock::time_point now) {
  tick(now);
  if (!first_pending_) return;
  last_change_ = now - timing_.quiet;  // due now
  retry_at_.reset();
  tick(now);
}

void Consumer::tick(Clock::time_point now) {
  std::vector<std::string> lines;
  if (rib_.expire(now, &lines)) changed(now);
  for (const auto& l : lines) log_(l);
  if (adopt_until_ && now >= *adopt_until_) {
    adopt_until_.reset();
    log_("adoption over: the rules are the speaker's routes alone");
    changed(now);
  }
  if (!first_pending_) return;
  if (now - last_change_ < timing_.quiet && now - *first_pending_ < max_delay()) return;
  if (retry_at_ && now < *retry_at_) return;
  auto g = group();
  if (g == in_force_) {
    first_pending_.reset();
    return;
  }
  const auto t0 = Clock::now();
  auto r = install_(g);
  last_install_ = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t0);
  if (!r) {
    ++errors_;
    log_(fmt::format("install failed, trying again in 1 s: {}", r.error().message()));
    retry_at_ = now + std::chrono::seconds(1);
    return;
  }
  in_force_ = std::move(g);
  ++installs_;
  first_pending_.reset();
  retry_at_.reset();
}

std::optional<Clock::time_point> Consumer::deadline() const {
  std::optional<Clock::time_point> d = rib_.next_expiry();
  auto take = [&](Clock::time_point t) {
    if (!d || t < *d) d = t;
  };
  if (adopt_until_) take(*adopt_until_);
  if (first_pending_) {
    Clock::time_point due = std::min(last_change_ + timing_.quiet, *first_pending_ + max_delay());
    if (retry_at_) due = std::max(due, *retry_at_);
    take(due);
  }
  return d;
}

// ---- the command's loop ----------------------------------------------------

namespace {

void log_line(const std::string& s) {
  std::fprintf(stderr, "xdpguard flowspec: %s\n", s.c_str());
  std::fflush(stderr);
}

// The lockout guard on one interface: the operator's packets (probes),
// and a copy of the interface's pipeline each group is checked in. The copy
// is made again when the interface's state besides the FlowSpec group
// changed (an apply: other local rules, sets, actions); with it, which
// probes the interface passes without the group: only those can be cut.
class LockoutCheck {
 public:
  LockoutCheck(Interface iface, std::vector<simulate::Probe> probes)
      : iface_(std::move(iface)), probes_(std::move(probes)) {
    // Where the probes go (IPv4 or IPv6 destinations; ARP's go to no rule).
    for (const auto& p : probes_) {
      const auto& f = p.frame;
      if (f.size() >= 34 && f[12] == 0x08 && f[13] == 0x00) {
        rules::Prefix d{rules::Family::V4, {}, 32};
        std::copy(f.begin() + 30, f.begin() + 34, d.addr.begin());
        dsts_.push_back(d);
      } else if (f.size() >= 54 && f[12] == 0x86 && f[13] == 0xdd) {
        rules::Prefix d{rules::Family::V6, {}, 128};
        std::copy(f.begin() + 38, f.begin() + 54, d.addr.begin());
        dsts_.push_back(d);
      }
    }
  }

  // The copy made now, in a thread of its own under the interface's lock
  // (taken and released there): a consumer starting reads its speaker's RIB
  // meanwhile, and its first install (10,000 routes, say) does not wait for
  // a pipeline to load. wait() before install() takes the lock.
  void prewarm() {
    if (probes_.empty()) return;
    prewarm_ = std::async(std::launch::async, [iface = iface_, probes = probes_]() -> Result<Copy> {
      auto g = XG_TRY(Guard::open(iface));
      auto lock = XG_TRY(g.lock());
      return make_copy(iface, probes, XG_TRY(g.current_state()));
    });
  }
  void wait() {
    if (prewarm_.valid()) prewarm_.wait();
  }

  // Under the interface's lock (install() holds it): the routes whose
  // rules would drop or send away a probe that passes now.
  Result<std::map<std::string, std::string>> cuts(const Guard& g, const std::vector<std::string>& texts) {
    std::map<std::string, std::string> out;
    if (probes_.empty()) return out;
    if (prewarm_.valid())
      if (auto made = prewarm_.get()) copy_ = std::move(*made);  // (else made again below)
    auto cur = XG_TRY(g.current_state());
    if (!copy_.sim || print_of(cur) != copy_.print) {
      copy_ = XG_TRY(make_copy(iface_, probes_, cur));
      checked_.clear();
    }
    // A FlowSpec rule whose destination prefix holds no probe's cannot
    // change a probe's verdict: the copy goes without it (a 10,000-route
    // group aimed elsewhere is a compile of a few rules), and a group whose
    // rules that can are those checked last time is not checked again.
    std::vector<std::string> relevant;
    for (const auto& t : texts) {
      auto r = rules::parse_rule(t);
      if (!r) return tl::unexpected(std::move(r.error()).context(t));
      if (!in_flowspec_group(*r) || could_meet_a_probe(*r)) relevant.push_back(t);
    }
    if (relevant == checked_ || !copy_.sim) return out;
    simulate::Simulator& sim = *copy_.sim;
    XG_CHECK(sim.set_rules(relevant));
    for (const auto& c : XG_TRY(simulate::lockout_cuts(sim, probes_))) {
      if (copy_.cut_anyway.count(c.probe) || !c.rule.has_value()) continue;
      const std::uint32_t id = c.rule.value();
      for (const auto& r : sim.rules())
        if (r.id == id && in_flowspec_group(r.rule)) out.emplace(r.rule.comment, c.what);
    }
    if (out.empty()) checked_ = std::move(relevant);
    return out;
  }

 private:
  // A copy of the interface's pipeline (made under its lock), for the state
  // `print` describes, and the probes it does not pass with its local rules
  // alone.
  struct Copy {
    std::optional<simulate::Simulator> sim;
    std::string print;
    std::set<std::size_t> cut_anyway;
  };
  static std::vector<std::string> local_rules(const CurrentState& cur) {
    std::vector<std::string> local;
    for (const auto& r : cur.rules)
      if (!in_flowspec_group(r.rule)) local.push_back(r.text);
    return local;
  }
  // What a copy depends on besides the FlowSpec group, as text.
  static std::string print_of(const CurrentState& cur) {
    std::string print = fmt::format("{} {} {} {}", cur.default_action, cur.non_ip_action,
                                    cur.malformed_action, fmt::join(local_rules(cur), "\n"));
    for (const auto& set : cur.sets) print += fmt::format("\n@{} {}", set.name, set.hash);
    for (const auto& p : cur.never_block) print += "\n!" + rules::prefix_to_string(p);
    return print;
  }
  static Result<Copy> make_copy(const Interface& iface, const std::vector<simulate::Probe>& probes,
                                const CurrentState& cur) {
    Copy c;
    c.sim = XG_TRY(simulate::Simulator::from_interface(iface, {}, true));
    XG_CHECK(c.sim->set_rules(local_rules(cur)));
    for (const auto& cut : XG_TRY(simulate::lockout_cuts(*c.sim, probes))) c.cut_anyway.insert(cut.probe);
    c.print = print_of(cur);
    return c;
  }
  bool could_meet_a_probe(const rules::Rule& r) const {
    if (!r.daddr || !r.daddr->prefix) return true;  // any destination, or a set's
    const rules::Prefix& p = *r.daddr->prefix;
    return std::any_of(dsts_.begin(), dsts_.end(), [&p](const rules::Prefix& d) {
      if (d.family != p.family) return false;
      for (unsigned bit = 0; bit < p.len; ++bit) {
        const unsigned mask = 0x80u >> (bit % 8);
        if ((d.addr[bit / 8] & mask) != (p.addr[bit / 8] & mask)) return false;
      }
      return true;
    });
  }

  Interface iface_;
  std::vector<simulate::Probe> probes_;
  std::vector<rules::Prefix> dsts_;  // the probes' IP destinations
  Copy copy_;
  std::future<Result<Copy>> prewarm_;
  std::vector<std::string> checked_;  // the last rules checked that cut nothing
};

struct Interfaces {
  std::vector<Guard> guards;
  std::vector<std::string> names;
  std::vector<std::unique_ptr<LockoutCheck>> checks;  // per interface; null: no guard
  rules::Action accept = rules::Action::Pass;
  std::vector<std::string> adopted;
};

Result<Interfaces> open_interfaces(const ConsumerConfig& cfg) {
  if (cfg.ifaces.empty()) return fail(EINVAL, "no interface");
  Interfaces out;
  for (const auto& name : cfg.ifaces) {
    auto iface = XG_TRY(find_interface(name));
    auto g = XG_TRY(with_context(Guard::open(iface), name));
    auto accept = XG_TRY(with_context(accept_action(g, cfg.position), name));
    if (!out.guards.empty() && accept != out.accept)
      return fail(
          EINVAL,
          "{} and {} have different default actions: a terminal route's accepted packets would differ "
          "(give them the same default, or run one consumer each)",
          out.names.front(), name);
    out.accept = accept;
    auto group = XG_TRY(with_context(installed_group(g), name));
    if (out.adopted.empty()) out.adopted = std::move(group);
    out.guards.push_back(std::move(g));
    out.names.push_back(name);
    out.checks.push_back(
        cfg.lockout_guard
            ? std::make_unique<LockoutCheck>(
                  iface, simulate::probes(XG_TRY_CTX(simulate::host_facts(iface, cfg.management), name)))
            : nullptr);
    if (out.checks.back()) out.checks.back()->prewarm();
  }
  return out;
}

nlohmann::json state_json(const Consumer& c) {
  using nlohmann::json;
  json routes = json::array();
  for (const auto& [key, e] : c.rib().entries()) {
    json r = {{"route", key},
              {"actions", actions_text(e.route.actions)},
              {"peer", e.peer},
              {"installed", e.installed},
              {"stale", e.stale_since.has_value()}};
    if (e.translation) {
      json rules = json::array();
      for (const auto& x : e.translation->rules) rules.push_back(rules::to_string(x));
      r["rules"] = rules;
      if (!e.translation->notes.empty()) r["notes"] = e.translation->notes;
    } else {
      r["error"] = e.translation.error().message();
    }
    routes.push_back(std::move(r));
  }
  const Stats s = c.rib().stats();
  return {{"routes", routes},
          {"stats",
           {{"routes", s.routes},
            {"installed", s.installed},
            {"rules", s.rules},
            {"refused", s.refused},
            {"over_limit", s.over_limit},
            {"stale", s.stale},
            {"announces", s.announces},
            {"withdraws", s.withdraws},
            {"unknown_withdraws", s.unknown_withdraws},
            {"installs", c.installs()},
            {"errors", c.errors()},
            {"adopting", c.adopting()}}}};
}

void write_state(const std::string& path, const Consumer& c) {
  if (path.empty()) return;
  const std::string tmp = path + ".tmp";
  {
    std::ofstream f(tmp, std::ios::trunc);
    f << state_json(c).dump(1) << '\n';
    if (!f) {
      log_line(fmt::format("cannot write {}", tmp));
      return;
    }
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) log_line(fmt::format("cannot rename {} to {}", tmp, path));
}

// The state file, rewritten when something happened (input read, an
// install, a stale route gone), at most every kEvery.
class StateWriter {
 public:
  // Writing 10,000 routes takes tens of milliseconds: not more often than this.
  static constexpr std::chrono::milliseconds kEvery{500};
  explicit StateWriter(std::string path) : path_(std::move(path)) {}
  void write(const Consumer& c) {
    write_state(path_, c);
    dirty_ = false;
    last_ = Clock::now();
  }
  void maybe_write(const Consumer& c, bool input) {
    if (path_.empty()) return;
    const auto installs = c.installs();
    const auto routes = c.rib().size();  // (not stats(): that sorts the routes again)
    if (input || installs != installs_ || routes != routes_ || c.adopting() != adopting_) dirty_ = true;
    installs_ = installs;
    routes_ = routes;
    adopting_ = c.adopting();
    if (dirty_ && Clock::now() - last_ >= kEvery) write(c);
  }
  // How long the loop may sleep before a deferred write is due.
  int timeout_ms(int want) const { return dirty_ ? std::min(want, static_cast<int>(kEvery.count())) : want; }

 private:
  std::string path_;
  bool dirty_ = false, adopting_ = false;
  std::size_t installs_ = 0, routes_ = 0;
  Clock::time_point last_{};
};

// Reads lines from fd; at most kMaxLine bytes a line (a longer one is an
// error and skipped).
class LineReader {
 public:
  static constexpr std::size_t kMaxLine = 1 << 20;
  explicit LineReader(int fd) : fd_(fd) {}
  // Reads what is there; false at end of file (or a read error).
  bool read(std::vector<std::string>& lines, std::vector<std::string>& errors) {
    char buf[65536];
    ssize_t n = ::read(fd_, buf, sizeof buf);
    if (n < 0 && (errno == EINTR || errno == EAGAIN)) return true;
    if (n <= 0) return false;
    for (ssize_t i = 0; i < n; ++i) {
      if (buf[i] == '\n') {
        if (skipping_)
          skipping_ = false;
        else
          lines.push_back(std::move(cur_));
        cur_.clear();
      } else if (!skipping_) {
        cur_ += buf[i];
        if (cur_.size() > kMaxLine) {
          errors.push_back(fmt::format("a line longer than {} bytes, skipped", kMaxLine));
          cur_.clear();
          skipping_ = true;
        }
      }
    }
    return true;
  }

 private:
  int fd_;
  std::string cur_;
  bool skipping_ = false;
};

// LineReader in a thread of its own: the speaker's pipe is read while a
// rule set compiles, so that the speaker never waits on a full pipe (ExaBGP
// blocked on a 64 KiB pipe sends the next routes only after the install).
// The loop polls ready_fd(); take() hands over what was read.
class ThreadedReader {
 public:
  explicit ThreadedReader(int fd)
      : ready_(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)), stop_(::eventfd(0, EFD_CLOEXEC)) {
    thread_ = std::thread([this, fd] { run(fd); });
  }
  ~ThreadedReader() {
    const std::uint64_t one = 1;
    (void)!::write(stop_.get(), &one, sizeof one);
    thread_.join();
  }
  ThreadedReader(const ThreadedReader&) = delete;
  ThreadedReader& operator=(const ThreadedReader&) = delete;
  int ready_fd() const { return ready_.get(); }
  // Lines and errors read so far; false once the pipe ended and all is taken.
  bool take(std::vector<std::string>& lines, std::vector<std::string>& errors) {
    std::uint64_t n = 0;
    (void)!::read(ready_.get(), &n, sizeof n);
    std::lock_guard lock(mu_);
    lines.swap(lines_);
    errors.swap(errors_);
    lines_.clear();
    errors_.clear();
    return !ended_;
  }

 private:
  void run(int fd) {
    LineReader reader(fd);
    for (;;) {
      pollfd fds[2] = {{fd, POLLIN, 0}, {stop_.get(), POLLIN, 0}};
      if (::poll(fds, 2, -1) < 0 && errno != EINTR) break;
      if (fds[1].revents) return;
      if (!fds[0].revents) continue;
      std::vector<std::string> lines, errors;
      const bool open = reader.read(lines, errors);
      {
        std::lock_guard lock(mu_);
        for (auto& l : lines) lines_.push_back(std::move(l));
        for (auto& e : errors) errors_.push_back(std::move(e));
        ended_ = !open;
      }
      const std::uint64_t one = 1;
      (void)!::write(ready_.get(), &one, sizeof one);
      if (!open) return;
    }
    std::lock_guard lock(mu_);
    ended_ = true;
  }

  UniqueFd ready_, stop_;
  std::mutex mu_;
  std::vector<std::string> lines_, errors_;
  bool ended_ = false;
  std::thread thread_;
};

// SIGTERM and SIGINT as a file descriptor (blocked for the thread).
Result<UniqueFd> stop_signals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  if (::pthread_sigmask(SIG_BLOCK, &set, nullptr) != 0) return fail_errno(errno, "sigprocmask");
  int fd = ::signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
  if (fd < 0) return fail_errno(errno, "signalfd");
  ::signal(SIGPIPE, SIG_IGN);
  return UniqueFd(fd);
}

int timeout_ms(const Consumer& c, Clock::time_point now) {
  auto d = c.deadline();
  if (!d) return 1000;
  auto ms = std::chrono::ceil<std::chrono::milliseconds>(*d - now).count();
  return static_cast<int>(std::clamp<long long>(ms, 0, 1000));
}

// Puts a group in force on every interface, and says so with its time; a
// route the lockout guard leaves out is said once (again when the packet
// it would cut changes).
Consumer::Installer installer_of(Interfaces& ifs, Position pos) {
  auto said = std::make_shared<std::map<std::string, std::string>>();
  return [&ifs, pos, said](const std::vector<std::string>& group) -> Result<void> {
    auto t0 = Clock::now();
    std::map<std::string, std::string> refused;
    std::size_t in_force = group.size();
    for (std::size_t i = 0; i < ifs.guards.size(); ++i) {
      CutsOf cuts;
      if (ifs.checks[i]) ifs.checks[i]->wait();  // (its prewarm takes the lock)
      if (auto* check = ifs.checks[i].get())
        cuts = [check, &g = ifs.guards[i]](const std::vector<std::string>& texts) {
          return check->cuts(g, texts);
        };
      auto rep = install(ifs.guards[i], group, pos, cuts);
      if (!rep) return tl::unexpected(std::move(rep.error()).context(ifs.names[i]));
      for (auto& [label, what] : rep->refused) refused.emplace(label, ifs.names[i] + ": " + what);
      in_force = std::min(in_force, rep->flowspec);
    }
    for (const auto& [label, what] : refused)
      if (auto it = said->find(label); it == said->end() || it->second != what)
        log_line(fmt::format("route refused by the lockout guard: \"{}\" would cut {}", label, what));
    *said = std::move(refused);
    log_line(fmt::format("{} FlowSpec rules in force on {} ({:.1f} ms)", in_force, fmt::join(ifs.names, ", "),
                         std::chrono::duration<double, std::milli>(Clock::now() - t0).count()));
    return {};
  };
}

Settings settings_of(const ConsumerConfig& cfg, rules::Action accept) {
  Settings s;
  s.max_rules = cfg.max_rules;
  s.stale = cfg.stale;
  s.translate.accept = accept;
  return s;
}

}  // namespace

Result<void> run_exabgp(const ConsumerConfig& cfg, int in_fd, int out_fd) {
  auto ifs = XG_TRY(open_interfaces(cfg));
  auto sig = XG_TRY(stop_signals());
  Consumer::Installer installer = installer_of(ifs, cfg.position);
  Consumer c(settings_of(cfg, ifs.accept), {cfg.stale, cfg.quiet, cfg.max_delay}, ifs.adopted, Clock::now(),
             installer, log_line);
  // A consumer that started again (ExaBGP respawns its processes) while
  // routes were in force asks for them again; ExaBGP answers "done" or, with
  // no session up, "error".
  if (out_fd >= 0 && !ifs.adopted.empty()) {
    constexpr std::string_view ask = "announce route-refresh ipv4 flow\nannounce route-refresh ipv6 flow\n";
    if (::write(out_fd, ask.data(), ask.size()) < 0) log_line("cannot ask ExaBGP for a route refresh");
  }
  StateWriter state(cfg.state_file);
  state.write(c);
  ThreadedReader reader(in_fd);
  for (;;) {
    pollfd fds[2] = {{reader.ready_fd(), POLLIN, 0}, {sig.get(), POLLIN, 0}};
    int n = ::poll(fds, 2, state.timeout_ms(timeout_ms(c, Clock::now())));
    if (n < 0 && errno != EINTR) return fail_errno(errno, "poll");
    if (fds[1].revents) {
      log_line("stopped by a signal; the rules stay in force");
      break;
    }
    bool open = true;
    if (fds[0].revents) {
      std::vector<std::string> lines, errors;
      open = reader.take(lines, errors);
      for (const auto& e : errors) c.on_error(e);
      for (const auto& line : lines) {
        if (line.empty() || line == "done" || line == "error" || line == "shutdown")
          continue;  // ExaBGP's answers
        Decoded d = decode_exabgp(line);
        for (const auto& e : d.errors) c.on_error(e);
        for (const auto& ev : d.events) c.on_event(ev, Clock::now());
      }
    }
    c.tick(Clock::now());
    state.maybe_write(c, fds[0].revents != 0);
    if (!open) {
      // ExaBGP closed the pipe: what is pending goes in now, then the rules stay.
      c.flush(Clock::now());
      state.write(c);
      log_line("the speaker closed its pipe; the rules stay in force");
      break;
    }
  }
  state.write(c);
  return {};
}

namespace {

// One `gobgp monitor` child per family.
struct Monitor {
  rules::Family family = rules::Family::V4;
  std::string peer;  // "gobgp ipv4": the routes it gave
  pid_t pid = -1;
  UniqueFd out;
  std::unique_ptr<LineReader> reader;
  Clock::time_point restart_at{};
  // When to read the RIB once more: the monitor's subscription may come
  // after the first read (gobgp says nothing when it has subscribed), and a
  // change between the two would be missed without it.
  std::optional<Clock::time_point> resync_at;
};

Result<void> spawn(Monitor& m, const std::string& host, const std::string& port) {
  int p[2];
  if (::pipe2(p, O_CLOEXEC) != 0) return fail_errno(errno, "pipe");
  const char* fam = m.family == rules::Family::V4 ? "ipv4-flowspec" : "ipv6-flowspec";
  pid_t pid = ::fork();
  if (pid < 0) {
    int e = errno;
    ::close(p[0]);
    ::close(p[1]);
    return fail_errno(e, "fork");
  }
  if (pid == 0) {
    ::dup2(p[1], STDOUT_FILENO);
    int null = ::open("/dev/null", O_RDONLY);
    if (null >= 0) ::dup2(null, STDIN_FILENO);
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    ::execlp("gobgp", "gobgp", "-u", host.c_str(), "-p", port.c_str(), "monitor", "global", "rib", "-a", fam,
             "--json", static_cast<char*>(nullptr));
    std::fprintf(stderr, "xdpguard flowspec: cannot run gobgp: %s\n", std::strerror(errno));
    ::_exit(127);
  }
  ::close(p[1]);
  m.pid = pid;
  m.out = UniqueFd(p[0]);
  m.reader = std::make_unique<LineReader>(p[0]);
  return {};
}

// The family's RIB, read once the monitor runs (so that no change falls
// between the two: changes the RIB has already come again from the monitor,
// and applying them twice changes nothing). Not the monitor's --current:
// gobgp sends that as one gRPC message, refused over 4 MiB (about 8,000
// routes).
Result<Decoded> read_rib(const Monitor& m, const std::string& host, const std::string& port) {
  const char* fam = m.family == rules::Family::V4 ? "ipv4-flowspec" : "ipv6-flowspec";
  auto r = XG_TRY(run_process({"gobgp", "-u", host, "-p", port, "global", "rib", "-a", fam, "--json"},
                              std::chrono::seconds(120)));
  if (r.exit_code != 0) return fail(EIO, "gobgp global rib -a {}: {}", fam, r.err.empty() ? r.out : r.err);
  return decode_gobgp_rib(r.out, m.family, m.peer);
}

void stop(Monitor& m) {
  if (m.pid > 0) {
    ::kill(m.pid, SIGTERM);
    ::waitpid(m.pid, nullptr, 0);
  }
  m.pid = -1;
  m.out.reset();
  m.reader.reset();
}

}  // namespace

Result<std::pair<std::string, std::string>> parse_gobgp_address(const std::string& addr) {
  auto colon = addr.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == addr.size())
    return fail(EINVAL, "gobgp {}: expected HOST:PORT (as gobgp -u HOST -p PORT)", rules::quote(addr));
  std::string host = addr.substr(0, colon), port = addr.substr(colon + 1);
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  if (host.find_first_of(" \t\n[]") != std::string::npos || host.front() == '-')
    return fail(EINVAL, "gobgp {}: {} is not a host", rules::quote(addr), rules::quote(host));
  if (port.find_first_not_of("0123456789") != std::string::npos || port.size() > 5 || std::stoul(port) == 0 ||
      std::stoul(port) > 65535)
    return fail(EINVAL, "gobgp {}: {} is not a port", rules::quote(addr), rules::quote(port));
  return std::pair{host, port};
}

Result<void> run_gobgp(const ConsumerConfig& cfg, const std::string& addr, int stop_fd) {
  const auto hp = XG_TRY(parse_gobgp_address(addr));
  const std::string& host = hp.first;
  const std::string& port = hp.second;
  auto ifs = XG_TRY(open_interfaces(cfg));
  UniqueFd sig;
  if (stop_fd < 0) {
    sig = XG_TRY(stop_signals());
    stop_fd = sig.get();
  }
  Consumer::Installer installer = installer_of(ifs, cfg.position);
  Consumer c(settings_of(cfg, ifs.accept), {cfg.stale, cfg.quiet, cfg.max_delay}, ifs.adopted, Clock::now(),
             installer, log_line);
  std::vector<Monitor> mons(2);
  mons[0].family = rules::Family::V4;
  mons[0].peer = "gobgp ipv4";
  mons[1].family = rules::Family::V6;
  mons[1].peer = "gobgp ipv6";
  // A monitor, then the RIB: what the RIB does not renew goes (the routes
  // of a monitor that ended were stale since).
  auto resync = [&](Monitor& m) -> Result<void> {
    auto rib = read_rib(m, host, port);
    if (!rib) {
      stop(m);
      return tl::unexpected(std::move(rib.error()));
    }
    const auto now = Clock::now();
    for (const auto& e : rib->errors) c.on_error(e);
    c.on_event({Event::Kind::PeerDown, m.peer, {}}, now);
    for (const auto& ev : rib->events) c.on_event(ev, now);
    Event eor{Event::Kind::EndOfRib, m.peer, {}};
    eor.route.family = m.family;
    c.on_event(eor, now);
    return {};
  };
  auto start = [&](Monitor& m) -> Result<void> {
    XG_CHECK(spawn(m, host, port));
    XG_CHECK(resync(m));
    m.resync_at = Clock::now() + std::chrono::seconds(1);
    return {};
  };
  for (auto& m : mons)
    if (auto r = start(m); !r) {
      c.on_error(r.error().message());
      m.restart_at = Clock::now() + std::chrono::seconds(1);
    }
  StateWriter state(cfg.state_file);
  state.write(c);
  Result<void> result;
  for (;;) {
    std::vector<pollfd> fds{{stop_fd, POLLIN, 0}};
    for (auto& m : mons) fds.push_back({m.out ? m.out.get() : -1, POLLIN, 0});
    int timeout = timeout_ms(c, Clock::now());
    for (auto& m : mons)
      if (m.resync_at)
        timeout = std::min<int>(
            timeout,
            static_cast<int>(std::max<long long>(
                0, std::chrono::ceil<std::chrono::milliseconds>(*m.resync_at - Clock::now()).count())));
    for (auto& m : mons)
      if (m.pid < 0)
        timeout = std::min<int>(
            timeout,
            static_cast<int>(std::max<long long>(
                0, std::chrono::ceil<std::chrono::milliseconds>(m.restart_at - Clock::now()).count())));
    int n = ::poll(fds.data(), fds.size(), state.timeout_ms(timeout));
    if (n < 0 && errno != EINTR) {
      result = fail_errno(errno, "poll");
      break;
    }
    if (fds[0].revents) {
      log_line("stopped; the rules stay in force");
      break;
    }
    for (std::size_t i = 0; i < mons.size(); ++i) {
      Monitor& m = mons[i];
      if (m.pid < 0) {
        if (Clock::now() >= m.restart_at)
          if (auto r = start(m); !r) {
            c.on_error(r.error().message());
            m.restart_at = Clock::now() + std::chrono::seconds(1);
          }
        continue;
      }
      if (m.resync_at && Clock::now() >= *m.resync_at) {
        m.resync_at.reset();
        if (auto r = resync(m); !r) c.on_error(r.error().message());
      }
      if (!fds[i + 1].revents) continue;
      std::vector<std::string> lines, errors;
      const bool open = m.reader->read(lines, errors);
      for (const auto& e : errors) c.on_error(e);
      for (const auto& line : lines) {
        bool gone = false;
        Decoded d = decode_gobgp(line, m.family, m.peer, &gone);
        for (const auto& e : d.errors) c.on_error(e);
        if (gone) continue;  // the monitor exits next
        for (const auto& ev : d.events) c.on_event(ev, Clock::now());
      }
      if (!open) {
        stop(m);
        log_line(fmt::format(
            "{}: the monitor ended (gobgpd gone?); its routes stay for {} s, trying again every second",
            m.peer, cfg.stale.count() / 1000.0));
        c.on_event({Event::Kind::PeerDown, m.peer, {}}, Clock::now());
        m.restart_at = Clock::now() + std::chrono::seconds(1);
      }
    }
    bool read = false;
    for (std::size_t i = 1; i < fds.size(); ++i) read |= fds[i].revents != 0;
    c.tick(Clock::now());
    state.maybe_write(c, read);
  }
  for (auto& m : mons) stop(m);
  state.write(c);
  return result;
}

}  // namespace xdpguard::flowspec
