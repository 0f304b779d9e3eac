#include "connectors/http_server.h"

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

#include <boost/asio/dispatch.hpp>
#include <boost/asio/execution/outstanding_work.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/prefer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <spdlog/spdlog.h>

namespace palaver {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

HttpResponse JsonResponse(const HttpRequest& request, http::status status, std::string json_body) {
  HttpResponse response(status, request.version());
  response.set(http::field::server, "palaver");
  response.set(http::field::content_type, "application/json");
  response.keep_alive(request.keep_alive());
  response.body() = std::move(json_body);
  response.prepare_payload();
  return response;
}

namespace {

class Session;

// Connections alive right now, so Stop() can close them. Guarded by mutex.
struct SessionRegistry {
  std::mutex mutex;
  std::set<std::shared_ptr<Session>> sessions;  // guarded by mutex
  // Connections the stream route took over; expired entries are pruned lazily.
  std::vector<std::weak_ptr<HttpStreamConnection>> streams;  // guarded by mutex
  std::atomic<bool> stopping{false};

  // Drops expired streams; returns the live ones. Caller holds mutex.
  std::vector<std::shared_ptr<HttpStreamConnection>> LiveStreamsLocked() {
    std::vector<std::shared_ptr<HttpStreamConnection>> live;
    std::erase_if(streams, [&](const std::weak_ptr<HttpStreamConnection>& weak) {
      auto stream = weak.lock();
      if (!stream) return true;
      live.push_back(std::move(stream));
      return false;
    });
    return live;
  }
};

// How long a connection whose request was refused unread keeps reading (and
// discarding) before it closes; see Session::LingeringClose.
constexpr std::chrono::seconds kLingerTime{1};

class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(tcp::socket socket, const HttpServerOptions& options, const HttpHandler& handler,
          asio::thread_pool& handler_pool, const HttpStreamRoute& stream_route,
          SessionRegistry& registry)
      : stream_(std::move(socket)),
        options_(options),
        handler_(handler),
        handler_pool_(handler_pool),
        stream_route_(stream_route),
        registry_(registry) {}

  void Start() {
    asio::dispatch(stream_.get_executor(), [self = shared_from_this()] { self->Read(); });
  }

  // Closes the connection once the request in flight (if any) is answered.
  void Shutdown() {
    asio::dispatch(stream_.get_executor(), [self = shared_from_this()] {
      if (!self->busy_) self->Close();
    });
  }

 private:
  void Read() {
    parser_.emplace();
    parser_->body_limit(options_.max_body_bytes);
    parser_->header_limit(static_cast<std::uint32_t>(options_.max_header_bytes));
    // The first request of a connection gets the read timeout; later ones the idle timeout.
    stream_.expires_after(served_ == 0 ? options_.read_timeout : options_.idle_timeout);
    http::async_read(
        stream_, buffer_, *parser_,
        [self = shared_from_this()](beast::error_code ec, std::size_t) { self->OnRead(ec); });
  }

  void OnRead(beast::error_code ec) {
    if (ec == http::error::end_of_stream || ec == beast::error::timeout ||
        ec == asio::error::operation_aborted || ec == asio::error::connection_reset) {
      return Close();
    }
    if (ec) {
      // Malformed or oversized request: answer once, then close.
      http::status status = ec == http::error::body_limit || ec == http::error::header_limit
                                ? http::status::payload_too_large
                                : http::status::bad_request;
      HttpRequest dummy;
      dummy.keep_alive(false);
      std::string body = R"({"type":"about:blank","status":)" +
                         std::to_string(static_cast<int>(status)) + R"(,"title":")" +
                         std::string(http::obsolete_reason(status)) + R"(","detail":")" +
                         (status == http::status::payload_too_large
                              ? std::string("the request is larger than this server accepts")
                              : std::string("the request is not valid HTTP/1.1")) +
                         "\"}";
      HttpResponse response = JsonResponse(dummy, status, std::move(body));
      response.set(http::field::content_type, "application/problem+json");
      unread_request_ = true;
      return Write(std::move(response));
    }
    busy_ = true;
    HttpRequest request = parser_->release();
    if (stream_route_ && !registry_.stopping) {
      if (HttpStreamAccept accept = stream_route_(request))
        return TakeOver(accept, std::move(request));
    }
    if (options_.run_inline && options_.run_inline(request)) {
      // Quick, non-blocking: answered here, without two thread hand-offs.
      HttpResponse response = handler_(request);
      if (registry_.stopping) response.keep_alive(false);
      return Write(std::move(response));
    }
    // Other handlers block (appends, bounded consistency waits), so they run on the
    // handler pool: the I/O threads keep every other connection and stream
    // moving meanwhile. The tracked executor keeps the I/O threads alive until
    // the answer is back on this connection's strand.
    auto strand = asio::prefer(stream_.get_executor(), asio::execution::outstanding_work.tracked);
    asio::post(handler_pool_, [self = shared_from_this(), strand = std::move(strand),
                               request = std::move(request)]() mutable {
      HttpResponse response = self->handler_(request);
      asio::dispatch(strand, [self, response = std::move(response)]() mutable {
        if (self->registry_.stopping) response.keep_alive(false);
        self->Write(std::move(response));
      });
    });
  }

