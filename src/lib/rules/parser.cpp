#include "rules/parser.h"

#include <arpa/inet.h>

#include <algorithm>
#include <cstring>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include <xdpguard/parse.h>

#include "rules/limits.h"

namespace xdpguard::rules {
namespace {

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'; }
bool is_digit(char c) { return c >= '0' && c <= '9'; }

struct Token {
  std::string_view text;
  std::size_t column;  // 1-based byte column
};

// Tokens are separated by whitespace, except that a token starting with '"'
// runs to the next '"' (a comment: spaces inside), and one starting with '{'
// to the next '}' (nft's anonymous set: `{ 0, 3, 8-11 }`); either then goes
// on to the next whitespace. An unclosed one runs to the end of the text;
// the match that reads it says what is missing. Tokens are views of the
// text, so columns stay those of the text.
std::vector<Token> tokenize(std::string_view s) {
  std::vector<Token> out;
  out.reserve(16);  // a rule rarely has more: one allocation
  std::size_t i = 0;
  while (i < s.size()) {
    while (i < s.size() && is_space(s[i])) ++i;
    std::size_t start = i;
    if (i < s.size() && (s[i] == '"' || s[i] == '{')) {
      std::size_t close = s.find(s[i] == '"' ? '"' : '}', i + 1);
      i = close == std::string_view::npos ? s.size() : close + 1;
    }
    while (i < s.size() && !is_space(s[i])) ++i;
    if (i > start) out.push_back({s.substr(start, i - start), start + 1});
  }
  return out;
}

std::optional<std::uint32_t> decimal(std::string_view s, std::uint32_t max) {
  auto v = parse_decimal(s, max);
  return v ? std::optional(static_cast<std::uint32_t>(*v)) : std::nullopt;
}

bool all_digits(std::string_view s) { return !s.empty() && std::all_of(s.begin(), s.end(), is_digit); }

constexpr std::pair<std::string_view, std::uint8_t> kFlags[] = {
    {"fin", XG_TCP_FIN}, {"syn", XG_TCP_SYN}, {"rst", XG_TCP_RST}, {"psh", XG_TCP_PSH},
    {"ack", XG_TCP_ACK}, {"urg", XG_TCP_URG}, {"ece", XG_TCP_ECE}, {"cwr", XG_TCP_CWR}};

constexpr std::pair<std::string_view, std::uint8_t> kFragFlags[] = {{"dont-fragment", kFragDf},
                                                                    {"is-fragment", kFragIsf},
                                                                    {"first-fragment", kFragFf},
                                                                    {"last-fragment", kFragLf}};

constexpr std::string_view kMatchWords =
    "ip, ip6, tcp, udp, icmp, icmpv6, proto, saddr, daddr, sport, dport, tcp-flags, icmp-type, icmp-code, "
    "length, dscp, frag, vlan, limit, log or comment";

// What a value-list match (`icmp-type`, `icmp-code`, `length`, `dscp`) takes.
struct ValueSpec {
  std::string_view noun;  // "an ICMP type"
  std::uint32_t max;
};

constexpr std::size_t kMaxComment = 128;

std::string_view family_name(Family f) { return f == Family::V4 ? "IPv4" : "IPv6"; }

class Parser {
 public:
  Parser(std::string_view text, std::optional<std::size_t> number)
      : text_(text), toks_(tokenize(text)), number_(number), end_column_(text.size() + 1) {}

  Result<Rule> parse() {
    if (toks_.empty()) return error(1, "expected an action (pass, drop or redirect), got an empty rule");
    XG_CHECK(action());
    while (i_ < toks_.size()) XG_CHECK(match(toks_[i_++]));
    // Requirements whose token may come later in the rule are checked last.
    if (sport_ && !proto_) return error(sport_->column, "expected tcp or udp before sport");
    if (dport_ && !proto_) return error(dport_->column, "expected tcp or udp before dport");
    if (flags_ && !proto_) return error(flags_->column, "expected tcp before tcp-flags");
    if (icmp_type_ && !proto_) return error(icmp_type_->column, "expected icmp or icmpv6 before icmp-type");
    if (icmp_code_ && !proto_) return error(icmp_code_->column, "expected icmp or icmpv6 before icmp-code");
    if (limit_ && r_.limit)
      if (auto l = finish_limit(*r_.limit, r_.family, r_.action, limit_->column); !l)
        return error(l.error().column, l.error().message);
    return std::move(r_);
  }

