// LiveStreams on the embedded log, over real WebSocket and SSE connections on
// loopback: resume after random cuts, isolation between shops, refusals,
// slow consumers, shutdown, and the stream count.
#include "connectors/live/live_streams.h"

#include <chrono>
#include <thread>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/connectors/live/live_test_util.h"
#include "tests/engine/event_log_test_util.h"

namespace palaver::live::testing {
namespace {

using namespace std::chrono_literals;
using ::testing::HasSubstr;

std::unique_ptr<EventLog> OpenEmbedded(const palaver::testing::TempDir& dir,
                                       int32_t partitions = 2) {
  EventLogOptions options;
  options.kind = EventLogOptions::Kind::kEmbedded;
  options.partitions = partitions;
  options.embedded_dir = dir.path() + "/log";
  options.sync_writes = false;
  auto log = OpenEventLog(options);
  EXPECT_TRUE(log.ok()) << log.status().ToString();
  return std::move(*log);
}

std::unique_ptr<StreamClient> MustOpen(bool websocket, uint16_t port, const std::string& target,
                                       const Headers& headers, ClientOptions options = {}) {
  auto opened = websocket ? OpenWebSocket(port, target, headers, options)
                          : OpenSse(port, target, headers, options);
  if (auto* refusal = std::get_if<Refusal>(&opened)) {
    ADD_FAILURE() << "refused with " << refusal->status << ": " << refusal->problem.dump();
    return nullptr;
  }
  return std::move(std::get<std::unique_ptr<StreamClient>>(opened));
}

Refusal MustRefuse(bool websocket, uint16_t port, const std::string& target,
                   const Headers& headers) {
  auto opened = websocket ? OpenWebSocket(port, target, headers) : OpenSse(port, target, headers);
  if (!std::holds_alternative<Refusal>(opened)) {
    ADD_FAILURE() << target << " was accepted";
    return {};
  }
  return std::get<Refusal>(opened);
}

TEST(LiveStreamsTest, ResumeAfterRandomCutsIsCompleteOrderedAndWithoutDuplicates) {
  palaver::testing::TempDir dir;
  auto log = OpenEmbedded(dir);
  RunResumeScenario(*log, TestSeed(), 3000);
}

TEST(LiveStreamsTest, AnAgentReceivesNothingOfAnotherShop) {
  palaver::testing::TempDir dir;
  auto log = OpenEmbedded(dir);
  RunIsolationScenario(*log);
}

TEST(LiveStreamsTest, ShopperSeesRepliesReceiptsAndStatusButNoNotesOrAgentFields) {
  palaver::testing::TempDir dir;
  auto log = OpenEmbedded(dir);
  LiveServer server(*log);
  for (bool ws : {true, false}) {
    SCOPED_TRACE(ws ? "websocket" : "sse");
    auto shopper = MustOpen(ws, server.port(), ShopperPath("shop-1", "c1") + "?after=-1",
                            ShopperHeaders("shop-1", "u1", "c1"));
    ASSERT_NE(shopper, nullptr);
    ASSERT_EQ(shopper->Next(30s).kind, StreamMessage::Kind::kReady);
    if (ws) {
      AppendEvent(*log, Started("shop-1", "c1", "u1"));
      AppendEvent(*log, Note("shop-1", "c1", "u1", "VIP, be nice"));
      AppendEvent(*log, Assigned("shop-1", "c1", "agent-7"));
      AppendEvent(*log, Cart("shop-1", "c1", "u1"));
      AppendEvent(*log, Message("shop-1", "c2", "u2", ActorKind::kShopper, "someone else"));
      AppendEvent(*log, StatusChange("shop-1", "c1", ConversationStatus::kOpen,
                                     ConversationStatus::kSnoozed));
      AppendEvent(*log, Message("shop-1", "c1", "u1", ActorKind::kAgent, "Hi, how can I help?"));
      AppendEvent(*log, Read("shop-1", "c1", ActorKind::kAgent));
      AppendEvent(*log, StatusChange("shop-1", "c1", ConversationStatus::kSnoozed,
                                     ConversationStatus::kClosed));
    }
    std::vector<nlohmann::json> events;
    while (events.size() < 4) {
      StreamMessage message = shopper->Next(30s);
      ASSERT_EQ(message.kind, StreamMessage::Kind::kItem);
      events.push_back(message.body["event"]);
    }
    EXPECT_EQ(events[0]["type"], "conversation.started");
    EXPECT_EQ(events[1]["type"], "message.posted");
    EXPECT_EQ(events[1]["body"]["personal"]["text"], "Hi, how can I help?");
    EXPECT_FALSE(events[1]["body"].contains("macro_id"));
    EXPECT_FALSE(events[1].contains("correlation_id"));
    EXPECT_EQ(events[2]["type"], "messages.read");
    EXPECT_EQ(events[3]["type"], "conversation.status_changed");
    EXPECT_EQ(events[3]["body"]["from"], "open");  // snoozed reads as open to the shopper
    EXPECT_EQ(events[3]["body"]["to"], "closed");
  }
  // The agent of the shop sees all nine, whole.
  auto agent =
      MustOpen(true, server.port(), AgentPath("shop-1") + "?after=-1", AgentHeaders("shop-1"));
  ASSERT_NE(agent, nullptr);
  ASSERT_EQ(agent->Next(30s).kind, StreamMessage::Kind::kReady);
  std::vector<std::string> types;
  for (int i = 0; i < 9; ++i) {
    StreamMessage message = agent->Next(30s);
    ASSERT_EQ(message.kind, StreamMessage::Kind::kItem);
    EXPECT_EQ(message.position, i);
    types.push_back(message.body["event"]["type"]);
  }
  EXPECT_THAT(types, ::testing::ElementsAre(
                         "conversation.started", "internal_note.added", "conversation.assigned",
                         "cart.updated", "message.posted", "conversation.status_changed",
                         "message.posted", "messages.read", "conversation.status_changed"));
}

TEST(LiveStreamsTest, RefusesWithProblemResponsesBeforeUpgrading) {
  palaver::testing::TempDir dir;
  auto log = OpenEmbedded(dir);
  LiveServer server(*log);
  AppendEvent(*log, Started("shop-1", "c1", "u1"));
  for (bool ws : {true, false}) {
    SCOPED_TRACE(ws ? "websocket" : "sse");
    Refusal missing = MustRefuse(ws, server.port(), AgentPath("shop-1"), {});
    EXPECT_EQ(missing.status, 401);
    EXPECT_EQ(missing.problem["code"], "permission_denied");
    EXPECT_EQ(missing.problem["type"], "https://palaver.dev/problems/permission_denied");

    EXPECT_EQ(MustRefuse(ws, server.port(), AgentPath("shop-2"), AgentHeaders("shop-1")).status,
              404);
    EXPECT_EQ(MustRefuse(ws, server.port(), ShopperPath("shop-1", "c2"),
                         ShopperHeaders("shop-1", "u1", "c1"))
                  .status,
              404);

    Refusal bad =
        MustRefuse(ws, server.port(), AgentPath("shop-1") + "?after=abc", AgentHeaders("shop-1"));
    EXPECT_EQ(bad.status, 400);
    EXPECT_EQ(bad.problem["field"], "after");
    EXPECT_THAT(bad.problem["detail"].get<std::string>(), HasSubstr("integer"));

    Refusal beyond =
        MustRefuse(ws, server.port(), AgentPath("shop-1") + "?after=5", AgentHeaders("shop-1"));
    EXPECT_EQ(beyond.status, 400);
    EXPECT_EQ(beyond.problem["code"], "position_beyond_end");
  }
  Headers bad_last_id = AgentHeaders("shop-1");
  bad_last_id["Last-Event-ID"] = "-7";
  Refusal bad_id = MustRefuse(false, server.port(), AgentPath("shop-1"), bad_last_id);
  EXPECT_EQ(bad_id.status, 400);
  EXPECT_EQ(bad_id.problem["field"], "Last-Event-ID");

  // Neither an upgrade nor an event stream: 406; not GET: 405.
  EXPECT_EQ(HttpCall(server.port(), "GET", AgentPath("shop-1"), AgentHeaders("shop-1")).first, 406);
  EXPECT_EQ(HttpCall(server.port(), "POST", AgentPath("shop-1"), AgentHeaders("shop-1")).first,
            405);
  // Other routes still reach the ordinary handler.
  EXPECT_EQ(HttpCall(server.port(), "GET", "/healthz", {}).first, 200);
  EXPECT_EQ(HttpCall(server.port(), "GET", "/v1/shops/shop-1/streams", {}).first, 404);
  EXPECT_EQ(server.server().open_streams(), 0u);
  // A refused stream left the event where it was.
  auto agent =
      MustOpen(true, server.port(), AgentPath("shop-1") + "?after=-1", AgentHeaders("shop-1"));
  ASSERT_NE(agent, nullptr);
  ASSERT_EQ(agent->Next(30s).kind, StreamMessage::Kind::kReady);
  EXPECT_EQ(agent->Next(30s).position, 0);
}

// Browsers cannot set headers on WebSocket or EventSource requests: the
// credential may come in the query instead; a header wins over it.
TEST(LiveStreamsTest, BrowsersPassTheCredentialInTheQuery) {
  palaver::testing::TempDir dir;
  auto log = OpenEmbedded(dir);
  LiveServer server(*log);
  AppendEvent(*log, Started("shop-1", "c1", "u1"));
  for (bool ws : {true, false}) {
    SCOPED_TRACE(ws ? "websocket" : "sse");
    auto agent = MustOpen(ws, server.port(),
                          AgentPath("shop-1") + "?after=-1&access_token=agent%3Ashop-1", {});
    ASSERT_NE(agent, nullptr);
    ASSERT_EQ(agent->Next(30s).kind, StreamMessage::Kind::kReady);
    EXPECT_EQ(agent->Next(30s).position, 0);

    auto shopper = MustOpen(
        ws, server.port(), ShopperPath("shop-1", "c1") + "?identity=shop-1%7Cu1%7Cc1&after=-1", {});
    ASSERT_NE(shopper, nullptr);
    ASSERT_EQ(shopper->Next(30s).kind, StreamMessage::Kind::kReady);
    EXPECT_EQ(shopper->Next(30s).position, 0);

    // Wrong credentials in the query are refused as in a header.
    EXPECT_EQ(MustRefuse(ws, server.port(), AgentPath("shop-1") + "?access_token=nope", {}).status,
              401);
    EXPECT_EQ(
        MustRefuse(ws, server.port(), AgentPath("shop-1") + "?access_token=agent%3Ashop-2", {})
            .status,
        404);
    EXPECT_EQ(MustRefuse(ws, server.port(),
                         ShopperPath("shop-1", "c1") + "?identity=shop-1%7Cu2%7Cc2", {})
                  .status,
              404);
    // A shopper's identity does not open the agents' stream, nor a token the shopper's.
    EXPECT_EQ(MustRefuse(ws, server.port(), AgentPath("shop-1") + "?identity=shop-1%7Cu1%7Cc1", {})
                  .status,
              401);
    EXPECT_EQ(MustRefuse(ws, server.port(),
                         ShopperPath("shop-1", "c1") + "?access_token=agent%3Ashop-1", {})
                  .status,
              401);
    // The header wins over the query.
    EXPECT_EQ(MustRefuse(ws, server.port(), AgentPath("shop-1") + "?access_token=agent%3Ashop-1",
                         {{"Authorization", "Bearer nope"}})
                  .status,
              401);
  }
}

// A client that stops reading is closed with a reason; the server never held
// more than the per-stream limit for it, a client that reads is not held back
// by it, and resuming gives the slow one the rest.
void SlowConsumerScenario(bool websocket) {
  palaver::testing::TempDir dir;
  auto log = OpenEmbedded(dir);
  LiveOptions options;
  options.client_queue_bytes = 64 * 1024;
  options.stall_timeout = 300ms;
  options.close_timeout = 120s;  // the close waits for the client to read again
  LiveServer server(*log, options);
  ClientOptions tiny_window;
  tiny_window.receive_buffer_bytes = 4096;
  auto client =
      MustOpen(websocket, server.port(), AgentPath("slow"), AgentHeaders("slow"), tiny_window);
  ASSERT_NE(client, nullptr);
  StreamMessage ready = client->Next(30s);
  ASSERT_EQ(ready.kind, StreamMessage::Kind::kReady);
  auto reader = MustOpen(!websocket, server.port(), AgentPath("slow"), AgentHeaders("slow"));
  ASSERT_NE(reader, nullptr);
  ASSERT_EQ(reader->Next(30s).kind, StreamMessage::Kind::kReady);

  // The client reads nothing while the shop keeps talking; another client of
  // the shop reads every update as it comes (which also paces the appends).
  const std::string text(16 * 1024, 'x');
  std::vector<int64_t> positions;
  for (int i = 0; i < 20000 && server.live().Stats().slow_consumer_disconnects == 0; ++i) {
    positions.push_back(AppendEvent(*log, Message("slow", "c1", "u1", ActorKind::kShopper, text)));
    StreamMessage seen = reader->Next(60s);
    ASSERT_EQ(seen.kind, StreamMessage::Kind::kItem);
    ASSERT_EQ(seen.position, positions.back());
  }
  LiveStats stats = server.live().Stats();
  ASSERT_EQ(stats.slow_consumer_disconnects, 1u);
  EXPECT_LE(stats.peak_queue_bytes, options.client_queue_bytes);

  // Reading again: what was already sent arrives in order, then the reason.
  size_t received = 0;
  StreamMessage message;
  while ((message = client->Next(60s)).kind == StreamMessage::Kind::kItem) {
    ASSERT_LT(received, positions.size());
    EXPECT_EQ(message.position, positions[received]);
    ++received;
  }
  ASSERT_EQ(message.kind, StreamMessage::Kind::kEnd);
  if (websocket) {
    EXPECT_EQ(client->end().websocket_code, 1008);
    EXPECT_THAT(client->end().reason, HasSubstr("slow consumer"));
    EXPECT_THAT(client->end().reason, HasSubstr("reconnect with ?after="));
  } else {
    EXPECT_EQ(client->end().sse_error, "slow_consumer");
  }
  EXPECT_LT(received, positions.size()) << "the slow client was not cut off";

  // Resuming from the last position it saw gives everything else, once.
  const int64_t last = received == 0 ? ready.position : positions[received - 1];
  auto resumed =
      MustOpen(websocket, server.port(), AgentPath("slow") + "?after=" + std::to_string(last),
               AgentHeaders("slow"));
  ASSERT_NE(resumed, nullptr);
  ASSERT_EQ(resumed->Next(30s).position, last);
  for (size_t k = received; k < positions.size(); ++k) {
    StreamMessage item = resumed->Next(60s);
    ASSERT_EQ(item.kind, StreamMessage::Kind::kItem)
        << "item " << k << " of " << positions.size() << "; ended with "
        << resumed->end().websocket_code << " " << resumed->end().reason
        << resumed->end().sse_error;
    ASSERT_EQ(item.position, positions[k]);
  }
  EXPECT_EQ(server.live().Stats().slow_consumer_disconnects, 1u);
}

TEST(LiveStreamsTest, SlowWebSocketConsumerIsClosedWith1008AndBoundedMemory) {
  SlowConsumerScenario(true);
}

TEST(LiveStreamsTest, SlowSseConsumerGetsAnErrorEventAndBoundedMemory) {
  SlowConsumerScenario(false);
}

TEST(LiveStreamsTest, ShutdownClosesStreamsWith1001) {
  palaver::testing::TempDir dir;
  auto log = OpenEmbedded(dir);
  LiveServer server(*log);
  auto ws = MustOpen(true, server.port(), AgentPath("shop-1"), AgentHeaders("shop-1"));
  auto sse = MustOpen(false, server.port(), ShopperPath("shop-1", "c1"),
                      ShopperHeaders("shop-1", "u1", "c1"));
  ASSERT_NE(ws, nullptr);
  ASSERT_NE(sse, nullptr);
  ASSERT_EQ(ws->Next(30s).kind, StreamMessage::Kind::kReady);
  ASSERT_EQ(sse->Next(30s).kind, StreamMessage::Kind::kReady);
  EXPECT_EQ(server.server().open_streams(), 2u);

  std::thread stopper([&] { server.server().Stop(); });
  EXPECT_EQ(ws->Next(60s).kind, StreamMessage::Kind::kEnd);
  EXPECT_EQ(ws->end().websocket_code, 1001);
  EXPECT_EQ(ws->end().reason, "server shutting down");
  EXPECT_EQ(sse->Next(60s).kind, StreamMessage::Kind::kEnd);
  EXPECT_EQ(sse->end().sse_error, "server_shutting_down");
  stopper.join();
  EXPECT_EQ(server.server().open_streams(), 0u);
  EXPECT_EQ(server.live().Stats().open_streams, 0u);
}

TEST(LiveStreamsTest, CountsOpenStreams) {
  palaver::testing::TempDir dir;
  auto log = OpenEmbedded(dir);
  LiveServer server(*log);
  auto ws = MustOpen(true, server.port(), AgentPath("shop-1"), AgentHeaders("shop-1"));
  auto sse = MustOpen(false, server.port(), AgentPath("shop-1"), AgentHeaders("shop-1"));
  ASSERT_EQ(ws->Next(30s).kind, StreamMessage::Kind::kReady);
  ASSERT_EQ(sse->Next(30s).kind, StreamMessage::Kind::kReady);
  EXPECT_EQ(server.server().open_streams(), 2u);
  EXPECT_EQ(server.live().Stats().open_streams, 2u);
  EXPECT_EQ(server.live().Stats().tailers, 1u);  // one tailer for the shop's partition

  ws->Cut();
  // The server notices the cut when it next reads, and the stream's hub
  // count drops when its session is destroyed, just after; wait for both
  // (bounded).
  for (int i = 0;
       i < 3000 && (server.server().open_streams() != 1 || server.live().Stats().open_streams != 1);
       ++i) {
    std::this_thread::sleep_for(10ms);
  }
  EXPECT_EQ(server.server().open_streams(), 1u);
  EXPECT_EQ(server.live().Stats().open_streams, 1u);
}

TEST(LiveStreamsTest, CreateRefusesUnusableOptions) {
  palaver::testing::TempDir dir;
  auto log = OpenEmbedded(dir);
  LiveOptions options;
  options.client_queue_bytes = 0;
  auto live = LiveStreams::Create(*log, TestAuthorizer(), options);
  ASSERT_FALSE(live.ok());
  EXPECT_EQ(live.status().code(), ErrorCode::kInvalidArgument);
  EXPECT_FALSE(LiveStreams::Create(*log, nullptr).ok());
}

TEST(LiveStreamsTest, ParsesStreamPaths) {
  auto agent = ParseStreamTarget("/v1/shops/shop%2D1/stream?after=3");
  ASSERT_TRUE(agent.has_value());
  EXPECT_EQ(agent->shop, "shop-1");
  EXPECT_EQ(agent->viewer, Viewer::kAgent);
  auto shopper = ParseStreamTarget("/v1/shops/s/shopper/conversations/c-9/stream");
  ASSERT_TRUE(shopper.has_value());
  EXPECT_EQ(shopper->viewer, Viewer::kShopper);
  EXPECT_EQ(shopper->conversation_id, "c-9");
  EXPECT_FALSE(ParseStreamTarget("/v1/shops//stream").has_value());
  EXPECT_FALSE(ParseStreamTarget("/v1/shops/s/inbox").has_value());
  EXPECT_FALSE(ParseStreamTarget("/v1/shops/s/stream/extra").has_value());
  EXPECT_FALSE(ParseStreamTarget("/v1/shops/s%ZZ/stream").has_value());
}

}  // namespace
}  // namespace palaver::live::testing
