// Config file: the documented example end to end, defaults, set files
// (relative paths, an in-memory reader, a real file), and every error with
// the line it names.
#include <gtest/gtest.h>

#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>

#include <fmt/format.h>

#include "config/config.h"
#include "rules/limits.h"
#include "rules/printer.h"

namespace xdpguard::config {
namespace {

// Set files served from memory; a missing one is ENOENT like the real thing.
struct Files {
  std::map<std::string, std::string> files;
  std::vector<std::string> asked;
  FileReader reader() {
    return [this](const std::string& path) -> Result<std::string> {
      asked.push_back(path);
      auto it = files.find(path);
      if (it == files.end()) return fail_errno(ENOENT, path);
      return it->second;
    };
  }
};

const char* kExample = R"(# xdpguard example
[interfaces.eth1]
mode = "native"
default = "drop"
rules = [
  "drop tcp dport 22 saddr 203.0.113.0/24",
  "pass udp dport 53",
  "drop saddr @blocklist",
  "pass tcp dport 22",
  "pass udp dport 53 saddr 10.0.0.1",
]

[interfaces."eth0.100"]
rules = ["drop daddr @office icmpv6"]

[sets.blocklist]
file = "bad-prefixes.txt"   # relative to this file

[sets.office]
elements = ["192.0.2.0/24", "2001:db8::/32", "192.0.2.77/24"]
)";

TEST(Config, Example) {
  Files fs;
  fs.files["/etc/xdpguard/bad-prefixes.txt"] = "# bad\n198.51.100.0/24\n2001:db8:bad::/48\n";
  auto c = parse_config(kExample, "/etc/xdpguard/xdpguard.toml", fs.reader());
  ASSERT_TRUE(c) << c.error().message();
  EXPECT_EQ(c->source, "/etc/xdpguard/xdpguard.toml");
  ASSERT_EQ(c->interfaces.size(), 2u);

  const Interface& e1 = c->interfaces[0];  // file order
  EXPECT_EQ(e1.name, "eth1");
  EXPECT_EQ(e1.line, 2u);
  EXPECT_EQ(e1.mode, Mode::Native);
  EXPECT_EQ(e1.default_action, rules::Action::Drop);
  EXPECT_EQ(e1.non_ip_action, rules::Action::Pass);
  EXPECT_EQ(e1.malformed_action, rules::Action::Pass);
  ASSERT_EQ(e1.rules.size(), 5u);
  EXPECT_EQ(e1.rules[0].text, "drop tcp dport 22 saddr 203.0.113.0/24");
  EXPECT_EQ(rules::to_string(e1.rules[0].rule), "drop tcp saddr 203.0.113.0/24 dport 22");
  EXPECT_EQ(e1.rules[0].line, 6u);
  EXPECT_EQ(e1.rules[4].line, 10u);
  EXPECT_EQ(rules::to_string(e1.rules[2].rule), "drop saddr @blocklist");
  EXPECT_EQ(e1.sets, std::vector<std::string>{"blocklist"});
  // Lint: rule 5 is covered by rule 2.
  ASSERT_EQ(e1.warnings.size(), 1u);
  EXPECT_EQ(e1.warnings[0].rule_index, 4u);
  EXPECT_EQ(e1.warnings[0].covered_by, 1u);

  const Interface& e2 = c->interfaces[1];
  EXPECT_EQ(e2.name, "eth0.100");
  EXPECT_EQ(e2.mode, Mode::Auto);                     // default
  EXPECT_EQ(e2.default_action, rules::Action::Pass);  // default
  EXPECT_EQ(e2.sets, std::vector<std::string>{"office"});
  EXPECT_TRUE(e2.warnings.empty());

  ASSERT_EQ(c->sets.size(), 2u);
  const Set* bl = c->find_set("blocklist");
  ASSERT_NE(bl, nullptr);
  EXPECT_EQ(bl->file, "/etc/xdpguard/bad-prefixes.txt");
  EXPECT_EQ(bl->line, 16u);
  EXPECT_EQ(bl->prefixes.v4.size(), 1u);
  EXPECT_EQ(bl->prefixes.v6.size(), 1u);
  const Set* office = c->find_set("office");
  ASSERT_NE(office, nullptr);
  EXPECT_TRUE(office->file.empty());
  EXPECT_EQ(office->prefixes.v4.size(), 1u);  // two spellings of one /24
  EXPECT_EQ(rules::prefix_to_string(office->prefixes.v4[0]), "192.0.2.0/24");
  EXPECT_EQ(office->prefixes.v6.size(), 1u);
  EXPECT_EQ(c->find_set("nope"), nullptr);
  EXPECT_EQ(c->find_interface("eth0.100"), &c->interfaces[1]);
  EXPECT_EQ(c->find_interface("eth9"), nullptr);
  EXPECT_EQ(fs.asked, std::vector<std::string>{"/etc/xdpguard/bad-prefixes.txt"});
}

TEST(Config, MinimalAndEmpty) {
  auto empty = parse_config("", "x.toml", Files().reader());
  ASSERT_TRUE(empty) << empty.error().message();
  EXPECT_TRUE(empty->interfaces.empty());
  auto min = parse_config("[interfaces.lo]\n", "x.toml");
  ASSERT_TRUE(min) << min.error().message();
  ASSERT_EQ(min->interfaces.size(), 1u);
  EXPECT_TRUE(min->interfaces[0].rules.empty());
  auto modes = parse_config(
      "[interfaces.a]\nmode = \"generic\"\nnon-ip = \"drop\"\nmalformed = \"drop\"\n"
      "[interfaces.b]\nmode = \"auto\"\ndefault = \"pass\"\nrules = []\n",
      "x.toml");
  ASSERT_TRUE(modes) << modes.error().message();
  EXPECT_EQ(modes->interfaces[0].mode, Mode::Generic);
  EXPECT_EQ(modes->interfaces[0].non_ip_action, rules::Action::Drop);
  EXPECT_EQ(modes->interfaces[0].malformed_action, rules::Action::Drop);
  EXPECT_EQ(modes->interfaces[1].mode, Mode::Auto);
  EXPECT_EQ(mode_name(Mode::Native), "native");
  EXPECT_EQ(mode_name(Mode::Generic), "generic");
  EXPECT_EQ(mode_name(Mode::Auto), "auto");
}

TEST(Config, SetPaths) {
  Files fs;
  fs.files["/abs/list.txt"] = "10.0.0.0/8\n";
  fs.files["conf/sub/rel.txt"] = "10.0.0.0/8\n";
  fs.files["bare.txt"] = "10.0.0.0/8\n";
  const char* text = "[sets.a]\nfile = \"/abs/list.txt\"\n[sets.b]\nfile = \"sub/rel.txt\"\n";
  auto c = parse_config(text, "conf/x.toml", fs.reader());
  ASSERT_TRUE(c) << c.error().message();
  EXPECT_EQ(c->sets[0].file, "/abs/list.txt");
  EXPECT_EQ(c->sets[1].file, "conf/sub/rel.txt");
  auto d = parse_config("[sets.a]\nfile = \"bare.txt\"\n", "x.toml", fs.reader());
  ASSERT_TRUE(d) << d.error().message();
  EXPECT_EQ(d->sets[0].file, "bare.txt");  // config in the working directory
}

TEST(Config, LoadFromDisk) {
  namespace fsys = std::filesystem;
  char tmpl[] = "/tmp/xdpguard-config-XXXXXX";
  ASSERT_NE(::mkdtemp(tmpl), nullptr);
  fsys::path dir = tmpl;
  std::ofstream(dir / "bad.txt") << "203.0.113.0/24\n";
  std::ofstream(dir / "xdpguard.toml") << "[interfaces.eth1]\nrules = [\"drop saddr @bad\"]\n"
                                          "[sets.bad]\nfile = \"bad.txt\"\n";
  auto c = load_config((dir / "xdpguard.toml").string());
  ASSERT_TRUE(c) << c.error().message();
  EXPECT_EQ(c->sets[0].file, (dir / "bad.txt").string());
  EXPECT_EQ(c->sets[0].prefixes.size(), 1u);
  std::ofstream(dir / "xdpguard.toml") << "[interfaces.eth1]\nrules = [\"drop saddr @bad\"]\n"
                                          "[sets.bad]\nfile = \"missing.txt\"\n";
  auto m = load_config((dir / "xdpguard.toml").string());
  ASSERT_FALSE(m);
  EXPECT_EQ(m.error().code(), ENOENT);
  EXPECT_EQ(m.error().message(), fmt::format("{0}/xdpguard.toml line 4: set bad: {0}/missing.txt: "
                                             "No such file or directory",
                                             dir.string()));
  auto none = load_config((dir / "nope.toml").string());
  ASSERT_FALSE(none);
  EXPECT_EQ(none.error().message(), (dir / "nope.toml").string() + ": No such file or directory");
  fsys::remove_all(dir);
}

std::string error_of(std::string_view text, Files* fs = nullptr) {
  Files none;
  auto c = parse_config(text, "/etc/xdpguard.toml", (fs ? fs : &none)->reader());
  EXPECT_FALSE(c) << text;
  return c ? std::string("(loaded)") : c.error().message();
}

// toml++ recursed as deep as a header or a dotted key nests (a header of
// 100,000 parts overflowed an 8 MiB stack: tests/e2e/inputs_test.cpp runs the
// binary on such files); the depth is bounded before toml++ sees the text.
std::string deep(const std::string& head, const std::string& part, const std::string& sep, std::size_t n,
                 const std::string& tail) {
  std::string s = head;
  for (std::size_t i = 0; i < n; ++i) s += (i ? sep : "") + part;
  return s + tail;
}

TEST(ConfigLimits, NestingDepth) {
  const std::string kNested =
      "nested more than 32 levels deep (table header parts, dotted key parts, arrays "
      "and inline tables together)";
  const std::size_t huge = 100'000;
  EXPECT_EQ(error_of("# deep\n\n" + deep("[", "a", ".", huge, "]\n")),
            "/etc/xdpguard.toml line 3, column 1: " + kNested);
  EXPECT_EQ(error_of(deep("[[", "a", ".", huge, "]]\n")), "/etc/xdpguard.toml line 1, column 1: " + kNested);
  EXPECT_EQ(error_of("[interfaces.eth1]\n" + deep("", "a", ".", huge, " = 1\n")),
            "/etc/xdpguard.toml line 2, column 1: " + kNested);
  // x is the outer array (depth 1): the 33rd bracket is one too many.
  EXPECT_EQ(error_of("x = " + std::string(huge, '[') + std::string(huge, ']') + "\n"),
            "/etc/xdpguard.toml line 1, column 37: " + kNested);
  EXPECT_EQ(error_of("x = " + std::string(huge, '[')), "/etc/xdpguard.toml line 1, column 37: " + kNested);
  const std::string inline_tables = deep("x = ", "{a=", "", huge, "1") + std::string(huge, '}');
  EXPECT_EQ(error_of(inline_tables), "/etc/xdpguard.toml line 1, column 99: " + kNested);  // the 33rd a
  EXPECT_EQ(error_of(deep("x = {", "a", ".", huge, " = 1}")),
            "/etc/xdpguard.toml line 1, column 6: " + kNested);
  // Parts of all kinds add up: 10 header parts, 10 key parts (the outer
  // array is the last of them), 13 nested arrays: 33.
  const std::string sum = deep("[", "a", ".", 10, "]\n") + deep("", "b", ".", 10, " = ") +
                          std::string(14, '[') + std::string(14, ']') + "\n";
  EXPECT_EQ(error_of(sum), "/etc/xdpguard.toml line 2, column 36: " + kNested);

  // 32 levels are fine for the scanner (toml++ then parses them; the
  // keys are unknown to xdpguard, which is what the error says).
  const std::string ok = deep("[", "a", ".", 16, "]\n") + deep("", "b", ".", 8, " = ") + std::string(7, '[') +
                         std::string(7, ']') + "\n";
  EXPECT_EQ(error_of(ok),
            "/etc/xdpguard.toml line 1: unknown key \"a\" at the top level (expected interfaces, sets, "
            "flood, ddos, guard or flowspec)");
  // Brackets in strings and comments do not count.
  const std::string brackets(200, '[');
  auto c =
      parse_config("# " + brackets + "\n[interfaces.eth1] # " + brackets + "\nrules = [ # " + brackets +
                       "\n  \"drop tcp dport 22\", # \"" + brackets +
                       "\n]\n[sets.s]\nelements = [\"10.0.0.0/8\"]\n[flood]\nhold = 5 # '" + brackets + "\n",
                   "/etc/xdpguard.toml");
  ASSERT_TRUE(c) << c.error().message();
  EXPECT_EQ(c->interfaces[0].rules.size(), 1u);
  for (const char* q : {"\"", "'", "\"\"\"", "'''"}) {
    const std::string text = std::string("x = ") + q + brackets + (q[1] ? "\n" : "") + brackets + q + "\n";
    const std::string e = error_of(text);
    EXPECT_EQ(e.find("nested"), std::string::npos) << q << ": " << e;
  }
  // A multi-line basic string: escaped quotes, a line-ending backslash,
  // quotes before its end.
  const std::string e =
      error_of("x = \"\"\"a\\\"\"\" " + brackets + "\n" + brackets + " \\\n\"\"\"\"\"\ny = 1\n");
  EXPECT_EQ(e,
            "/etc/xdpguard.toml line 1: unknown key \"x\" at the top level (expected interfaces, sets, "
            "flood, ddos, guard or flowspec)");
}

TEST(ConfigLimits, FileSizeAndType) {
  EXPECT_EQ(error_of(std::string(kMaxConfigBytes + 1, '#')),
            "/etc/xdpguard.toml: more than 16777216 bytes (the limit)");
  namespace fsys = std::filesystem;
  char tmpl[] = "/tmp/xdpguard-config-XXXXXX";
  ASSERT_NE(::mkdtemp(tmpl), nullptr);
  fsys::path dir = tmpl;
  // A sparse file: its size is refused before anything is read.
  const auto big = dir / "big.toml";
  std::ofstream(big).close();
  fsys::resize_file(big, kMaxConfigBytes + 1);
  auto b = load_config(big.string());
  ASSERT_FALSE(b);
  EXPECT_EQ(b.error().code(), EFBIG);
  EXPECT_EQ(b.error().message(), big.string() + ": more than 16777216 bytes (the limit)");
  // Not a regular file: refused at once (a FIFO nobody writes would block,
  // /dev/zero would be read for ever).
  ASSERT_EQ(::mkfifo((dir / "fifo.toml").c_str(), 0600), 0);
  auto f = load_config((dir / "fifo.toml").string());
  ASSERT_FALSE(f);
  EXPECT_EQ(f.error().message(), (dir / "fifo.toml").string() + ": not a regular file (a FIFO)");
  auto z = load_config("/dev/zero");
  ASSERT_FALSE(z);
  EXPECT_EQ(z.error().message(), "/dev/zero: not a regular file (a character device)");
  // Set files the same way.
  auto set_file = [&](const std::string& file) {
    std::ofstream(dir / "xdpguard.toml") << "[interfaces.eth1]\nrules = [\"drop saddr @z\"]\n"
                                            "[sets.z]\nfile = \""
                                         << file << "\"\n";
    auto s = load_config((dir / "xdpguard.toml").string());
    EXPECT_FALSE(s) << file;
    return s ? Error(0, "") : s.error();
  };
  const std::string at = (dir / "xdpguard.toml").string() + " line 4: set z: ";
  EXPECT_EQ(set_file("/dev/zero").message(), at + "/dev/zero: not a regular file (a character device)");
  EXPECT_EQ(set_file("fifo.toml").message(),
            at + (dir / "fifo.toml").string() + ": not a regular file (a FIFO)");
  const auto huge_set = dir / "huge.txt";
  std::ofstream(huge_set).close();
  fsys::resize_file(huge_set, rules::kMaxSetFileBytes + 1);
  auto e = set_file("huge.txt");
  EXPECT_EQ(e.code(), EFBIG);
  EXPECT_EQ(e.message(), at + huge_set.string() + ": more than 268435456 bytes (the limit)");
  fsys::remove_all(dir);
}

TEST(ConfigErrors, TomlSyntax) {
  std::string e = error_of("[interfaces.eth1]\nmode = \"native\"\nrules = [\n  \"pass\",\n  oops\n]\n");
  EXPECT_TRUE(e.starts_with("/etc/xdpguard.toml line 5, column ")) << e;
  e = error_of("[interfaces.eth1]\nmode = \"native\nrules = []\n");
  EXPECT_TRUE(e.starts_with("/etc/xdpguard.toml line 2, column ")) << e;
  e = error_of("[interfaces.eth1]\nmode = \"a\"\nmode = \"b\"\n");  // duplicate key
  EXPECT_TRUE(e.starts_with("/etc/xdpguard.toml line 3, column ")) << e;
  EXPECT_EQ(parse_config("x = ", "c.toml").error().code(), EINVAL);
}

TEST(ConfigErrors, UnknownKeys) {
  EXPECT_EQ(error_of("\n\ninterface = 1\n"),
            "/etc/xdpguard.toml line 3: unknown key \"interface\" at the top level (expected "
            "interfaces, sets, flood, ddos, guard or flowspec)");
  EXPECT_EQ(error_of("[interfaces.eth1]\nmode = \"native\"\ndefualt = \"drop\"\n"),
            "/etc/xdpguard.toml line 3: unknown key \"defualt\" in [interfaces.eth1] (expected mode, "
            "default, non-ip, malformed, rules, limit-buckets, block-entries, flood, synproxy or talkers)");
  EXPECT_EQ(error_of("[sets.bl]\nfile = \"x\"\nfiles = \"y\"\n"),
            "/etc/xdpguard.toml line 3: unknown key \"files\" in [sets.bl] (expected file or elements)");
}

// [flowspec]: the service's FlowSpec consumer (flowspec/consumer.h).
TEST(Config, Flowspec) {
  auto c = parse_config(
      "[interfaces.eth1]\n[interfaces.eth2]\n\n[flowspec]\ngobgp = \"127.0.0.1:50051\"\n"
      "interfaces = [\"eth2\"]\nposition = \"before-local\"\nmax-rules = 500\nstale-time = 2.5\n"
      "state = \"/run/xdpguard/flowspec.json\"\n",
      "/etc/xdpguard.toml");
  ASSERT_TRUE(c) << c.error().message();
  ASSERT_TRUE(c->flowspec);
  EXPECT_EQ(c->flowspec->gobgp, "127.0.0.1:50051");
  EXPECT_EQ(c->flowspec->interfaces, std::vector<std::string>{"eth2"});
  EXPECT_TRUE(c->flowspec->before_local);
  EXPECT_EQ(c->flowspec->max_rules, 500u);
  EXPECT_EQ(c->flowspec->stale_s, 2.5);
  EXPECT_EQ(c->flowspec->state, "/run/xdpguard/flowspec.json");
  EXPECT_EQ(c->flowspec->line, 4u);
  // The defaults: every interface, after the local rules, 10,000, 60 s.
  c = parse_config("[interfaces.eth1]\n[flowspec]\ngobgp = \"[::1]:50051\"\n", "c.toml");
  ASSERT_TRUE(c) << c.error().message();
  EXPECT_TRUE(c->flowspec->interfaces.empty());
  EXPECT_FALSE(c->flowspec->before_local);
  EXPECT_EQ(c->flowspec->max_rules, 10000u);
  EXPECT_EQ(c->flowspec->stale_s, 60);
  EXPECT_FALSE(parse_config("[interfaces.eth1]\n", "c.toml")->flowspec);
}

TEST(ConfigErrors, Flowspec) {
  const std::string i = "[interfaces.eth1]\n";
  EXPECT_EQ(
      error_of(i + "[flowspec]\nstale-time = 5\n"),
      "/etc/xdpguard.toml line 2: [flowspec]: expected gobgp = \"HOST:PORT\" (the GoBGP daemon's gRPC API)");
  EXPECT_EQ(error_of(i + "[flowspec]\ngobgp = 50051\n"),
            "/etc/xdpguard.toml line 3: [flowspec] gobgp: expected a non-empty string, got an integer");
  EXPECT_EQ(
      error_of(i + "[flowspec]\ngobgp = \"h:1\"\nposition = \"first\"\n"),
      "/etc/xdpguard.toml line 4: [flowspec] position: expected \"after-local\" or \"before-local\", got "
      "\"first\"");
  EXPECT_EQ(error_of(i + "[flowspec]\ngobgp = \"h:1\"\ninterfaces = [\"eth9\"]\n"),
            "/etc/xdpguard.toml line 2: [flowspec] interfaces: \"eth9\" has no [interfaces.eth9] section");
  EXPECT_EQ(error_of(i + "[flowspec]\ngobgp = \"h:1\"\ninterfaces = []\n"),
            "/etc/xdpguard.toml line 4: [flowspec] interfaces: expected an array of interface names, got an "
            "empty array");
  EXPECT_EQ(
      error_of(i + "[flowspec]\ngobgp = \"h:1\"\nmax-rules = 0\n"),
      fmt::format("/etc/xdpguard.toml line 4: [flowspec] max-rules: expected a number from 1 to {}, got 0",
                  rules::kMaxRules));
  EXPECT_EQ(error_of(i + "[flowspec]\ngobgp = \"h:1\"\nstale-time = -1\n"),
            "/etc/xdpguard.toml line 4: [flowspec] stale-time: expected seconds from 0 to 86400, got -1");
  EXPECT_EQ(error_of(i + "[flowspec]\ngobgp = \"h:1\"\nstale = 1\n"),
            "/etc/xdpguard.toml line 4: unknown key \"stale\" in [flowspec] (expected gobgp, interfaces, "
            "position, max-rules, stale-time or state)");
  EXPECT_EQ(error_of("[flowspec]\ngobgp = \"h:1\"\n"),
            "/etc/xdpguard.toml line 1: [flowspec]: the file has no interface to enforce the routes on");
}

TEST(ConfigErrors, Shapes) {
  EXPECT_EQ(error_of("interfaces = 1\n"),
            "/etc/xdpguard.toml line 1: expected [interfaces.NAME] tables, got an integer");
  EXPECT_EQ(error_of("[[interfaces]]\nname = \"eth1\"\n"),
            "/etc/xdpguard.toml line 1: expected [interfaces.NAME] tables, got an array");
  EXPECT_EQ(error_of("sets = \"x\"\n"),
            "/etc/xdpguard.toml line 1: expected [sets.NAME] tables, got a string");
  EXPECT_EQ(error_of("[interfaces]\neth1 = true\n"),
            "/etc/xdpguard.toml line 2: interface eth1: expected a table [interfaces.eth1], got a boolean");
  EXPECT_EQ(error_of("[sets]\nbl = 1.5\n"),
            "/etc/xdpguard.toml line 2: set bl: expected a table [sets.bl], got a float");
}

TEST(ConfigErrors, InterfaceFields) {
  EXPECT_EQ(error_of("[interfaces.\"a/b\"]\n"),
            "/etc/xdpguard.toml line 1: expected an interface name (1-15 printable ASCII "
            "characters, no '/' or ':'), got \"a/b\"");
  EXPECT_EQ(error_of("[interfaces.abcdefghijklmnop]\n"),
            "/etc/xdpguard.toml line 1: expected an interface name (1-15 printable ASCII "
            "characters, no '/' or ':'), got \"abcdefghijklmnop\"");
  EXPECT_EQ(error_of("[interfaces.eth1]\n\nmode = \"fast\"\n"),
            "/etc/xdpguard.toml line 3: interface eth1: expected mode to be \"native\", \"generic\" "
            "or \"auto\", got \"fast\"");
  EXPECT_EQ(error_of("[interfaces.eth1]\nmode = 1\n"),
            "/etc/xdpguard.toml line 2: interface eth1: expected mode to be \"native\", \"generic\" "
            "or \"auto\", got an integer");
  EXPECT_EQ(error_of("[interfaces.eth1]\ndefault = \"accept\"\n"),
            "/etc/xdpguard.toml line 2: interface eth1: expected default to be \"pass\" or \"drop\", "
            "got \"accept\"");
  EXPECT_EQ(error_of("[interfaces.eth1]\ndefault = false\n"),
            "/etc/xdpguard.toml line 2: interface eth1: expected default to be \"pass\" or \"drop\", "
            "got a boolean");
  EXPECT_EQ(error_of("[interfaces.eth1]\nnon-ip = \"redirect xsk\"\n"),
            "/etc/xdpguard.toml line 2: interface eth1: expected non-ip to be \"pass\" or \"drop\", "
            "got \"redirect xsk\"");
  EXPECT_EQ(error_of("[interfaces.eth1]\nmalformed = [\"drop\"]\n"),
            "/etc/xdpguard.toml line 2: interface eth1: expected malformed to be \"pass\" or "
            "\"drop\", got an array");
  EXPECT_EQ(error_of("[interfaces.eth1]\nrules = \"drop tcp\"\n"),
            "/etc/xdpguard.toml line 2: interface eth1: expected rules to be an array of strings, "
            "got a string");
}

TEST(ConfigErrors, Rules) {
  // The documented example: the line of the rule, then the parser's message.
  EXPECT_EQ(error_of("# c\n[interfaces.eth1]\nmode = \"native\"\nrules = [\n  \"pass udp dport 53\",\n\n"
                     "  \"drop dport 22\",\n]\n"),
            "/etc/xdpguard.toml line 7: rule 2, column 6: expected tcp or udp before dport");
  EXPECT_EQ(error_of("[interfaces.eth1]\nrules = [\"pass\", \"drop tcp sport ssh\"]\n"),
            "/etc/xdpguard.toml line 2: rule 2, column 16: expected a port or range, got \"ssh\"");
  EXPECT_EQ(error_of("[interfaces.eth1]\nrules = [\n  \"pass\",\n  22,\n]\n"),
            "/etc/xdpguard.toml line 4: rule 2: expected a rule in quotes, got an integer");
  EXPECT_EQ(error_of("[interfaces.eth1]\nrules = [\n  \"drop saddr @nope\",\n]\n"),
            "/etc/xdpguard.toml line 3: rule 1: set @nope is not defined (expected a [sets.nope] table)");
  EXPECT_EQ(error_of("[interfaces.eth1]\nrules = [\"drop daddr @other\"]\n[sets.one]\nelements = []\n"),
            "/etc/xdpguard.toml line 2: rule 1: set @other is not defined (expected a [sets.other] table)");
  // Multi-line strings: the column counts within the rule text.
  EXPECT_EQ(error_of("[interfaces.eth1]\nrules = [\n\"\"\"drop tcp\ndport x\"\"\"]\n"),
            "/etc/xdpguard.toml line 3: rule 1, column 16: expected a port or range, got \"x\"");
}

TEST(ConfigErrors, RuleLimit) {
  std::string text = "[interfaces.eth1]\nrules = [\n";
  for (std::size_t i = 0; i <= rules::kMaxRules; ++i) text += "\"pass\",\n";
  text += "]\n";
  Files fs;
  auto c = parse_config(text, "/etc/xdpguard.toml", fs.reader());
  ASSERT_FALSE(c);
  EXPECT_EQ(c.error().code(), E2BIG);
  EXPECT_EQ(c.error().message(),
            fmt::format("/etc/xdpguard.toml line {}: interface eth1: more than 16384 rules (the "
                        "limit per interface)",
                        rules::kMaxRules + 3));
}

TEST(ConfigErrors, Sets) {
  EXPECT_EQ(error_of("[sets.1bad]\nelements = []\n"),
            "/etc/xdpguard.toml line 1: expected a set name (1-31 letters, digits, _ or -, starting "
            "with a letter or _), got \"1bad\"");
  EXPECT_EQ(error_of("[sets.bl]\nfile = \"a\"\nelements = []\n"),
            "/etc/xdpguard.toml line 1: set bl: expected either file or elements, got both");
  EXPECT_EQ(error_of("\n[sets.bl]\n"),
            "/etc/xdpguard.toml line 2: set bl: expected file = \"PATH\" or elements = [...]");
  EXPECT_EQ(error_of("[sets.bl]\nfile = 3\n"),
            "/etc/xdpguard.toml line 2: set bl: expected file to be a string (a path), got an integer");
  EXPECT_EQ(error_of("[sets.bl]\nelements = \"10.0.0.0/8\"\n"),
            "/etc/xdpguard.toml line 2: set bl: expected elements to be an array of prefixes, got a string");
  EXPECT_EQ(
      error_of("[sets.bl]\nelements = [\n  \"10.0.0.0/8\",\n  \"10.0.0.300/8\",\n]\n"),
      "/etc/xdpguard.toml line 4: set bl element 2: expected an IPv4 or IPv6 prefix, got \"10.0.0.300/8\"");
  EXPECT_EQ(error_of("[sets.bl]\nelements = [\"10.0.0.0/8\", 7]\n"),
            "/etc/xdpguard.toml line 2: set bl element 2: expected a prefix in quotes, got an integer");
  EXPECT_EQ(error_of("[sets.bl]\nfile = \"\"\n"),
            "/etc/xdpguard.toml line 2: set bl: expected a file path, got \"\"");
  EXPECT_EQ(error_of("[sets.bl]\n\nfile = \"missing.txt\"\n"),
            "/etc/xdpguard.toml line 3: set bl: /etc/missing.txt: No such file or directory");
  Files fs;
  fs.files["/etc/bad-prefixes.txt"] = std::string(11, '\n') + "10.0.0.300/8\n";
  EXPECT_EQ(error_of("[sets.bl]\nfile = \"bad-prefixes.txt\"\n", &fs),
            "/etc/xdpguard.toml line 2: set bl: /etc/bad-prefixes.txt line 12: expected an IPv4 or "
            "IPv6 prefix, got \"10.0.0.300/8\"");
}

TEST(ConfigErrors, SetLimits) {
  std::string text;
  for (std::size_t i = 0; i <= rules::kMaxSets; ++i) text += fmt::format("[sets.s{}]\nelements = []\n", i);
  Files fs;
  auto c = parse_config(text, "/etc/xdpguard.toml", fs.reader());
  ASSERT_FALSE(c);
  EXPECT_EQ(c.error().code(), E2BIG);
  EXPECT_EQ(c.error().message(),
            fmt::format("/etc/xdpguard.toml line {}: set s64: more than 64 sets (the limit)",
                        2 * rules::kMaxSets + 1));
  // Too many prefixes in one set, from a file.
  std::string big;
  big.reserve((rules::kMaxSetPrefixes + 1) * 12);
  char line[32];
  for (std::size_t i = 0; i <= rules::kMaxSetPrefixes; ++i) {
    int n = std::snprintf(line, sizeof line, "10.%zu.%zu.%zu\n", i >> 16, (i >> 8) & 0xff, i & 0xff);
    big.append(line, static_cast<std::size_t>(n));
  }
  fs.files["/etc/big.txt"] = std::move(big);
  auto b = parse_config("[sets.big]\nfile = \"big.txt\"\n", "/etc/xdpguard.toml", fs.reader());
  ASSERT_FALSE(b);
  EXPECT_EQ(b.error().code(), E2BIG);
  EXPECT_EQ(b.error().message(),
            "/etc/xdpguard.toml line 2: set big: /etc/big.txt: 2000001 distinct prefixes, the limit "
            "per set is 2000000");
}

}  // namespace
}  // namespace xdpguard::config
