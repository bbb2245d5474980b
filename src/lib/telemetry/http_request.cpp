#include "telemetry/http_request.h"

#include <optional>

#include <fmt/format.h>

namespace xdpguard::telemetry::http {
namespace {

// RFC 9110 5.6.2: token characters.
bool is_tchar(unsigned char c) {
  if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) return true;
  switch (c) {
    case '!':
    case '#':
    case '$':
    case '%':
    case '&':
    case '\'':
    case '*':
    case '+':
    case '-':
    case '.':
    case '^':
    case '_':
    case '`':
    case '|':
    case '~': return true;
    default: return false;
  }
}

// A request target's characters (RFC 3986, visible ASCII).
bool is_target_char(unsigned char c) { return c > 0x20 && c < 0x7f; }

// A field value's characters (RFC 9110 5.5): VCHAR, obs-text, SP, HTAB.
bool is_value_char(unsigned char c) { return c == ' ' || c == '\t' || (c > 0x20 && c != 0x7f); }

char lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (lower(a[i]) != lower(b[i])) return false;
  return true;
}

bool istarts_with(std::string_view s, std::string_view prefix) {
  return s.size() >= prefix.size() && iequals(s.substr(0, prefix.size()), prefix);
}

std::string_view trim_ows(std::string_view v) {
  while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.remove_prefix(1);
  while (!v.empty() && (v.back() == ' ' || v.back() == '\t')) v.remove_suffix(1);
  return v;
}

HttpError bad(std::string reason) { return {400, std::move(reason)}; }

// The line [pos, '\n') of `view`, without its CR; nullopt while no '\n' has
// come. A CR anywhere else in it is an error (RFC 9112 2.2: bare CR).
struct Line {
  std::string_view text;
  std::size_t next = 0;  // just past the '\n'
};
enum class LineState { Complete, Partial, BareCr };
LineState next_line(std::string_view view, std::size_t pos, Line& out) {
  const std::size_t eol = view.find('\n', pos);
  std::string_view text =
      view.substr(pos, eol == std::string_view::npos ? std::string_view::npos : eol - pos);
  const bool complete = eol != std::string_view::npos;
  // A trailing CR ends a complete line; in a partial one its LF may follow.
  if (!text.empty() && text.back() == '\r') text.remove_suffix(1);
  if (text.find('\r') != std::string_view::npos) return LineState::BareCr;
  out.text = text;
  out.next = complete ? eol + 1 : view.size();
  return complete ? LineState::Complete : LineState::Partial;
}

// Checks a request line (or, `complete` false, the start of one) and fills
// method, path and minor. An error, or NeedMore for a sound partial line.
std::variant<NeedMore, HttpRequest, HttpError> request_line(std::string_view line, bool complete) {
  std::size_t i = 0;
  while (i < line.size() && is_tchar(static_cast<unsigned char>(line[i]))) ++i;
  if (i == line.size()) {
    if (!complete) return NeedMore{};
    return bad(i == 0 ? "empty request line" : "request line without a target");
  }
  if (line[i] != ' ' || i == 0) return bad("invalid method");
  std::size_t j = i + 1;
  while (j < line.size() && is_target_char(static_cast<unsigned char>(line[j]))) ++j;
  if (j == line.size()) {
    if (!complete) return NeedMore{};
    return bad("request line without an HTTP version");
  }
  if (line[j] != ' ' || j == i + 1) return bad("invalid request target");
  const std::string_view version = line.substr(j + 1);
  static constexpr std::string_view kShape = "HTTP/d.d";
  if (version.size() > kShape.size()) return bad("invalid HTTP version");
  for (std::size_t k = 0; k < version.size(); ++k) {
    const bool ok = kShape[k] == 'd' ? (version[k] >= '0' && version[k] <= '9') : version[k] == kShape[k];
    if (!ok) return bad("invalid HTTP version");
  }
  // A partial line decides nothing more: what follows may still make it wrong.
  if (!complete) return NeedMore{};
  if (version.size() < kShape.size()) return bad("invalid HTTP version");
  if (version[5] != '1')
    return HttpError{505, fmt::format("HTTP/{}.{} is not supported", version[5], version[7])};

  HttpRequest r;
  r.method = std::string(line.substr(0, i));
  r.minor = version[7] - '0';
  std::string_view target = line.substr(i + 1, j - i - 1);
  if (istarts_with(target, "http://") || istarts_with(target, "https://")) {
    // absolute-form (RFC 9112 3.2.2): the authority is ignored.
    target.remove_prefix(target.find("://") + 3);
    const std::size_t slash = target.find_first_of("/?#");
    if (slash == 0 || target.empty()) return bad("absolute request target without a host");
    target = slash == std::string_view::npos ? std::string_view("/") : target.substr(slash);
  } else if (target.front() != '/') {
    return bad("request target is not a path");
  }
  std::string_view path = target.substr(0, target.find_first_of("?#"));
  if (path.empty()) path = "/";  // http://host?query
  r.path = std::string(path);
  return r;
}

}  // namespace

