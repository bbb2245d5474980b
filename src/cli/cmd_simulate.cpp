// `xdpguard simulate`: a capture through the compiled pipeline of a config
// file's interface section (src/lib/simulate), nothing attached. Per frame:
// the verdict and the rule that decided (text, or one JSON object per line);
// then a summary per rule and per action; -w / --dropped split the capture.
#include <cstdio>
#include <map>
#include <memory>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "bpf/system.h"
#include "cli/commands.h"
#include "config/config.h"
#include "simulate/simulate.h"

namespace xdpguard::cli {
namespace {

struct SimulateArgs {
  std::string config, iface, section, pcap, passed, dropped;
  bool json = false;
  bool quiet = false;
};

struct Tally {
  std::uint64_t packets = 0, bytes = 0;
};

std::string rule_label(const std::optional<std::uint32_t>& rule) {
  if (!rule) return "-";
  return *rule == 0 ? "default" : fmt::format("{}", *rule);
}

Result<void> cmd_simulate(const SimulateArgs& a) {
  XG_CHECK(require_privileges());
  if (a.config.empty() == a.iface.empty())
    return fail(EINVAL, "give --config FILE or --iface IFACE (one of them)");
  if (!a.iface.empty() && !a.section.empty()) return fail(EINVAL, "--iface-section goes with --config");
  std::optional<config::Config> conf;
  std::string what;  // "[interfaces.eth1] of FILE", or "eth1's rules"
  std::optional<simulate::Simulator> built;
  if (!a.config.empty()) {
    conf.emplace(XG_TRY(config::load_config(a.config)));
    if (conf->interfaces.empty()) return fail(EINVAL, "{} has no [interfaces.NAME] section", conf->source);
    const config::Interface* section = &conf->interfaces.front();
    if (!a.section.empty()) {
      section = conf->find_interface(a.section);
      if (!section) return fail(ENOENT, "{} has no [interfaces.{}] section", conf->source, a.section);
    }
    what = fmt::format("[interfaces.{}] of {}", section->name, conf->source);
    built.emplace(XG_TRY(simulate::Simulator::from_config(*conf, *section)));
  } else {
    what = a.iface + "'s rule set";
    built.emplace(XG_TRY(simulate::Simulator::from_interface(XG_TRY(find_interface(a.iface)))));
  }
  auto& sim = *built;
  auto reader = XG_TRY(simulate::CaptureReader::open(a.pcap));
  std::optional<simulate::CaptureWriter> passed, dropped;
  if (!a.passed.empty()) passed.emplace(XG_TRY(simulate::CaptureWriter::open(a.passed, reader)));
  if (!a.dropped.empty()) dropped.emplace(XG_TRY(simulate::CaptureWriter::open(a.dropped, reader)));
  for (const auto& n : sim.notes()) std::fprintf(stderr, "note: %s\n", n.c_str());

  std::map<std::uint32_t, std::string> texts;
  for (const auto& r : sim.rules()) texts[r.id] = r.text;
  std::map<std::optional<std::uint32_t>, std::map<std::uint32_t, Tally>> by_rule;  // rule -> action
  std::map<std::uint32_t, Tally> by_action;
  Tally skipped;
  std::uint64_t frames = 0;
  while (auto f = XG_TRY(reader.next())) {
    ++frames;
    const auto v = XG_TRY(sim.run(*f));
    if (!v.simulated) {
      ++skipped.packets;
      skipped.bytes += f->wire_len;
      if (a.json)
        std::printf(
            "%s\n",
            nlohmann::json{{"frame", f->index}, {"verdict", nullptr}, {"skipped", v.skipped}}.dump().c_str());
      else if (!a.quiet)
        std::printf("%llu\tskipped\t%s\n", static_cast<unsigned long long>(f->index), v.skipped.c_str());
      continue;
    }
    auto& t = by_rule[v.rule][v.action];
    ++t.packets;
    t.bytes += f->wire_len;
    ++by_action[v.action].packets;
    by_action[v.action].bytes += f->wire_len;
    if (v.action == XDP_PASS && passed) passed->write(*f);
    if ((v.action == XDP_DROP || v.action == XDP_ABORTED) && dropped) dropped->write(*f);
    if (a.json) {
      nlohmann::json j{{"frame", f->index},
                       {"time", static_cast<double>(f->ts_ns) / 1e9},
                       {"len", f->wire_len},
                       {"verdict", simulate::action_name(v.action)}};
      j["rule"] = v.rule ? nlohmann::json(*v.rule) : nlohmann::json(nullptr);
      if (v.rule && *v.rule) j["rule_text"] = texts[*v.rule];
      if (v.rule && *v.rule == 0) j["rule_text"] = "default";
      std::printf("%s\n", j.dump().c_str());
    } else if (!a.quiet) {
      std::printf("%llu\t%s\t%s%s\n", static_cast<unsigned long long>(f->index),
                  std::string(simulate::action_name(v.action)).c_str(), rule_label(v.rule).c_str(),
                  v.rule && *v.rule ? ("\t" + texts[*v.rule]).c_str() : "");
    }
  }
  if (passed) XG_CHECK(passed->close());
  if (dropped) XG_CHECK(dropped->close());
  if (a.json) return {};

  // The summary: per rule (evaluation order, then the default, then what no
  // rule judges) and per action.
  std::printf("\n%llu frames from %s through %s\n\n", static_cast<unsigned long long>(frames), a.pcap.c_str(),
              what.c_str());
  std::printf("%-8s %-9s %12s %14s  %s\n", "rule", "verdict", "packets", "bytes", "text");
  auto row = [&](const std::optional<std::uint32_t>& rule, const std::string& text) {
    auto it = by_rule.find(rule);
    if (it == by_rule.end()) return;
    for (const auto& [action, t] : it->second)
      std::printf("%-8s %-9s %12llu %14llu  %s\n", rule_label(rule).c_str(),
                  std::string(simulate::action_name(action)).c_str(),
                  static_cast<unsigned long long>(t.packets), static_cast<unsigned long long>(t.bytes),
                  text.c_str());
  };
  for (const auto& r : sim.rules()) row(r.id, r.text);
  row(0u, "(default)");
  row(std::nullopt, "(not judged by rules: non-IP, malformed, unsafe fragments)");
  std::printf("\n%-9s %12s %14s\n", "verdict", "packets", "bytes");
  for (const auto& [action, t] : by_action)
    std::printf("%-9s %12llu %14llu\n", std::string(simulate::action_name(action)).c_str(),
                static_cast<unsigned long long>(t.packets), static_cast<unsigned long long>(t.bytes));
  if (skipped.packets)
    std::printf("%-9s %12llu %14llu  (not run: see their lines)\n", "skipped",
                static_cast<unsigned long long>(skipped.packets),
                static_cast<unsigned long long>(skipped.bytes));
  return {};
}

}  // namespace

void register_simulate_command(CLI::App& app, Command& cmd) {
  auto a = std::make_shared<SimulateArgs>();
  auto* sub = app.add_subcommand(
      "simulate",
      "Run a capture through the compiled rules of a config file or an interface, attaching nothing");
  auto* config = sub->add_option("--config", a->config, "TOML file (see attach --config)");
  sub->add_option("--iface", a->iface,
                  "The rule set an interface enforces now (copied; the interface is not touched)")
      ->excludes(config);
  sub->add_option("--iface-section", a->section,
                  "Which [interfaces.NAME] section to simulate (default: the file's first)");
  sub->add_option("--pcap", a->pcap, "The capture: pcap or pcapng, Ethernet")->required();
  sub->add_option("-w", a->passed, "Write the frames that pass to this pcap file");
  sub->add_option("--dropped", a->dropped, "Write the frames that are dropped to this pcap file");
  sub->add_flag("--json", a->json, "One JSON object per frame, in capture order (no summary)");
  sub->add_flag("-q,--quiet", a->quiet, "Only the summary, no line per frame");
  sub->footer(
      "Each frame runs once through xdpguard's own pipeline (BPF_PROG_TEST_RUN), loaded in this process "
      "with\n"
      "the section's rules, sets and actions; rate limits use the frames' timestamps as their clock.\n"
      "With --iface, the interface's rules, sets and actions are copied into that pipeline (it is not "
      "touched).\n"
      "Example: xdpguard simulate --config /etc/xdpguard.toml --pcap day.pcapng -q --dropped dropped.pcap\n"
      "         xdpguard simulate --iface eth1 --pcap day.pcapng --json");
  sub->callback([&cmd, a] {
    cmd.fn = [a] { return cmd_simulate(*a); };
    cmd.context = [a] { return "simulate " + a->pcap; };
    cmd.needs_bpffs = !a->iface.empty();
  });
}

}  // namespace xdpguard::cli
