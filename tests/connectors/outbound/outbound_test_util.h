// Shared helpers of the outbound connector suites: an embedded or Kafka log,
// a shop that appends realistic events, the delivery.recorded events read
// back, a real SMTP server (aiosmtpd, a child process) and waiting.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <sys/types.h>

#include "connectors/outbound/outbound.h"
#include "engine/event_log.h"
#include "schemas/events.h"

namespace palaver::testing {

// An embedded log in `dir` with two partitions (no fsync: tests only).
std::unique_ptr<EventLog> OpenTestLog(const std::string& dir);

// How the connector suites follow the log: state in `state_dir`, every event
// from offset 0, polling every 5 ms.
FollowOptions TestFollow(const std::string& state_dir);
// Short retries: `max_attempts` attempts before parking, backoff from
// `initial_backoff` up to 5x it, a parked target retried every 5x it.
RetryOptions TestRetry(int max_attempts, std::chrono::milliseconds initial_backoff);
// Starts a connector that New*Connector built; nullptr (and a test failure)
// when building or starting failed.
std::unique_ptr<OutboundConnector> StartConnector(Result<std::unique_ptr<OutboundConnector>> built);

// Appends events of one shop, as the engine would write them.
class Shop {
 public:
  Shop(EventLog& log, std::string tenant) : log_(log), tenant_(std::move(tenant)) {}

  const std::string& tenant() const { return tenant_; }
  int32_t partition() const { return log_.PartitionFor(tenant_); }

  LogPosition Append(ActorKind actor, std::string actor_id, std::string conversation_id,
                     EventBody body, std::string event_id = {});
  LogPosition Started(const std::string& conversation_id, const std::string& customer_id,
                      Channel channel, const std::string& name, const std::string& email,
                      const std::string& phone = {});
  LogPosition AgentReply(const std::string& conversation_id, const std::string& customer_id,
                         Channel channel, DeliveryRoute route, const std::string& text);
  LogPosition ShopperMessage(const std::string& conversation_id, const std::string& customer_id,
                             Channel channel, const std::string& text);
  LogPosition Handoff(const std::string& conversation_id, HandoffTarget target,
                      const std::string& webhook_id);
  LogPosition Transcript(const std::string& conversation_id, const std::string& customer_id,
                         const std::string& email);
  LogPosition Erase(const std::string& customer_id);

 private:
  EventLog& log_;
  std::string tenant_;
  int counter_ = 0;
};

// Every delivery.recorded event of `partition`, in log order.
std::vector<Event> DeliveryEvents(EventLog& log, int32_t partition);
const DeliveryRecorded& Body(const Event& delivery_event);

// Polls `condition` every 10 ms until it holds or `timeout` passes.
bool Eventually(const std::function<bool()>& condition,
                std::chrono::seconds timeout = std::chrono::seconds(60));

// A free TCP port on 127.0.0.1 (bound then released).
int FreePort();

// A real SMTP server: tests/connectors/outbound/smtp_sink.py (aiosmtpd) run
// by a python3 that has aiosmtpd, as a child process on 127.0.0.1.
class SmtpReceiver {
 public:
  explicit SmtpReceiver(std::string mail_dir);
  ~SmtpReceiver();
  SmtpReceiver(const SmtpReceiver&) = delete;
  SmtpReceiver& operator=(const SmtpReceiver&) = delete;

  // Starts the server on `port` (a free one when 0) and waits until it
  // accepts connections. Returns an error sentence, or empty on success.
  std::string Start(int port = 0);
  // Stops the server (SIGTERM, then waits for it).
  void Stop();
  int port() const { return port_; }

  // Every mail received so far, in arrival order (see smtp_sink.py).
  std::vector<nlohmann::json> Mails() const;
  bool WaitForMails(size_t count, std::chrono::seconds timeout = std::chrono::seconds(60)) const;

 private:
  std::string mail_dir_;
  int port_ = 0;
  pid_t child_ = -1;
};

// The python3 that can import aiosmtpd (/usr/bin/python3 first, then
// python3 on PATH); empty when none can.
std::string PythonWithAiosmtpd();

}  // namespace palaver::testing
