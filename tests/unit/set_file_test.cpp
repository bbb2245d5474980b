// Prefix-set files: syntax (comments, blanks, whitespace, CRLF, BOM), both
// families, normalisation and duplicate removal, every error message, the
// file reader, and a million-line file (correctness; the time is logged).
#include <gtest/gtest.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <fstream>

#include <fmt/format.h>

#include "rules/limits.h"
#include "rules/parser.h"
#include "rules/printer.h"
#include "rules/set_file.h"

namespace xdpguard::rules {
namespace {

std::vector<std::string> strings(const std::vector<Prefix>& v) {
  std::vector<std::string> out;
  for (const auto& p : v) out.push_back(prefix_to_string(p));
  return out;
}

using S = std::vector<std::string>;

TEST(SetFile, CommentsBlanksWhitespace) {
  auto l = parse_set_text(
      "# blocklist, generated\n"
      "\n"
      "10.0.0.0/8\n"
      "   192.0.2.1   # one host\n"
      "\t198.51.100.0/24\t\n"
      "2001:db8::/32\n"
      "  # indented comment\n"
      "::1\r\n"
      "203.0.113.7/32#tight comment\n"
      "   \n"
      "fe80::/10",  // no final newline
      "list.txt");
  ASSERT_TRUE(l) << l.error().message();
  EXPECT_EQ(strings(l->v4), (S{"10.0.0.0/8", "192.0.2.1", "198.51.100.0/24", "203.0.113.7"}));
  EXPECT_EQ(strings(l->v6), (S{"::1", "2001:db8::/32", "fe80::/10"}));
  EXPECT_EQ(l->size(), 7u);
  EXPECT_EQ(strings(l->all()), (S{"10.0.0.0/8", "192.0.2.1", "198.51.100.0/24", "203.0.113.7", "::1",
                                  "2001:db8::/32", "fe80::/10"}));
}

TEST(SetFile, EmptyInputs) {
  for (std::string_view t : {"", "\n", "# nothing\n\n  \n", "\xef\xbb\xbf"}) {
    auto l = parse_set_text(t, "e.txt");
    ASSERT_TRUE(l) << l.error().message();
    EXPECT_EQ(l->size(), 0u);
  }
}

TEST(SetFile, ByteOrderMarkIsSkipped) {
  auto l = parse_set_text(
      "\xef\xbb\xbf"
      "10.0.0.0/8\n",
      "bom.txt");
  ASSERT_TRUE(l) << l.error().message();
  EXPECT_EQ(strings(l->v4), (S{"10.0.0.0/8"}));
}

TEST(SetFile, NormalisedSortedDeduplicated) {
  auto l = parse_set_text(
      "10.1.2.3/8\n10.0.0.0/8\n10.9.9.9/8\n"  // three spellings of one prefix
      "10.0.0.0/16\n0.0.0.0/0\n255.255.255.255\n"
      "2001:db8::1/32\n2001:DB8::/32\n::ffff:1.2.3.4\n::/0\n",
      "n.txt");
  ASSERT_TRUE(l) << l.error().message();
  EXPECT_EQ(strings(l->v4), (S{"0.0.0.0/0", "10.0.0.0/8", "10.0.0.0/16", "255.255.255.255"}));
  EXPECT_EQ(strings(l->v6), (S{"::/0", "::ffff:1.2.3.4", "2001:db8::/32"}));
  for (const auto& p : l->v4) EXPECT_EQ(p.family, Family::V4);
  for (const auto& p : l->v6) EXPECT_EQ(p.family, Family::V6);
}

TEST(SetFile, SameAsThePrefixParser) {
  // The fast IPv4 path accepts and rejects exactly what parse_prefix does.
  for (std::string_view t :
       {"1.2.3.4", "1.2.3.4/0", "1.2.3.4/32", "1.2.3.4/33", "01.2.3.4", "1.2.3", "1.2.3.4/", "1.2.3.4/08",
        "1.2.3.4/0032", "256.1.1.1", "1.2.3.4.5", "1.2.3.4/3a", "1.2.3.4//8", "0.0.0.0", "1.2.3.04"}) {
    auto l = parse_set_text(t, "x");
    auto p = parse_prefix(t);
    EXPECT_EQ(static_cast<bool>(l), p.has_value()) << t;
    if (l && p) {
      EXPECT_EQ(l->all(), std::vector<Prefix>{*p}) << t;
    }
  }
}

TEST(SetFile, BadLines) {
  auto e = [](std::string_view text) {
    auto l = parse_set_text(text, "bad-prefixes.txt");
    EXPECT_FALSE(l) << text;
    return l ? std::string("(parsed)") : l.error().message();
  };
  std::string lines;
  for (int i = 0; i < 11; ++i) lines += i % 3 ? "10.0.0.0/8\n" : "# c\n";
  EXPECT_EQ(e(lines + "10.0.0.300/8\n1.1.1.1\n"),
            "bad-prefixes.txt line 12: expected an IPv4 or IPv6 prefix, got \"10.0.0.300/8\"");
  EXPECT_EQ(e("10.0.0.0/33"),
            "bad-prefixes.txt line 1: expected an IPv4 or IPv6 prefix, got \"10.0.0.0/33\"");
  EXPECT_EQ(e("\n\n2001:db8::/129 # c"),
            "bad-prefixes.txt line 3: expected an IPv4 or IPv6 prefix, got \"2001:db8::/129\"");
  EXPECT_EQ(e("10.0.0.0/8 10.1.0.0/16"),
            "bad-prefixes.txt line 1: expected an IPv4 or IPv6 prefix, got \"10.0.0.0/8 10.1.0.0/16\"");
  EXPECT_EQ(e("example.com"),
            "bad-prefixes.txt line 1: expected an IPv4 or IPv6 prefix, got \"example.com\"");
  EXPECT_EQ(e("1::2::3"), "bad-prefixes.txt line 1: expected an IPv4 or IPv6 prefix, got \"1::2::3\"");
  EXPECT_EQ(e("10.0.0.1\r\r\n10.0.0.2\n\x01\n"),
            "bad-prefixes.txt line 3: expected an IPv4 or IPv6 prefix, got \"\\x01\"");
  EXPECT_EQ(e(std::string_view("10.0.0.1\0", 9)),
            "bad-prefixes.txt line 1: expected an IPv4 or IPv6 prefix, got \"10.0.0.1\\x00\"");
  EXPECT_EQ(e("@set"), "bad-prefixes.txt line 1: expected an IPv4 or IPv6 prefix, got \"@set\"");
  EXPECT_EQ(parse_set_text("x", "f").error().code(), EINVAL);
}

TEST(SetFile, MakePrefixList) {
  auto a = parse_prefix("10.1.0.0/8");
  auto b = parse_prefix("2001:db8::/32");
  auto l = make_prefix_list({*a, *b, *a}, "set x");
  ASSERT_TRUE(l);
  EXPECT_EQ(strings(l->v4), (S{"10.0.0.0/8"}));
  EXPECT_EQ(strings(l->v6), (S{"2001:db8::/32"}));
  // Host bits of prefixes built by hand are cleared too.
  Prefix raw;
  raw.family = Family::V4;
  raw.addr = {10, 1, 2, 3};
  raw.len = 16;
  EXPECT_EQ(strings(make_prefix_list({raw}, "set x")->v4), (S{"10.1.0.0/16"}));
}

TEST(SetFile, SizeLimit) {
  // kMaxSetPrefixes + 1 distinct /32s (duplicates would not count).
  std::vector<Prefix> many(kMaxSetPrefixes + 1);
  for (std::size_t i = 0; i < many.size(); ++i) {
    many[i].family = Family::V4;
    many[i].len = 32;
    many[i].addr = {10, static_cast<std::uint8_t>(i >> 16), static_cast<std::uint8_t>(i >> 8),
                    static_cast<std::uint8_t>(i)};
  }
  auto l = make_prefix_list(many, "set huge");
  ASSERT_FALSE(l);
  EXPECT_EQ(l.error().code(), E2BIG);
  EXPECT_EQ(l.error().message(), "set huge: 2000001 distinct prefixes, the limit per set is 2000000");
  many.back() = many[many.size() - 2];  // a duplicate: back to the limit
  EXPECT_TRUE(make_prefix_list(many, "set huge"));
}

struct TempFile {
  std::string path;
  explicit TempFile(std::string_view content) {
    char tmpl[] = "/tmp/xdpguard-set-XXXXXX";
    int fd = ::mkstemp(tmpl);
    EXPECT_GE(fd, 0);
    path = tmpl;
    EXPECT_EQ(::write(fd, content.data(), content.size()), static_cast<ssize_t>(content.size()));
    ::close(fd);
  }
  ~TempFile() { ::unlink(path.c_str()); }
};

TEST(SetFile, FromFile) {
  TempFile f("# test\n10.0.0.0/8\n2001:db8::/32\n");
  auto l = parse_set_file(f.path);
  ASSERT_TRUE(l) << l.error().message();
  EXPECT_EQ(l->size(), 2u);
  TempFile bad("10.0.0.0/8\nnope\n");
  auto b = parse_set_file(bad.path);
  ASSERT_FALSE(b);
  EXPECT_EQ(b.error().message(), bad.path + " line 2: expected an IPv4 or IPv6 prefix, got \"nope\"");
  auto missing = parse_set_file("/nonexistent/xdpguard/set.txt");
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code(), ENOENT);
  EXPECT_EQ(missing.error().message(), "/nonexistent/xdpguard/set.txt: No such file or directory");
  auto dir = parse_set_file("/tmp");
  ASSERT_FALSE(dir);
  EXPECT_EQ(dir.error().message(), "/tmp: is a directory");
  // Files whose size stat does not know (procfs) are read to the end.
  auto proc = read_text_file("/proc/self/status");
  ASSERT_TRUE(proc);
  EXPECT_NE(proc->find("Name:"), std::string::npos);
}

// `set load eth1 s /dev/zero` (or a FIFO, or a huge file) was read without
// end; now: regular files only, at most kMaxSetFileBytes, refused before a
// byte is read.
TEST(SetFile, OnlyRegularFilesOfBoundedSize) {
  auto zero = parse_set_file("/dev/zero");
  ASSERT_FALSE(zero);
  EXPECT_EQ(zero.error().message(), "/dev/zero: not a regular file (a character device)");
  char tmpl[] = "/tmp/xdpguard-set-XXXXXX";
  ASSERT_NE(::mkdtemp(tmpl), nullptr);
  const std::string dir = tmpl;
  const std::string fifo = dir + "/fifo";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  auto f = parse_set_file(fifo);  // nobody writes to it: must not wait
  ASSERT_FALSE(f);
  EXPECT_EQ(f.error().message(), fifo + ": not a regular file (a FIFO)");
  const std::string big = dir + "/big";
  {
    int fd = ::open(big.c_str(), O_WRONLY | O_CREAT, 0600);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(::ftruncate(fd, static_cast<off_t>(kMaxSetFileBytes) + 1), 0);  // sparse
    ::close(fd);
  }
  auto b = parse_set_file(big);
  ASSERT_FALSE(b);
  EXPECT_EQ(b.error().code(), EFBIG);
  EXPECT_EQ(b.error().message(), big + ": more than 268435456 bytes (the limit)");
  // The bound holds for files whose size stat does not know, too.
  auto proc = read_text_file("/proc/self/status", 64);
  ASSERT_FALSE(proc);
  EXPECT_EQ(proc.error().message(), "/proc/self/status: more than 64 bytes (the limit)");
  TempFile exact(std::string(64, '#'));
  auto e = read_text_file(exact.path, 64);
  ASSERT_TRUE(e) << e.error().message();
  EXPECT_EQ(e->size(), 64u);
  ::unlink(fifo.c_str());
  ::unlink(big.c_str());
  ::rmdir(dir.c_str());
}

TEST(SetFile, MillionLines) {
  // 900,000 IPv4 prefixes and 100,000 IPv6 ones, all distinct, with some
  // comments and blank lines: what a large real block list looks like.
  std::string text;
  text.reserve(24'000'000);
  text += "# generated block list\n";
  std::size_t n4 = 0, n6 = 0;
  for (std::uint32_t i = 0; i < 1'000'000; ++i) {
    if (i % 10 == 9) {
      text += fmt::format("2001:db8:{:x}:{:x}::/64\n", i >> 16, i & 0xffff);
      ++n6;
    } else if (i % 3 == 0) {
      text += fmt::format("{}.{}.{}.0/24  # net {}\n", 1 + (i >> 16), (i >> 8) & 0xff, i & 0xff, i);
      ++n4;
    } else {
      text += fmt::format("{}.{}.{}.{}\n", 100 + (i >> 16), (i >> 8) & 0xff, i & 0xff, i % 7);
      ++n4;
    }
    if (i % 1000 == 0) text += "\n";
  }
  auto t0 = std::chrono::steady_clock::now();
  auto l = parse_set_text(text, "million.txt");
  auto ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  ASSERT_TRUE(l) << l.error().message();
  EXPECT_EQ(l->v4.size(), n4);
  EXPECT_EQ(l->v6.size(), n6);
  EXPECT_TRUE(std::is_sorted(l->v4.begin(), l->v4.end(), [](const Prefix& a, const Prefix& b) {
    return std::make_pair(a.addr, a.len) < std::make_pair(b.addr, b.len);
  }));
  std::printf("[ timing   ] 1,000,000-line set file (%.1f MB) parsed in %.0f ms\n",
              static_cast<double>(text.size()) / 1e6, ms);
  RecordProperty("parse_ms", static_cast<int>(ms));
}

}  // namespace
}  // namespace xdpguard::rules
