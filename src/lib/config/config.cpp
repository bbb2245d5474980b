#include "config/config.h"

#include <algorithm>
#include <optional>
#include <set>
#include <utility>

#include <fmt/format.h>
#include <toml++/toml.h>

#include "rules/limits.h"
#include "rules/parser.h"

namespace xdpguard::config {
namespace {

using rules::quote;

std::string_view type_name(toml::node_type t) {
  switch (t) {
    case toml::node_type::table: return "a table";
    case toml::node_type::array: return "an array";
    case toml::node_type::string: return "a string";
    case toml::node_type::integer: return "an integer";
    case toml::node_type::floating_point: return "a float";
    case toml::node_type::boolean: return "a boolean";
    case toml::node_type::date: return "a date";
    case toml::node_type::time: return "a time";
    case toml::node_type::date_time: return "a date-time";
    case toml::node_type::none: break;
  }
  return "nothing";
}

std::size_t line_of(const toml::node& n) { return n.source().begin.line; }
std::size_t line_of(const toml::key& k) { return k.source().begin.line; }

// Entries of a TOML table in file order (toml::table is ordered by key).
std::vector<std::pair<const toml::key*, const toml::node*>> in_file_order(const toml::table& t) {
  std::vector<std::pair<const toml::key*, const toml::node*>> v;
  for (auto&& [k, n] : t) v.emplace_back(&k, &n);
  std::stable_sort(v.begin(), v.end(), [](const auto& a, const auto& b) {
    const auto& pa = a.first->source().begin;
    const auto& pb = b.first->source().begin;
    return pa.line != pb.line ? pa.line < pb.line : pa.column < pb.column;
  });
  return v;
}

std::string join_or(std::initializer_list<std::string_view> words) {
  std::string s;
  std::size_t i = 0;
  for (auto w : words) {
    if (i > 0) s += i + 1 == words.size() ? " or " : ", ";
    s += w;
    ++i;
  }
  return s;
}

// How deep the text nests, found before toml++ parses it. toml++ 3.3 builds
// (and frees) its tree recursively and bounds only nested arrays and inline
// tables (256): a table header [a.a.a...] or a dotted key a.a.a... = 1 of
// 100,000 parts overflowed an 8 MiB stack. Every node's depth here is the
// parts of its table header (one more for [[array.of.tables]]), plus the
// parts of the dotted keys leading to it, plus the arrays and inline tables
// around it. The scanner knows TOML's strings and comments well enough not
// to count what is inside them; for anything else it is lenient (toml++
// reports syntax errors), and it never counts less than toml++ nests.
class DepthScanner {
 public:
  DepthScanner(std::string_view text, std::string_view source) : t_(text), source_(source) {}

  Result<void> run() {
    while (i_ < t_.size()) {
      const char c = t_[i_];
      if (c == '\n') {
        newline();
        if (stack_.empty()) statement_ = true;
        continue;
      }
      if (c == ' ' || c == '\t' || c == '\r') {
        ++i_;
        continue;
      }
      if (c == '#') {
        while (i_ < t_.size() && t_[i_] != '\n') ++i_;
        continue;
      }
      if (stack_.empty() && statement_) {
        statement_ = false;
        if (c == '[') {
          XG_CHECK(header());
        } else {
          const std::size_t at = i_;
          value_depth_ = header_depth_ + key();
          XG_CHECK(check(value_depth_, at));
        }
        continue;
      }
      if (!stack_.empty() && stack_.back().table && stack_.back().expect_key) {
        stack_.back().expect_key = false;
        if (c != '}') {
          const std::size_t at = i_;
          value_depth_ = stack_.back().depth + key();
          XG_CHECK(check(value_depth_, at));
          continue;
        }
      }
      switch (c) {
        case '"':
        case '\'': string(c); break;
        case '[':
        case '{':
          XG_CHECK(check(value_depth_, i_));
          stack_.push_back({value_depth_, c == '{', c == '{'});
          if (c == '[') value_depth_ = stack_.back().depth + 1;
          ++i_;
          break;
        case ']':
        case '}':
          if (!stack_.empty()) stack_.pop_back();
          if (!stack_.empty() && !stack_.back().table) value_depth_ = stack_.back().depth + 1;
          ++i_;
          break;
        case ',':
          if (!stack_.empty() && stack_.back().table) stack_.back().expect_key = true;
          ++i_;
          break;
        default: ++i_;
      }
    }
    return {};
  }

