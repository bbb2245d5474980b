#include "confirm/record.h"

#include <cmath>
#include <ctime>

#include <nlohmann/json.hpp>

#include "rules/parser.h"
#include "rules/printer.h"

namespace xdpguard::confirm {

using nlohmann::json;

Result<std::chrono::seconds> parse_window(std::string_view text) {
  std::string_view digits = text;
  std::uint64_t unit = 1;
  if (!digits.empty()) {
    switch (digits.back()) {
      case 's': digits.remove_suffix(1); break;
      case 'm':
        unit = 60;
        digits.remove_suffix(1);
        break;
      case 'h':
        unit = 3600;
        digits.remove_suffix(1);
        break;
      default: break;
    }
  }
  auto n = rules::parse_decimal(digits, 86400);
  if (!n || *n * unit < 1 || *n * unit > 86400)
    return fail(EINVAL, "expected a time from 1s to 24h such as 60s, 5m or 1h, got {}", rules::quote(text));
  return std::chrono::seconds(*n * unit);
}

// Local time of day, for people ("14:02:31").
std::string clock_text(double unix_s) {
  std::time_t t = static_cast<std::time_t>(unix_s);
  std::tm tm{};
  ::localtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%H:%M:%S", &tm);
  return buf;
}

namespace {

json prefixes_json(const std::vector<rules::Prefix>& v) {
  json a = json::array();
  for (const auto& p : v) a.push_back(rules::prefix_to_string(p));
  return a;
}

// Reading: every key checked for its type; a failure names the key.
struct Reader {
  const std::string& what;
  Result<const json*> at(const json& o, const char* key) const {
    auto it = o.find(key);
    if (it == o.end()) return fail(EINVAL, "{}: no \"{}\"", what, key);
    return &*it;
  }
  template <class T>
  Result<T> get(const json& o, const char* key) const {
    const json* v = XG_TRY(at(o, key));
    if constexpr (std::is_same_v<T, bool>) {
      if (!v->is_boolean()) return fail(EINVAL, "{}: \"{}\" is not true or false", what, key);
    } else if constexpr (std::is_same_v<T, std::string>) {
      if (!v->is_string()) return fail(EINVAL, "{}: \"{}\" is not a string", what, key);
    } else if constexpr (std::is_floating_point_v<T>) {
      if (!v->is_number()) return fail(EINVAL, "{}: \"{}\" is not a number", what, key);
    } else {
      if (!v->is_number_unsigned() || v->get<std::uint64_t>() > std::numeric_limits<T>::max())
        return fail(EINVAL, "{}: \"{}\" is not a whole number up to {}", what, key,
                    static_cast<std::uint64_t>(std::numeric_limits<T>::max()));
    }
    return v->get<T>();
  }
  Result<const json*> array(const json& o, const char* key) const {
    const json* v = XG_TRY(at(o, key));
    if (!v->is_array()) return fail(EINVAL, "{}: \"{}\" is not an array", what, key);
    return v;
  }
  Result<std::vector<std::string>> strings(const json& o, const char* key) const {
    std::vector<std::string> out;
    for (const auto& e : *XG_TRY(array(o, key))) {
      if (!e.is_string()) return fail(EINVAL, "{}: \"{}\" holds a non-string", what, key);
      out.push_back(e.get<std::string>());
    }
    return out;
  }
  Result<std::vector<rules::Prefix>> prefixes(const json& o, const char* key) const {
    std::vector<rules::Prefix> out;
    for (const auto& s : XG_TRY(strings(o, key))) {
      auto p = rules::parse_prefix(s);
      if (!p) return fail(EINVAL, "{}: \"{}\": {} is not a prefix", what, key, rules::quote(s));
      out.push_back(*p);
    }
    return out;
  }
};

}  // namespace

std::string to_json(const Record& r) {
  json sets = json::array();
  for (const auto& k : r.state.kept_sets)
    sets.push_back({{"name", k.name}, {"hash", k.hash}, {"pin4", k.pin4}, {"pin6", k.pin6}});
  json state = {{"default", r.state.default_action},
                {"non_ip", r.state.non_ip_action},
                {"malformed", r.state.malformed_action},
                {"rules", r.state.rules},
                {"keep_flowspec", r.state.keep_flowspec},
                {"never_block", prefixes_json(r.state.never_block)},
                {"sets", sets}};
  json flood = {{"pps", r.flood.pps}, {"hold", r.flood.hold_s}, {"top", r.flood.top}};
  json sp = nullptr;
  if (r.extras.synproxy) {
    const auto& c = *r.extras.synproxy;
    sp = {{"ports", c.ports}, {"mss4", c.mss4}, {"mss6", c.mss6}, {"wscale", c.wscale}, {"ttl", c.ttl}};
  }
  json j = {{"version", 1},
            {"iface", r.iface},
            {"ifindex", r.ifindex},
            {"netns", r.netns_id},
            {"attached", r.attached},
            {"meta_id", r.meta_id},
            {"state", state},
            {"flood", flood},
            {"talkers", r.extras.talkers},
            {"synproxy", sp},
            {"deadline_boot_ms", r.deadline_boot_ms},
            {"deadline_unix", r.deadline_unix},
            {"armed_unix", r.armed_unix},
            {"changes", r.changes},
            {"making", r.making_pid ? json{{"pid", r.making_pid}, {"start", r.making_start}} : json()},
            {"outcome", r.outcome},
            {"outcome_unix", r.outcome_unix}};
  return j.dump(1) + "\n";
}

Result<Record> from_json(std::string_view text, const std::string& what) {
  json j = json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return fail(EINVAL, "{}: not a JSON object", what);
  Reader in{what};
  if (XG_TRY(in.get<std::uint32_t>(j, "version")) != 1)
    return fail(EINVAL, "{}: version {} is not this xdpguard's (1)", what, j["version"].dump());
  Record r;
  r.iface = XG_TRY(in.get<std::string>(j, "iface"));
  r.ifindex = static_cast<int>(XG_TRY(in.get<std::uint32_t>(j, "ifindex")));
  r.netns_id = XG_TRY(in.get<std::uint64_t>(j, "netns"));
  r.attached = XG_TRY(in.get<bool>(j, "attached"));
  r.meta_id = XG_TRY(in.get<std::uint32_t>(j, "meta_id"));
  const json& st = *XG_TRY(in.at(j, "state"));
  if (!st.is_object()) return fail(EINVAL, "{}: \"state\" is not an object", what);
  r.state.default_action = XG_TRY(in.get<std::uint8_t>(st, "default"));
  r.state.non_ip_action = XG_TRY(in.get<std::uint8_t>(st, "non_ip"));
  r.state.malformed_action = XG_TRY(in.get<std::uint8_t>(st, "malformed"));
  r.state.rules = XG_TRY(in.strings(st, "rules"));
  // (absent from the records of xdpguard before FlowSpec: their rules are all of them)
  if (st.contains("keep_flowspec")) r.state.keep_flowspec = XG_TRY(in.get<bool>(st, "keep_flowspec"));
  r.state.never_block = XG_TRY(in.prefixes(st, "never_block"));
  for (const auto& s : *XG_TRY(in.array(st, "sets"))) {
    if (!s.is_object()) return fail(EINVAL, "{}: \"sets\" holds a non-object", what);
    DesiredState::KeptSet k;
    k.name = XG_TRY(in.get<std::string>(s, "name"));
    if (!rules::valid_set_name(k.name)) return fail(EINVAL, "{}: set name {}", what, rules::quote(k.name));
    k.hash = XG_TRY(in.get<std::uint64_t>(s, "hash"));
    k.pin4 = XG_TRY(in.get<std::string>(s, "pin4"));
    k.pin6 = XG_TRY(in.get<std::string>(s, "pin6"));
    r.state.kept_sets.push_back(std::move(k));
  }
  const json& fl = *XG_TRY(in.at(j, "flood"));
  if (!fl.is_object()) return fail(EINVAL, "{}: \"flood\" is not an object", what);
  const json& pps = *XG_TRY(in.array(fl, "pps"));
  if (pps.size() != r.flood.pps.size())
    return fail(EINVAL, "{}: \"pps\" has {} thresholds, not {}", what, pps.size(), r.flood.pps.size());
  for (std::size_t i = 0; i < pps.size(); ++i) {
    if (!pps[i].is_number_unsigned()) return fail(EINVAL, "{}: \"pps\" holds a non-number", what);
    r.flood.pps[i] = pps[i].get<std::uint64_t>();
  }
  r.flood.hold_s = XG_TRY(in.get<std::uint32_t>(fl, "hold"));
  r.flood.top = XG_TRY(in.get<std::uint32_t>(fl, "top"));
  r.extras.talkers = XG_TRY(in.get<bool>(j, "talkers"));
  const json& sp = *XG_TRY(in.at(j, "synproxy"));
  if (!sp.is_null()) {
    if (!sp.is_object()) return fail(EINVAL, "{}: \"synproxy\" is not an object", what);
    SynproxyConfig c;
    for (const auto& p : *XG_TRY(in.array(sp, "ports"))) {
      if (!p.is_number_unsigned() || p.get<std::uint64_t>() == 0 || p.get<std::uint64_t>() > 65535)
        return fail(EINVAL, "{}: \"ports\" holds {}", what, p.dump());
      c.ports.push_back(p.get<std::uint16_t>());
    }
    c.mss4 = XG_TRY(in.get<std::uint16_t>(sp, "mss4"));
    c.mss6 = XG_TRY(in.get<std::uint16_t>(sp, "mss6"));
    c.wscale = XG_TRY(in.get<std::uint8_t>(sp, "wscale"));
    c.ttl = XG_TRY(in.get<std::uint8_t>(sp, "ttl"));
    r.extras.synproxy = std::move(c);
  }
  r.deadline_boot_ms = XG_TRY(in.get<std::uint64_t>(j, "deadline_boot_ms"));
  r.deadline_unix = XG_TRY(in.get<double>(j, "deadline_unix"));
  r.armed_unix = XG_TRY(in.get<double>(j, "armed_unix"));
  r.changes = XG_TRY(in.strings(j, "changes"));
  if (auto m = j.find("making"); m != j.end() && !m->is_null()) {  // (absent: a record before the field)
    if (!m->is_object()) return fail(EINVAL, "{}: \"making\" is not an object", what);
    r.making_pid = XG_TRY(in.get<std::uint32_t>(*m, "pid"));
    r.making_start = XG_TRY(in.get<std::uint64_t>(*m, "start"));
    if (r.making_pid == 0) return fail(EINVAL, "{}: \"making\" has pid 0", what);
  }
  r.outcome = XG_TRY(in.get<std::string>(j, "outcome"));
  r.outcome_unix = XG_TRY(in.get<double>(j, "outcome_unix"));
  return r;
}

}  // namespace xdpguard::confirm
