#include "core/log.h"

#include <bpf/libbpf.h>
#include <xdp/libxdp.h>

#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <deque>
#include <mutex>

#include <spdlog/sinks/stdout_sinks.h>

namespace xdpguard::log {
namespace {

std::mutex g_mu;
std::deque<std::string> g_lines;  // tail of libbpf/libxdp output
constexpr std::size_t kKeep = 64;

void capture(bool is_debug, const char* fmt, va_list ap) {
  char buf[1024];
  std::vsnprintf(buf, sizeof buf, fmt, ap);
  std::string s(buf);
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  if (s.empty()) return;
  // Only warnings and errors are kept for error context: the verifier log and
  // "failed to load" lines arrive at that level.
  if (!is_debug) {
    std::lock_guard lk(g_mu);
    // libbpf prints the verifier log as one multi-line message.
    std::size_t start = 0;
    while (start < s.size()) {
      auto nl = s.find('\n', start);
      auto line = s.substr(start, nl == std::string::npos ? std::string::npos : nl - start);
      if (!line.empty()) g_lines.push_back(line);
      if (g_lines.size() > kKeep) g_lines.pop_front();
      if (nl == std::string::npos) break;
      start = nl + 1;
    }
  }
  spdlog::debug("{}", s);
}

int libbpf_print(enum libbpf_print_level level, const char* fmt, va_list ap) {
  if (level == LIBBPF_DEBUG && !spdlog::should_log(spdlog::level::trace)) return 0;
  capture(level == LIBBPF_DEBUG, fmt, ap);
  return 0;
}

int libxdp_print(enum libxdp_print_level level, const char* fmt, va_list ap) {
  if (level == LIBXDP_DEBUG && !spdlog::should_log(spdlog::level::trace)) return 0;
  capture(level == LIBXDP_DEBUG, fmt, ap);
  return 0;
}

}  // namespace

void init(spdlog::level::level_enum level) {
  static std::once_flag once;
  std::call_once(once, [] {
    auto logger = spdlog::stderr_logger_st("xdpguard");
    logger->set_pattern("xdpguard: %^%l%$: %v");
    spdlog::set_default_logger(logger);
    libbpf_set_print(libbpf_print);
    libxdp_set_print(libxdp_print);
  });
  spdlog::set_level(level);
}

void clear_bpf_log() {
  std::lock_guard lk(g_mu);
  g_lines.clear();
}

std::string bpf_log_tail(std::size_t lines) {
  std::lock_guard lk(g_mu);
  std::string out;
  std::size_t from = g_lines.size() > lines ? g_lines.size() - lines : 0;
  for (std::size_t i = from; i < g_lines.size(); ++i) {
    if (!out.empty()) out += " | ";
    out += g_lines[i];
  }
  return out;
}

Result<void> bpf_load(std::string_view what, const std::function<int()>& load) {
  clear_bpf_log();
  if (int err = load()) {
    std::string tail = bpf_log_tail();
    return fail(-err, "load {}: {}{}{}", what, std::strerror(-err), tail.empty() ? "" : ": ", tail);
  }
  return {};
}

}  // namespace xdpguard::log