 private:
  struct Frame {
    std::size_t depth;  // of the array or inline table itself
    bool table;         // inline table (keys inside), else array
    bool expect_key;
  };

  Result<void> check(std::size_t depth, std::size_t at) const {
    if (depth <= kMaxConfigDepth) return {};
    return fail(
        EINVAL,
        "{} line {}, column {}: nested more than {} levels deep (table header parts, dotted key parts, "
        "arrays and inline tables together)",
        source_, line_, at - line_start_ + 1, kMaxConfigDepth);
  }

  void newline() {
    ++i_;
    ++line_;
    line_start_ = i_;
  }

  // A key up to its '=' (or wherever it ends): how many parts it has.
  std::size_t key() {
    std::size_t parts = 1;
    while (i_ < t_.size()) {
      const char c = t_[i_];
      if (c == '=' || c == '\n' || c == ',' || c == '}' || c == '{' || c == '[' || c == ']' || c == '#')
        break;
      if (c == '"' || c == '\'') {
        string(c);
        continue;
      }
      if (c == '.') ++parts;
      ++i_;
    }
    if (i_ < t_.size() && t_[i_] == '=') ++i_;
    return parts;
  }

  // [a.b.c] or [[a.b.c]]: the depth of the tables that follow.
  Result<void> header() {
    const std::size_t at = i_;
    ++i_;
    const bool array = i_ < t_.size() && t_[i_] == '[';
    if (array) ++i_;
    std::size_t parts = 1;
    while (i_ < t_.size() && t_[i_] != ']' && t_[i_] != '\n') {
      const char c = t_[i_];
      if (c == '"' || c == '\'') {
        string(c);
        continue;
      }
      if (c == '.') ++parts;
      ++i_;
    }
    while (i_ < t_.size() && t_[i_] == ']') ++i_;
    header_depth_ = parts + (array ? 1 : 0);
    return check(header_depth_, at);
  }

  bool triple_at(std::size_t i, char q) const {
    return i + 2 < t_.size() && t_[i] == q && t_[i + 1] == q && t_[i + 2] == q;
  }

  // Skips a string starting at i_ ('"' or '\''), multi-line ones included.
  // A backslash escapes the next character in basic strings, never a line
  // end (so that lines are still counted).
  void string(char q) {
    const bool basic = q == '"';
    const bool multi = triple_at(i_, q);
    i_ += multi ? 3 : 1;
    while (i_ < t_.size()) {
      const char c = t_[i_];
      if (c == '\n') {
        if (!multi) return;  // unterminated: toml++ says so
        newline();
      } else if (basic && c == '\\') {
        ++i_;
        if (i_ < t_.size() && t_[i_] != '\n') ++i_;
      } else if (!multi && c == q) {
        ++i_;
        return;
      } else if (multi && triple_at(i_, q)) {
        i_ += 3;
        // Up to two more quotes belong to the content ("x""""").
        for (int k = 0; k < 2 && i_ < t_.size() && t_[i_] == q; ++k) ++i_;
        return;
      } else {
        ++i_;
      }
    }
  }

  std::string_view t_;
  std::string_view source_;
  std::size_t i_ = 0, line_ = 1, line_start_ = 0;
  std::vector<Frame> stack_;
  std::size_t header_depth_ = 0, value_depth_ = 0;
  bool statement_ = true;  // at the top level, where a key or a [header] may start
};

// A set definition before its contents are loaded.
struct SetDef {
  std::string name;
  std::size_t line;
  const toml::node* file = nullptr;
  const toml::array* elements = nullptr;
};

class Loader {
 public:
  Loader(std::string_view source, const FileReader& read_file) : source_(source), read_file_(read_file) {}

