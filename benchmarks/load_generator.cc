// load_generator: plays shops, shoppers and agents against palaver's real
// engine and projector, in-process, on the embedded log or on a real Kafka
// broker, and reports what a support team would feel.
//
// Setup: `--shops` shops with Zipf-distributed sizes (shop i holds a share of
// `--conversations` proportional to 1/(i+1)^zipf, at least one), each with
// `--agents` agents; every conversation is a signed shopper's web chat with a
// first message. Then for `--seconds`, `--threads` drivers pick a shop by the
// same Zipf weights and one of its conversations uniformly, and run one action
// of the mix:
//
//   shopper message 28%  agent reply 24%  read receipt 16%  cart event 10%
//   presence change 8%   assignment 6%    status change 8% (snooze, reopen, close)
//
// Commands go through ConversationEngine::Execute. Cart and presence events
// are storefront JSON records: on Kafka they are produced to a storefront
// topic and ingested by a StorefrontConsumer; on the embedded log (no broker)
// they go through MapStorefrontRecord and Execute in the driver. A closed web
// chat is final; the shopper's next message starts a new conversation.
//
// Reports (stdout, and JSON with --json): sustained events/s and commands/s;
// command latency; append -> projected latency p50/p95/p99/max (Execute
// returned -> every projection applied the last appended record); projection
// lag over time; replay (a fresh projector rebuilding every view from offset
// zero) events/s beside a raw read of the same log; the raw limit of the same
// payloads (Kafka: librdkafka produce and consume to the same broker;
// embedded: RocksDB WriteBatch of the same frames) with ratios; peak RSS.
//
// Options: kUsage below (--help prints it). With --http it drives a running
// `palaver serve` over HTTP and WebSocket instead (benchmarks/http_load.h).
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <stop_token>
#include <string>
#include <thread>
#include <vector>

#include <librdkafka/rdkafka.h>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include "benchmarks/bench_util.h"
#include "benchmarks/flags.h"
#include "benchmarks/http_load.h"
#include "connectors/storefront/storefront_consumer.h"
#include "connectors/storefront/storefront_mapper.h"
#include "engine/domain/conversation_engine.h"
#include "engine/event_log.h"
#include "engine/rules/clock.h"
#include "engine/rules/shopper_identity.h"
#include "projections/projector.h"
#include "projections/queries.h"

namespace palaver::bench {
namespace {

using namespace std::chrono_literals;

constexpr char kSecret[] = "load-generator-secret";
// Raw limits use at least this many records (the run's own, cycled).
constexpr size_t kMinRawRecords = 20000;

struct Config {
  bool kafka = false;
  std::string brokers;
  int shops = 20;
  int conversations = 400;
  int agents = 3;
  double seconds = 10;
  int threads = 4;
  double rate = 0;
  double zipf = 1.1;
  int partitions = 8;
  bool sync = true;
  std::string json_path;
};

enum class Action { kShopperMessage, kAgentReply, kRead, kCart, kPresence, kAssign, kStatus };
constexpr const char* kActionNames[] = {"shopper_message", "agent_reply", "read_receipt", "cart",
                                        "presence",        "assignment",  "status_change"};
constexpr double kActionWeights[] = {28, 24, 16, 10, 8, 6, 8};
constexpr size_t kActions = std::size(kActionWeights);

struct Conversation {
  std::string id;
  std::string customer;
  std::string last_shopper_message;
  std::string last_agent_message;
  std::string assignee;
  ConversationStatus status = ConversationStatus::kOpen;
  bool online = true;
  int cart_lines = 0;
};

struct Shop {
  std::string name;
  std::vector<std::string> agents;
  std::mutex mu;  // guards conversations (one action at a time per shop)
  std::vector<Conversation> conversations;
};

// Waits, per partition, until the projector has applied what drivers appended,
// and records append -> projected latency.
class ProjectedWatch {
 public:
  ProjectedWatch(projections::Projector& projector, int32_t partitions, LatencyRecorder& latency)
      : projector_(projector), latency_(latency) {
    for (int32_t p = 0; p < partitions; ++p) parts_.push_back(std::make_unique<Part>());
    for (int32_t p = 0; p < partitions; ++p) threads_.emplace_back([this, p] { Loop(p); });
  }
  ~ProjectedWatch() { Stop(); }

  void Add(int32_t partition, int64_t offset, Clock::time_point appended) {
    Part& part = *parts_[static_cast<size_t>(partition)];
    std::lock_guard lock(part.mu);
    part.pending.push_back({offset, appended});
    part.cv.notify_one();
  }

  // The age of the oldest record not yet seen projected, in ms.
  double OldestPendingMs() const {
    double oldest = 0;
    const auto now = Clock::now();
    for (const auto& part : parts_) {
      std::lock_guard lock(part->mu);
      if (!part->pending.empty())
        oldest = std::max(
            oldest, std::chrono::duration<double, std::milli>(now - part->pending.front().appended)
                        .count());
    }
    return oldest;
  }

  size_t Pending() const {
    size_t n = 0;
    for (const auto& part : parts_) {
      std::lock_guard lock(part->mu);
      n += part->pending.size();
    }
    return n;
  }

  void Stop() {
    stop_ = true;
    for (auto& part : parts_) {
      std::lock_guard lock(part->mu);
      part->cv.notify_all();
    }
    for (std::thread& t : threads_)
      if (t.joinable()) t.join();
  }