 private:
  // Where a match was given, for "already given" and conflict messages.
  struct Seen {
    std::size_t column;
    std::string_view what;  // as written (a view of the text): "tcp", "proto 6", "saddr 10.0.0.0/8", "ip"
  };

  // The text from token a to token b, both included: a match as written.
  std::string_view span(const Token& a, const Token& b) const {
    return text_.substr(a.column - 1, b.column - a.column + b.text.size());
  }

  Result<void> action() {
    const Token& t = toks_[i_++];
    if (t.text == "pass") {
      r_.action = Action::Pass;
    } else if (t.text == "drop") {
      r_.action = Action::Drop;
    } else if (t.text == "redirect") {
      const Token& k = XG_TRY(next("xsk or dev after redirect"));
      if (k.text == "xsk") {
        r_.action = Action::RedirectXsk;
        // `fallback pass|drop`: what a queue without a socket does.
        if (i_ < toks_.size() && toks_[i_].text == "fallback") {
          ++i_;
          const Token& f = XG_TRY(next("pass or drop after fallback"));
          if (f.text == "pass")
            r_.xsk_fallback = Action::Pass;
          else if (f.text == "drop")
            r_.xsk_fallback = Action::Drop;
          else
            return expected(f.column, "pass or drop after fallback", f.text);
        }
      } else if (k.text == "dev") {
        const Token& n = XG_TRY(next("an interface name after dev"));
        if (!valid_ifname(n.text))
          return expected(n.column, "an interface name (1-15 printable ASCII characters, no '/' or ':')",
                          n.text);
        r_.action = Action::RedirectDev;
        r_.redirect_dev = std::string(n.text);
      } else {
        return expected(k.column, "xsk or dev after redirect", k.text);
      }
    } else {
      return expected(t.column, "an action (pass, drop or redirect)", t.text);
    }
    return {};
  }

  Result<void> match(const Token& t) {
    if (t.text == "log") return log_option(t);
    if (t.text == "ip" || t.text == "ip6") {
      if (family_kw_)
        return error(t.column, fmt::format("duplicate family {} ({} at column {})", t.text, family_kw_->what,
                                           family_kw_->column));
      family_kw_ = Seen{t.column, t.text};
      return set_family(t.text == "ip" ? Family::V4 : Family::V6, t.column, t.text);
    }
    if (t.text == "tcp") return protocol(t, kProtoTcp, t.text);
    if (t.text == "udp") return protocol(t, kProtoUdp, t.text);
    if (t.text == "icmp") return protocol(t, kProtoIcmp, t.text);
    if (t.text == "icmpv6") return protocol(t, kProtoIcmpv6, t.text);
    if (t.text == "proto") {
      const Token& n = XG_TRY(next("a protocol number 0-255 after proto"));
      auto v = decimal(n.text, 255);
      if (!v) return expected(n.column, "a protocol number 0-255", n.text);
      return protocol(t, static_cast<std::uint8_t>(*v), span(t, n));
    }
    if (t.text == "saddr") return address(t, r_.saddr, saddr_);
    if (t.text == "daddr") return address(t, r_.daddr, daddr_);
    if (t.text == "sport") return ports(t, r_.sport, sport_);
    if (t.text == "dport") return ports(t, r_.dport, dport_);
    if (t.text == "tcp-flags") return tcp_flags(t);
    if (t.text == "limit") return limit(t);
    if (t.text == "vlan") return vlan(t);
    if (t.text == "icmp-type")
      return icmp_values(t, r_.icmp_type, icmp_type_, {"an ICMP type", kMaxIcmpValue});
    if (t.text == "icmp-code")
      return icmp_values(t, r_.icmp_code, icmp_code_, {"an ICMP code", kMaxIcmpValue});
    if (t.text == "length") return values(t, r_.length, length_, {"a packet length", kMaxLength});
    if (t.text == "dscp") return values(t, r_.dscp, dscp_, {"a DSCP value", kMaxDscp});
    if (t.text == "frag") return frag(t);
    if (t.text == "comment") return comment(t);
    return expected(t.column, fmt::format("a match ({})", kMatchWords), t.text);
  }