  Result<Config> load(std::string_view text) {
    if (text.size() > kMaxConfigBytes)
      return fail(EFBIG, "{}: more than {} bytes (the limit)", source_, kMaxConfigBytes);
    XG_CHECK(DepthScanner(text, source_).run());
    toml::table root;
    try {
      root = toml::parse(text, std::string(source_));
    } catch (const toml::parse_error& e) {
      return fail(EINVAL, "{} line {}, column {}: {}", source_, e.source().begin.line,
                  e.source().begin.column, e.description());
    }
    Config cfg;
    cfg.source = source_;

    const toml::table* interfaces = nullptr;
    const toml::table* sets = nullptr;
    for (const auto& [k, n] : in_file_order(root)) {
      if (k->str() == "flood") {
        cfg.flood = XG_TRY(flood(*k, *n, "[flood]"));
      } else if (k->str() == "ddos") {
        cfg.never_block = XG_TRY(prefix_table(*k, *n, "[ddos]", "never-block"));
      } else if (k->str() == "guard") {
        XG_CHECK(guard_table(*k, *n, cfg));
      } else if (k->str() == "flowspec") {
        cfg.flowspec = XG_TRY(flowspec_table(*k, *n));
      } else if (k->str() == "interfaces") {
        interfaces = n->as_table();
        if (!interfaces)
          return error(line_of(*k), "expected [interfaces.NAME] tables, got {}", type_name(n->type()));
      } else if (k->str() == "sets") {
        sets = n->as_table();
        if (!sets) return error(line_of(*k), "expected [sets.NAME] tables, got {}", type_name(n->type()));
      } else {
        return unknown_key(*k, "at the top level",
                           {"interfaces", "sets", "flood", "ddos", "guard", "flowspec"});
      }
    }

    std::vector<SetDef> defs;
    if (sets) defs = XG_TRY(set_defs(*sets));
    if (interfaces) {
      for (const auto& [k, n] : in_file_order(*interfaces))
        cfg.interfaces.push_back(XG_TRY(interface(*k, *n, defs, cfg.flood)));
    }
    for (const auto& d : defs) cfg.sets.push_back(XG_TRY(load_set(d)));
    if (cfg.flowspec) {
      for (const auto& name : cfg.flowspec->interfaces)
        if (!cfg.find_interface(name))
          return error(cfg.flowspec->line, "[flowspec] interfaces: {} has no [interfaces.{}] section",
                       quote(name), name);
      if (cfg.interfaces.empty())
        return error(cfg.flowspec->line, "[flowspec]: the file has no interface to enforce the routes on");
    }
    if (cfg.never_block.size() + cfg.management.size() > rules::kMaxNeverBlock)
      return fail(E2BIG, "{}: {} never-block and management prefixes, the limit is {}", source_,
                  cfg.never_block.size() + cfg.management.size(), rules::kMaxNeverBlock);
    return cfg;
  }

 private:
  template <class... Args>
  tl::unexpected<Error> error(std::size_t line, fmt::format_string<Args...> f, Args&&... args) {
    return fail(EINVAL, "{} line {}: {}", source_, line, fmt::format(f, std::forward<Args>(args)...));
  }

  tl::unexpected<Error> unknown_key(const toml::key& k, std::string_view where,
                                    std::initializer_list<std::string_view> known) {
    return error(line_of(k), "unknown key {} {} (expected {})", quote(k.str()), where, join_or(known));
  }