 private:
  struct Item {
    int64_t offset;
    Clock::time_point appended;
  };
  struct Part {
    mutable std::mutex mu;
    std::condition_variable cv;
    std::deque<Item> pending;  // guarded by mu, in append order
  };

  void Loop(int32_t partition) {
    Part& part = *parts_[static_cast<size_t>(partition)];
    while (true) {
      int64_t offset = 0;
      {
        std::unique_lock lock(part.mu);
        part.cv.wait(lock, [&] { return stop_ || !part.pending.empty(); });
        if (part.pending.empty()) return;
        offset = part.pending.front().offset;
      }
      if (!projector_.WaitForPosition(partition, offset, 200ms).ok()) {
        if (stop_) return;
        continue;
      }
      const auto now = Clock::now();
      const int64_t applied = projector_.AppliedOffset(partition);
      std::lock_guard lock(part.mu);
      while (!part.pending.empty() && part.pending.front().offset <= applied) {
        latency_.Add(
            std::chrono::duration<double, std::milli>(now - part.pending.front().appended).count(),
            part.pending.front().appended);
        part.pending.pop_front();
      }
    }
  }

  projections::Projector& projector_;
  LatencyRecorder& latency_;
  std::vector<std::unique_ptr<Part>> parts_;
  std::vector<std::thread> threads_;
  std::atomic<bool> stop_{false};
};

// A plain producer standing in for the storefront's backend services.
class StorefrontProducer {
 public:
  StorefrontProducer(const std::string& brokers, std::string topic) : topic_(std::move(topic)) {
    char errstr[512];
    rd_kafka_conf_t* conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "bootstrap.servers", brokers.c_str(), errstr, sizeof(errstr));
    rd_kafka_conf_set(conf, "enable.idempotence", "true", errstr, sizeof(errstr));
    rd_kafka_conf_set(conf, "linger.ms", "2", errstr, sizeof(errstr));
    rd_kafka_conf_set(conf, "log_level", "3", errstr, sizeof(errstr));
    rk_ = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
    if (rk_ == nullptr) std::fprintf(stderr, "storefront producer: %s\n", errstr);
  }
  ~StorefrontProducer() {
    if (rk_ != nullptr) {
      rd_kafka_flush(rk_, 30000);
      rd_kafka_destroy(rk_);
    }
  }
  StorefrontProducer(const StorefrontProducer&) = delete;
  StorefrontProducer& operator=(const StorefrontProducer&) = delete;

  bool Produce(const std::string& key, const std::string& value) {
    if (rk_ == nullptr) return false;
    std::lock_guard lock(mu_);
    for (;;) {
      const rd_kafka_resp_err_t err =
          rd_kafka_producev(rk_, RD_KAFKA_V_TOPIC(topic_.c_str()),
                            RD_KAFKA_V_KEY(const_cast<char*>(key.data()), key.size()),
                            RD_KAFKA_V_VALUE(const_cast<char*>(value.data()), value.size()),
                            RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
      if (err == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
        rd_kafka_poll(rk_, 1);
        continue;
      }
      rd_kafka_poll(rk_, 0);
      if (err != RD_KAFKA_RESP_ERR_NO_ERROR) return false;
      ++produced_;
      return true;
    }
  }
  void Flush() {
    if (rk_ != nullptr) rd_kafka_flush(rk_, 30000);
  }
  int64_t produced() const { return produced_.load(); }

 private:
  const std::string topic_;
  rd_kafka_t* rk_ = nullptr;
  std::mutex mu_;
  std::atomic<int64_t> produced_{0};
};

// A command's meta, field by field (GCC 12 misreads brace-initialised nested
// aggregates of strings as maybe-uninitialised at -O2).
domain::CommandMeta Meta(const std::string& tenant, ActorKind kind, const std::string& id) {
  domain::CommandMeta meta;
  meta.tenant = tenant;
  meta.actor.kind = kind;
  meta.actor.id = id;
  return meta;
}

std::string CartRecord(const std::string& shop, const Conversation& c, int lines, int64_t now_us) {
  nlohmann::json items = nlohmann::json::array();
  int64_t subtotal = 0;
  for (int i = 0; i < lines; ++i) {
    const int64_t price = 1500 + 250 * i;
    items.push_back({{"product_id", "prod-" + std::to_string(i)},
                     {"variant_id", ""},
                     {"name", "Organic cotton tee, size " + std::to_string(36 + i)},
                     {"quantity", 1 + i % 2},
                     {"unit_price_minor", price}});
    subtotal += price * (1 + i % 2);
  }
  nlohmann::json doc = {
      {"event_id", NewEventId()},
      {"type", "cart.updated"},
      {"schema_version", 1},
      {"tenant", shop},
      {"actor_kind", "storefront"},
      {"actor_id", "cart-service"},
      {"occurred_at_us", now_us},
      {"body",
       {{"customer_id", c.customer},
        {"cart_id", "cart-" + c.customer},
        {"change", lines > 0 ? "item_added" : "cleared"},
        {"changed_product_id", lines > 0 ? "prod-" + std::to_string(lines - 1) : ""},
        {"line_items", items},
        {"subtotal_minor", subtotal},
        {"currency", "EUR"}}}};
  return doc.dump();
}

std::string PresenceRecord(const std::string& shop, const Conversation& c, bool online,
                           int64_t now_us) {
  nlohmann::json doc = {{"event_id", NewEventId()},
                        {"type", "presence.changed"},
                        {"schema_version", 1},
                        {"tenant", shop},
                        {"actor_kind", "storefront"},
                        {"actor_id", "presence-service"},
                        {"occurred_at_us", now_us},
                        {"body",
                         {{"customer_id", c.customer},
                          {"presence", online ? "online" : "offline"},
                          {"session_id", "sess-" + c.customer}}}};
  return doc.dump();
}

class LoadGenerator {
 public:
  explicit LoadGenerator(Config config) : config_(std::move(config)) {}

