#include "tests/connectors/live/live_test_util.h"

#include <array>
#include <chrono>
#include <sstream>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>
#include <gtest/gtest.h>

#include "schemas/codec.h"

namespace palaver::live::testing {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;

namespace {

// Runs `io` until `done` or `timeout`.
bool RunUntil(asio::io_context& io, const bool& done, std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  io.restart();
  while (!done && io.run_one_until(deadline) > 0) {
  }
  return done;
}

void Connect(tcp::socket& socket, uint16_t port, const ClientOptions& options) {
  socket.open(tcp::v4());
  if (options.receive_buffer_bytes > 0) {
    socket.set_option(asio::socket_base::receive_buffer_size(options.receive_buffer_bytes));
  }
  socket.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port));
}

StreamMessage Parse(const std::string& text) {
  StreamMessage message;
  nlohmann::json json = nlohmann::json::parse(text);
  if (json.contains("ready")) {
    message.kind = StreamMessage::Kind::kReady;
    message.position = json["ready"]["after"].get<int64_t>();
    message.body = std::move(json);
    return message;
  }
  message.kind = StreamMessage::Kind::kItem;
  message.position = json.at("position").get<int64_t>();
  message.body = std::move(json);
  return message;
}

class WebSocketClient final : public StreamClient {
 public:
  WebSocketClient() : ws_(io_) {}
  ~WebSocketClient() override { Cut(); }

  std::optional<Refusal> Open(uint16_t port, const std::string& target, const Headers& headers,
                              const ClientOptions& options) {
    Connect(beast::get_lowest_layer(ws_).socket(), port, options);
    ws_.set_option(websocket::stream_base::decorator([headers](websocket::request_type& request) {
      for (const auto& [name, value] : headers) request.set(name, value);
    }));
    websocket::response_type response;
    beast::error_code ec;
    ws_.handshake(response, "127.0.0.1:" + std::to_string(port), target, ec);
    if (!ec) return std::nullopt;
    Refusal refusal;
    refusal.status = static_cast<int>(response.result_int());
    refusal.problem = nlohmann::json::parse(response.body(), nullptr, false);
    return refusal;
  }

  StreamMessage Next(std::chrono::milliseconds timeout) override {
    if (ended_) return {StreamMessage::Kind::kEnd};
    if (!pending_) {
      pending_ = true;
      done_ = false;
      ws_.async_read(buffer_, [this](beast::error_code ec, size_t) {
        pending_ = false;
        done_ = true;
        ec_ = ec;
      });
    }
    if (!RunUntil(io_, done_, timeout)) return {StreamMessage::Kind::kTimeout};
    done_ = false;
    if (ec_) {
      ended_ = true;
      if (ec_ == websocket::error::closed) {
        end_.websocket_code = ws_.reason().code;
        end_.reason = std::string(ws_.reason().reason.c_str());
      }
      return {StreamMessage::Kind::kEnd};
    }
    std::string text = beast::buffers_to_string(buffer_.data());
    buffer_.consume(buffer_.size());
    return Parse(text);
  }

  void Cut() override {
    ended_ = true;
    beast::error_code ignored;
    beast::get_lowest_layer(ws_).socket().close(ignored);
  }

 private:
  asio::io_context io_;
  websocket::stream<beast::tcp_stream> ws_;
  beast::flat_buffer buffer_;
  beast::error_code ec_;
  bool pending_ = false;
  bool done_ = false;
  bool ended_ = false;
};

class SseClient final : public StreamClient {
 public:
  SseClient() : socket_(io_) {}
  ~SseClient() override { Cut(); }

  std::optional<Refusal> Open(uint16_t port, const std::string& target, const Headers& headers,
                              const ClientOptions& options) {
    Connect(socket_, port, options);
    std::string request = "GET " + target + " HTTP/1.1\r\nHost: 127.0.0.1:" + std::to_string(port) +
                          "\r\nAccept: text/event-stream\r\n";
    for (const auto& [name, value] : headers) request += name + ": " + value + "\r\n";
    request += "\r\n";
    asio::write(socket_, asio::buffer(request));
    size_t header_end = asio::read_until(socket_, asio::dynamic_buffer(data_), "\r\n\r\n");
    std::string head = data_.substr(0, header_end);
    data_.erase(0, header_end);
    int status = std::stoi(head.substr(head.find(' ') + 1, 3));
    if (status == 200) return std::nullopt;
    beast::error_code ec;
    asio::read(socket_, asio::dynamic_buffer(data_), ec);  // to the end: Connection: close
    Refusal refusal;
    refusal.status = status;
    refusal.problem = nlohmann::json::parse(data_, nullptr, false);
    return refusal;
  }