  // `f` comes from `what` at `column`; it must agree with what came before.
  Result<void> set_family(Family f, std::size_t column, std::string_view what) {
    if (r_.family != Family::Any && r_.family != f)
      return error(column, fmt::format("{} is {}, but the rule is {} ({} at column {})", what, family_name(f),
                                       family_name(r_.family), family_src_->what, family_src_->column));
    if (r_.family == Family::Any) family_src_ = Seen{column, what};
    r_.family = f;
    return {};
  }

  Result<void> protocol(const Token& t, std::uint8_t proto, std::string_view what) {
    if (proto_)
      return error(t.column, fmt::format("duplicate protocol {} ({} at column {})", what, proto_->what,
                                         proto_->column));
    bool ports_ok = proto == kProtoTcp || proto == kProtoUdp;
    if (sport_ && !ports_ok)
      return error(t.column, fmt::format("{} cannot be used with sport (column {}): ports need "
                                         "tcp or udp",
                                         what, sport_->column));
    if (dport_ && !ports_ok)
      return error(t.column, fmt::format("{} cannot be used with dport (column {}): ports need "
                                         "tcp or udp",
                                         what, dport_->column));
    if (flags_ && proto != kProtoTcp)
      return error(t.column, fmt::format("{} cannot be used with tcp-flags (column {}), which "
                                         "needs tcp",
                                         what, flags_->column));
    bool icmp_ok = proto == kProtoIcmp || proto == kProtoIcmpv6;
    for (const auto& [seen, kw] : {std::pair{&icmp_type_, "icmp-type"}, std::pair{&icmp_code_, "icmp-code"}})
      if (*seen && !icmp_ok)
        return error(t.column, fmt::format("{} cannot be used with {} (column {}), which needs icmp or "
                                           "icmpv6",
                                           what, kw, (*seen)->column));
    proto_ = Seen{t.column, what};
    r_.proto = proto;
    if (proto == kProtoIcmp) return set_family(Family::V4, t.column, what);
    if (proto == kProtoIcmpv6) return set_family(Family::V6, t.column, what);
    return {};
  }

  Result<void> address(const Token& t, std::optional<AddrMatch>& out, std::optional<Seen>& seen) {
    if (seen)
      return error(t.column, fmt::format("duplicate {} ({} at column {})", t.text, seen->what, seen->column));
    const Token& a = XG_TRY(next([&] { return fmt::format("an address, prefix or @set after {}", t.text); }));
    seen = Seen{t.column, span(t, a)};
    AddrMatch m;
    if (a.text.front() == '@') {
      std::string_view name = a.text.substr(1);
      if (!valid_set_name(name))
        return expected(a.column,
                        "a set name after @ (1-31 letters, digits, _ or -, starting with a "
                        "letter or _)",
                        a.text);
      m.set = std::string(name);
      out = std::move(m);
      return {};
    }
    auto slash = a.text.find('/');
    std::string_view addr = a.text.substr(0, slash);
    Prefix p;
    if (auto v4 = parse_ipv4(addr)) {
      p.family = Family::V4;
      std::copy(v4->begin(), v4->end(), p.addr.begin());
      p.len = 32;
    } else if (auto v6 = parse_ipv6(addr)) {
      p.family = Family::V6;
      p.addr = *v6;
      p.len = 128;
    } else {
      return expected(a.column, "an IPv4 or IPv6 address or prefix, or @set", a.text);
    }
    if (slash != std::string_view::npos) {
      std::size_t max = p.len;
      auto len = decimal(a.text.substr(slash + 1), static_cast<std::uint32_t>(max));
      if (!len)
        return expected(a.column + slash + 1,
                        fmt::format("a prefix length 0-{} after an {} address", max, family_name(p.family)),
                        a.text.substr(slash + 1));
      p.len = static_cast<std::uint8_t>(*len);
    }
    clear_host_bits(p);
    XG_CHECK(set_family(p.family, a.column, span(t, a)));
    m.prefix = p;
    out = std::move(m);
    return {};
  }

