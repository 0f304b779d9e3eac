#include "connectors/live/live_streams.h"

#include <algorithm>
#include <array>
#include <charconv>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <boost/asio/dispatch.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "connectors/live/live_hub.h"

namespace palaver::live {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
using Hub = LiveStreams::Hub;

namespace {

constexpr std::string_view kIdentityHeader = "X-Palaver-Identity";
const CloseReason kShuttingDown{1001, "server_shutting_down", "server shutting down"};

// ---------------------------------------------------------------- requests

std::string PercentDecode(std::string_view in, bool* ok) {
  std::string out;
  out.reserve(in.size());
  for (size_t i = 0; i < in.size(); ++i) {
    if (in[i] != '%') {
      out += in[i];
      continue;
    }
    int value = 0;
    if (i + 2 >= in.size()) {
      *ok = false;
      return {};
    }
    auto [ptr, ec] = std::from_chars(in.data() + i + 1, in.data() + i + 3, value, 16);
    if (ec != std::errc() || ptr != in.data() + i + 3) {
      *ok = false;
      return {};
    }
    out += static_cast<char>(value);
    i += 2;
  }
  return out;
}

std::vector<std::string_view> Split(std::string_view text, char separator) {
  std::vector<std::string_view> parts;
  size_t start = 0;
  while (true) {
    size_t end = text.find(separator, start);
    parts.push_back(text.substr(start, end == std::string_view::npos ? end : end - start));
    if (end == std::string_view::npos) return parts;
    start = end + 1;
  }
}

// The value of query parameter `name` in `target`, nullopt when absent.
std::optional<std::string> QueryParam(std::string_view target, std::string_view name) {
  size_t question = target.find('?');
  if (question == std::string_view::npos) return std::nullopt;
  for (std::string_view pair : Split(target.substr(question + 1), '&')) {
    size_t equals = pair.find('=');
    std::string_view key = pair.substr(0, equals);
    if (key != name) continue;
    bool ok = true;
    std::string value = equals == std::string_view::npos
                            ? std::string()
                            : PercentDecode(pair.substr(equals + 1), &ok);
    return ok ? value : std::string("\x01");  // an undecodable value is refused by ParsePosition
  }
  return std::nullopt;
}

// A position as a client sends it: an integer >= -1 (-1: before the first event).
std::optional<int64_t> ParsePosition(std::string_view text) {
  int64_t value = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || ec != std::errc() || ptr != text.data() + text.size() || value < -1) {
    return std::nullopt;
  }
  return value;
}

// ---------------------------------------------------------------- problems

struct Problem {
  http::status status = http::status::bad_request;
  std::string code;
  std::string detail;
  std::string field;
};

Problem ProblemFor(const Status& status) {
  Problem problem;
  switch (status.code()) {
    case ErrorCode::kPermissionDenied:
      problem.status = http::status::unauthorized;
      break;
    case ErrorCode::kNotFound:
      problem.status = http::status::not_found;
      break;
    case ErrorCode::kInvalidArgument:
      problem.status = http::status::bad_request;
      break;
    default:
      problem.status = http::status::service_unavailable;
      break;
  }
  problem.code = status.reason().empty() ? std::string(CodeName(status.code())) : status.reason();
  problem.detail = status.message();
  problem.field = status.field();
  return problem;
}

HttpResponse ProblemResponse(const HttpRequest& request, const Problem& problem) {
  nlohmann::json body = {{"type", "https://palaver.dev/problems/" + problem.code},
                         {"title", std::string(http::obsolete_reason(problem.status))},
                         {"status", static_cast<int>(problem.status)},
                         {"code", problem.code},
                         {"detail", problem.detail}};
  if (!problem.field.empty()) body["field"] = problem.field;
  HttpResponse response(problem.status, request.version());
  response.set(http::field::server, "palaver");
  response.set(http::field::content_type, "application/problem+json");
  if (problem.status == http::status::unauthorized) {
    response.set(http::field::www_authenticate, "Bearer");
  }
  if (problem.status == http::status::method_not_allowed) response.set(http::field::allow, "GET");
  response.keep_alive(false);  // the connection was taken over; it ends with this answer
  response.body() = body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  response.prepare_payload();
  return response;
}

// Writes one problem response on a taken-over connection, then closes it.
class ProblemWriter : public std::enable_shared_from_this<ProblemWriter> {
 public:
  ProblemWriter(beast::tcp_stream stream, HttpResponse response)
      : stream_(std::move(stream)), response_(std::move(response)) {}