  StreamMessage Next(std::chrono::milliseconds timeout) override {
    const auto deadline = Clock::now() + timeout;
    while (true) {
      size_t event_end = data_.find("\n\n");
      if (event_end != std::string::npos) {
        std::string block = data_.substr(0, event_end);
        data_.erase(0, event_end + 2);
        std::string event_name;
        std::string id;
        std::string data;
        std::istringstream lines(block);
        for (std::string line; std::getline(lines, line);) {
          if (line.rfind("event: ", 0) == 0) event_name = line.substr(7);
          if (line.rfind("id: ", 0) == 0) id = line.substr(4);
          if (line.rfind("data: ", 0) == 0) data += line.substr(6);
        }
        if (data.empty()) continue;  // a comment (keepalive) or retry
        if (event_name == "error") {
          end_.sse_error = nlohmann::json::parse(data).value("code", "");
          continue;  // the connection ends next
        }
        StreamMessage message = Parse(data);
        EXPECT_EQ(id, std::to_string(message.position)) << "SSE id must be the position";
        return message;
      }
      if (ended_) return {StreamMessage::Kind::kEnd};
      if (!pending_) {
        pending_ = true;
        done_ = false;
        socket_.async_read_some(asio::buffer(chunk_), [this](beast::error_code ec, size_t n) {
          pending_ = false;
          done_ = true;
          ec_ = ec;
          data_.append(chunk_.data(), n);
        });
      }
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
      if (left.count() <= 0 || !RunUntil(io_, done_, left)) return {StreamMessage::Kind::kTimeout};
      done_ = false;
      if (ec_) ended_ = true;
    }
  }

  void Cut() override {
    ended_ = true;
    beast::error_code ignored;
    socket_.close(ignored);
  }

 private:
  asio::io_context io_;
  tcp::socket socket_;
  std::string data_;
  std::array<char, 16 * 1024> chunk_{};
  beast::error_code ec_;
  bool pending_ = false;
  bool done_ = false;
  bool ended_ = false;
};

}  // namespace

std::variant<std::unique_ptr<StreamClient>, Refusal> OpenWebSocket(uint16_t port,
                                                                   const std::string& target,
                                                                   const Headers& headers,
                                                                   ClientOptions options) {
  auto client = std::make_unique<WebSocketClient>();
  if (auto refusal = client->Open(port, target, headers, options)) return *refusal;
  return std::unique_ptr<StreamClient>(std::move(client));
}

std::variant<std::unique_ptr<StreamClient>, Refusal> OpenSse(uint16_t port,
                                                             const std::string& target,
                                                             const Headers& headers,
                                                             ClientOptions options) {
  auto client = std::make_unique<SseClient>();
  if (auto refusal = client->Open(port, target, headers, options)) return *refusal;
  return std::unique_ptr<StreamClient>(std::move(client));
}

std::pair<int, std::string> HttpCall(uint16_t port, const std::string& method,
                                     const std::string& target, const Headers& headers) {
  asio::io_context io;
  beast::tcp_stream stream(io);
  stream.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port));
  http::request<http::string_body> request(http::string_to_verb(method), target, 11);
  request.set(http::field::host, "127.0.0.1");
  for (const auto& [name, value] : headers) request.set(name, value);
  request.prepare_payload();
  http::write(stream, request);
  beast::flat_buffer buffer;
  http::response<http::string_body> response;
  http::read(stream, buffer, response);
  return {static_cast<int>(response.result_int()), response.body()};
}

// ---------------------------------------------------------------- auth

Headers AgentHeaders(const std::string& shop) {
  return {{"Authorization", "Bearer agent:" + shop}};
}