  int Run() {
    const std::string tag =
        std::to_string(::getpid()) + "-" + std::to_string(std::random_device{}());
    dir_ = TempDir("load");
    std::filesystem::create_directories(dir_);
    EventLogOptions options;
    options.partitions = config_.partitions;
    if (config_.kafka) {
      options.kind = EventLogOptions::Kind::kKafka;
      options.kafka_brokers = config_.brokers;
      options.topic = "palaver.loadgen." + tag + ".events";
    } else {
      options.kind = EventLogOptions::Kind::kEmbedded;
      options.embedded_dir = dir_ + "/log";
      options.sync_writes = config_.sync;
    }
    Result<std::unique_ptr<EventLog>> opened = OpenEventLog(options);
    if (!opened.ok()) {
      std::fprintf(stderr, "load_generator: cannot open the log: %s\n",
                   opened.status().ToString().c_str());
      return 1;
    }
    log_ = std::move(opened).value();

    domain::ConversationEngineOptions engine_options;
    engine_options.shop_secret = [](std::string_view) -> std::optional<std::string> {
      return std::string(kSecret);
    };
    engine_options.sole_writer = true;  // the only writer of its log, as palaver serve
    engine_ = std::make_unique<domain::ConversationEngine>(*log_, clock_, engine_options);

    projections::ProjectorOptions projector_options;
    projector_options.db_path = dir_ + "/views";
    Result<std::unique_ptr<projections::Projector>> projector =
        projections::Projector::Open(projector_options, *log_, projections::DefaultProjections());
    if (!projector.ok()) {
      std::fprintf(stderr, "load_generator: projector: %s\n",
                   projector.status().ToString().c_str());
      return 1;
    }
    projector_ = std::move(projector).value();
    projector_->Start();

    if (config_.kafka) {
      storefront_topic_ = "palaver.loadgen." + tag + ".storefront";
      storefront::StorefrontConsumerOptions sf;
      sf.kafka_brokers = config_.brokers;
      sf.group_id = "palaver.loadgen." + tag;
      sf.source_topic = storefront_topic_;
      sf.deadletter_topic = "palaver.loadgen." + tag + ".deadletter";
      sf.partitions = config_.partitions;
      Result<std::unique_ptr<storefront::StorefrontConsumer>> consumer =
          storefront::StorefrontConsumer::Open(*engine_, sf);
      if (!consumer.ok()) {
        std::fprintf(stderr, "load_generator: storefront consumer: %s\n",
                     consumer.status().ToString().c_str());
        return 1;
      }
      consumer_ = std::move(consumer).value();
      consumer_thread_ = std::jthread([this](std::stop_token stop) {
        const Status s = consumer_->Run(stop);
        if (!s.ok()) std::fprintf(stderr, "storefront consumer: %s\n", s.ToString().c_str());
      });
      producer_ = std::make_unique<StorefrontProducer>(config_.brokers, storefront_topic_);
    }

    std::printf(
        "load_generator: %s log, %d partitions, %d shops (zipf %.2f), %d conversations, "
        "%d agents/shop, %d drivers, %.0f s%s\n",
        config_.kafka ? "Kafka" : (config_.sync ? "embedded (sync on)" : "embedded (sync off)"),
        config_.partitions, config_.shops, config_.zipf, config_.conversations, config_.agents,
        config_.threads, config_.seconds,
        config_.rate > 0
            ? (", " + std::to_string(static_cast<int>(config_.rate)) + " commands/s target").c_str()
            : ", closed loop");
    const auto setup_start = Clock::now();
    if (!Setup()) return 1;
    const double setup_s = SecondsSince(setup_start);
    std::printf("setup: %zu conversations in %.1f s\n", TotalConversations(), setup_s);
    if (!WaitProjected(60s)) std::fprintf(stderr, "setup: projections did not catch up\n");

    nlohmann::json report = Measure();
    report["setup_seconds"] = setup_s;
    Replay(report);
    RawLimits(report);
    report["peak_rss_bytes"] = PeakRssBytes();
    std::printf("peak RSS: %.1f MiB (engine, projector, storefront consumer and this driver)\n",
                static_cast<double>(PeakRssBytes()) / (1 << 20));

    producer_.reset();
    consumer_.reset();  // holds a reference to the engine
    projector_.reset();
    engine_.reset();
    log_.reset();
    std::filesystem::remove_all(dir_);
    if (!config_.json_path.empty() && !WriteJson(config_.json_path, report)) {
      std::fprintf(stderr, "cannot write %s\n", config_.json_path.c_str());
      return 1;
    }
    return 0;
  }

 private:
  size_t TotalConversations() const {
    size_t n = 0;
    for (const auto& s : shops_) n += s->conversations.size();
    return n;
  }