  void Start() {
    stream_.expires_after(std::chrono::seconds(10));
    http::async_write(stream_, response_, [self = shared_from_this()](beast::error_code, size_t) {
      beast::error_code ignored;
      self->stream_.socket().shutdown(asio::ip::tcp::socket::shutdown_both, ignored);
      self->stream_.socket().close(ignored);
    });
  }

 private:
  beast::tcp_stream stream_;
  HttpResponse response_;
};

std::shared_ptr<HttpStreamConnection> Refuse(beast::tcp_stream stream, const HttpRequest& request,
                                             const Problem& problem) {
  std::make_shared<ProblemWriter>(std::move(stream), ProblemResponse(request, problem))->Start();
  return nullptr;
}

std::string ReadyJson(int64_t after, int32_t partition) {
  return nlohmann::json{{"ready", {{"after", after}, {"partition", partition}}}}.dump();
}

// ---------------------------------------------------------------- sessions

// What both transports share: the subscriber, the hub, counting.
class StreamSessionBase : public HttpStreamConnection {
 protected:
  StreamSessionBase(std::shared_ptr<Hub> hub, std::shared_ptr<Subscriber> subscriber,
                    StreamTransport transport)
      : hub_(std::move(hub)),
        subscriber_(std::move(subscriber)),
        open_of_kind_(hub_->counters().open_by_kind[static_cast<int>(transport)][static_cast<int>(
            subscriber_->scope().viewer)]) {
    hub_->counters().open_streams.fetch_add(1, std::memory_order_relaxed);
    open_of_kind_.fetch_add(1, std::memory_order_relaxed);
    hub_->counters().streams_opened.fetch_add(1, std::memory_order_relaxed);
  }
  ~StreamSessionBase() override {
    hub_->Unsubscribe(subscriber_);
    hub_->counters().open_streams.fetch_sub(1, std::memory_order_relaxed);
    open_of_kind_.fetch_sub(1, std::memory_order_relaxed);
  }

  // The reason to close a stream whose client stopped reading, or nullopt.
  std::optional<CloseReason> StallCheck() const {
    const auto timeout = hub_->options().stall_timeout;
    if (!subscriber_->Stalled(std::chrono::steady_clock::now(), timeout)) return std::nullopt;
    hub_->counters().slow_consumer_disconnects.fetch_add(1, std::memory_order_relaxed);
    return CloseReason{1008, "slow_consumer",
                       "slow consumer: nothing read for " + std::to_string(timeout.count()) +
                           " ms; reconnect with ?after=<last position>"};
  }

  std::chrono::milliseconds StallCheckInterval() const {
    return std::max(std::chrono::milliseconds(20), hub_->options().stall_timeout / 4);
  }