  Result<void> ports(const Token& t, std::optional<PortRange>& out, std::optional<Seen>& seen) {
    if (seen)
      return error(t.column, fmt::format("duplicate {} ({} at column {})", t.text, seen->what, seen->column));
    if (proto_ && r_.proto != kProtoTcp && r_.proto != kProtoUdp)
      return error(t.column, fmt::format("{} needs tcp or udp, but the rule has {} (column {})", t.text,
                                         proto_->what, proto_->column));
    const Token& p = XG_TRY(next("a port or range"));
    seen = Seen{t.column, span(t, p)};
    auto dash = p.text.find('-');
    std::string_view lo_s = p.text.substr(0, dash);
    std::string_view hi_s = dash == std::string_view::npos ? lo_s : p.text.substr(dash + 1);
    std::size_t hi_col = dash == std::string_view::npos ? p.column : p.column + dash + 1;
    if (!all_digits(lo_s) || !all_digits(hi_s)) return expected(p.column, "a port or range", p.text);
    auto lo = decimal(lo_s, 65535);
    if (!lo) return expected(p.column, "a port 0-65535", lo_s);
    auto hi = decimal(hi_s, 65535);
    if (!hi) return expected(hi_col, "a port 0-65535", hi_s);
    if (*lo > *hi) return expected(p.column, "a range with low <= high", p.text);
    out = PortRange{static_cast<std::uint16_t>(*lo), static_cast<std::uint16_t>(*hi)};
    return {};
  }

  Result<void> tcp_flags(const Token& t) {
    if (flags_)
      return error(t.column,
                   fmt::format("duplicate tcp-flags ({} at column {})", flags_->what, flags_->column));
    if (proto_ && r_.proto != kProtoTcp)
      return error(t.column, fmt::format("tcp-flags needs tcp, but the rule has {} (column {})", proto_->what,
                                         proto_->column));
    const Token& f = XG_TRY(next("TCP flags (for example syn,!ack)"));
    flags_ = Seen{t.column, span(t, f)};
    return flag_list(f, kFlags,
                     "a TCP flag (fin, syn, rst, psh, ack, urg, ece or cwr, optionally preceded by !)",
                     "TCP flag", r_.flags_mask, r_.flags_value);
  }

  // A comma list of [!]NAME from `names` (tcp-flags, frag): the bits named
  // into mask, the unnegated ones into value; errors name the item's column.
  template <std::size_t N>
  Result<void> flag_list(const Token& f, const std::pair<std::string_view, std::uint8_t> (&names)[N],
                         std::string_view what, std::string_view kind, std::uint8_t& mask,
                         std::uint8_t& value) {
    std::size_t pos = 0;
    for (;;) {
      std::size_t comma = f.text.find(',', pos);
      std::string_view item = f.text.substr(pos, comma == std::string_view::npos ? comma : comma - pos);
      std::size_t col = f.column + pos;
      bool neg = !item.empty() && item.front() == '!';
      std::string_view name = neg ? item.substr(1) : item;
      std::uint8_t bit = 0;
      for (const auto& [n, b] : names)
        if (name == n) bit = b;
      if (!bit) {
        if (item.empty()) return error(col, fmt::format("expected {}, got nothing", what));
        return expected(col, what, item);
      }
      if (mask & bit) return error(col, fmt::format("duplicate {} {} in {}", kind, name, f.text));
      mask |= bit;
      if (!neg) value |= bit;
      if (comma == std::string_view::npos) break;
      pos = comma + 1;
    }
    return {};
  }