  std::vector<double> ShopWeights() const {
    std::vector<double> w;
    for (int i = 0; i < config_.shops; ++i) w.push_back(1.0 / std::pow(i + 1.0, config_.zipf));
    return w;
  }

  // Executes one command; counts it; hands its last position to the watch.
  Result<domain::CommandResult> Exec(const domain::Command& command, Action action) {
    const auto begin = Clock::now();
    Result<domain::CommandResult> r = engine_->Execute(command);
    const auto end = Clock::now();
    if (measuring_) {
      command_latency_->Add(std::chrono::duration<double, std::milli>(end - begin).count(), begin);
      ++commands_[static_cast<size_t>(action)];
    }
    if (!r.ok()) {
      std::lock_guard lock(errors_mu_);
      errors_[std::string(kActionNames[static_cast<size_t>(action)]) + ": " +
              (r.status().reason().empty() ? std::string(CodeName(r.status().code()))
                                           : r.status().reason())]++;
      return r;
    }
    if (!r->events.empty()) {
      const LogPosition& last = r->events.back().position;
      if (measuring_) {
        events_ += static_cast<int64_t>(r->events.size());
        watch_->Add(last.partition, last.offset, end);
      }
    }
    return r;
  }

  bool Setup() {
    const std::vector<double> weights = ShopWeights();
    double total = 0;
    for (double w : weights) total += w;
    for (int i = 0; i < config_.shops; ++i) {
      auto shop = std::make_unique<Shop>();
      shop->name = "shop-" + std::to_string(i);
      for (int a = 0; a < config_.agents; ++a) shop->agents.push_back("agent-" + std::to_string(a));
      const int n =
          std::max(1, static_cast<int>(std::lround(config_.conversations *
                                                   weights[static_cast<size_t>(i)] / total)));
      shop->conversations.resize(static_cast<size_t>(n));
      for (int c = 0; c < n; ++c)
        shop->conversations[static_cast<size_t>(c)].customer = "cust-" + std::to_string(c);
      shops_.push_back(std::move(shop));
    }
    std::atomic<bool> failed{false};
    std::vector<std::thread> threads;
    for (int t = 0; t < config_.threads; ++t) {
      threads.emplace_back([&, t] {
        for (size_t s = static_cast<size_t>(t); s < shops_.size() && !failed;
             s += static_cast<size_t>(config_.threads)) {
          Shop& shop = *shops_[s];
          const domain::CommandMeta system = Meta(shop.name, ActorKind::kSystem, "load-generator");
          AgentsSetting agents;
          for (const std::string& a : shop.agents)
            agents.agents.push_back({a, "Agent " + a, a + "@example.com", {Permission::kChat}, {}});
          Result<domain::CommandResult> r =
              engine_->Execute(domain::UpdateSettings{system, agents});
          if (!r.ok()) {
            std::fprintf(stderr, "setup %s: %s\n", shop.name.c_str(),
                         r.status().ToString().c_str());
            failed = true;
            return;
          }
          for (Conversation& c : shop.conversations) {
            rules::ShopperIdentity id;
            id.shop = shop.name;
            id.customer_id = c.customer;
            id.email = c.customer + "@example.com";
            id.name = "Shopper " + c.customer;
            id.expires_at_unix_seconds = clock_.NowMicros() / 1000000 + 86400;
            const domain::CommandMeta shopper = Meta(shop.name, ActorKind::kShopper, c.customer);
            r = engine_->Execute(
                domain::StartWebChat{shopper, rules::SignShopperIdentity(id, kSecret), "web", ""});
            if (!r.ok()) {
              std::fprintf(stderr, "setup chat: %s\n", r.status().ToString().c_str());
              failed = true;
              return;
            }
            c.id = r->conversation_id;
            r = engine_->Execute(domain::PostShopperMessage{
                shopper, c.id, MessageKind::kText, "Hi! Is the blue tee back in stock? 👕"});
            if (!r.ok()) {
              std::fprintf(stderr, "setup message: %s\n", r.status().ToString().c_str());
              failed = true;
              return;
            }
            c.last_shopper_message = r->created_id;
          }
        }
      });
    }
    for (std::thread& t : threads) t.join();
    return !failed;
  }

  int64_t LogEnd() {
    int64_t total = 0;
    for (int32_t p = 0; p < log_->PartitionCount(); ++p) {
      Result<int64_t> end = log_->EndOffset(p);
      if (end.ok()) total += *end;
    }
    return total;
  }

  // Waits until the projector has applied every record in the log.
  bool WaitProjected(std::chrono::milliseconds timeout) {
    const auto deadline = Clock::now() + timeout;
    for (int32_t p = 0; p < log_->PartitionCount(); ++p) {
      Result<int64_t> end = log_->EndOffset(p);
      if (!end.ok()) return false;
      if (*end == 0) continue;
      const auto left =
          std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
      if (!projector_->WaitForPosition(p, *end - 1, std::max(left, 1ms)).ok()) return false;
    }
    return true;
  }

