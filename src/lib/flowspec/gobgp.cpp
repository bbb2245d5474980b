#include "flowspec/gobgp.h"

#include <algorithm>
#include <cerrno>
#include <cstring>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "rules/parser.h"

namespace xdpguard::flowspec {
namespace {

using nlohmann::json;

Result<std::uint64_t> uint_of(const json& v, std::string_view what) {
  if (!v.is_number_unsigned()) return fail(EINVAL, "{}: expected a number, got {}", what, v.dump());
  return v.get<std::uint64_t>();
}

Result<Component> component_of(const json& c, rules::Family f) {
  if (!c.is_object() || !c.contains("type")) return fail(EINVAL, "a component without a type");
  const std::uint64_t t = XG_TRY(uint_of(c["type"], "component type"));
  if (t < 1 || t > static_cast<std::uint64_t>(kMaxType)) return fail(EINVAL, "unknown component type {}", t);
  Component out;
  out.type = static_cast<Type>(t);
  const char* name = type_name(out.type);
  if (!c.contains("value")) return fail(EINVAL, "{}: no value", name);
  const json& v = c["value"];
  if (out.type == Type::Destination || out.type == Type::Source) {
    if (!v.is_object() || !v.contains("prefix") || !v["prefix"].is_string())
      return fail(EINVAL, "{}: expected {{\"prefix\": ...}}", name);
    auto p = rules::parse_prefix(v["prefix"].get<std::string>());
    if (!p || p->family != f)
      return fail(EINVAL, "{}: {} is not an {} prefix", name, rules::quote(v["prefix"].get<std::string>()),
                  f == rules::Family::V4 ? "IPv4" : "IPv6");
    out.prefix = *p;
    if (c.contains("offset")) {
      const std::uint64_t off = XG_TRY(uint_of(c["offset"], "offset"));
      if (off > 128) return fail(EINVAL, "{}: offset {}", name, off);
      out.offset = static_cast<std::uint8_t>(off);
    }
    return out;
  }
  if (!v.is_array() || v.empty()) return fail(EINVAL, "{}: expected a list of operators", name);
  const bool bitmask = out.type == Type::TcpFlags || out.type == Type::Fragment;
  for (const auto& item : v) {
    if (!item.is_object() || !item.contains("op") || !item.contains("value"))
      return fail(EINVAL, "{}: expected {{\"op\", \"value\"}}", name);
    const std::uint64_t op = XG_TRY(uint_of(item["op"], "op"));
    const std::uint64_t val = XG_TRY(uint_of(item["value"], "value"));
    if (op > 0xff) return fail(EINVAL, "{}: operator byte {}", name, op);
    if (bitmask) {
      if (op & 0x0c) return fail(EINVAL, "{}: reserved operator bits in 0x{:02x}", name, op);
      BitmaskOp b{(op & 0x40) != 0, (op & 0x02) != 0, (op & 0x01) != 0, val};
      // GoBGP's (and ExaBGP's) "not-a-fragment" is the value 0, which read
      // as RFC 8955 says would match nothing: both mean !is-fragment.
      if (out.type == Type::Fragment && val == 0 && !b.not_ && !b.match) {
        b.not_ = true;
        b.value = 0x02;
      }
      out.bitmask.push_back(b);
    } else {
      if (op & 0x08) return fail(EINVAL, "{}: reserved operator bit in 0x{:02x}", name, op);
      out.numeric.push_back({(op & 0x40) != 0, (op & 0x04) != 0, (op & 0x02) != 0, (op & 0x01) != 0, val});
    }
  }
  if (!out.numeric.empty()) out.numeric.front().and_ = false;
  if (!out.bitmask.empty()) out.bitmask.front().and_ = false;
  return out;
}

void actions_of(const json& attrs, Actions& a) {
  for (const auto& attr : attrs) {
    if (!attr.is_object() || !attr.contains("type") || !attr["type"].is_number_unsigned()) continue;
    const auto t = attr["type"].get<std::uint64_t>();
    if (t == 25) {
      a.ignored.emplace_back("redirect to IPv6");
      continue;
    }
    if (t != 16 || !attr.contains("value") || !attr["value"].is_array()) continue;
    for (const auto& c : attr["value"]) {
      if (!c.is_object()) continue;
      const auto type = c.value("type", 0u), sub = c.value("subtype", 0u);
      if (type == 128 && (sub == 6 || sub == 12) && c.contains("rate") && c["rate"].is_number()) {
        (sub == 6 ? a.rate_bytes : a.rate_packets) = c["rate"].get<double>();
      } else if (type == 128 && sub == 7) {
        a.sample = c.value("sample", false);
        a.terminal = !c.value("terminal", false);  // the T bit: later routes apply too (RFC 8955 7.3)
      } else if (sub == 8) {
        a.ignored.emplace_back("redirect to VRF");
      } else if (type == 128 && sub == 9) {
        a.ignored.push_back(fmt::format("traffic-marking dscp {}", c.value("value", 0u)));
      }
    }
  }
}

void decode_paths(const json& msg, rules::Family family, const std::string& peer, Decoded& d);

Decoded decode_unchecked(std::string_view line, rules::Family family, const std::string& peer, bool* error) {
  Decoded d;
  json msg = json::parse(line, nullptr, false);
  if (msg.is_discarded()) {
    d.errors.push_back(fmt::format("not JSON: {}", rules::quote(line)));
    return d;
  }
  if (msg.is_object() && msg.contains("error")) {
    if (error) *error = true;
    d.errors.push_back(fmt::format("gobgp: {}", msg["error"].dump()));
    return d;
  }
  if (!msg.is_array()) {
    d.errors.push_back(fmt::format("not a list of paths: {}", rules::quote(line)));
    return d;
  }
  decode_paths(msg, family, peer, d);
  return d;
}

void decode_paths(const json& msg, rules::Family family, const std::string& peer, Decoded& d) {
  for (const auto& path : msg) {
    if (!path.is_object() || !path.contains("nlri") || !path["nlri"].is_object() ||
        !path["nlri"].contains("value") || !path["nlri"]["value"].is_array() || !path.contains("attrs") ||
        !path["attrs"].is_array()) {
      d.errors.push_back(fmt::format("a path without nlri.value or attrs: {}", rules::quote(path.dump())));
      continue;
    }
    // The family: attribute 14's afi.
    std::optional<rules::Family> f;
    for (const auto& attr : path["attrs"])
      if (attr.is_object() && attr.value("type", 0u) == 14u) {
        const auto afi = attr.value("afi", 0u);
        const auto safi = attr.value("safi", 0u);
        if (safi == 133 && (afi == 1 || afi == 2)) f = afi == 1 ? rules::Family::V4 : rules::Family::V6;
      }
    if (!f || *f != family) continue;  // another family, or not FlowSpec
    Route r;
    r.family = *f;
    std::string why;
    for (const auto& c : path["nlri"]["value"]) {
      auto comp = component_of(c, *f);
      if (!comp) {
        why = comp.error().message();
        break;
      }
      r.components.push_back(std::move(*comp));
    }
    std::sort(r.components.begin(), r.components.end(),
              [](const Component& a, const Component& b) { return a.type < b.type; });
    if (why.empty())
      if (auto v = validate(r); !v) why = v.error().message();
    const bool withdraw = path.value("withdrawal", false);
    if (!why.empty()) {
      d.errors.push_back(fmt::format("{} {}: not installed: {}", withdraw ? "withdraw" : "announce",
                                     path["nlri"].dump(), why));
      continue;
    }
    if (!withdraw) actions_of(path["attrs"], r.actions);
    d.events.push_back({withdraw ? Event::Kind::Withdraw : Event::Kind::Announce, peer, std::move(r)});
  }
}

Decoded decode_rib_unchecked(std::string_view text, rules::Family family, const std::string& peer) {
  Decoded d;
  if (text.find_first_not_of(" \t\r\n") == std::string_view::npos) return d;  // an empty RIB
  json rib = json::parse(text, nullptr, false);
  if (rib.is_discarded() || !rib.is_object()) {
    d.errors.push_back(fmt::format("a RIB that is not a JSON object: {}", rules::quote(text)));
    return d;
  }
  // Each destination's best path (the first when none is marked).
  json best = json::array();
  for (const auto& [key, paths] : rib.items()) {
    if (!paths.is_array() || paths.empty()) continue;
    const json* pick = &paths[0];
    for (const auto& p : paths)
      if (p.is_object() && p.value("best", false)) pick = &p;
    best.push_back(*pick);
  }
  decode_paths(best, family, peer, d);
  return d;
}

}  // namespace

Decoded decode_gobgp_rib(std::string_view text, rules::Family family, const std::string& peer) {
  try {
    return decode_rib_unchecked(text, family, peer);
  } catch (const json::exception& e) {
    Decoded d;
    d.errors.push_back(fmt::format("unexpected JSON in the RIB: {}", e.what()));
    return d;
  }
}

Decoded decode_gobgp(std::string_view line, rules::Family family, const std::string& peer, bool* error) {
  try {
    return decode_unchecked(line, family, peer, error);
  } catch (const json::exception& e) {
    Decoded d;
    d.errors.push_back(fmt::format("unexpected JSON: {}: {}", e.what(), rules::quote(line)));
    return d;
  }
}

}  // namespace xdpguard::flowspec