Headers ShopperHeaders(const std::string& shop, const std::string& customer,
                       const std::string& conversation) {
  return {{"X-Palaver-Identity", shop + "|" + customer + "|" + conversation}};
}

StreamAuthorizer TestAuthorizer() {
  return [](const HttpRequest& request, const StreamTarget& target) -> Result<StreamScope> {
    StreamScope scope;
    if (target.viewer == Viewer::kAgent) {
      auto auth = request.find(http::field::authorization);
      const std::string prefix = "Bearer agent:";
      if (auth == request.end() || !std::string(auth->value()).starts_with(prefix)) {
        return Status::Error(ErrorCode::kPermissionDenied, "an agent token is required");
      }
      scope.tenant = std::string(auth->value()).substr(prefix.size());
      if (scope.tenant != target.shop) {
        return Status::Error(ErrorCode::kNotFound, "no shop " + target.shop);
      }
      scope.viewer = Viewer::kAgent;
      return scope;
    }
    auto identity = request.find("X-Palaver-Identity");
    if (identity == request.end()) {
      return Status::Error(ErrorCode::kPermissionDenied, "a shopper identity is required");
    }
    std::string value(identity->value());
    size_t first = value.find('|');
    size_t second = value.find('|', first + 1);
    if (first == std::string::npos || second == std::string::npos) {
      return Status::Error(ErrorCode::kPermissionDenied, "the shopper identity is malformed");
    }
    scope.tenant = value.substr(0, first);
    scope.customer_id = value.substr(first + 1, second - first - 1);
    scope.conversation_id = value.substr(second + 1);
    scope.viewer = Viewer::kShopper;
    if (scope.tenant != target.shop || scope.conversation_id != target.conversation_id) {
      return Status::Error(ErrorCode::kNotFound, "no such conversation");
    }
    return scope;
  };
}

std::string AgentPath(const std::string& shop) { return "/v1/shops/" + shop + "/stream"; }
std::string ShopperPath(const std::string& shop, const std::string& conversation) {
  return "/v1/shops/" + shop + "/shopper/conversations/" + conversation + "/stream";
}

// ---------------------------------------------------------------- events

Event MakeEvent(const std::string& shop, const std::string& conversation, ActorKind actor,
                EventBody body) {
  Event event;
  event.envelope.event_id = NewEventId();
  event.envelope.tenant = shop;
  event.envelope.conversation_id = conversation;
  event.envelope.actor_kind = actor;
  event.envelope.actor_id = actor == ActorKind::kAgent ? "agent-1" : "actor";
  event.envelope.occurred_at_us = 1'760'000'000'000'000;
  event.envelope.correlation_id = "corr-" + event.envelope.event_id;
  event.envelope.idempotency_key = "key-" + event.envelope.event_id;
  event.body = std::move(body);
  return event;
}

Event Started(const std::string& shop, const std::string& conversation,
              const std::string& customer) {
  ConversationStarted body;
  body.customer_id = customer;
  body.platform = "web";
  body.shopper_authenticated = true;
  body.personal.name = "Customer " + customer;
  return MakeEvent(shop, conversation, ActorKind::kShopper, body);
}

Event Message(const std::string& shop, const std::string& conversation, const std::string& customer,
              ActorKind actor, const std::string& text) {
  MessagePosted body;
  body.message_id = NewEventId();
  body.customer_id = customer;
  body.macro_id = actor == ActorKind::kAgent ? "macro-greeting" : "";
  body.personal.text = text;
  return MakeEvent(shop, conversation, actor, body);
}

Event Note(const std::string& shop, const std::string& conversation, const std::string& customer,
           const std::string& text) {
  InternalNoteAdded body;
  body.note_id = NewEventId();
  body.customer_id = customer;
  body.personal.text = text;
  return MakeEvent(shop, conversation, ActorKind::kAgent, body);
}

Event Read(const std::string& shop, const std::string& conversation, ActorKind actor) {
  MessagesRead body;
  body.up_to_message_id = "m-last";
  return MakeEvent(shop, conversation, actor, body);
}