  void Write(HttpResponse response) {
    response_ = std::make_shared<HttpResponse>(std::move(response));
    stream_.expires_after(options_.read_timeout);
    http::async_write(
        stream_, *response_,
        [self = shared_from_this()](beast::error_code ec, std::size_t) { self->OnWrite(ec); });
  }

  void OnWrite(beast::error_code ec) {
    busy_ = false;
    ++served_;
    bool keep_alive = response_->keep_alive();
    response_.reset();
    if (!ec && unread_request_) return LingeringClose();
    if (ec || !keep_alive || registry_.stopping) return Close();
    Read();
  }

  // After answering a request it did not read whole (too large, malformed):
  // closing at once with the rest unread makes the kernel reset the
  // connection, and the client may lose the answer while it is still
  // sending. So stop sending, read and discard what comes for a moment
  // (kLingerTime at most), then close.
  void LingeringClose() {
    beast::error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
    stream_.expires_after(kLingerTime);
    Discard();
  }

  void Discard() {
    stream_.async_read_some(asio::buffer(discard_),
                            [self = shared_from_this()](beast::error_code ec, std::size_t) {
                              if (ec || self->registry_.stopping) return self->Close();
                              self->Discard();
                            });
  }

  // Hands the socket to the stream route; this session then ends without
  // touching the socket again.
  void TakeOver(const HttpStreamAccept& accept, HttpRequest request) {
    stream_.expires_never();
    std::shared_ptr<HttpStreamConnection> connection =
        accept(std::move(stream_), std::move(buffer_), std::move(request));
    std::lock_guard lock(registry_.mutex);
    if (connection) {
      registry_.streams.push_back(connection);
      // Stop() may have collected the streams already; this one must hear it too.
      if (registry_.stopping) connection->Shutdown();
    }
    registry_.sessions.erase(shared_from_this());
  }

  void Close() {
    beast::error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_both, ignored);
    stream_.socket().close(ignored);
    std::lock_guard lock(registry_.mutex);
    registry_.sessions.erase(shared_from_this());
  }

  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  std::shared_ptr<HttpResponse> response_;
  const HttpServerOptions& options_;
  const HttpHandler& handler_;
  asio::thread_pool& handler_pool_;
  const HttpStreamRoute& stream_route_;
  SessionRegistry& registry_;
  bool busy_ = false;  // a request is being handled or answered; touched only on the strand
  bool unread_request_ = false;     // the request was refused before it was read whole
  std::array<char, 4096> discard_;  // sink of LingeringClose
  uint64_t served_ = 0;
};

}  // namespace

class HttpServer::Impl {
 public:
  Impl(HttpServerOptions options, HttpHandler handler, HttpStreamRoute stream_route)
      : options_(std::move(options)),
        handler_(std::move(handler)),
        stream_route_(std::move(stream_route)),
        io_(options_.threads),
        acceptor_(asio::make_strand(io_)),
        handler_pool_(static_cast<size_t>(options_.handler_threads)) {}