  Result<std::vector<SetDef>> set_defs(const toml::table& sets) {
    std::vector<SetDef> defs;
    for (const auto& [k, n] : in_file_order(sets)) {
      std::string name(k->str());
      std::size_t line = line_of(*k);
      if (!rules::valid_set_name(name))
        return error(line,
                     "expected a set name (1-{} letters, digits, _ or -, starting with a letter "
                     "or _), got {}",
                     rules::kMaxSetName, quote(name));
      if (defs.size() == rules::kMaxSets)
        return fail(E2BIG, "{} line {}: set {}: more than {} sets (the limit)", source_, line, name,
                    rules::kMaxSets);
      const toml::table* t = n->as_table();
      if (!t)
        return error(line, "set {}: expected a table [sets.{}], got {}", name, name, type_name(n->type()));
      SetDef d{name, line};
      for (const auto& [sk, sn] : in_file_order(*t)) {
        if (sk->str() == "file") {
          if (!sn->is_string())
            return error(line_of(*sk), "set {}: expected file to be a string (a path), got {}", name,
                         type_name(sn->type()));
          d.file = sn;
        } else if (sk->str() == "elements") {
          d.elements = sn->as_array();
          if (!d.elements)
            return error(line_of(*sk), "set {}: expected elements to be an array of prefixes, got {}", name,
                         type_name(sn->type()));
        } else {
          return unknown_key(*sk, fmt::format("in [sets.{}]", name), {"file", "elements"});
        }
      }
      if (d.file && d.elements)
        return error(line, "set {}: expected either file or elements, got both", name);
      if (!d.file && !d.elements)
        return error(line, "set {}: expected file = \"PATH\" or elements = [...]", name);
      defs.push_back(std::move(d));
    }
    return defs;
  }

  Result<rules::Action> pass_or_drop(const toml::key& k, const toml::node& n, std::string_view iface) {
    auto s = n.value<std::string>();
    if (!n.is_string() || !s)
      return error(line_of(n), "interface {}: expected {} to be \"pass\" or \"drop\", got {}", iface, k.str(),
                   type_name(n.type()));
    if (*s == "pass") return rules::Action::Pass;
    if (*s == "drop") return rules::Action::Drop;
    return error(line_of(n), "interface {}: expected {} to be \"pass\" or \"drop\", got {}", iface, k.str(),
                 quote(*s));
  }

  // A table whose one key (`key`) is a list of prefixes: [ddos] never-block,
  // [guard] management.
  // The prefix list `key` of table `where`; `other` names a key of the
  // table read elsewhere (skipped here).
  Result<std::vector<rules::Prefix>> prefix_table(const toml::key& table_key, const toml::node& node,
                                                  std::string_view where, std::string_view key,
                                                  std::string_view other = {}) {
    const auto* t = node.as_table();
    if (!t) return error(line_of(table_key), "expected a {} table, got {}", where, type_name(node.type()));
    std::vector<rules::Prefix> out;
    for (const auto& [k, n] : in_file_order(*t)) {
      if (!other.empty() && k->str() == other) continue;
      if (k->str() != key) return unknown_key(*k, fmt::format("in {}", where), {key});
      const auto* list = n->as_array();
      if (!list)
        return error(line_of(*k), "{} {}: expected a list of prefixes, got {}", where, key,
                     type_name(n->type()));
      std::size_t i = 0;
      for (const toml::node& e : *list) {
        ++i;
        const auto* str = e.as_string();
        auto p = str ? rules::parse_prefix(str->get()) : std::nullopt;
        if (!p)
          return error(line_of(e), "{} {} element {}: expected an IPv4 or IPv6 prefix in quotes, got {}",
                       where, key, i, str ? quote(str->get()) : std::string(type_name(e.type())));
        out.push_back(*p);
      }
    }
    return out;
  }

  // [guard]: management = [prefixes], lockout-guard = true|false.
  Result<void> guard_table(const toml::key& table_key, const toml::node& node, Config& cfg) {
    const auto* t = node.as_table();
    if (!t) return error(line_of(table_key), "expected a [guard] table, got {}", type_name(node.type()));
    for (const auto& [k, n] : in_file_order(*t)) {
      if (k->str() == "lockout-guard") {
        const auto v = n->value<bool>();
        if (!n->is_boolean() || !v)
          return error(line_of(*k), "[guard] lockout-guard: expected true or false, got {}",
                       type_name(n->type()));
        cfg.lockout_guard = *v;
      } else if (k->str() != "management") {
        return unknown_key(*k, "in [guard]", {"management", "lockout-guard"});
      }
    }
    if (t->contains("management"))
      cfg.management = XG_TRY(prefix_table(table_key, node, "[guard]", "management", "lockout-guard"));
    return {};
  }

