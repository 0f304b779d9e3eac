// HttpServer: palaver's HTTP/1.1 listener on Boost.Beast.
//
// The server owns an io_context and a small pool of threads. Each connection
// reads one request at a time (keep-alive supported), with limits that protect
// it from slow or hostile clients: a request body and header size limit, and a
// deadline for reading a request and for an idle connection. Requests are
// handed to a Handler, which must not throw and must be thread-safe (it is
// called from any pool thread).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>

#include "schemas/status.h"

namespace palaver {

using HttpRequest = boost::beast::http::request<boost::beast::http::string_body>;
using HttpResponse = boost::beast::http::response<boost::beast::http::string_body>;
using HttpHandler = std::function<HttpResponse(const HttpRequest&)>;

struct HttpServerOptions {
  std::string address = "127.0.0.1";
  uint16_t port = 8080;  // 0 picks a free port; see HttpServer::port()
  int threads = 2;
  size_t max_body_bytes = 1024 * 1024;
  size_t max_header_bytes = 16 * 1024;
  std::chrono::seconds read_timeout{10};  // to receive one whole request
  std::chrono::seconds idle_timeout{60};  // between requests on a kept-alive connection
};

class HttpServer {
 public:
  // Binds and listens. Errors: kInvalidArgument for a bad address,
  // kUnavailable when the port cannot be bound (e.g. already in use).
  static Result<std::unique_ptr<HttpServer>> Start(const HttpServerOptions& options,
                                                   HttpHandler handler);
  // Stops accepting, closes connections and joins the threads.
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // The port actually bound.
  uint16_t port() const;

  // Stops accepting new connections, lets in-flight requests finish, then
  // closes every connection. Idempotent; safe from any thread.
  void Stop();

 private:
  class Impl;
  explicit HttpServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// A JSON response with the given status and body, keep-alive as the request asked.
HttpResponse JsonResponse(const HttpRequest& request, boost::beast::http::status status,
                          std::string json_body);

}  // namespace palaver