  Status Listen() {
    beast::error_code ec;
    auto address = asio::ip::make_address(options_.address, ec);
    if (ec) {
      return Status::Error(ErrorCode::kInvalidArgument,
                           "\"" + options_.address + "\" is not an IP address", "listen");
    }
    tcp::endpoint endpoint(address, options_.port);
    acceptor_.open(endpoint.protocol(), ec);
    if (!ec) acceptor_.set_option(asio::socket_base::reuse_address(true), ec);
    if (!ec) acceptor_.bind(endpoint, ec);
    if (!ec) acceptor_.listen(asio::socket_base::max_listen_connections, ec);
    if (ec) {
      return Status::Error(ErrorCode::kUnavailable,
                           "cannot listen on " + options_.address + ":" +
                               std::to_string(options_.port) + ": " + ec.message(),
                           "listen");
    }
    port_ = acceptor_.local_endpoint().port();
    Accept();
    for (int i = 0; i < options_.threads; ++i) threads_.emplace_back([this] { io_.run(); });
    return Status::Ok();
  }

  void Stop() {
    if (registry_.stopping.exchange(true)) return;
    asio::dispatch(acceptor_.get_executor(), [this] {
      beast::error_code ignored;
      acceptor_.close(ignored);
    });
    std::vector<std::shared_ptr<Session>> live;
    std::vector<std::shared_ptr<HttpStreamConnection>> streams;
    {
      std::lock_guard lock(registry_.mutex);
      live.assign(registry_.sessions.begin(), registry_.sessions.end());
      streams = registry_.LiveStreamsLocked();
    }
    for (auto& session : live) session->Shutdown();
    for (auto& stream : streams) stream->Shutdown();
    streams.clear();
    for (auto& thread : threads_) thread.join();
    threads_.clear();
    handler_pool_.join();  // idle: every handler call ended before the I/O threads did
    // Sessions refer to io_; drop the last references while it is alive.
    std::lock_guard lock(registry_.mutex);
    registry_.sessions.clear();
    registry_.streams.clear();
  }

  uint16_t port() const { return port_; }

  size_t open_streams() {
    std::lock_guard lock(registry_.mutex);
    return registry_.LiveStreamsLocked().size();
  }

 private:
  void Accept() {
    acceptor_.async_accept(
        asio::make_strand(io_), [this](beast::error_code ec, tcp::socket socket) {
          if (ec) {
            if (!registry_.stopping) spdlog::warn("http: accept failed: {}", ec.message());
            if (registry_.stopping || ec == asio::error::operation_aborted) return;
          } else {
            auto session = std::make_shared<Session>(std::move(socket), options_, handler_,
                                                     handler_pool_, stream_route_, registry_);
            {
              std::lock_guard lock(registry_.mutex);
              registry_.sessions.insert(session);
            }
            session->Start();
          }
          Accept();
        });
  }

  const HttpServerOptions options_;
  const HttpHandler handler_;
  const HttpStreamRoute stream_route_;
  SessionRegistry registry_;
  asio::io_context io_;
  tcp::acceptor acceptor_;
  asio::thread_pool handler_pool_;
  std::vector<std::thread> threads_;
  uint16_t port_ = 0;
};

Result<std::unique_ptr<HttpServer>> HttpServer::Start(const HttpServerOptions& options,
                                                      HttpHandler handler) {
  return Start(options, std::move(handler), HttpStreamRoute());
}

Result<std::unique_ptr<HttpServer>> HttpServer::Start(const HttpServerOptions& options,
                                                      HttpHandler handler,
                                                      HttpStreamRoute stream_route) {
  if (options.threads < 1 || options.handler_threads < 1) {
    return Status::Error(ErrorCode::kInvalidArgument,
                         "an HTTP server needs at least one I/O thread and one handler thread",
                         "threads");
  }
  auto impl = std::make_unique<Impl>(options, std::move(handler), std::move(stream_route));
  PALAVER_RETURN_IF_ERROR(impl->Listen());
  return std::unique_ptr<HttpServer>(new HttpServer(std::move(impl)));
}

HttpServer::HttpServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
HttpServer::~HttpServer() { Stop(); }
uint16_t HttpServer::port() const { return impl_->port(); }
size_t HttpServer::open_streams() const { return impl_->open_streams(); }
void HttpServer::Stop() { impl_->Stop(); }

}  // namespace palaver
