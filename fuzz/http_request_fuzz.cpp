// libFuzzer target: the metrics endpoint's request parser and router
// (telemetry/http_request.h) on arbitrary bytes, as a client could send them.
// The first byte picks the limits (small ones reach them often). It must:
// never look past max_head_bytes; take a request only if every prefix of
// its head needs more and the head alone parses to the same request; refuse
// only with a status this server sends, the same status for every prefix
// that is already refused; route every request to a page, 404 or 405; and
// make a response head that is one status line, fields and the empty line.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "telemetry/http_request.h"

namespace {

using namespace xdpguard::telemetry::http;

void check(bool ok) {
  if (!ok) std::abort();
}

int status_of(const ParseResult& r) {
  if (const auto* e = std::get_if<HttpError>(&r)) return e->status;
  return std::holds_alternative<NeedMore>(r) ? 0 : 200;
}

bool same(const HttpRequest& a, const HttpRequest& b) {
  return a.method == b.method && a.path == b.path && a.minor == b.minor && a.keep_alive == b.keep_alive &&
         a.head_bytes == b.head_bytes && a.fields == b.fields;
}

bool token(std::string_view s) {
  if (s.empty()) return false;
  for (unsigned char c : s)
    if (c <= 0x20 || c >= 0x7f ||
        std::string_view("\"(),/:;<=>?@[\\]{}").find(static_cast<char>(c)) != std::string_view::npos)
      return false;
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  Limits limits;
  if (data[0] & 1)
    limits = {.max_head_bytes = std::size_t{16} + data[0],
              .max_fields = static_cast<std::size_t>(data[0] >> 5)};
  const std::string_view buf(reinterpret_cast<const char*>(data + 1), size - 1);

  const ParseResult r = parse_request(buf, limits);
  const int status = status_of(r);

  // Prefixes: a few, spread over the buffer (every one for short inputs).
  const std::size_t step = buf.size() <= 512 ? 1 : buf.size() / 257;
  if (const auto* req = std::get_if<HttpRequest>(&r)) {
    check(req->head_bytes > 0 && req->head_bytes <= buf.size() && req->head_bytes <= limits.max_head_bytes);
    check(req->fields <= limits.max_fields);
    check(token(req->method));
    check(!req->path.empty() && req->path.front() == '/');
    check(req->minor >= 0 && req->minor <= 9);
    const auto alone = parse_request(buf.substr(0, req->head_bytes), limits);
    check(std::holds_alternative<HttpRequest>(alone) && same(std::get<HttpRequest>(alone), *req));
    for (std::size_t n = 0; n < req->head_bytes; n += step)
      check(std::holds_alternative<NeedMore>(parse_request(buf.substr(0, n), limits)));
    const auto routed = route(*req);
    if (const auto* e = std::get_if<HttpError>(&routed)) check(e->status == 404 || e->status == 405);
  } else if (const auto* e = std::get_if<HttpError>(&r)) {
    check(!status_text(e->status).empty() && !e->reason.empty());
    check(e->status == 400 || e->status == 413 || e->status == 414 || e->status == 431 || e->status == 501 ||
          e->status == 505);
    for (std::size_t n = 0; n <= buf.size(); n += step) {
      const int s = status_of(parse_request(buf.substr(0, n), limits));
      check(s == 0 || s == status);
    }
  } else {
    check(buf.size() < limits.max_head_bytes);
    for (std::size_t n = 0; n <= buf.size(); n += step)
      check(std::holds_alternative<NeedMore>(parse_request(buf.substr(0, n), limits)));
  }
  // Bytes past the limit never change the answer.
  if (buf.size() > limits.max_head_bytes) {
    std::string more(buf.substr(0, limits.max_head_bytes));
    more += "\r\n\r\n";
    check(status_of(parse_request(more, limits)) == status);
  }

  const std::string head =
      response_head(status == 0 ? 200 : status, "text/plain", buf.size(), status == 200, "");
  check(head.rfind("HTTP/1.1 ", 0) == 0 && head.size() >= 4 &&
        head.compare(head.size() - 4, 4, "\r\n\r\n") == 0);
  check(head.find("\r\n\r\n") == head.size() - 4);
  return 0;
}