  // `icmp-type V` / `icmp-code V`: a value list that needs icmp or icmpv6.
  Result<void> icmp_values(const Token& t, std::optional<ValueList>& out, std::optional<Seen>& seen,
                           const ValueSpec& spec) {
    if (!seen && proto_ && r_.proto != kProtoIcmp && r_.proto != kProtoIcmpv6)
      return error(t.column, fmt::format("{} needs icmp or icmpv6, but the rule has {} (column {})", t.text,
                                         proto_->what, proto_->column));
    return values(t, out, seen, spec);
  }

  // KEYWORD V, V := N | N-M | a comma list of those (`0,3,8-11`) | the same
  // in nft's braces, spaces allowed (`{ 0, 3, 8-11 }`). Normalised: sorted,
  // overlapping or touching ranges merged; at most kMaxValueRanges after.
  Result<void> values(const Token& t, std::optional<ValueList>& out, std::optional<Seen>& seen,
                      const ValueSpec& spec) {
    if (seen)
      return error(t.column, fmt::format("duplicate {} ({} at column {})", t.text, seen->what, seen->column));
    const Token& v = XG_TRY(next([&] {
      return fmt::format("{} 0-{}, a range or a list after {} (for example 0,3,8-11)", spec.noun, spec.max,
                         t.text);
    }));
    seen = Seen{t.column, span(t, v)};
    std::string_view body = v.text;
    std::size_t base = v.column;  // the column of body[0]
    if (body.front() == '{') {
      std::size_t close = body.find('}');
      if (close == std::string_view::npos)
        return error(
            end_column_,
            fmt::format("expected }} to close the list opened at column {}, got end of rule", v.column));
      if (close + 1 < body.size())
        return expected(v.column + close + 1, "whitespace after }", body.substr(close + 1));
      body = body.substr(1, close - 1);
      base = v.column + 1;
    }
    ValueList list;
    auto item_what = [&] { return fmt::format("{} 0-{} or a range N-M", spec.noun, spec.max); };
    std::size_t pos = 0;
    for (;;) {
      std::size_t comma = body.find(',', pos);
      std::string_view item = body.substr(pos, comma == std::string_view::npos ? comma : comma - pos);
      std::size_t col = base + pos;
      // In braces, spaces around an item are allowed (nft's `{ 0, 3 }`).
      while (!item.empty() && is_space(item.front())) item.remove_prefix(1), ++col;
      while (!item.empty() && is_space(item.back())) item.remove_suffix(1);
      if (item.empty()) return error(col, fmt::format("expected {}, got nothing", item_what()));
      auto dash = item.find('-');
      std::string_view lo_s = item.substr(0, dash);
      std::string_view hi_s = dash == std::string_view::npos ? lo_s : item.substr(dash + 1);
      std::size_t hi_col = dash == std::string_view::npos ? col : col + dash + 1;
      if (!all_digits(lo_s) || !all_digits(hi_s)) return expected(col, item_what(), item);
      auto lo = decimal(lo_s, spec.max);
      if (!lo) return expected(col, fmt::format("{} 0-{}", spec.noun, spec.max), lo_s);
      auto hi = decimal(hi_s, spec.max);
      if (!hi) return expected(hi_col, fmt::format("{} 0-{}", spec.noun, spec.max), hi_s);
      if (*lo > *hi) return expected(col, "a range with low <= high", item);
      list.push_back({*lo, *hi});
      if (comma == std::string_view::npos) break;
      pos = comma + 1;
    }
    std::sort(list.begin(), list.end(), [](const ValueRange& a, const ValueRange& b) { return a.lo < b.lo; });
    ValueList merged;
    for (const ValueRange& x : list) {
      // Overlapping or touching (hi + 1 == lo): one range. hi <= kMaxLength, no overflow.
      if (!merged.empty() && x.lo <= merged.back().hi + 1)
        merged.back().hi = std::max(merged.back().hi, x.hi);
      else
        merged.push_back(x);
    }
    if (merged.size() > kMaxValueRanges)
      return error(v.column, fmt::format("{} has {} ranges (after merging), at most {}", t.text,
                                         merged.size(), kMaxValueRanges));
    out = std::move(merged);
    return {};
  }