Event StatusChange(const std::string& shop, const std::string& conversation,
                   ConversationStatus from, ConversationStatus to) {
  ConversationStatusChanged body;
  body.from = from;
  body.to = to;
  if (to == ConversationStatus::kSnoozed) body.snoozed_until_us = 1'770'000'000'000'000;
  return MakeEvent(shop, conversation, ActorKind::kAgent, body);
}

Event Assigned(const std::string& shop, const std::string& conversation, const std::string& agent) {
  ConversationAssigned body;
  body.agent_id = agent;
  return MakeEvent(shop, conversation, ActorKind::kAgent, body);
}

Event Cart(const std::string& shop, const std::string& conversation, const std::string& customer) {
  CartUpdated body;
  body.customer_id = customer;
  body.cart_id = "cart-" + customer;
  body.changed_product_id = "p-1";
  body.line_items.push_back({"p-1", "", "Mug", 2, 1200});
  body.subtotal_minor = 2400;
  body.currency = "EUR";
  return MakeEvent(shop, conversation, ActorKind::kStorefront, body);
}

int64_t AppendEvent(EventLog& log, const Event& event) {
  Result<std::string> frame = EncodeEvent(event);
  EXPECT_TRUE(frame.ok()) << frame.status().ToString();
  if (!frame.ok()) return -1;
  Result<LogPosition> position = log.Append(std::move(*frame));
  EXPECT_TRUE(position.ok()) << position.status().ToString();
  return position.ok() ? position->offset : -1;
}

std::vector<std::pair<int64_t, Event>> ReadPartition(EventLog& log, int32_t partition,
                                                     int64_t from) {
  std::vector<std::pair<int64_t, Event>> events;
  auto end = log.EndOffset(partition);
  EXPECT_TRUE(end.ok()) << end.status().ToString();
  if (!end.ok() || from >= *end) return events;
  auto reader = log.OpenReader(partition, from);
  EXPECT_TRUE(reader.ok()) << reader.status().ToString();
  if (!reader.ok()) return events;
  const auto deadline = Clock::now() + std::chrono::seconds(60);
  while ((*reader)->Position() < *end && Clock::now() < deadline) {
    auto records = (*reader)->Next(1000, std::chrono::milliseconds(500));
    EXPECT_TRUE(records.ok()) << records.status().ToString();
    if (!records.ok()) return events;
    for (const LogRecord& record : *records) {
      if (record.offset >= *end) break;
      auto event = DecodeEvent(record.value);
      EXPECT_TRUE(event.ok()) << event.status().ToString();
      if (event.ok()) events.emplace_back(record.offset, std::move(*event));
    }
  }
  EXPECT_EQ((*reader)->Position(), *end) << "could not read the partition back";
  return events;
}

// ---------------------------------------------------------------- server

LiveServer::LiveServer(EventLog& log, LiveOptions options) {
  auto live = LiveStreams::Create(log, TestAuthorizer(), options);
  EXPECT_TRUE(live.ok()) << live.status().ToString();
  live_ = std::move(*live);
  HttpServerOptions http_options;
  http_options.port = 0;
  auto server = HttpServer::Start(
      http_options,
      [](const HttpRequest& request) {
        if (request.target() == "/healthz") {
          return JsonResponse(request, http::status::ok, R"({"status":"ok"})");
        }
        return JsonResponse(request, http::status::not_found, R"({"status":404})");
      },
      live_->Route());
  EXPECT_TRUE(server.ok()) << server.status().ToString();
  server_ = std::move(*server);
}

LiveServer::~LiveServer() { Stop(); }

void LiveServer::Stop() {
  if (server_) server_->Stop();
  server_.reset();
  live_.reset();
}

std::pair<std::string, std::string> ShopsSharingAPartition(const EventLog& log,
                                                           const std::string& prefix) {
  const std::string first = prefix + "-a";
  for (int i = 0; i < 1000; ++i) {
    std::string second = prefix + "-b" + std::to_string(i);
    if (log.PartitionFor(second) == log.PartitionFor(first)) return {first, second};
  }
  ADD_FAILURE() << "no two shops share a partition";
  return {first, first};
}

}  // namespace palaver::live::testing