  // [flowspec]: gobgp = "HOST:PORT", interfaces, position, max-rules,
  // stale-time, state.
  Result<Flowspec> flowspec_table(const toml::key& table_key, const toml::node& node) {
    const auto* t = node.as_table();
    if (!t) return error(line_of(table_key), "expected a [flowspec] table, got {}", type_name(node.type()));
    Flowspec f;
    f.line = line_of(table_key);
    auto text = [&](const toml::node& n, std::string_view key) -> Result<std::string> {
      auto v = n.value<std::string>();
      if (!n.is_string() || !v || v->empty())
        return error(line_of(n), "[flowspec] {}: expected a non-empty string, got {}", key,
                     n.is_string() ? "\"\"" : type_name(n.type()));
      return *v;
    };
    for (const auto& [k, n] : in_file_order(*t)) {
      const std::string_view key_s = k->str();
      if (key_s == "gobgp") {
        f.gobgp = XG_TRY(text(*n, key_s));
      } else if (key_s == "state") {
        f.state = XG_TRY(text(*n, key_s));
      } else if (key_s == "position") {
        const auto v = XG_TRY(text(*n, key_s));
        if (v != "after-local" && v != "before-local")
          return error(line_of(*n),
                       "[flowspec] position: expected \"after-local\" or \"before-local\", got {}", quote(v));
        f.before_local = v == "before-local";
      } else if (key_s == "interfaces") {
        const toml::array* a = n->as_array();
        if (!a || a->empty())
          return error(line_of(*n), "[flowspec] interfaces: expected an array of interface names, got {}",
                       a ? "an empty array" : type_name(n->type()));
        for (const auto& e : *a) f.interfaces.push_back(XG_TRY(text(e, "interfaces")));
      } else if (key_s == "max-rules") {
        auto v = n->value<std::int64_t>();
        if (!n->is_integer() || !v || *v < 1 || *v > XDPGUARD_MAX_RULES)
          return error(line_of(*n), "[flowspec] max-rules: expected a number from 1 to {}, got {}",
                       XDPGUARD_MAX_RULES,
                       n->is_integer() && v ? std::to_string(*v) : std::string(type_name(n->type())));
        f.max_rules = static_cast<std::size_t>(*v);
      } else if (key_s == "stale-time") {
        auto v = n->value<double>();
        if (!(n->is_integer() || n->is_floating_point()) || !v || !(*v >= 0 && *v <= kFlowspecMaxStale))
          return error(line_of(*n), "[flowspec] stale-time: expected seconds from 0 to {}, got {}",
                       kFlowspecMaxStale, v ? fmt::format("{}", *v) : std::string(type_name(n->type())));
        f.stale_s = *v;
      } else {
        return unknown_key(*k, "in [flowspec]",
                           {"gobgp", "interfaces", "position", "max-rules", "stale-time", "state"});
      }
    }
    if (f.gobgp.empty())
      return error(f.line, "[flowspec]: expected gobgp = \"HOST:PORT\" (the GoBGP daemon's gRPC API)");
    return f;
  }

  // A [flood] table (`where`: "[flood]" or "interface eth1: [interfaces.eth1.flood]").
  Result<Flood> flood(const toml::key& key, const toml::node& node, const std::string& where) {
    const toml::table* t = node.as_table();
    if (!t) return error(line_of(key), "{}: expected a table, got {}", where, type_name(node.type()));
    Flood f;
    for (const auto& [k, n] : in_file_order(*t)) {
      const std::string_view key_s = k->str();
      auto v = n->value<std::int64_t>();
      const bool integer = n->is_integer() && v;
      const std::string got = integer ? std::to_string(*v) : std::string(type_name(n->type()));
      std::optional<std::uint64_t>* pps = key_s == "syn-pps"    ? &f.syn_pps
                                          : key_s == "udp-pps"  ? &f.udp_pps
                                          : key_s == "icmp-pps" ? &f.icmp_pps
                                          : key_s == "frag-pps" ? &f.frag_pps
                                                                : nullptr;
      if (pps) {
        if (!integer || *v < 0 || static_cast<std::uint64_t>(*v) > kFloodMaxPps)
          return error(line_of(*n),
                       "{}: expected {} to be packets per second, a whole number from 0 (not watched) to {}, "
                       "got {}",
                       where, key_s, kFloodMaxPps, got);
        *pps = static_cast<std::uint64_t>(*v);
      } else if (key_s == "hold") {
        if (!integer || *v < 1 || *v > kFloodMaxHold)
          return error(line_of(*n), "{}: expected hold to be seconds, a whole number from 1 to {}, got {}",
                       where, kFloodMaxHold, got);
        f.hold = static_cast<std::uint32_t>(*v);
      } else if (key_s == "top-sources") {
        if (!integer || *v < 0 || *v > kFloodMaxTop)
          return error(line_of(*n), "{}: expected top-sources to be a number from 0 to {}, got {}", where,
                       kFloodMaxTop, got);
        f.top_sources = static_cast<std::uint32_t>(*v);
      } else {
        return unknown_key(*k, fmt::format("in {}", where),
                           {"syn-pps", "udp-pps", "icmp-pps", "frag-pps", "hold", "top-sources"});
      }
    }
    return f;
  }