  // `frag FLAG[,FLAG...]`: named fragmentation bits with required values, as tcp-flags.
  Result<void> frag(const Token& t) {
    if (frag_)
      return error(t.column, fmt::format("duplicate frag ({} at column {})", frag_->what, frag_->column));
    const Token& f = XG_TRY(next("fragment flags (for example is-fragment,!first-fragment)"));
    frag_ = Seen{t.column, span(t, f)};
    return flag_list(
        f, kFragFlags,
        "a fragment flag (dont-fragment, is-fragment, first-fragment or last-fragment, optionally "
        "preceded by !)",
        "fragment flag", r_.frag_mask, r_.frag_value);
  }

  // `comment "TEXT"`: 1-128 printable ASCII characters, no '"' or '\'.
  Result<void> comment(const Token& t) {
    if (comment_)
      return error(t.column, fmt::format("duplicate comment (comment at column {})", comment_->column));
    constexpr std::string_view what = "a comment in double quotes after comment";
    const Token& c = XG_TRY(next(what));
    comment_ = Seen{t.column, "comment"};
    if (c.text.front() != '"') return expected(c.column, what, c.text);
    std::size_t close = c.text.find('"', 1);
    if (close == std::string_view::npos)
      return error(
          end_column_,
          fmt::format("expected \" to close the comment opened at column {}, got end of rule", c.column));
    if (close + 1 < c.text.size())
      return expected(c.column + close + 1, "whitespace after the comment's closing \"",
                      c.text.substr(close + 1));
    std::string_view text = c.text.substr(1, close - 1);
    if (text.empty()) return error(c.column, "expected a comment of 1-128 characters, got an empty one");
    if (text.size() > kMaxComment)
      return error(c.column, fmt::format("comment longer than {} characters ({})", kMaxComment, text.size()));
    for (std::size_t k = 0; k < text.size(); ++k) {
      auto u = static_cast<unsigned char>(text[k]);
      if (u < 0x20 || u >= 0x7f || u == '\\')
        return error(c.column + 1 + k,
                     fmt::format("a comment holds printable ASCII characters other than \\, got {}",
                                 quote(text.substr(k, 1))));
    }
    r_.comment = std::string(text);
    return {};
  }

  // `vlan none`, `vlan N` or `vlan N inner M` (VLAN IDs 0-4095).
  Result<void> vlan(const Token& t) {
    if (vlan_)
      return error(t.column, fmt::format("duplicate vlan ({} at column {})", vlan_->what, vlan_->column));
    constexpr std::string_view what = "a VLAN ID 0-4095 or none after vlan";
    const Token& v = XG_TRY(next(what));
    VlanMatch m;
    if (v.text == "none") {
      m.none = true;
      vlan_ = Seen{t.column, "vlan none"};
      if (i_ < toks_.size() && toks_[i_].text == "inner")
        return error(toks_[i_].column,
                     "inner needs an outer VLAN ID: `vlan none` matches untagged frames only");
      r_.vlan = m;
      return {};
    }
    auto id = decimal(v.text, kMaxVlanId);
    if (!id) return expected(v.column, what, v.text);
    m.id = static_cast<std::uint16_t>(*id);
    vlan_ = Seen{t.column, span(t, v)};
    if (i_ < toks_.size() && toks_[i_].text == "inner") {
      ++i_;
      const Token& n = XG_TRY(next("an inner VLAN ID 0-4095 after inner"));
      auto inner = decimal(n.text, kMaxVlanId);
      if (!inner) return expected(n.column, "an inner VLAN ID 0-4095", n.text);
      m.inner = static_cast<std::uint16_t>(*inner);
    }
    r_.vlan = m;
    return {};
  }