  const std::shared_ptr<Hub> hub_;
  const std::shared_ptr<Subscriber> subscriber_;
  std::atomic<size_t>& open_of_kind_;  // this stream's cell of LiveCounters::open_by_kind
};

// A WebSocket stream: one text message per item, after a "ready" message.
class WebSocketSession final : public StreamSessionBase,
                               public std::enable_shared_from_this<WebSocketSession> {
 public:
  WebSocketSession(std::shared_ptr<Hub> hub, std::shared_ptr<Subscriber> subscriber,
                   beast::tcp_stream stream, std::string ready)
      : StreamSessionBase(std::move(hub), std::move(subscriber), StreamTransport::kWebSocket),
        ws_(std::move(stream)),
        close_timer_(ws_.get_executor()),
        stall_timer_(ws_.get_executor()),
        ready_(std::move(ready)) {}

  void Start(HttpRequest request) {
    request_ = std::move(request);
    websocket::stream_base::timeout timeout;
    timeout.handshake_timeout = hub_->options().close_timeout;
    timeout.idle_timeout = hub_->options().keepalive * 2;  // pings at half of it
    timeout.keep_alive_pings = true;
    ws_.set_option(timeout);
    ws_.set_option(websocket::stream_base::decorator(
        [](websocket::response_type& response) { response.set(http::field::server, "palaver"); }));
    ws_.read_message_max(4096);  // clients have nothing to say on this stream
    ws_.async_accept(request_,
                     [self = shared_from_this()](beast::error_code ec) { self->OnAccept(ec); });
  }

  void Shutdown() override {
    asio::post(ws_.get_executor(),
               [self = shared_from_this()] { self->BeginClose(kShuttingDown); });
  }

  // Runs on the strand whenever an item or a close reason may be waiting.
  void Pump() {
    if (!accepted_ || closing_) return;
    if (auto reason = subscriber_->close_reason()) return BeginClose(*reason);
    if (writing_) return;
    if (!ready_sent_) {
      ready_sent_ = true;
      return Write(ready_);
    }
    current_ = subscriber_->Pop();
    if (current_) Write(subscriber_->PayloadOf(*current_));
  }

 private:
  void OnAccept(beast::error_code ec) {
    request_ = {};
    if (ec) return Teardown();
    accepted_ = true;
    Read();
    if (closing_) return SendClose();
    ArmStallCheck();
    Pump();
  }

  void ArmStallCheck() {
    stall_timer_.expires_after(StallCheckInterval());
    stall_timer_.async_wait([self = shared_from_this()](beast::error_code ec) {
      if (ec || self->closing_) return;
      if (auto reason = self->StallCheck()) return self->BeginClose(*reason);
      self->ArmStallCheck();
    });
  }

  void Read() {
    ws_.async_read(read_buffer_, [self = shared_from_this()](beast::error_code ec, size_t) {
      self->read_buffer_.clear();
      if (ec) return self->OnReadEnd(ec);
      self->Read();
    });
  }

  // The peer closed (Beast answered its close frame), the connection broke,
  // or our close handshake completed.
  void OnReadEnd(beast::error_code) {
    hub_->Unsubscribe(subscriber_);
    if (!closing_) {
      closing_ = true;
      Teardown();
    }
  }

  void Write(const std::string& text) {
    writing_ = true;
    ws_.text(true);
    ws_.async_write(asio::buffer(text), [self = shared_from_this()](beast::error_code ec, size_t) {
      self->OnWrite(ec);
    });
  }

  void OnWrite(beast::error_code ec) {
    writing_ = false;
    if (current_) hub_->counters().items_pushed.fetch_add(1, std::memory_order_relaxed);
    current_.reset();
    if (ec) {
      if (!closing_) {
        closing_ = true;
        Teardown();
      }
      return;
    }
    Pump();
  }

  void BeginClose(const CloseReason& reason) {
    if (closing_) return;
    closing_ = true;
    close_ = reason;
    stall_timer_.cancel();
    hub_->Unsubscribe(subscriber_);  // nothing more is queued for this stream
    if (reason.code == "slow_consumer") {
      spdlog::info("live.slow_consumer shop={} detail=\"{}\"", subscriber_->scope().tenant,
                   reason.detail);
    }
    close_timer_.expires_after(hub_->options().close_timeout);
    close_timer_.async_wait([self = shared_from_this()](beast::error_code ec) {
      if (!ec) self->Teardown();  // the peer did not finish the handshake in time
    });
    if (accepted_) SendClose();  // else OnAccept sends it once the handshake is done
  }

  void SendClose() {
    // A close frame may be sent while a write is pending (Beast queues it
    // behind that write); its reason is at most 123 bytes.
    std::string text = close_.detail.substr(0, 123);
    ws_.async_close(
        websocket::close_reason(static_cast<websocket::close_code>(close_.websocket_code), text),
        [self = shared_from_this()](beast::error_code) { self->close_timer_.cancel(); });
  }

  void Teardown() {
    close_timer_.cancel();
    stall_timer_.cancel();
    hub_->Unsubscribe(subscriber_);
    beast::error_code ignored;
    auto& socket = beast::get_lowest_layer(ws_).socket();
    socket.shutdown(asio::ip::tcp::socket::shutdown_both, ignored);
    socket.close(ignored);
  }

  websocket::stream<beast::tcp_stream> ws_;
  asio::steady_timer close_timer_;
  asio::steady_timer stall_timer_;
  const std::string ready_;
  HttpRequest request_;  // kept alive for the handshake
  beast::flat_buffer read_buffer_;
  ItemPtr current_;  // the item being written
  CloseReason close_;
  // Touched only on the strand:
  bool accepted_ = false;
  bool ready_sent_ = false;
  bool writing_ = false;
  bool closing_ = false;
};

// A Server-Sent Events stream: `id: <position>` and `data: <json>` per item.
class SseSession final : public StreamSessionBase, public std::enable_shared_from_this<SseSession> {
 public:
  SseSession(std::shared_ptr<Hub> hub, std::shared_ptr<Subscriber> subscriber,
             beast::tcp_stream stream, int64_t after, std::string ready)
      : StreamSessionBase(std::move(hub), std::move(subscriber), StreamTransport::kSse),
        stream_(std::move(stream)),
        close_timer_(stream_.get_executor()),
        keepalive_timer_(stream_.get_executor()),
        stall_timer_(stream_.get_executor()) {
    out_ =
        "HTTP/1.1 200 OK\r\n"
        "Server: palaver\r\n"
        "Content-Type: text/event-stream; charset=utf-8\r\n"
        "Cache-Control: no-cache\r\n"
        "Connection: close\r\n"
        "X-Accel-Buffering: no\r\n"
        "\r\n"
        "retry: 2000\n\n"
        "event: ready\nid: " +
        std::to_string(after) + "\ndata: " + ready + "\n\n";
  }