  // [interfaces.NAME.synproxy]: ports and the SYN-ACKs' settings.
  Result<Synproxy> synproxy(const toml::key& key, const toml::node& node, const std::string& where) {
    const toml::table* t = node.as_table();
    if (!t) return error(line_of(key), "{}: expected a table, got {}", where, type_name(node.type()));
    Synproxy sp;
    sp.line = line_of(key);
    // A whole number in [lo, hi] at n, or the error naming it.
    auto number = [&](const toml::node& n, std::string_view what, std::int64_t lo,
                      std::int64_t hi) -> Result<std::int64_t> {
      auto v = n.value<std::int64_t>();
      if (!n.is_integer() || !v || *v < lo || *v > hi)
        return error(line_of(n), "{}: expected {} to be a number from {} to {}, got {}", where, what, lo, hi,
                     n.is_integer() && v ? std::to_string(*v) : std::string(type_name(n.type())));
      return *v;
    };
    for (const auto& [k, n] : in_file_order(*t)) {
      const std::string_view key_s = k->str();
      if (key_s == "ports") {
        const toml::array* a = n->as_array();
        if (!a || a->empty())
          return error(line_of(*n), "{}: expected ports to be an array of port numbers, got {}", where,
                       a ? "an empty array" : type_name(n->type()));
        for (const auto& e : *a)
          sp.ports.push_back(static_cast<std::uint16_t>(XG_TRY(number(e, "each port", 1, 65535))));
      } else if (key_s == "mss4") {
        sp.mss4 = static_cast<std::uint16_t>(XG_TRY(number(*n, key_s, 536, 65535)));
      } else if (key_s == "mss6") {
        sp.mss6 = static_cast<std::uint16_t>(XG_TRY(number(*n, key_s, 1220, 65535)));
      } else if (key_s == "wscale") {
        sp.wscale = static_cast<std::uint8_t>(XG_TRY(number(*n, key_s, 0, 14)));
      } else if (key_s == "ttl") {
        sp.ttl = static_cast<std::uint8_t>(XG_TRY(number(*n, key_s, 1, 255)));
      } else {
        return unknown_key(*k, fmt::format("in {}", where), {"ports", "mss4", "mss6", "wscale", "ttl"});
      }
    }
    if (sp.ports.empty())
      return error(sp.line, "{}: expected ports (the TCP ports it answers SYNs for)", where);
    return sp;
  }