  // The limit clause (rules/limit.h) reads its own words.
  Result<void> limit(const Token& t) {
    if (limit_) return error(t.column, fmt::format("duplicate limit (limit at column {})", limit_->column));
    std::vector<LimitWord> words;
    for (std::size_t k = i_ - 1; k < toks_.size(); ++k) words.push_back({toks_[k].text, toks_[k].column});
    auto c = parse_limit_clause(words, end_column_);
    if (!c) return error(c.error().column, c.error().message);
    limit_ = Seen{t.column, "limit"};
    r_.limit = c->limit;
    i_ += c->words - 1;
    return {};
  }

  // `log` or `log N/M` (N of every M hits, 1 <= N <= M <= 2^24).
  Result<void> log_option(const Token& t) {
    if (log_) return error(t.column, fmt::format("duplicate log (log at column {})", log_->column));
    log_ = Seen{t.column, "log"};
    LogSpec spec;
    if (i_ < toks_.size() && !toks_[i_].text.empty() && is_digit(toks_[i_].text.front())) {
      const Token& f = toks_[i_++];
      auto slash = f.text.find('/');
      constexpr std::string_view what = "a sampling rate N/M after log (for example 1/1000)";
      if (slash == std::string_view::npos) return expected(f.column, what, f.text);
      auto n = decimal(f.text.substr(0, slash), kMaxLogDenominator);
      auto m = decimal(f.text.substr(slash + 1), kMaxLogDenominator);
      if (!n || !m || !all_digits(f.text.substr(0, slash)) || !all_digits(f.text.substr(slash + 1)))
        return expected(f.column, fmt::format("{}, N and M at most {}", what, kMaxLogDenominator), f.text);
      if (*n == 0 || *n > *m) return expected(f.column, "a sampling rate N/M with 1 <= N <= M", f.text);
      std::uint32_t a = *n, b = *m;
      while (b) a = std::exchange(b, a % b);  // gcd
      spec = {*n / a, *m / a};
    }
    r_.log = spec;
    return {};
  }

  // The next token; at the end of the rule, an error saying what was
  // expected (`what`: text, or a function making it, called only then).
  template <typename What>
  Result<Token> next(const What& what) {
    if (i_ < toks_.size()) return toks_[i_++];
    if constexpr (std::is_invocable_v<What>)
      return error(end_column_, fmt::format("expected {}, got end of rule", what()));
    else
      return error(end_column_, fmt::format("expected {}, got end of rule", what));
  }

  tl::unexpected<Error> expected(std::size_t column, std::string_view what, std::string_view got) {
    return error(column, fmt::format("expected {}, got {}", what, quote(got)));
  }

  tl::unexpected<Error> error(std::size_t column, std::string_view msg) {
    if (number_) return fail(EINVAL, "rule {}, column {}: {}", *number_, column, msg);
    return fail(EINVAL, "column {}: {}", column, msg);
  }