  void Start() {
    writing_ = true;
    WriteOut();
    Read();
    ArmKeepalive();
    ArmStallCheck();
  }

  void ArmStallCheck() {
    stall_timer_.expires_after(StallCheckInterval());
    stall_timer_.async_wait([self = shared_from_this()](beast::error_code ec) {
      if (ec || self->closing_ || self->finished_) return;
      if (auto reason = self->StallCheck()) return self->BeginClose(*reason);
      self->ArmStallCheck();
    });
  }

  void Shutdown() override {
    asio::post(stream_.get_executor(),
               [self = shared_from_this()] { self->BeginClose(kShuttingDown); });
  }

  void Pump() {
    if (finished_) return;
    if (!closing_) {
      if (auto reason = subscriber_->close_reason()) return BeginClose(*reason);
    }
    if (writing_) return;
    if (closing_) {
      final_write_ = true;
      out_ = std::move(final_event_);
      writing_ = true;
      return WriteOut();
    }
    out_.clear();
    batch_items_ = 0;
    while (out_.size() < 64 * 1024) {
      ItemPtr item = subscriber_->Pop();
      if (!item) break;
      out_ += "id: " + std::to_string(item->offset) + "\ndata: ";
      out_ += subscriber_->PayloadOf(*item);
      out_ += "\n\n";
      ++batch_items_;
    }
    if (out_.empty()) return;
    writing_ = true;
    WriteOut();
  }

 private:
  void WriteOut() {
    asio::async_write(
        stream_, asio::buffer(out_),
        [self = shared_from_this()](beast::error_code ec, size_t) { self->OnWrite(ec); });
  }

  void OnWrite(beast::error_code ec) {
    writing_ = false;
    hub_->counters().items_pushed.fetch_add(batch_items_, std::memory_order_relaxed);
    batch_items_ = 0;
    if (ec || final_write_) return Teardown();
    Pump();
  }

  // Clients send nothing; a read ends when the client goes away.
  void Read() {
    stream_.async_read_some(asio::buffer(read_space_),
                            [self = shared_from_this()](beast::error_code ec, size_t) {
                              if (ec) return self->Teardown();
                              self->Read();
                            });
  }

  void ArmKeepalive() {
    keepalive_timer_.expires_after(hub_->options().keepalive);
    keepalive_timer_.async_wait([self = shared_from_this()](beast::error_code ec) {
      if (ec || self->finished_) return;
      if (!self->writing_ && !self->closing_) {
        self->out_ = ": keepalive\n\n";
        self->writing_ = true;
        self->WriteOut();
      }
      self->ArmKeepalive();
    });
  }

  void BeginClose(const CloseReason& reason) {
    if (closing_ || finished_) return;
    closing_ = true;
    stall_timer_.cancel();
    hub_->Unsubscribe(subscriber_);
    if (reason.code == "slow_consumer") {
      spdlog::info("live.slow_consumer shop={} detail=\"{}\"", subscriber_->scope().tenant,
                   reason.detail);
    }
    nlohmann::json data = {{"code", reason.code}, {"detail", reason.detail}};
    final_event_ = "event: error\ndata: " + data.dump() + "\n\n";
    close_timer_.expires_after(hub_->options().close_timeout);
    close_timer_.async_wait([self = shared_from_this()](beast::error_code ec) {
      if (!ec) self->Teardown();
    });
    Pump();
  }

