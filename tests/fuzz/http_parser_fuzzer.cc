// Raw bytes -> the Beast request parser with the limits palaver's HttpServer
// uses (HttpServerOptions defaults), the way the server reads a connection.
//
// Invariant beyond "no crash": parsing does not depend on how the bytes are
// split into reads. The first input byte picks a read size (1..64 bytes); the
// rest is parsed once in one piece and once in reads of that size, and both
// must give the same requests (method, target, version, fields, body,
// keep-alive), request after request (pipelining), and end the same way: at
// a clean end of stream, or with an error the server answers with the same
// status (413 for a size limit, 400 for anything else). Which parse error
// Beast names first may depend on the reads (a bad line ending seen at once,
// or an incomplete message at EOF); the answer may not.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <boost/asio/buffer.hpp>
#include <boost/beast/http.hpp>

#include "connectors/http_server.h"
#include "tests/fuzz/fuzz_check.h"

namespace {

namespace beast = boost::beast;
namespace http = beast::http;

// The status HttpServer answers a read error with (connectors/http_server.cc).
std::string Answer(beast::error_code ec) {
  return ec == http::error::body_limit || ec == http::error::header_limit ? "error: 413"
                                                                          : "error: 400";
}

std::string Describe(const palaver::HttpRequest& request) {
  std::string out = std::string(request.method_string()) + " " + std::string(request.target()) +
                    " HTTP/" + std::to_string(request.version()) +
                    (request.keep_alive() ? " keep-alive\n" : " close\n");
  for (const auto& field : request) {
    out += std::string(field.name_string()) + ": " + std::string(field.value()) + "\n";
  }
  return out + "\n" + request.body();
}

// Every request in `input`, read `chunk` bytes at a time, then the error that
// ended the stream ("" at a clean end).
std::vector<std::string> ParseAll(std::string_view input, size_t chunk) {
  const palaver::HttpServerOptions limits;
  std::vector<std::string> out;
  std::string pending;
  size_t fed = 0;
  while (true) {
    http::request_parser<http::string_body> parser;
    parser.body_limit(limits.max_body_bytes);
    parser.header_limit(static_cast<std::uint32_t>(limits.max_header_bytes));
    parser.eager(true);
    beast::error_code ec;
    while (!parser.is_done()) {
      if (!pending.empty()) {
        size_t used = parser.put(boost::asio::buffer(pending.data(), pending.size()), ec);
        pending.erase(0, used);
        if (ec == http::error::need_more) {
          ec = {};
        } else if (ec) {
          out.push_back(Answer(ec));
          return out;
        } else if (used > 0) {
          continue;
        }
      }
      if (parser.is_done()) break;
      if (fed == input.size()) {
        if (pending.empty() && !parser.got_some()) {
          out.push_back("end");
        } else {
          parser.put_eof(ec);
          out.push_back(ec ? Answer(ec) : Describe(parser.get()));
        }
        return out;
      }
      size_t n = std::min(chunk, input.size() - fed);
      pending.append(input.substr(fed, n));
      fed += n;
    }
    out.push_back(Describe(parser.get()));
    if (out.size() > 64) return out;  // bound the work per input
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  size_t chunk = 1 + data[0] % 64;
  std::string_view input(reinterpret_cast<const char*>(data) + 1, size - 1);
  std::vector<std::string> whole = ParseAll(input, input.size() + 1);
  std::vector<std::string> pieces = ParseAll(input, chunk);
  FUZZ_CHECK(whole == pieces,
             "reads of %zu bytes parse differently: %zu vs %zu results, last "
             "\n%s\nvs\n%s",
             chunk, whole.size(), pieces.size(), whole.back().c_str(), pieces.back().c_str());
  return 0;
}