  void Act(Shop& shop, Conversation& c, Action action, std::mt19937_64& rng) {
    const std::string& agent = shop.agents[rng() % shop.agents.size()];
    const domain::CommandMeta shopper = Meta(shop.name, ActorKind::kShopper, c.customer);
    const domain::CommandMeta by_agent = Meta(shop.name, ActorKind::kAgent, agent);
    switch (action) {
      case Action::kShopperMessage: {
        auto r = Exec(domain::PostShopperMessage{shopper, c.id, MessageKind::kText,
                                                 "Could you check my order? It has not arrived 📦"},
                      action);
        if (r.ok()) {
          if (r->conversation_id != c.id) {  // the closed chat's follow-up
            c.id = r->conversation_id;
            c.assignee.clear();
            c.last_agent_message.clear();
          }
          c.status = ConversationStatus::kOpen;
          c.last_shopper_message = r->created_id;
        }
        return;
      }
      case Action::kAgentReply: {
        if (c.status == ConversationStatus::kClosed)
          return Act(shop, c, Action::kShopperMessage, rng);
        domain::AgentReply reply;
        reply.meta = by_agent;
        reply.conversation_id = c.id;
        reply.kind = MessageKind::kText;
        reply.text = "Thanks for waiting! It left our warehouse this morning 🚚";
        auto r = Exec(reply, action);
        if (r.ok()) {
          c.last_agent_message = r->created_id;
          if (c.assignee.empty()) c.assignee = agent;
        }
        return;
      }
      case Action::kRead: {
        if (rng() % 2 == 0 && !c.last_agent_message.empty()) {
          (void)Exec(domain::MarkRead{shopper, c.id, c.last_agent_message}, action);
        } else if (!c.last_shopper_message.empty()) {
          (void)Exec(domain::MarkRead{by_agent, c.id, c.last_shopper_message}, action);
        }
        return;
      }
      case Action::kCart: {
        c.cart_lines = c.cart_lines >= 3 ? 0 : c.cart_lines + 1;
        Storefront(shop, CartRecord(shop.name, c, c.cart_lines, clock_.NowMicros()), action);
        return;
      }
      case Action::kPresence: {
        c.online = !c.online;
        Storefront(shop, PresenceRecord(shop.name, c, c.online, clock_.NowMicros()), action);
        return;
      }
      case Action::kAssign: {
        if (c.status == ConversationStatus::kClosed)
          return Act(shop, c, Action::kShopperMessage, rng);
        std::string next = agent;
        if (next == c.assignee) next = shop.agents[(rng() % shop.agents.size())];
        if (next == c.assignee) {
          if (Exec(domain::Unassign{by_agent, c.id}, action).ok()) c.assignee.clear();
          return;
        }
        if (Exec(domain::Assign{by_agent, c.id, next}, action).ok()) c.assignee = next;
        return;
      }
      case Action::kStatus: {
        domain::ChangeStatus change;
        change.meta = by_agent;
        change.conversation_id = c.id;
        if (c.status == ConversationStatus::kClosed) {
          return Act(shop, c, Action::kShopperMessage, rng);
        } else if (c.status == ConversationStatus::kSnoozed) {
          change.to = ConversationStatus::kOpen;
        } else if (rng() % 10 < 7) {
          change.to = ConversationStatus::kSnoozed;
          change.snoozed_until_us = clock_.NowMicros() + 3'600'000'000;
        } else {
          change.to = ConversationStatus::kClosed;
          change.reason = StatusChangeReason::kResolved;
        }
        if (Exec(change, action).ok()) c.status = change.to;
        return;
      }
    }
  }

  void Storefront(Shop& shop, const std::string& record, Action action) {
    if (producer_ != nullptr) {
      if (measuring_) ++commands_[static_cast<size_t>(action)];
      if (!producer_->Produce(shop.name, record)) {
        std::lock_guard lock(errors_mu_);
        errors_[std::string(kActionNames[static_cast<size_t>(action)]) + ": produce failed"]++;
      }
      return;
    }
    storefront::MapResult mapped = storefront::MapStorefrontRecord(record, shop.name);
    if (auto* rejection = std::get_if<storefront::Rejection>(&mapped)) {
      std::lock_guard lock(errors_mu_);
      errors_[std::string(kActionNames[static_cast<size_t>(action)]) + ": " + rejection->reason]++;
      return;
    }
    (void)Exec(std::get<storefront::MappedCommand>(mapped).command, action);
  }

