// Helpers for the live stream suites: real WebSocket and SSE clients over
// loopback (Boost.Beast), a test authorizer, event builders and a server
// fixture on any EventLog.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include <nlohmann/json.hpp>

#include "connectors/http_server.h"
#include "connectors/live/live_streams.h"
#include "engine/event_log.h"
#include "schemas/events.h"

namespace palaver::live::testing {

using Headers = std::map<std::string, std::string>;

// One thing a stream client received.
struct StreamMessage {
  enum class Kind { kReady, kItem, kEnd, kTimeout };
  Kind kind = Kind::kTimeout;
  int64_t position = 0;  // kReady: the position it starts after; kItem: the item's
  nlohmann::json body;   // kItem: {"position","partition","event"}
};

// How a stream ended.
struct StreamEnd {
  int websocket_code = 0;  // WebSocket close code; 0 when the socket just ended
  std::string reason;      // WebSocket close reason
  std::string sse_error;   // SSE: the `code` of the final `event: error`, if any
};

class StreamClient {
 public:
  virtual ~StreamClient() = default;
  // Waits up to `timeout` for the next message.
  virtual StreamMessage Next(std::chrono::milliseconds timeout) = 0;
  // Drops the TCP connection without a goodbye.
  virtual void Cut() = 0;
  const StreamEnd& end() const { return end_; }

 protected:
  StreamEnd end_;
};

// The answer to a stream request that was refused.
struct Refusal {
  int status = 0;
  nlohmann::json problem;
};

struct ClientOptions {
  int receive_buffer_bytes = 0;  // SO_RCVBUF before connecting; 0 = the system default
};

// Opens a WebSocket stream at `target`; a Refusal when the server answered
// with an HTTP error instead of upgrading.
std::variant<std::unique_ptr<StreamClient>, Refusal> OpenWebSocket(uint16_t port,
                                                                   const std::string& target,
                                                                   const Headers& headers,
                                                                   ClientOptions options = {});
// Opens a Server-Sent Events stream at `target`.
std::variant<std::unique_ptr<StreamClient>, Refusal> OpenSse(uint16_t port,
                                                             const std::string& target,
                                                             const Headers& headers,
                                                             ClientOptions options = {});

// A plain HTTP request; returns status and body.
std::pair<int, std::string> HttpCall(uint16_t port, const std::string& method,
                                     const std::string& target, const Headers& headers);

// Test credentials: "Authorization: Bearer agent:<shop>" is an agent of
// <shop>; "X-Palaver-Identity: <shop>|<customer>|<conversation>" a shopper.
Headers AgentHeaders(const std::string& shop);
Headers ShopperHeaders(const std::string& shop, const std::string& customer,
                       const std::string& conversation);
StreamAuthorizer TestAuthorizer();

std::string AgentPath(const std::string& shop);
std::string ShopperPath(const std::string& shop, const std::string& conversation);

// Events of the shapes the streams care about.
Event MakeEvent(const std::string& shop, const std::string& conversation, ActorKind actor,
                EventBody body);
Event Started(const std::string& shop, const std::string& conversation,
              const std::string& customer);
Event Message(const std::string& shop, const std::string& conversation, const std::string& customer,
              ActorKind actor, const std::string& text);
Event Note(const std::string& shop, const std::string& conversation, const std::string& customer,
           const std::string& text);
Event Read(const std::string& shop, const std::string& conversation, ActorKind actor);
Event StatusChange(const std::string& shop, const std::string& conversation,
                   ConversationStatus from, ConversationStatus to);
Event Assigned(const std::string& shop, const std::string& conversation, const std::string& agent);
Event Cart(const std::string& shop, const std::string& conversation, const std::string& customer);

// Encodes and appends; fails the test on error. Returns the offset.
int64_t AppendEvent(EventLog& log, const Event& event);

// A log, LiveStreams and an HttpServer mounting its route (plus /healthz).
class LiveServer {
 public:
  LiveServer(EventLog& log, LiveOptions options = {});
  ~LiveServer();
  uint16_t port() const { return server_->port(); }
  HttpServer& server() { return *server_; }
  LiveStreams& live() { return *live_; }
  // Stops the HTTP server (closing streams), then the live streams.
  void Stop();

 private:
  std::unique_ptr<LiveStreams> live_;
  std::unique_ptr<HttpServer> server_;
};

// Two shop names that live in the same partition of `log`.
std::pair<std::string, std::string> ShopsSharingAPartition(const EventLog& log,
                                                           const std::string& prefix);

// The resume scenario, on any log: see live_resume.cc.
void RunResumeScenario(EventLog& log, uint64_t seed, int events);

// Two shops in one partition, an agent of each and a shopper: each receives
// only its own shop's (and conversation's) events; see live_resume.cc.
void RunIsolationScenario(EventLog& log);

// The seed for randomized tests: PALAVER_TEST_SEED when set, else random.
uint64_t TestSeed();

// Every record of `partition` from `from` to the end, decoded.
std::vector<std::pair<int64_t, Event>> ReadPartition(EventLog& log, int32_t partition,
                                                     int64_t from);

}  // namespace palaver::live::testing
