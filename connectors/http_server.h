// HttpServer: palaver's HTTP/1.1 listener on Boost.Beast.
//
// The server owns an io_context run by a few I/O threads, and a separate pool
// of handler threads. Each connection reads one request at a time (keep-alive
// supported), with limits that protect it from slow or hostile clients: a
// request body and header size limit, and a deadline for reading a request and
// for an idle connection. Requests are handed to a Handler, which must not
// throw and must be thread-safe: it runs on a handler thread and may block
// (e.g. until an append is durable) without delaying other connections'
// I/O or the streams. Requests that HttpServerOptions::run_inline picks are
// handled on the I/O thread itself (they must never block).
//
// A route may also take over a connection after its request was read (a
// WebSocket upgrade, a long-lived Server-Sent Events response): see
// HttpStreamRoute. The server then forgets the connection's HTTP state, counts
// it in open_streams(), and asks it to close when the server stops.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>

#include "schemas/status.h"

namespace palaver {

using HttpRequest = boost::beast::http::request<boost::beast::http::string_body>;
using HttpResponse = boost::beast::http::response<boost::beast::http::string_body>;
using HttpHandler = std::function<HttpResponse(const HttpRequest&)>;

// A connection a route took over (see HttpStreamRoute). The server keeps only
// a weak reference: the connection owns itself through its pending operations.
class HttpStreamConnection {
 public:
  virtual ~HttpStreamConnection() = default;
  // Called once by HttpServer::Stop(), from any thread: close soon, telling
  // the peer why (e.g. WebSocket close 1001). Must not block; the server's
  // threads run until the connection's operations have ended.
  virtual void Shutdown() = 0;
};

// Takes over the connection that carried `request`: `stream` is the socket
// (on the connection's strand, with no expiry set) and `buffer` holds any
// bytes read past the request. Called on that strand. Returns the connection
// object (the server counts it in open_streams() and calls Shutdown() on it
// when stopping), or nullptr when the route only answered and closes the
// socket itself (e.g. a refusal).
using HttpStreamAccept = std::function<std::shared_ptr<HttpStreamConnection>(
    boost::beast::tcp_stream stream, boost::beast::flat_buffer buffer, HttpRequest request)>;

// Offered every request before the HttpHandler. Returns an empty function to
// leave the request to the HttpHandler, or the function that takes the
// connection over. Must not throw; thread-safe (called from any pool thread).
using HttpStreamRoute = std::function<HttpStreamAccept(const HttpRequest&)>;

// Says, per request, whether its handler may run on the I/O thread that read
// it instead of on the handler pool: true only for requests the handler
// answers quickly without ever blocking (e.g. reads of committed views). The
// hop to the pool and back costs two thread wake-ups per request, more than
// such a read. Must not throw; thread-safe; called on an I/O thread.
using HttpInlineFilter = std::function<bool(const HttpRequest&)>;

struct HttpServerOptions {
  std::string address = "127.0.0.1";
  uint16_t port = 8080;     // 0 picks a free port; see HttpServer::port()
  int threads = 2;          // I/O threads: reading, writing, streams
  int handler_threads = 8;  // threads running the HttpHandler: requests handled at once
  size_t max_body_bytes = 1024 * 1024;
  size_t max_header_bytes = 16 * 1024;
  std::chrono::seconds read_timeout{10};  // to receive one whole request
  std::chrono::seconds idle_timeout{60};  // between requests on a kept-alive connection
  HttpInlineFilter run_inline;            // empty: every request goes to the handler pool
};

class HttpServer {
 public:
  // Binds and listens. Errors: kInvalidArgument for a bad address,
  // kUnavailable when the port cannot be bound (e.g. already in use).
  static Result<std::unique_ptr<HttpServer>> Start(const HttpServerOptions& options,
                                                   HttpHandler handler);
  // The same, with `stream_route` deciding first which requests take over
  // their connection (an empty route takes none over).
  static Result<std::unique_ptr<HttpServer>> Start(const HttpServerOptions& options,
                                                   HttpHandler handler,
                                                   HttpStreamRoute stream_route);
  // Stops accepting, closes connections and joins the threads.
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // The port actually bound.
  uint16_t port() const;

  // Connections taken over by the stream route and not yet ended. Thread-safe.
  size_t open_streams() const;

  // Stops accepting new connections, lets in-flight requests finish, asks
  // every taken-over connection to Shutdown(), then closes every connection
  // and joins the threads once the last operation ended. Idempotent; safe
  // from any thread except the server's own.
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
