// The resume scenario shared by the embedded and the Kafka suites: clients
// (WebSocket and SSE, agents and shoppers) stream while events of several
// shops are appended, are cut at random moments (seeded), reconnect with the
// last position they saw, and must end with exactly the items they are
// entitled to: complete, in order, without duplicates, and nothing else.
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <set>
#include <thread>

#include <gtest/gtest.h>

#include "schemas/codec.h"
#include "tests/connectors/live/live_test_util.h"

namespace palaver::live::testing {

namespace {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

struct ClientSpec {
  std::string name;
  bool websocket = true;
  StreamScope scope;
  std::string path;
  Headers headers;
  bool from_start = false;  // first connect with ?after=-1, else at the live end
};

struct ClientRun {
  std::vector<nlohmann::json> items;
  int64_t start_after = -2;
  int connections = 0;
  int ended_by_server = 0;
  std::string error;
};

void RunClient(uint16_t port, const ClientSpec& spec, uint64_t seed,
               const std::atomic<int64_t>& goal, const std::atomic<bool>& goal_known,
               std::atomic<int>& ready, ClientRun& run) {
  std::mt19937_64 rng(seed);
  std::optional<int64_t> last;
  if (spec.from_start) last = -1;
  bool first = true;
  const auto deadline = Clock::now() + 300s;
  while (Clock::now() < deadline) {
    std::string target = spec.path;
    Headers headers = spec.headers;
    if (last) {
      // SSE clients resume as browsers do half of the time: the original URL
      // plus Last-Event-ID, which must win.
      if (!spec.websocket && !first && rng() % 2 == 0) {
        headers["Last-Event-ID"] = std::to_string(*last);
        if (spec.from_start) target += "?after=-1";
      } else {
        target += "?after=" + std::to_string(*last);
      }
    }
    auto opened =
        spec.websocket ? OpenWebSocket(port, target, headers) : OpenSse(port, target, headers);
    if (auto* refusal = std::get_if<Refusal>(&opened)) {
      run.error =
          "refused with " + std::to_string(refusal->status) + ": " + refusal->problem.dump();
      return;
    }
    auto client = std::move(std::get<std::unique_ptr<StreamClient>>(opened));
    ++run.connections;
    int budget = static_cast<int>(rng() % 150) + 1;  // items before this connection is cut
    while (Clock::now() < deadline) {
      StreamMessage message = client->Next(200ms);
      if (message.kind == StreamMessage::Kind::kReady) {
        if (first) {
          run.start_after = message.position;
          last = message.position;
          first = false;
          ++ready;
        } else if (message.position != *last) {
          run.error = "resumed after " + std::to_string(message.position) + ", asked " +
                      std::to_string(*last);
          return;
        }
        continue;
      }
      if (message.kind == StreamMessage::Kind::kItem) {
        last = message.position;
        run.items.push_back(std::move(message.body));
        if (goal_known && *last >= goal) return;
        if (--budget == 0) {
          client->Cut();
          break;
        }
        continue;
      }
      if (message.kind == StreamMessage::Kind::kEnd) {
        ++run.ended_by_server;  // e.g. a slow-consumer close: resume like any cut
        break;
      }
      if (goal_known && last && *last >= goal) return;  // timeout with nothing left to get
    }
    // Sometimes come back at once (resume from the ring), sometimes after the
    // ring moved on (catch up from the log).
    if (rng() % 3 == 0) std::this_thread::sleep_for(std::chrono::milliseconds(rng() % 50));
  }
  run.error = "did not reach its last position before the deadline";
}

Event RandomEvent(std::mt19937_64& rng, const std::vector<std::string>& shops) {
  const std::string& shop = shops[rng() % shops.size()];
  const int c = static_cast<int>(rng() % 3) + 1;
  const std::string conversation = "c" + std::to_string(c);
  const std::string customer = "u" + std::to_string(c);
  const std::string text(10 + rng() % 1500, static_cast<char>('a' + rng() % 26));
  const ConversationStatus statuses[] = {ConversationStatus::kOpen, ConversationStatus::kSnoozed,
                                         ConversationStatus::kClosed};
  switch (rng() % 10) {
    case 0:
    case 1:
    case 2:
      return Message(shop, conversation, customer, ActorKind::kShopper, text);
    case 3:
      return Message(shop, conversation, customer, ActorKind::kAgent, text);
    case 4:
      return Note(shop, conversation, customer, "note " + text);
    case 5:
      return Read(shop, conversation, rng() % 2 ? ActorKind::kAgent : ActorKind::kShopper);
    case 6: {
      ConversationStatus from = statuses[rng() % 3];
      ConversationStatus to = statuses[rng() % 3];
      if (from == to)
        to = from == ConversationStatus::kClosed ? ConversationStatus::kOpen
                                                 : ConversationStatus::kClosed;
      return StatusChange(shop, conversation, from, to);
    }
    case 7:
      return Assigned(shop, conversation, "agent-" + std::to_string(rng() % 3));
    case 8:
      return Cart(shop, conversation, customer);
    default:
      return Started(shop, conversation, customer);
  }
}

}  // namespace

void RunResumeScenario(EventLog& log, uint64_t seed, int events) {
  std::printf("resume scenario seed=%llu events=%d\n", static_cast<unsigned long long>(seed),
              events);
  std::fflush(stdout);
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::mt19937_64 rng(seed);

  auto [shop_a, shop_b] = ShopsSharingAPartition(log, "resume");
  const std::string shop_c = "resume-c";
  const std::vector<std::string> shops = {shop_a, shop_b, shop_c};

  // History before anyone connects, so from-the-start clients catch up from the log.
  for (int i = 0; i < 200; ++i) AppendEvent(log, RandomEvent(rng, shops));

  LiveOptions options;
  options.ring_items = 64;  // small: many resumes must read the log
  options.catch_up_batch = 40;
  options.client_queue_bytes = 256 * 1024;
  LiveServer server(log, options);

  auto agent = [&](const std::string& name, const std::string& shop, bool ws, bool from_start) {
    ClientSpec spec{
        name, ws, {shop, Viewer::kAgent, "", ""}, AgentPath(shop), AgentHeaders(shop), from_start};
    return spec;
  };
  auto shopper = [&](const std::string& name, const std::string& shop, int c, bool ws,
                     bool from_start) {
    const std::string conversation = "c" + std::to_string(c);
    const std::string customer = "u" + std::to_string(c);
    ClientSpec spec{name,
                    ws,
                    {shop, Viewer::kShopper, conversation, customer},
                    ShopperPath(shop, conversation),
                    ShopperHeaders(shop, customer, conversation),
                    from_start};
    return spec;
  };
  const std::vector<ClientSpec> specs = {
      agent("agent-a-ws", shop_a, true, true),
      agent("agent-a-sse", shop_a, false, false),
      agent("agent-b-ws", shop_b, true, false),
      agent("agent-c-sse", shop_c, false, true),
      shopper("shopper-a1-ws", shop_a, 1, true, true),
      shopper("shopper-a2-sse", shop_a, 2, false, false),
      shopper("shopper-b1-ws", shop_b, 1, true, false),
      shopper("shopper-c3-sse", shop_c, 3, false, true),
  };

  std::vector<ClientRun> runs(specs.size());
  std::vector<std::atomic<int64_t>> goals(specs.size());
  std::atomic<bool> goal_known{false};
  std::atomic<int> ready{0};
  std::vector<std::thread> threads;
  for (size_t i = 0; i < specs.size(); ++i) {
    threads.emplace_back([&, i, client_seed = rng()] {
      RunClient(server.port(), specs[i], client_seed, goals[i], goal_known, ready, runs[i]);
    });
  }
  const auto ready_deadline = Clock::now() + 60s;
  while (ready < static_cast<int>(specs.size()) && Clock::now() < ready_deadline) {
    std::this_thread::sleep_for(5ms);
  }
  ASSERT_EQ(ready.load(), static_cast<int>(specs.size())) << "clients did not connect";

  // Appends while the clients stream: single events and bursts.
  for (int appended = 0; appended < events;) {
    const int burst = rng() % 4 == 0 ? static_cast<int>(rng() % 40) + 1 : 1;
    std::vector<std::string> frames;
    for (int i = 0; i < burst && appended < events; ++i, ++appended) {
      auto frame = EncodeEvent(RandomEvent(rng, shops));
      ASSERT_TRUE(frame.ok()) << frame.status().ToString();
      frames.push_back(std::move(*frame));
    }
    auto appended_positions = log.AppendBatch(std::move(frames));
    ASSERT_TRUE(appended_positions.ok()) << appended_positions.status().ToString();
  }

  // What each client is entitled to, from a direct read of the log filtered the same way.
  std::vector<std::vector<std::pair<int64_t, nlohmann::json>>> expected(specs.size());
  for (size_t i = 0; i < specs.size(); ++i) {
    const int32_t partition = log.PartitionFor(specs[i].scope.tenant);
    for (auto& [position, event] : ReadPartition(log, partition, runs[i].start_after + 1)) {
      if (auto view = ViewFor(specs[i].scope, event)) expected[i].emplace_back(position, *view);
    }
    goals[i] = expected[i].empty() ? runs[i].start_after : expected[i].back().first;
  }
  goal_known = true;
  for (auto& thread : threads) thread.join();

  int connections = 0;
  for (size_t i = 0; i < specs.size(); ++i) {
    SCOPED_TRACE(specs[i].name);
    const ClientRun& run = runs[i];
    connections += run.connections;
    EXPECT_EQ(run.error, "");
    EXPECT_FALSE(expected[i].empty()) << "the scenario gave this client nothing to check";
    const int32_t partition = log.PartitionFor(specs[i].scope.tenant);
    // Nothing it is not entitled to, checked independently of ViewFor.
    for (const nlohmann::json& item : run.items) {
      const nlohmann::json& event = item.at("event");
      EXPECT_EQ(item.at("partition").get<int32_t>(), partition);
      EXPECT_EQ(event.at("tenant"), specs[i].scope.tenant) << item.dump();
      if (specs[i].scope.viewer == Viewer::kShopper) {
        EXPECT_EQ(event.at("conversation_id"), specs[i].scope.conversation_id) << item.dump();
        const std::string type = event.at("type");
        EXPECT_TRUE(type == "message.posted" || type == "messages.read" ||
                    type == "conversation.status_changed" || type == "conversation.started")
            << type;
        EXPECT_FALSE(event.at("body").contains("macro_id")) << item.dump();
        EXPECT_FALSE(event.contains("correlation_id")) << item.dump();
      }
    }
    // Complete, ordered, no duplicates, and equal to the log's view.
    ASSERT_EQ(run.items.size(), expected[i].size())
        << "received " << run.items.size() << " items, entitled to " << expected[i].size()
        << " over " << run.connections << " connections";
    for (size_t k = 0; k < run.items.size(); ++k) {
      ASSERT_EQ(run.items[k].at("position").get<int64_t>(), expected[i][k].first) << "item " << k;
      ASSERT_EQ(run.items[k].at("event"), expected[i][k].second) << "item " << k;
    }
  }
  EXPECT_GT(connections, static_cast<int>(specs.size())) << "no client was ever cut";
  LiveStats stats = server.live().Stats();
  std::printf("resume scenario: %d connections, %llu items pushed, %zu tailers\n", connections,
              static_cast<unsigned long long>(stats.items_pushed), stats.tailers);
  server.Stop();
}

uint64_t TestSeed() {
  if (const char* seed = std::getenv("PALAVER_TEST_SEED")) return std::stoull(seed);
  return std::random_device()();
}

void RunIsolationScenario(EventLog& log) {
  auto [shop_a, shop_b] = ShopsSharingAPartition(log, "isolation");
  ASSERT_EQ(log.PartitionFor(shop_a), log.PartitionFor(shop_b));
  LiveServer server(log);

  auto open = [&](bool ws, const std::string& path, const Headers& headers) {
    auto opened =
        ws ? OpenWebSocket(server.port(), path, headers) : OpenSse(server.port(), path, headers);
    EXPECT_TRUE(std::holds_alternative<std::unique_ptr<StreamClient>>(opened));
    auto client = std::move(std::get<std::unique_ptr<StreamClient>>(opened));
    StreamMessage ready = client->Next(30s);
    EXPECT_EQ(ready.kind, StreamMessage::Kind::kReady);
    return client;
  };
  auto agent_a = open(true, AgentPath(shop_a), AgentHeaders(shop_a));
  auto agent_b = open(false, AgentPath(shop_b), AgentHeaders(shop_b));
  auto shopper_a1 = open(true, ShopperPath(shop_a, "c1"), ShopperHeaders(shop_a, "u1", "c1"));

  // An agent of A asking for B's stream learns nothing about B: 404, as for a shop that does not
  // exist.
  for (bool ws : {true, false}) {
    auto refused = ws ? OpenWebSocket(server.port(), AgentPath(shop_b), AgentHeaders(shop_a))
                      : OpenSse(server.port(), AgentPath(shop_b), AgentHeaders(shop_a));
    ASSERT_TRUE(std::holds_alternative<Refusal>(refused));
    EXPECT_EQ(std::get<Refusal>(refused).status, 404);
  }

  std::set<int64_t> a_positions;
  std::set<int64_t> b_positions;
  std::set<int64_t> a1_positions;
  for (int i = 0; i < 30; ++i) {
    const bool to_a = i % 2 == 0;
    const std::string& shop = to_a ? shop_a : shop_b;
    const std::string conversation = i % 3 == 0 ? "c1" : "c2";
    const std::string customer = i % 3 == 0 ? "u1" : "u2";
    Event event = i % 5 == 0 ? Note(shop, conversation, customer, "secret " + std::to_string(i))
                             : Message(shop, conversation, customer, ActorKind::kShopper,
                                       "hello " + std::to_string(i));
    int64_t position = AppendEvent(log, event);
    (to_a ? a_positions : b_positions).insert(position);
    if (to_a && conversation == "c1" && i % 5 != 0) a1_positions.insert(position);
  }
  auto drain = [](StreamClient& client, size_t count, const std::string& shop) {
    std::set<int64_t> positions;
    while (positions.size() < count) {
      StreamMessage message = client.Next(30s);
      if (message.kind != StreamMessage::Kind::kItem) break;
      EXPECT_EQ(message.body["event"]["tenant"], shop) << message.body.dump();
      EXPECT_TRUE(positions.insert(message.position).second) << "duplicate " << message.position;
    }
    return positions;
  };
  EXPECT_EQ(drain(*agent_a, a_positions.size(), shop_a), a_positions);
  EXPECT_EQ(drain(*agent_b, b_positions.size(), shop_b), b_positions);
  EXPECT_EQ(drain(*shopper_a1, a1_positions.size(), shop_a), a1_positions);

  // Nothing else is waiting for anyone: after one event of B and then one of
  // A, each agent's next item is its own shop's.
  const int64_t last_b = AppendEvent(log, Message(shop_b, "c1", "u1", ActorKind::kAgent, "only B"));
  const int64_t last_a = AppendEvent(log, Message(shop_a, "c1", "u1", ActorKind::kAgent, "only A"));
  EXPECT_EQ(agent_b->Next(30s).position, last_b);
  EXPECT_EQ(agent_a->Next(30s).position, last_a);
  EXPECT_EQ(shopper_a1->Next(30s).position, last_a);
  agent_a.reset();
  agent_b.reset();
  shopper_a1.reset();
  server.Stop();
}

}  // namespace palaver::live::testing