ParseResult parse_request(std::string_view buf, const Limits& limits) {
  // Only the first max_head_bytes count: a head that does not end within
  // them is refused whatever follows.
  const std::string_view view = buf.substr(0, limits.max_head_bytes);
  const bool at_limit = buf.size() >= limits.max_head_bytes;
  std::size_t pos = 0;
  // RFC 9112 2.2: empty lines before the request line are ignored.
  Line line;
  while (pos < view.size() && (view[pos] == '\r' || view[pos] == '\n')) {
    const LineState st = next_line(view, pos, line);
    if (st == LineState::BareCr) return bad("bare CR");
    if (st == LineState::Partial) break;
    if (!line.text.empty()) break;
    pos = line.next;
  }

  LineState st = next_line(view, pos, line);
  if (st == LineState::BareCr) return bad("bare CR in the request line");
  auto first = request_line(line.text, st == LineState::Complete);
  if (auto* e = std::get_if<HttpError>(&first)) return *e;
  if (st == LineState::Partial) {
    if (at_limit)
      return HttpError{414, fmt::format("request line longer than {} bytes", limits.max_head_bytes)};
    return NeedMore{};
  }
  HttpRequest req = std::move(std::get<HttpRequest>(first));
  pos = line.next;

  std::size_t hosts = 0;
  bool close = false, keep_alive = false, transfer_encoding = false;
  std::optional<std::uint64_t> content_length;
  while (true) {
    st = next_line(view, pos, line);
    if (st == LineState::BareCr) return bad("bare CR in a header field");
    if (!line.text.empty() && (line.text.front() == ' ' || line.text.front() == '\t'))
      return bad("header field folding (obs-fold)");
    // The field name so far must be a token; its colon may not have come yet.
    const std::size_t colon = line.text.find(':');
    const std::string_view name = line.text.substr(0, colon);
    for (char c : name)
      if (!is_tchar(static_cast<unsigned char>(c))) return bad("invalid header field name");
    if (st == LineState::Partial) {
      if (at_limit)
        return HttpError{431, fmt::format("request head longer than {} bytes", limits.max_head_bytes)};
      return NeedMore{};
    }
    pos = line.next;
    if (line.text.empty()) break;  // the end of the head
    if (++req.fields > limits.max_fields)
      return HttpError{431, fmt::format("more than {} header fields", limits.max_fields)};
    if (colon == std::string_view::npos) return bad("header field without a colon");
    if (name.empty()) return bad("empty header field name");
    const std::string_view value = trim_ows(line.text.substr(colon + 1));
    for (char c : value)
      if (!is_value_char(static_cast<unsigned char>(c)))
        return bad("invalid character in a header field value");

    if (iequals(name, "host")) {
      ++hosts;
    } else if (iequals(name, "content-length")) {
      // 1*DIGIT; repeated fields must agree (RFC 9112 6.3).
      if (value.empty() || value.size() > 18) return bad("invalid Content-Length");
      std::uint64_t n = 0;
      for (char c : value) {
        if (c < '0' || c > '9') return bad("invalid Content-Length");
        n = n * 10 + static_cast<std::uint64_t>(c - '0');
      }
      if (content_length && *content_length != n) return bad("conflicting Content-Length fields");
      content_length = n;
    } else if (iequals(name, "transfer-encoding")) {
      transfer_encoding = true;
    } else if (iequals(name, "connection")) {
      std::string_view rest = value;
      while (!rest.empty()) {
        const std::size_t comma = rest.find(',');
        const std::string_view option = trim_ows(rest.substr(0, comma));
        if (iequals(option, "close")) close = true;
        if (iequals(option, "keep-alive")) keep_alive = true;
        rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 1);
      }
    }
  }
  if (hosts > 1) return bad("more than one Host field");
  if (hosts == 0 && req.minor >= 1) return bad("HTTP/1.1 request without a Host field");
  if (transfer_encoding)
    return HttpError{501, "Transfer-Encoding is not supported (requests here have no body)"};
  if (content_length && *content_length > 0)
    return HttpError{413, "requests here have no body (Content-Length must be 0)"};
  req.keep_alive = req.minor >= 1 ? !close : keep_alive && !close;
  req.head_bytes = pos;
  return req;
}

RouteResult route(const HttpRequest& req) {
  if (req.method != "GET" && req.method != "HEAD")
    return HttpError{405, fmt::format("method {} is not allowed (GET or HEAD)", req.method)};
  if (req.path == "/metrics") return Route::Metrics;
  if (req.path == "/") return Route::Index;
  return HttpError{404, "not found (the metrics are at /metrics)"};
}

std::string_view status_text(int status) {
  switch (status) {
    case 200: return "OK";
    case 400: return "Bad Request";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 413: return "Content Too Large";
    case 414: return "URI Too Long";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 503: return "Service Unavailable";
    case 505: return "HTTP Version Not Supported";
    default: return "";
  }
}

std::string response_head(int status, std::string_view content_type, std::size_t content_length,
                          bool keep_alive, std::string_view date) {
  std::string h = fmt::format("HTTP/1.1 {} {}\r\n", status, status_text(status));
  if (!date.empty()) h += fmt::format("Date: {}\r\n", date);
  h += fmt::format("Content-Type: {}\r\nContent-Length: {}\r\n", content_type, content_length);
  if (status == 405) h += "Allow: GET, HEAD\r\n";
  if (status == 503) h += "Retry-After: 1\r\n";
  h += keep_alive ? "Connection: keep-alive\r\n\r\n" : "Connection: close\r\n\r\n";
  return h;
}

}  // namespace xdpguard::telemetry::http