  std::string_view text_;
  std::vector<Token> toks_;
  std::size_t i_ = 0;
  std::optional<std::size_t> number_;
  std::size_t end_column_;
  Rule r_;
  std::optional<Seen> family_kw_, family_src_, proto_, saddr_, daddr_, sport_, dport_, flags_;
  std::optional<Seen> limit_;
  std::optional<Seen> log_;
  std::optional<Seen> vlan_;
  std::optional<Seen> icmp_type_, icmp_code_, length_, dscp_, frag_, comment_;
};

}  // namespace

std::optional<std::uint64_t> parse_decimal(std::string_view s, std::uint64_t max) {
  if (s.empty()) return std::nullopt;
  std::uint64_t v = 0;
  for (char c : s) {
    if (!is_digit(c)) return std::nullopt;
    const auto d = static_cast<std::uint64_t>(c - '0');
    if (d > max || v > (max - d) / 10) return std::nullopt;  // v * 10 + d > max, without overflow
    v = v * 10 + d;
  }
  return v;
}

std::optional<std::array<std::uint8_t, 4>> parse_ipv4(std::string_view s) {
  // glibc's inet_pton(AF_INET) takes exactly the strict dotted quad: four
  // decimal octets 0..255, no leading zeros, nothing else.
  char buf[INET_ADDRSTRLEN];  // 16: "255.255.255.255" and its NUL
  if (s.empty() || s.size() >= sizeof buf) return std::nullopt;
  if (s.find('\0') != std::string_view::npos) return std::nullopt;
  std::memcpy(buf, s.data(), s.size());
  buf[s.size()] = '\0';
  std::array<std::uint8_t, 4> out{};
  if (inet_pton(AF_INET, buf, out.data()) != 1) return std::nullopt;
  return out;
}

std::optional<std::array<std::uint8_t, 16>> parse_ipv6(std::string_view s) {
  char buf[INET6_ADDRSTRLEN];  // 46: the longest form plus its NUL
  if (s.empty() || s.size() >= sizeof buf) return std::nullopt;
  if (s.find('\0') != std::string_view::npos) return std::nullopt;
  std::memcpy(buf, s.data(), s.size());
  buf[s.size()] = '\0';
  std::array<std::uint8_t, 16> out{};
  if (inet_pton(AF_INET6, buf, out.data()) != 1) return std::nullopt;
  return out;
}

void clear_host_bits(Prefix& p) {
  std::size_t bytes = p.family == Family::V4 ? 4 : 16;
  std::size_t full = std::min<std::size_t>(p.len / 8u, bytes);  // bytes kept whole
  std::size_t i = full;
  if (i < bytes && p.len % 8u) {
    p.addr[i] &= static_cast<std::uint8_t>(0xff << (8 - p.len % 8u));
    ++i;
  }
  std::fill(p.addr.begin() + static_cast<std::ptrdiff_t>(i), p.addr.end(), std::uint8_t{0});
}

std::optional<Prefix> parse_prefix(std::string_view text) {
  auto slash = text.find('/');
  std::string_view addr = text.substr(0, slash);
  Prefix p;
  if (auto v4 = parse_ipv4(addr)) {
    p.family = Family::V4;
    std::copy(v4->begin(), v4->end(), p.addr.begin());
    p.len = 32;
  } else if (auto v6 = parse_ipv6(addr)) {
    p.family = Family::V6;
    p.addr = *v6;
    p.len = 128;
  } else {
    return std::nullopt;
  }
  if (slash != std::string_view::npos) {
    auto len = decimal(text.substr(slash + 1), p.len);
    if (!len) return std::nullopt;
    p.len = static_cast<std::uint8_t>(*len);
  }
  clear_host_bits(p);
  return p;
}

bool valid_set_name(std::string_view n) {
  if (n.empty() || n.size() > kMaxSetName) return false;
  auto alpha = [](char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; };
  if (!alpha(n.front())) return false;
  return std::all_of(n.begin(), n.end(), [&](char c) { return alpha(c) || is_digit(c) || c == '-'; });
}

bool valid_ifname(std::string_view n) {
  if (n.empty() || n.size() > kMaxIfname || n == "." || n == "..") return false;
  return std::none_of(n.begin(), n.end(), [](char c) {
    auto u = static_cast<unsigned char>(c);
    return c == '/' || c == ':' || u <= 0x20 || u >= 0x7f;
  });
}

std::string quote(std::string_view s) {
  constexpr std::size_t kMax = 48;
  std::string out = "\"";
  for (std::size_t i = 0; i < s.size() && i < kMax; ++i) {
    auto c = static_cast<unsigned char>(s[i]);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c < 0x20 || c >= 0x7f) {
      out += fmt::format("\\x{:02x}", c);
    } else {
      out += static_cast<char>(c);
    }
  }
  if (s.size() > kMax) out += "...";
  out += '"';
  return out;
}

Result<Rule> parse_rule(std::string_view text) { return Parser(text, std::nullopt).parse(); }

Result<Rule> parse_rule(std::string_view text, std::size_t rule_number) {
  return Parser(text, rule_number).parse();
}

}  // namespace xdpguard::rules