  void Teardown() {
    if (finished_) return;
    finished_ = true;
    close_timer_.cancel();
    keepalive_timer_.cancel();
    stall_timer_.cancel();
    hub_->Unsubscribe(subscriber_);
    beast::error_code ignored;
    stream_.socket().shutdown(asio::ip::tcp::socket::shutdown_both, ignored);
    stream_.socket().close(ignored);
  }

  beast::tcp_stream stream_;
  asio::steady_timer close_timer_;
  asio::steady_timer keepalive_timer_;
  asio::steady_timer stall_timer_;
  std::string out_;          // the bytes being written
  std::string final_event_;  // the `event: error` that ends the stream
  std::array<char, 512> read_space_{};
  // Touched only on the strand:
  size_t batch_items_ = 0;
  bool writing_ = false;
  bool closing_ = false;
  bool final_write_ = false;
  bool finished_ = false;
};

// Wakes a session on its strand; holds only a weak reference, so a queue
// never keeps a finished connection alive.
template <class Session>
std::function<void()> WakeOf(const std::shared_ptr<Session>& session,
                             const asio::any_io_executor& executor) {
  std::weak_ptr<Session> weak = session;
  return [weak, executor] {
    asio::post(executor, [weak] {
      if (auto s = weak.lock()) s->Pump();
    });
  };
}

}  // namespace

// ---------------------------------------------------------------- route

std::optional<StreamTarget> ParseStreamTarget(std::string_view target) {
  std::string_view path = target.substr(0, target.find('?'));
  if (path.empty() || path.front() != '/') return std::nullopt;
  std::vector<std::string_view> raw = Split(path.substr(1), '/');
  std::vector<std::string> parts;
  for (std::string_view part : raw) {
    bool ok = true;
    parts.push_back(PercentDecode(part, &ok));
    if (!ok || parts.back().empty()) return std::nullopt;
  }
  if (parts.size() < 4 || parts[0] != "v1" || parts[1] != "shops") return std::nullopt;
  StreamTarget result;
  result.shop = parts[2];
  if (parts.size() == 4 && parts[3] == "stream") {
    result.viewer = Viewer::kAgent;
    return result;
  }
  if (parts.size() == 7 && parts[3] == "shopper" && parts[4] == "conversations" &&
      parts[6] == "stream") {
    result.viewer = Viewer::kShopper;
    result.conversation_id = parts[5];
    return result;
  }
  return std::nullopt;
}