  nlohmann::json Measure() {
    const auto start = Clock::now();
    LatencyRecorder projected(start);
    LatencyRecorder command_latency(start);
    command_latency_ = &command_latency;
    ProjectedWatch watch(*projector_, log_->PartitionCount(), projected);
    watch_ = &watch;
    const int64_t log_start = LogEnd();
    const int64_t storefront_start = consumer_ ? consumer_->Stats().events : 0;
    measuring_ = true;

    std::atomic<bool> stop{false};
    nlohmann::json lag = nlohmann::json::array();
    std::thread sampler([&] {
      while (!stop) {
        std::this_thread::sleep_for(200ms);
        int64_t behind = 0;
        for (int32_t p = 0; p < log_->PartitionCount(); ++p) {
          Result<int64_t> end = log_->EndOffset(p);
          if (end.ok()) behind += std::max<int64_t>(0, *end - 1 - projector_->AppliedOffset(p));
        }
        lag.push_back({{"t", SecondsSince(start)},
                       {"events_behind", behind},
                       {"oldest_unprojected_ms", watch.OldestPendingMs()},
                       {"events", events_.load()}});
      }
    });

    const std::vector<double> weights = ShopWeights();
    std::vector<std::thread> drivers;
    const auto end = start + std::chrono::duration<double>(config_.seconds);
    for (int t = 0; t < config_.threads; ++t) {
      drivers.emplace_back([&, t] {
        std::mt19937_64 rng(1000 + static_cast<uint64_t>(t));
        std::discrete_distribution<size_t> pick_shop(weights.begin(), weights.end());
        std::discrete_distribution<size_t> pick_action(std::begin(kActionWeights),
                                                       std::end(kActionWeights));
        const double per_driver = config_.rate / config_.threads;
        for (int64_t i = 0;; ++i) {
          if (per_driver > 0) {
            const auto due = start + std::chrono::duration_cast<Clock::duration>(
                                         std::chrono::duration<double>(i / per_driver));
            if (due >= end) break;
            std::this_thread::sleep_until(due);
          } else if (Clock::now() >= end) {
            break;
          }
          Shop& shop = *shops_[pick_shop(rng)];
          std::lock_guard lock(shop.mu);
          Conversation& c = shop.conversations[rng() % shop.conversations.size()];
          Act(shop, c, static_cast<Action>(pick_action(rng)), rng);
        }
      });
    }
    for (std::thread& d : drivers) d.join();
    const double window = SecondsSince(start);
    measuring_ = false;

    // Drain: the storefront consumer takes what was produced, the projector
    // catches up; both count towards the time the run took to settle.
    const auto drain_start = Clock::now();
    if (producer_ != nullptr) {
      producer_->Flush();
      const auto deadline = Clock::now() + 120s;
      while (consumer_->Stats().records < producer_->produced() && Clock::now() < deadline)
        std::this_thread::sleep_for(20ms);
    }
    const bool drained = WaitProjected(120s);
    const double drain_s = SecondsSince(drain_start);
    stop = true;
    sampler.join();
    watch.Stop();
    watch_ = nullptr;
    command_latency_ = nullptr;

    const int64_t log_events = LogEnd() - log_start;
    const int64_t storefront_events = consumer_ ? consumer_->Stats().events - storefront_start : 0;
    if (consumer_ != nullptr) {
      const storefront::StorefrontConsumerStats stats = consumer_->Stats();
      consumer_thread_.request_stop();
      consumer_->Stop();
      consumer_thread_.join();
      if (stats.dead_letters > 0) {
        std::lock_guard lock(errors_mu_);
        errors_["storefront: dead letters"] += stats.dead_letters;
      }
    }
    projector_->Stop();

    int64_t total_commands = 0;
    nlohmann::json mix = nlohmann::json::object();
    for (size_t a = 0; a < kActions; ++a) {
      mix[kActionNames[a]] = commands_[a].load();
      total_commands += commands_[a].load();
    }
    const Percentiles p = projected.Summary();
    const Percentiles cl = command_latency.Summary();
    const double events_per_s = static_cast<double>(log_events) / window;
    std::printf(
        "\nmeasured %.1f s: %lld commands (%.0f/s), %lld events appended (%.0f events/s)%s\n",
        window, static_cast<long long>(total_commands),
        static_cast<double>(total_commands) / window, static_cast<long long>(log_events),
        events_per_s,
        consumer_
            ? (", " + std::to_string(storefront_events) + " of them through the storefront topic")
                  .c_str()
            : "");
    std::printf("command latency (Execute):       p50 %7.2f ms  p95 %7.2f  p99 %7.2f  max %8.2f\n",
                cl.p50, cl.p95, cl.p99, cl.max);
    std::printf(
        "append -> projected latency:     p50 %7.2f ms  p95 %7.2f  p99 %7.2f  max %8.2f"
        "  (%zu samples)\n",
        p.p50, p.p95, p.p99, p.max, p.count);
    std::printf("drain after load: %.2f s%s\n", drain_s,
                drained ? "" : " (projections did NOT catch up)");
    nlohmann::json errors = nlohmann::json::object();
    {
      std::lock_guard lock(errors_mu_);
      for (const auto& [k, v] : errors_) {
        errors[k] = v;
        std::printf("  refused/failed %-40s %lld\n", k.c_str(), static_cast<long long>(v));
      }
    }
    double max_lag = 0;
    for (const auto& s : lag) max_lag = std::max(max_lag, s["events_behind"].get<double>());
    std::printf("projection lag: max %.0f events behind\n", max_lag);

    return {{"mode", config_.kafka ? "kafka" : "embedded"},
            {"config",
             {{"log", config_.kafka ? "kafka" : "embedded"},
              {"sync_writes", config_.kafka ? true : config_.sync},
              {"shops", config_.shops},
              {"conversations", TotalConversations()},
              {"agents_per_shop", config_.agents},
              {"drivers", config_.threads},
              {"seconds", config_.seconds},
              {"rate_target", config_.rate},
              {"zipf", config_.zipf},
              {"partitions", log_->PartitionCount()}}},
            {"window_seconds", window},
            {"commands", total_commands},
            {"commands_per_second", static_cast<double>(total_commands) / window},
            {"events", log_events},
            {"events_per_second", events_per_s},
            {"storefront_events", storefront_events},
            {"mix", mix},
            {"command_latency_ms", cl.ToJson()},
            {"projected_latency_ms", p.ToJson()},
            {"projected_latency_series", projected.Series(0.5)},
            {"lag_series", lag},
            {"max_lag_events", max_lag},
            {"drain_seconds", drain_s},
            {"drained", drained},
            {"errors", errors}};
  }