  Result<Interface> interface(const toml::key& key, const toml::node& node, const std::vector<SetDef>& defs,
                              const Flood& flood_defaults) {
    Interface ifc;
    ifc.flood = flood_defaults;
    ifc.name = std::string(key.str());
    ifc.line = line_of(key);
    if (!rules::valid_ifname(ifc.name))
      return error(ifc.line,
                   "expected an interface name (1-{} printable ASCII characters, no '/' or ':'), "
                   "got {}",
                   rules::kMaxIfname, quote(ifc.name));
    const toml::table* t = node.as_table();
    if (!t)
      return error(ifc.line, "interface {}: expected a table [interfaces.{}], got {}", ifc.name, ifc.name,
                   type_name(node.type()));
    const std::string& name = ifc.name;
    for (const auto& [k, n] : in_file_order(*t)) {
      std::string_view key_s = k->str();
      if (key_s == "mode") {
        auto s = n->value<std::string>();
        if (!n->is_string() || !s)
          return error(line_of(*n),
                       "interface {}: expected mode to be \"native\", \"generic\" or "
                       "\"auto\", got {}",
                       name, type_name(n->type()));
        if (*s == "native")
          ifc.mode = Mode::Native;
        else if (*s == "generic")
          ifc.mode = Mode::Generic;
        else if (*s == "auto")
          ifc.mode = Mode::Auto;
        else
          return error(line_of(*n),
                       "interface {}: expected mode to be \"native\", \"generic\" or "
                       "\"auto\", got {}",
                       name, quote(*s));
      } else if (key_s == "default") {
        ifc.default_action = XG_TRY(pass_or_drop(*k, *n, name));
      } else if (key_s == "non-ip") {
        ifc.non_ip_action = XG_TRY(pass_or_drop(*k, *n, name));
      } else if (key_s == "malformed") {
        ifc.malformed_action = XG_TRY(pass_or_drop(*k, *n, name));
      } else if (key_s == "limit-buckets" || key_s == "block-entries") {
        // Sizes of the kernel's LRU maps for rate limits (docs/ddos.md).
        auto v = n->value<std::int64_t>();
        if (!n->is_integer() || !v || *v < 1 || *v > (1 << 24))
          return error(line_of(*n), "interface {}: expected {} to be a number from 1 to {}, got {}", name,
                       key_s, 1 << 24,
                       n->is_integer() && v ? std::to_string(*v) : std::string(type_name(n->type())));
        (key_s == "limit-buckets" ? ifc.limit_buckets : ifc.block_entries) = static_cast<std::uint32_t>(*v);
      } else if (key_s == "rules") {
        const toml::array* a = n->as_array();
        if (!a)
          return error(line_of(*n), "interface {}: expected rules to be an array of strings, got {}", name,
                       type_name(n->type()));
        XG_CHECK(rule_list(ifc, *a, defs));
      } else if (key_s == "flood") {
        ifc.flood =
            flood_defaults.overridden_by(XG_TRY(flood(*k, *n, fmt::format("[interfaces.{}.flood]", name))));
      } else if (key_s == "synproxy") {
        ifc.synproxy = XG_TRY(synproxy(*k, *n, fmt::format("[interfaces.{}.synproxy]", name)));
      } else if (key_s == "talkers") {
        auto v = n->value<bool>();
        if (!n->is_boolean() || !v)
          return error(line_of(*n), "interface {}: expected talkers to be true or false, got {}", name,
                       type_name(n->type()));
        ifc.talkers = *v;
      } else {
        return unknown_key(*k, fmt::format("in [interfaces.{}]", name),
                           {"mode", "default", "non-ip", "malformed", "rules", "limit-buckets",
                            "block-entries", "flood", "synproxy", "talkers"});
      }
    }
    std::vector<rules::Rule> parsed;
    parsed.reserve(ifc.rules.size());
    for (const auto& r : ifc.rules) parsed.push_back(r.rule);
    ifc.warnings = rules::lint(parsed);
    if (auto w = rules::limit_depth_warning(parsed))
      ifc.warnings.push_back(
          {parsed.size() - 1, parsed.size() - 1, fmt::format("interface {}: {}", name, *w)});
    return ifc;
  }

  Result<void> rule_list(Interface& ifc, const toml::array& a, const std::vector<SetDef>& defs) {
    std::set<std::string> used;
    std::size_t number = 0;
    ifc.rules.reserve(std::min(a.size(), rules::kMaxRules));
    for (const toml::node& n : a) {
      ++number;
      std::size_t line = line_of(n);
      if (number > rules::kMaxRules)
        return fail(E2BIG, "{} line {}: interface {}: more than {} rules (the limit per interface)", source_,
                    line, ifc.name, rules::kMaxRules);
      const auto* s = n.as_string();
      if (!s) return error(line, "rule {}: expected a rule in quotes, got {}", number, type_name(n.type()));
      auto rule = rules::parse_rule(s->get(), number);
      if (!rule) return error(line, "{}", rule.error().message());
      for (const auto* m : {&rule->saddr, &rule->daddr}) {
        if (!*m || (*m)->prefix) continue;
        const std::string& set = (*m)->set;
        bool defined = std::any_of(defs.begin(), defs.end(), [&](const SetDef& d) { return d.name == set; });
        if (!defined)
          return error(line, "rule {}: set @{} is not defined (expected a [sets.{}] table)", number, set,
                       set);
        used.insert(set);
      }
      ifc.rules.push_back({s->get(), std::move(*rule), line});
    }
    ifc.sets.assign(used.begin(), used.end());
    return {};
  }

