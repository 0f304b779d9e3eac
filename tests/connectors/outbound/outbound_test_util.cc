#include "tests/connectors/outbound/outbound_test_util.h"

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "schemas/codec.h"

namespace palaver::testing {

namespace fs = std::filesystem;

FollowOptions TestFollow(const std::string& state_dir) {
  FollowOptions o;
  o.state_dir = state_dir;
  o.start_from = StartFrom::kBeginning;
  o.idle_wait = std::chrono::milliseconds(5);
  return o;
}

RetryOptions TestRetry(int max_attempts, std::chrono::milliseconds initial_backoff) {
  RetryOptions o;
  o.max_attempts = max_attempts;
  o.initial_backoff = initial_backoff;
  o.max_backoff = 5 * initial_backoff;
  o.park_retry_interval = 5 * initial_backoff;
  return o;
}

std::unique_ptr<OutboundConnector> StartConnector(
    Result<std::unique_ptr<OutboundConnector>> built) {
  EXPECT_TRUE(built.ok()) << built.status().ToString();
  if (!built.ok()) return nullptr;
  const Status started = (*built)->Start();
  EXPECT_TRUE(started.ok()) << started.ToString();
  if (!started.ok()) return nullptr;
  return std::move(*built);
}

std::unique_ptr<EventLog> OpenTestLog(const std::string& dir) {
  EventLogOptions options;
  options.kind = EventLogOptions::Kind::kEmbedded;
  options.embedded_dir = dir;
  options.partitions = 2;
  options.sync_writes = false;
  Result<std::unique_ptr<EventLog>> log = OpenEventLog(options);
  EXPECT_TRUE(log.ok()) << log.status().ToString();
  return log.ok() ? std::move(*log) : nullptr;
}

LogPosition Shop::Append(ActorKind actor, std::string actor_id, std::string conversation_id,
                         EventBody body, std::string event_id) {
  Event event;
  Envelope& e = event.envelope;
  e.event_id = event_id.empty() ? NewEventId() : std::move(event_id);
  e.tenant = tenant_;
  e.conversation_id = std::move(conversation_id);
  e.actor_kind = actor;
  e.actor_id = std::move(actor_id);
  e.occurred_at_us = 1718000000000000 + int64_t{++counter_} * 1000000;
  e.recorded_at_us = e.occurred_at_us + 500;
  e.correlation_id = "corr-" + std::to_string(counter_);
  event.body = std::move(body);
  Result<std::string> frame = EncodeEvent(event);
  EXPECT_TRUE(frame.ok()) << frame.status().ToString();
  if (!frame.ok()) return {};
  Result<LogPosition> position = log_.Append(*frame);
  EXPECT_TRUE(position.ok()) << position.status().ToString();
  return position.ok() ? *position : LogPosition{};
}

LogPosition Shop::Started(const std::string& conversation_id, const std::string& customer_id,
                          Channel channel, const std::string& name, const std::string& email,
                          const std::string& phone) {
  ConversationStarted b;
  b.customer_id = customer_id;
  b.channel = channel;
  b.platform = "web";
  b.shopper_authenticated = true;
  b.personal.name = name;
  b.personal.email = email;
  b.personal.phone = phone;
  return Append(ActorKind::kShopper, customer_id, conversation_id, b);
}

LogPosition Shop::AgentReply(const std::string& conversation_id, const std::string& customer_id,
                             Channel channel, DeliveryRoute route, const std::string& text) {
  MessagePosted m;
  m.message_id = "msg-" + std::to_string(counter_ + 1);
  m.customer_id = customer_id;
  m.channel = channel;
  m.kind = MessageKind::kText;
  m.delivery_route = route;
  m.personal.text = text;
  return Append(ActorKind::kAgent, "agent-lea", conversation_id, m);
}

LogPosition Shop::ShopperMessage(const std::string& conversation_id, const std::string& customer_id,
                                 Channel channel, const std::string& text) {
  MessagePosted m;
  m.message_id = "msg-" + std::to_string(counter_ + 1);
  m.customer_id = customer_id;
  m.channel = channel;
  m.kind = MessageKind::kText;
  m.delivery_route = channel == Channel::kSms     ? DeliveryRoute::kSms
                     : channel == Channel::kEmail ? DeliveryRoute::kEmail
                                                  : DeliveryRoute::kLiveChat;
  m.personal.text = text;
  return Append(ActorKind::kShopper, customer_id, conversation_id, m);
}

LogPosition Shop::Handoff(const std::string& conversation_id, HandoffTarget target,
                          const std::string& webhook_id) {
  return Append(ActorKind::kBot, "faq-bot", conversation_id,
                HandoffRequested{HandoffReason::kBotCannotAnswer, target, webhook_id});
}

LogPosition Shop::Transcript(const std::string& conversation_id, const std::string& customer_id,
                             const std::string& email) {
  TranscriptRequested t;
  t.customer_id = customer_id;
  t.personal.email = email;
  return Append(ActorKind::kShopper, customer_id, conversation_id, t);
}

LogPosition Shop::Erase(const std::string& customer_id) {
  return Append(ActorKind::kAgent, "agent-admin", "",
                CustomerErased{customer_id, "privacy-req-1", ErasureRegulation::kGdpr});
}

std::vector<Event> DeliveryEvents(EventLog& log, int32_t partition) {
  std::vector<Event> out;
  Result<int64_t> end = log.EndOffset(partition);
  if (!end.ok()) return out;
  Result<std::unique_ptr<LogReader>> reader = log.OpenReader(partition, 0);
  if (!reader.ok()) return out;
  while ((*reader)->Position() < *end) {
    Result<std::vector<LogRecord>> records = (*reader)->Next(1000, std::chrono::milliseconds(1000));
    if (!records.ok() || records->empty()) break;
    for (const LogRecord& record : *records) {
      Result<Event> event = DecodeEvent(record.value);
      if (event.ok() && event->envelope.type == EventType::kDeliveryRecorded) {
        out.push_back(std::move(*event));
      }
    }
  }
  return out;
}

const DeliveryRecorded& Body(const Event& delivery_event) {
  return std::get<DeliveryRecorded>(delivery_event.body);
}

bool Eventually(const std::function<bool()>& condition, std::chrono::seconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (condition()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return condition();
}

int FreePort() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
  socklen_t len = sizeof(addr);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  ::close(fd);
  return ntohs(addr.sin_port);
}

namespace {

bool CanConnect(int port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  const bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
  ::close(fd);
  return ok;
}

}  // namespace

std::string PythonWithAiosmtpd() {
  for (const char* candidate : {"/usr/bin/python3", "python3"}) {
    const std::string command = std::string(candidate) + " -c 'import aiosmtpd' >/dev/null 2>&1";
    if (std::system(command.c_str()) == 0) return candidate;
  }
  return {};
}

SmtpReceiver::SmtpReceiver(std::string mail_dir) : mail_dir_(std::move(mail_dir)) {
  fs::create_directories(mail_dir_);
}

SmtpReceiver::~SmtpReceiver() { Stop(); }

std::string SmtpReceiver::Start(int port) {
  const std::string python = PythonWithAiosmtpd();
  if (python.empty()) {
    return "the email suite needs a real SMTP server: python3 with the aiosmtpd module "
           "(Debian package python3-aiosmtpd, installed by ./deps.sh --test) was not found";
  }
  port_ = port != 0 ? port : (port_ != 0 ? port_ : FreePort());
  const std::string script =
      std::string(PALAVER_SOURCE_DIR) + "/tests/connectors/outbound/smtp_sink.py";
  const std::string port_text = std::to_string(port_);
  child_ = ::fork();
  if (child_ == 0) {
    ::execlp(python.c_str(), python.c_str(), script.c_str(), mail_dir_.c_str(), port_text.c_str(),
             static_cast<char*>(nullptr));
    ::_exit(127);
  }
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (std::chrono::steady_clock::now() < deadline) {
    int status = 0;
    if (::waitpid(child_, &status, WNOHANG) == child_) {
      child_ = -1;
      return "the SMTP server (" + python + " " + script + ") exited with status " +
             std::to_string(status) + " before listening on port " + port_text;
    }
    if (CanConnect(port_)) return {};
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  Stop();
  return "the SMTP server did not listen on 127.0.0.1:" + port_text + " within 30 s";
}

void SmtpReceiver::Stop() {
  if (child_ <= 0) return;
  ::kill(child_, SIGTERM);
  int status = 0;
  ::waitpid(child_, &status, 0);
  child_ = -1;
}

std::vector<nlohmann::json> SmtpReceiver::Mails() const {
  std::vector<fs::path> files;
  for (const auto& entry : fs::directory_iterator(mail_dir_)) {
    if (entry.path().extension() == ".json" && entry.path().filename().string()[0] != '.') {
      files.push_back(entry.path());
    }
  }
  std::sort(files.begin(), files.end());
  std::vector<nlohmann::json> out;
  for (const fs::path& file : files) {
    std::ifstream in(file);
    std::stringstream text;
    text << in.rdbuf();
    out.push_back(nlohmann::json::parse(text.str(), nullptr, false));
  }
  return out;
}

bool SmtpReceiver::WaitForMails(size_t count, std::chrono::seconds timeout) const {
  return Eventually([&] { return Mails().size() >= count; }, timeout);
}

}  // namespace palaver::testing