  // Rebuilds every view from offset zero in a fresh database, beside a raw
  // read of the same log; keeps the records for the raw limits.
  void Replay(nlohmann::json& report) {
    const auto read_start = Clock::now();
    records_.clear();
    for (int32_t p = 0; p < log_->PartitionCount(); ++p) {
      Result<int64_t> end = log_->EndOffset(p);
      Result<std::unique_ptr<LogReader>> reader = log_->OpenReader(p, 0);
      if (!end.ok() || !reader.ok()) continue;
      while ((*reader)->Position() < *end) {
        Result<std::vector<LogRecord>> batch = (*reader)->Next(1000, 5s);
        if (!batch.ok() || batch->empty()) break;
        for (LogRecord& r : *batch) records_.push_back(std::move(r));
      }
    }
    const double read_s = SecondsSince(read_start);
    const double read_rate = static_cast<double>(records_.size()) / read_s;

    projections::ProjectorOptions options;
    options.db_path = dir_ + "/replay";
    Result<std::unique_ptr<projections::Projector>> replay =
        projections::Projector::Open(options, *log_, projections::DefaultProjections());
    double replay_rate = 0;
    double replay_s = 0;
    if (replay.ok()) {
      const auto start = Clock::now();
      const Status s = (*replay)->CatchUp(std::chrono::minutes(10));
      replay_s = SecondsSince(start);
      if (s.ok())
        replay_rate = static_cast<double>(records_.size()) / replay_s;
      else
        std::fprintf(stderr, "replay: %s\n", s.ToString().c_str());
    }
    std::printf(
        "replay: %zu events in %.2f s = %.0f events/s; raw log read %.0f events/s; "
        "ratio %.2f\n",
        records_.size(), replay_s, replay_rate, read_rate,
        read_rate > 0 ? replay_rate / read_rate : 0);
    report["replay"] = {{"events", records_.size()},
                        {"seconds", replay_s},
                        {"events_per_second", replay_rate},
                        {"raw_log_read_per_second", read_rate},
                        {"ratio", read_rate > 0 ? replay_rate / read_rate : 0}};
  }

  void RawLimits(nlohmann::json& report) {
    const double events_per_s = report["events_per_second"].get<double>();
    if (config_.kafka) {
      // The run's own records, cycled to at least kMinRawRecords so the
      // clients' start-up does not dominate the rate.
      std::vector<KeyedRecord> records;
      for (size_t i = 0; !records_.empty() && (i < records_.size() || i < kMinRawRecords); ++i)
        records.push_back({records_[i % records_.size()].key, records_[i % records_.size()].value});
      const std::string topic = "palaver.loadgen.raw." + std::to_string(::getpid()) + "." +
                                std::to_string(std::random_device{}());
      const std::string created = CreateTopic(config_.brokers, topic, config_.partitions);
      if (!created.empty()) {
        std::fprintf(stderr, "raw topic: %s\n", created.c_str());
        return;
      }
      const RawRate produce = RawProduce(config_.brokers, topic, records);
      const RawRate consume =
          RawConsume(config_.brokers, topic, config_.partitions, records.size());
      std::printf(
          "raw librdkafka produce of the same records (%zu, cycled; idempotent, acks=all): %.0f/s"
          "  -> palaver end-to-end / raw produce = %.3f\n",
          records.size(), produce.per_second(),
          produce.per_second() > 0 ? events_per_s / produce.per_second() : 0);
      std::printf("raw librdkafka consume of them: %.0f/s\n", consume.per_second());
      report["raw"] = {{"kafka_produce", produce.ToJson()}, {"kafka_consume", consume.ToJson()}};
      report["ratio_to_raw"] = produce.per_second() > 0 ? events_per_s / produce.per_second() : 0.0;
      report["raw_limit_name"] = "librdkafka produce (idempotent, acks=all)";
    } else {
      std::vector<std::string> values;
      for (size_t i = 0; !records_.empty() && (i < records_.size() || i < kMinRawRecords); ++i)
        values.push_back(records_[i % records_.size()].value);
      const double per_command =
          report["commands"].get<double>() > 0
              ? report["events"].get<double>() / report["commands"].get<double>()
              : 1.0;
      const size_t batch = std::max<size_t>(1, static_cast<size_t>(std::lround(per_command)));
      // Two raw figures: the same shape as palaver's appends (a WriteBatch of
      // the average events per command, as many writers), and the durable
      // write ceiling of these frames (WriteBatch(100), one writer). The
      // ratio is to the ceiling.
      const RawRate same =
          RawRocksDbWrite(dir_ + "/raw-same", values, batch, config_.sync, config_.threads, 3.0);
      const RawRate ceiling = RawRocksDbWrite(dir_ + "/raw-100", values, 100, config_.sync, 1, 3.0);
      std::printf(
          "raw RocksDB WriteBatch(%zu) of the same frames from %d writers (sync %s): "
          "%.0f/s\n",
          batch, config_.threads, config_.sync ? "on" : "off", same.per_second());
      std::printf(
          "raw RocksDB WriteBatch(100) of the same frames, 1 writer (sync %s): %.0f/s"
          "  -> palaver end-to-end / raw = %.3f\n",
          config_.sync ? "on" : "off", ceiling.per_second(),
          ceiling.per_second() > 0 ? events_per_s / ceiling.per_second() : 0);
      report["raw"] = {{"rocksdb_writebatch", ceiling.ToJson()},
                       {"rocksdb_same_shape", same.ToJson()},
                       {"same_shape_batch", batch},
                       {"same_shape_writers", config_.threads}};
      report["ratio_to_raw"] = ceiling.per_second() > 0 ? events_per_s / ceiling.per_second() : 0.0;
      report["raw_limit_name"] = std::string("RocksDB WriteBatch(100) of the same frames, sync ") +
                                 (config_.sync ? "on" : "off");
    }
  }