  std::string resolve(std::string_view file) const {
    if (file.starts_with('/')) return std::string(file);
    auto slash = source_.rfind('/');
    if (slash == std::string_view::npos) return std::string(file);
    return fmt::format("{}/{}", source_.substr(0, slash), file);
  }

  Result<Set> load_set(const SetDef& d) {
    Set s;
    s.name = d.name;
    s.line = d.line;
    if (d.file) {
      const std::string& path = d.file->as_string()->get();
      if (path.empty()) return error(line_of(*d.file), "set {}: expected a file path, got \"\"", d.name);
      s.file = resolve(path);
      auto text = read_file_ ? read_file_(s.file) : rules::read_text_file(s.file, rules::kMaxSetFileBytes);
      if (!text)
        return fail(text.error().code(), "{} line {}: set {}: {}", source_, line_of(*d.file), d.name,
                    text.error().message());
      auto list = rules::parse_set_text(*text, s.file);
      if (!list)
        return fail(list.error().code(), "{} line {}: set {}: {}", source_, line_of(*d.file), d.name,
                    list.error().message());
      s.prefixes = std::move(*list);
      return s;
    }
    std::vector<rules::Prefix> prefixes;
    prefixes.reserve(d.elements->size());
    std::size_t i = 0;
    for (const toml::node& n : *d.elements) {
      ++i;
      const auto* str = n.as_string();
      if (!str)
        return error(line_of(n), "set {} element {}: expected a prefix in quotes, got {}", d.name, i,
                     type_name(n.type()));
      auto p = rules::parse_prefix(str->get());
      if (!p)
        return error(line_of(n), "set {} element {}: expected an IPv4 or IPv6 prefix, got {}", d.name, i,
                     quote(str->get()));
      prefixes.push_back(*p);
    }
    auto list = rules::make_prefix_list(std::move(prefixes), fmt::format("set {}", d.name));
    if (!list) return fail(list.error().code(), "{} line {}: {}", source_, d.line, list.error().message());
    s.prefixes = std::move(*list);
    return s;
  }

  std::string source_;
  const FileReader& read_file_;
};

}  // namespace

Flood Flood::overridden_by(const Flood& over) const {
  Flood f = *this;
  if (over.syn_pps) f.syn_pps = over.syn_pps;
  if (over.udp_pps) f.udp_pps = over.udp_pps;
  if (over.icmp_pps) f.icmp_pps = over.icmp_pps;
  if (over.frag_pps) f.frag_pps = over.frag_pps;
  if (over.hold) f.hold = over.hold;
  if (over.top_sources) f.top_sources = over.top_sources;
  return f;
}

const Interface* Config::find_interface(std::string_view name) const {
  for (const auto& i : interfaces)
    if (i.name == name) return &i;
  return nullptr;
}

const Set* Config::find_set(std::string_view name) const {
  for (const auto& s : sets)
    if (s.name == name) return &s;
  return nullptr;
}

std::string_view mode_name(Mode m) {
  switch (m) {
    case Mode::Native: return "native";
    case Mode::Generic: return "generic";
    case Mode::Auto: return "auto";
  }
  return "?";
}

Result<Config> parse_config(std::string_view text, std::string_view source, const FileReader& read_file) {
  return Loader(source, read_file).load(text);
}

Result<Config> load_config(const std::string& path) {
  auto text = XG_TRY(rules::read_text_file(path, kMaxConfigBytes));
  return parse_config(text, path);
}

}  // namespace xdpguard::config