namespace {

std::shared_ptr<HttpStreamConnection> AcceptStream(const std::shared_ptr<Hub>& hub,
                                                   const StreamTarget& target,
                                                   beast::tcp_stream stream, HttpRequest request) {
  if (request.method() != http::verb::get) {
    return Refuse(std::move(stream), request,
                  {http::status::method_not_allowed, "method_not_allowed",
                   "a live stream is opened with GET", ""});
  }
  const bool websocket_upgrade = websocket::is_upgrade(request);
  const bool event_stream =
      !websocket_upgrade &&
      std::string_view(request[http::field::accept]).find("text/event-stream") !=
          std::string_view::npos;
  if (!websocket_upgrade && !event_stream) {
    return Refuse(std::move(stream), request,
                  {http::status::not_acceptable, "not_acceptable",
                   "a live stream is served as WebSocket (an Upgrade request) or as Server-Sent "
                   "Events (Accept: text/event-stream)",
                   "Accept"});
  }

  // Browsers cannot set headers on a WebSocket or EventSource request, so a
  // stream also takes its credential from the query; a header wins.
  if (target.viewer == Viewer::kAgent &&
      request.find(http::field::authorization) == request.end()) {
    if (auto token = QueryParam(request.target(), "access_token")) {
      request.set(http::field::authorization, "Bearer " + *token);
    }
  } else if (target.viewer == Viewer::kShopper && request.find(kIdentityHeader) == request.end()) {
    if (auto identity = QueryParam(request.target(), "identity")) {
      request.set(kIdentityHeader, *identity);
    }
  }
  Result<StreamScope> scope = hub->authorize()(request, target);
  if (!scope.ok()) return Refuse(std::move(stream), request, ProblemFor(scope.status()));
  if (scope->tenant != target.shop || scope->viewer != target.viewer ||
      (target.viewer == Viewer::kShopper && scope->conversation_id != target.conversation_id)) {
    return Refuse(std::move(stream), request,
                  {http::status::not_found, "not_found", "no such stream", ""});
  }

  // Where to resume: SSE's Last-Event-ID wins over ?after= (browsers resend the
  // original URL when they reconnect).
  std::optional<int64_t> after;
  std::string after_field;
  std::optional<std::string> after_text;
  if (auto last_event_id = request.find("Last-Event-ID");
      event_stream && last_event_id != request.end()) {
    after_text = std::string(last_event_id->value());
    after_field = "Last-Event-ID";
  } else if ((after_text = QueryParam(request.target(), "after"))) {
    after_field = "after";
  }
  if (after_text) {
    after = ParsePosition(*after_text);
    if (!after) {
      return Refuse(std::move(stream), request,
                    {http::status::bad_request, "invalid_position",
                     after_field + " must be a log position: an integer >= -1", after_field});
    }
  }

  auto subscriber = std::make_shared<Subscriber>(*scope, hub->options(), hub->counters());
  Result<int64_t> started = hub->Subscribe(subscriber, after);
  if (!started.ok()) {
    Problem problem = ProblemFor(started.status());
    if (problem.field == "after") problem.field = after_field;
    return Refuse(std::move(stream), request, problem);
  }
  const int32_t partition = hub->log().PartitionFor(scope->tenant);
  const std::string ready = ReadyJson(*started, partition);
  // Small frames must leave at once: without this, Nagle's algorithm holds an
  // update until the client's delayed ACK (tens of milliseconds).
  beast::error_code ignored;
  stream.socket().set_option(asio::ip::tcp::no_delay(true), ignored);
  const asio::any_io_executor executor = stream.get_executor();
  // Sessions start on their strand after the server has registered them, so
  // a client never sees a stream the server does not count yet.
  if (websocket_upgrade) {
    auto session = std::make_shared<WebSocketSession>(hub, subscriber, std::move(stream), ready);
    asio::post(executor, [session, request = std::move(request)]() mutable {
      session->Start(std::move(request));
    });
    subscriber->set_wake(WakeOf(session, executor));
    return session;
  }
  auto session = std::make_shared<SseSession>(hub, subscriber, std::move(stream), *started, ready);
  asio::post(executor, [session] { session->Start(); });
  subscriber->set_wake(WakeOf(session, executor));
  return session;
}

}  // namespace

Result<std::unique_ptr<LiveStreams>> LiveStreams::Create(EventLog& log, StreamAuthorizer authorize,
                                                         LiveOptions options) {
  if (!authorize) {
    return Status::Error(ErrorCode::kInvalidArgument, "live streams need an authorizer",
                         "authorize");
  }
  if (options.ring_items == 0 || options.client_queue_bytes == 0 ||
      options.client_queue_items == 0 || options.catch_up_batch == 0 ||
      options.catch_up_threads <= 0 || options.keepalive.count() <= 0 ||
      options.close_timeout.count() <= 0 || options.stall_timeout.count() <= 0) {
    return Status::Error(ErrorCode::kInvalidArgument,
                         "live stream limits must be positive (ring_items, client_queue_bytes, "
                         "client_queue_items, catch_up_batch, catch_up_threads, keepalive, "
                         "stall_timeout, close_timeout)",
                         "options");
  }
  auto hub = std::make_shared<Hub>(log, std::move(authorize), std::move(options));
  hub->Start();
  return std::unique_ptr<LiveStreams>(new LiveStreams(std::move(hub)));
}

LiveStreams::LiveStreams(std::shared_ptr<Hub> hub) : hub_(std::move(hub)) {}

LiveStreams::~LiveStreams() { hub_->Stop(); }

HttpStreamRoute LiveStreams::Route() {
  std::weak_ptr<Hub> weak = hub_;
  return [weak](const HttpRequest& head) -> HttpStreamAccept {
    std::optional<StreamTarget> target = ParseStreamTarget(head.target());
    if (!target) return {};
    std::shared_ptr<Hub> hub = weak.lock();
    if (!hub) return {};
    return [hub, target = std::move(*target)](beast::tcp_stream stream, beast::flat_buffer,
                                              HttpRequest request) {
      return AcceptStream(hub, target, std::move(stream), std::move(request));
    };
  };
}

LiveStats LiveStreams::Stats() const { return hub_->Stats(); }

}  // namespace palaver::live
