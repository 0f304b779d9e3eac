// Raw bytes sent to palaver's real HttpServer over a loopback connection:
// Beast's parser with the server's limits, its error answers, keep-alive and
// pipelining, then a handler shaped like `palaver serve`'s (/healthz,
// /metrics, problem+json 404).
//
// Invariants beyond "no crash, no leak, no UB in the server threads":
//   - every response that comes back is well-formed HTTP/1.1 with a status
//     below 500: user input never causes a server error;
//   - the handler never sees a body over the server's body limit;
//   - the server keeps serving: after each input, a fresh connection gets
//     200 from /healthz.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/beast/http.hpp>

#include "connectors/http_server.h"
#include "engine/metrics/metrics_http.h"
#include "tests/fuzz/fuzz_check.h"

namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

struct Fixture {
  palaver::metrics::Registry registry;
  palaver::metrics::CounterFamily* requests = nullptr;
  palaver::HttpServerOptions options;
  std::unique_ptr<palaver::HttpServer> server;
};

// Lives for the whole fuzzing process (reachable, so not a leak).
Fixture* fixture = nullptr;

palaver::HttpResponse Handle(const palaver::HttpRequest& request) {
  FUZZ_CHECK(request.body().size() <= fixture->options.max_body_bytes,
             "handler got a %zu-byte body", request.body().size());
  palaver::HttpResponse response;
  if (request.target() == "/metrics") {
    response = palaver::metrics::MetricsResponse(fixture->registry, request);
  } else if (request.target() == "/healthz" && request.method() == http::verb::get) {
    response = palaver::JsonResponse(request, http::status::ok, R"({"status":"ok"})");
  } else {
    response = palaver::JsonResponse(
        request, http::status::not_found,
        R"({"type":"https://palaver.dev/problems/not_found","status":404,"title":"Not Found"})");
    response.set(http::field::content_type, "application/problem+json");
  }
  fixture->requests->WithLabels({std::to_string(response.result_int())}).Increment();
  return response;
}

// Sends `bytes`, half-closes, and returns everything the server answers
// until it closes the connection. A server that never closes is reported by
// libFuzzer's -timeout as a finding. libFuzzer's timer signal (SIGALRM) can
// interrupt any of these blocking calls; each one is retried then, since an
// interrupted system call says nothing about the server.
std::string Exchange(const std::string& bytes) {
  asio::io_context io;
  tcp::socket socket(io);
  const tcp::endpoint server{asio::ip::make_address("127.0.0.1"), fixture->server->port()};
  beast::error_code ec;
  do {
    socket.close(ec);
    socket.connect(server, ec);
  } while (ec == asio::error::interrupted);
  FUZZ_CHECK(!ec, "cannot connect to the server: %s", ec.message().c_str());
  size_t sent = 0;
  do {  // the server may close early; fine
    sent += socket.write_some(asio::buffer(bytes.data() + sent, bytes.size() - sent), ec);
  } while ((!ec || ec == asio::error::interrupted) && sent < bytes.size());
  socket.shutdown(tcp::socket::shutdown_send, ec);
  std::string received;
  do {
    asio::read(socket, asio::dynamic_buffer(received), ec);
  } while (ec == asio::error::interrupted);
  FUZZ_CHECK(ec == asio::error::eof || ec == asio::error::connection_reset,
             "reading the answer ended with: %s", ec.message().c_str());
  return received;
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  fixture = new Fixture();  // NOLINT: deliberately never freed, see above
  fixture->requests = *fixture->registry.AddCounter("fuzz_requests_total", "Requests.", {"status"});
  fixture->options.port = 0;
  fixture->options.read_timeout = std::chrono::seconds(5);
  fixture->options.idle_timeout = std::chrono::seconds(5);
  auto server = palaver::HttpServer::Start(fixture->options, Handle);
  FUZZ_CHECK(server.ok(), "cannot start the server: %s", server.status().ToString().c_str());
  fixture->server = std::move(*server);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string received = Exchange(std::string(reinterpret_cast<const char*>(data), size));
  // Walk the responses. A response to HEAD has no body, though its
  // Content-Length gives the size of the GET's: which request a response
  // answers is not known here, so one that does not parse is parsed again
  // as a response to HEAD (headers only).
  std::string_view rest = received;
  int responses = 0;
  while (!rest.empty()) {
    std::optional<http::response_parser<http::string_body>> parser;
    beast::error_code ec;
    size_t used = 0;
    for (const bool head : {false, true}) {
      parser.emplace();
      parser->eager(true);
      parser->skip(head);
      ec = {};
      used = parser->put(asio::buffer(rest.data(), rest.size()), ec);
      if (!ec && !parser->is_done()) parser->put_eof(ec);
      if (!ec) break;
    }
    if (ec) {
      FUZZ_CHECK(responses > 0, "the first response is not HTTP (%s):\n%.*s", ec.message().c_str(),
                 static_cast<int>(rest.size()), rest.data());
      break;
    }
    ++responses;
    int status = parser->get().result_int();
    FUZZ_CHECK(status >= 200 && status < 500, "status %d for user input:\n%s", status,
               received.c_str());
    if (used == 0) break;
    rest.remove_prefix(used);
  }
  std::string health = Exchange("GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  FUZZ_CHECK(health.rfind("HTTP/1.1 200", 0) == 0, "the server stopped serving:\n%s",
             health.c_str());
  return 0;
}