  const Config config_;
  rules::SystemClock clock_;
  std::string dir_;
  std::unique_ptr<EventLog> log_;
  std::unique_ptr<domain::ConversationEngine> engine_;
  std::unique_ptr<projections::Projector> projector_;
  std::string storefront_topic_;
  std::unique_ptr<storefront::StorefrontConsumer> consumer_;
  std::jthread consumer_thread_;
  std::unique_ptr<StorefrontProducer> producer_;
  std::vector<std::unique_ptr<Shop>> shops_;

  std::atomic<bool> measuring_{false};
  ProjectedWatch* watch_ = nullptr;             // set during Measure
  LatencyRecorder* command_latency_ = nullptr;  // set during Measure
  std::atomic<int64_t> events_{0};
  std::atomic<int64_t> commands_[kActions] = {};
  std::mutex errors_mu_;
  std::map<std::string, int64_t> errors_;  // guarded by errors_mu_
  std::vector<LogRecord> records_;
};

constexpr char kUsage[] = R"(usage: load_generator [options]
       load_generator --http URL --shop S --token T --secret X [options]
Plays shops, shoppers and agents against palaver's engine and projector
in-process, on the embedded log or a real Kafka broker, and reports what a
support team would feel: events/s, command latency, append -> projected
latency, lag, replay and peak RSS, beside the raw limits of the same run.

  --log embedded|kafka  the event log (embedded)
  --brokers B           Kafka bootstrap brokers (PALAVER_KAFKA_BROKERS)
  --shops N             shops, Zipf-sized (20)
  --conversations N     conversations over all shops (400)
  --agents N            agents per shop (3)
  --seconds S           measured time (10)
  --threads N           drivers (4)
  --rate R              commands/s over all drivers, 0 = as fast as they go (0)
  --zipf S              Zipf exponent of shop sizes and picks (1.1)
  --partitions N        partitions of the log (8)
  --sync on|off         the embedded log's fsync per append (on)
  --json FILE           also write the figures as JSON

With --http, against a running `palaver serve` (benchmarks/http_load.h):
  --http URL            e.g. http://127.0.0.1:8080
  --shop S --token T --secret X
                        a shop, an admin API token of it, its identity secret
  --agent A             the token's agent id (ann)
  --server-pid PID      read palaver's peak RSS from /proc
  --conversations, --rate, --seconds, --threads, --json as above
                        (--rate and --threads default there to 1000
                        messages/s from 8 senders)
)";

}  // namespace
}  // namespace palaver::bench

int main(int argc, char** argv) {
  using palaver::bench::Config;
  Config config;
  palaver::bench::HttpLoadConfig http;
  double rate = -1;  // not given: each mode has its own default
  int threads = 0;   // not given
  if (const char* b = std::getenv("PALAVER_KAFKA_BROKERS")) config.brokers = b;
  palaver::bench::Flags(palaver::bench::kUsage)
      .Option("--log", "embedded or kafka",
              [&](const std::string& v) {
                config.kafka = v == "kafka";
                return v == "embedded" || v == "kafka";
              })
      .Option("--brokers", &config.brokers)
      .Option("--shops", &config.shops, 1)
      .Option("--conversations", &config.conversations, 1)
      .Option("--agents", &config.agents, 1)
      .Option("--seconds", &config.seconds, 0.1)
      .Option("--threads", &threads, 1)
      .Option("--rate", &rate, 0)
      .Option("--zipf", &config.zipf, 0)
      .Option("--partitions", &config.partitions, 1)
      .Option("--sync", "on or off",
              [&](const std::string& v) {
                config.sync = v == "on";
                return v == "on" || v == "off";
              })
      .Option("--json", &config.json_path)
      .Option("--http", &http.url)
      .Option("--shop", &http.shop)
      .Option("--token", &http.token)
      .Option("--secret", &http.secret)
      .Option("--agent", &http.agent)
      .Option("--server-pid", &http.server_pid, 1)
      .Parse(argc, argv);
  if (rate >= 0) config.rate = rate;
  if (threads > 0) config.threads = threads;
  if (!http.url.empty()) {
    if (http.shop.empty() || http.token.empty() || http.secret.empty()) {
      std::fprintf(stderr, "load_generator: --http needs --shop, --token and --secret\n");
      return 2;
    }
    http.conversations = config.conversations;
    http.seconds = config.seconds;
    if (rate >= 0) http.rate = rate;
    if (threads > 0) http.threads = threads;
    http.json_path = config.json_path;
    return palaver::bench::RunHttpLoad(http);
  }
  if (config.kafka && config.brokers.empty()) {
    std::fprintf(stderr, "load_generator: --log kafka needs --brokers or PALAVER_KAFKA_BROKERS\n");
    return 2;
  }
  spdlog::set_level(spdlog::level::warn);
  palaver::bench::LoadGenerator generator(std::move(config));
  return generator.Run();
}
