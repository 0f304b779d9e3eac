// `palaver shop` and `palaver token` from the real binary while `palaver
// serve` runs: a token created on the command line works at once, a revoked
// one is refused at once, and only token hashes reach the disk.
#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/http.hpp>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "engine/rules/shopper_identity.h"
#include "tests/child_process.h"
#include "tests/connectors/api/api_test_util.h"

namespace palaver::testing {
namespace {

namespace http = boost::beast::http;
using V = http::verb;

// Runs the palaver binary to completion; returns (exit code, output).
std::pair<int, std::string> Palaver(std::vector<std::string> args) {
  args.insert(args.begin(), PALAVER_BINARY);
  return RunToCompletion(std::move(args));
}

// The value after "<label>" on its line of `output`.
std::string Field(const std::string& output, const std::string& label) {
  auto at = output.find(label);
  if (at == std::string::npos) return "";
  at += label.size();
  while (at < output.size() && output[at] == ' ') ++at;
  return output.substr(at, output.find('\n', at) - at);
}

TEST(ApiCliTest, TokensCreatedAndRevokedFromTheCommandLineApplyWhileServing) {
  TempDir dir;
  const std::string data = dir.path();
  auto [shop_code, shop_out] = Palaver({"shop", "add", "acme", "--data-dir", data});
  ASSERT_EQ(shop_code, 0) << shop_out;
  const std::string secret = Field(shop_out, "identity secret:");
  ASSERT_GE(secret.size(), 32u) << shop_out;
  auto [dup_code, dup_out] = Palaver({"shop", "add", "acme", "--data-dir", data});
  EXPECT_EQ(dup_code, 1);
  EXPECT_NE(dup_out.find("already exists"), std::string::npos) << dup_out;

  ChildProcess serve({PALAVER_BINARY, "serve", "--data-dir", data, "--listen", "127.0.0.1:0"});
  const std::string started = serve.ReadUntil("Ctrl-C", std::chrono::seconds(60));
  const uint16_t port = ListeningPort(started);
  ASSERT_NE(port, 0) << started;

  // Created while the server runs: accepted at once.
  auto [create_code, create_out] = Palaver({"token", "create", "--shop", "acme", "--role", "admin",
                                            "--agent", "ann", "--data-dir", data});
  ASSERT_EQ(create_code, 0) << create_out;
  const std::string token = Field(create_out, "token:");
  const std::string id = Field(create_out, "id:");
  ASSERT_EQ(token.rfind("pvt_", 0), 0u) << create_out;
  ASSERT_EQ(id.rfind("tok_", 0), 0u) << create_out;
  const auto bearer = ApiHarness::Bearer(token);
  HttpResult inbox = HttpCall(port, V::get, "/v1/shops/acme/inbox", "", bearer);
  EXPECT_EQ(inbox.status, 200) << inbox.body;

  // A newcomer's first steps: staff, then a shopper's chat, then a reply.
  HttpResult agents = HttpCall(port, V::put, "/v1/shops/acme/settings/agents",
                               R"({"agents":[{"agent_id":"ann","permissions":["chat"]}]})", bearer);
  EXPECT_EQ(agents.status, 200) << agents.body;
  rules::ShopperIdentity identity{"acme", "c1", "c1@example.com", "C",
                                  static_cast<int64_t>(std::time(nullptr)) + 3600};
  HttpResult chat = HttpCall(port, V::post, "/v1/shops/acme/shopper/conversations", "{}",
                             ApiHarness::Shopper(rules::SignShopperIdentity(identity, secret)));
  ASSERT_EQ(chat.status, 200) << chat.body;
  HttpResult reply = HttpCall(port, V::post,
                              "/v1/shops/acme/conversations/" +
                                  chat.json["conversation_id"].get<std::string>() + "/messages",
                              R"({"text":"Hello from the CLI test"})", bearer);
  EXPECT_EQ(reply.status, 200) << reply.body;

  auto [list_code, list_out] = Palaver({"token", "list", "--data-dir", data});
  EXPECT_EQ(list_code, 0);
  EXPECT_NE(list_out.find(id), std::string::npos) << list_out;
  EXPECT_EQ(list_out.find(token), std::string::npos) << "list shows the token itself";

  // Only the hash is on disk.
  std::ifstream file(data + "/auth.json");
  std::stringstream contents;
  contents << file.rdbuf();
  EXPECT_EQ(contents.str().find(token), std::string::npos);
  EXPECT_NE(contents.str().find(api::Sha256Hex(token)), std::string::npos);

  // Revoked while the server runs: refused at once.
  auto [revoke_code, revoke_out] = Palaver({"token", "revoke", id, "--data-dir", data});
  ASSERT_EQ(revoke_code, 0) << revoke_out;
  HttpResult after = HttpCall(port, V::get, "/v1/shops/acme/inbox", "", bearer);
  EXPECT_EQ(after.status, 401) << after.body;
  auto [bad_code, bad_out] = Palaver({"token", "revoke", "tok_nope", "--data-dir", data});
  EXPECT_EQ(bad_code, 1);
  auto [unknown_code, unknown_out] =
      Palaver({"token", "create", "--shop", "nope", "--agent", "ann", "--data-dir", data});
  EXPECT_EQ(unknown_code, 1);
  EXPECT_NE(unknown_out.find("palaver shop add"), std::string::npos) << unknown_out;

  EXPECT_EQ(serve.Stop(SIGTERM), 0) << serve.output();
  // The access log has one line per request, with the route template.
  EXPECT_NE(serve.output().find("route=/v1/shops/{shop}/inbox status=401"), std::string::npos)
      << serve.output();
  EXPECT_NE(serve.output().find("stopped cleanly"), std::string::npos);
}

TEST(ApiCliTest, ServeHelpDescribesEveryOption) {
  auto [code, out] = Palaver({"serve", "--help"});
  EXPECT_EQ(code, 0);
  for (const char* option : {"--listen", "--data-dir", "--kafka", "--views-dir", "--auth-file",
                             "--rate-limit", "--rate-burst", "--max-wait-ms", "--inbox-cache-mb",
                             "--snooze-interval", "--http-threads", "--no-access-log"})
    EXPECT_NE(out.find(option), std::string::npos) << option;
}

// The value of the sample `series` (name with labels, as printed) in a
// Prometheus text answer, or -1 when the answer has no such line.
double Sample(const std::string& text, const std::string& series) {
  std::istringstream lines(text);
  for (std::string line; std::getline(lines, line);) {
    if (line.rfind(series + " ", 0) == 0) return std::stod(line.substr(series.size() + 1));
  }
  return -1;
}

TEST(ApiCliTest, ServeMetricsCountAppendsRequestsAndOpenStreams) {
  TempDir dir;
  const std::string data = dir.path();
  ASSERT_EQ(Palaver({"shop", "add", "acme", "--data-dir", data}).first, 0);
  auto [create_code, create_out] = Palaver({"token", "create", "--shop", "acme", "--role", "admin",
                                            "--agent", "ann", "--data-dir", data});
  ASSERT_EQ(create_code, 0) << create_out;
  const auto bearer = ApiHarness::Bearer(Field(create_out, "token:"));

  ChildProcess serve({PALAVER_BINARY, "serve", "--data-dir", data, "--listen", "127.0.0.1:0"});
  const std::string started = serve.ReadUntil("Ctrl-C", std::chrono::seconds(60));
  const uint16_t port = ListeningPort(started);
  ASSERT_NE(port, 0) << started;

  HttpResult before = HttpCall(port, V::get, "/metrics");
  ASSERT_EQ(before.status, 200) << before.body;
  EXPECT_EQ(Sample(before.body, R"(palaver_stream_connections{transport="sse",audience="agent"})"),
            0)
      << before.body;

  // One command: one append observed.
  HttpResult agents = HttpCall(port, V::put, "/v1/shops/acme/settings/agents",
                               R"({"agents":[{"agent_id":"ann","permissions":["chat"]}]})", bearer);
  ASSERT_EQ(agents.status, 200) << agents.body;
  // The same inbox page three times once the views hold that command: the
  // page cache answers the repeats.
  HttpResult waited = HttpCall(
      port, V::get,
      "/v1/shops/acme/inbox?min_position=" + std::to_string(agents.json["position"].get<int64_t>()),
      "", bearer);
  ASSERT_EQ(waited.status, 200) << waited.body;
  for (int i = 0; i < 3; ++i)
    EXPECT_EQ(HttpCall(port, V::get, "/v1/shops/acme/inbox", "", bearer).body, waited.body);

  // An agent's SSE stream, held open while /metrics is read.
  boost::asio::io_context io;
  boost::asio::ip::tcp::socket stream(io);
  stream.connect({boost::asio::ip::make_address("127.0.0.1"), port});
  const std::string request =
      "GET /v1/shops/acme/stream HTTP/1.1\r\nHost: x\r\n"
      "Accept: text/event-stream\r\n"
      "Authorization: " +
      bearer.front().second + "\r\n\r\n";
  boost::asio::write(stream, boost::asio::buffer(request));
  std::string head;
  boost::asio::read_until(stream, boost::asio::dynamic_buffer(head), "ready");
  ASSERT_NE(head.find("200 OK"), std::string::npos) << head;

  HttpResult after = HttpCall(port, V::get, "/metrics");
  ASSERT_EQ(after.status, 200) << after.body;
  EXPECT_EQ(Sample(after.body, R"(palaver_stream_connections{transport="sse",audience="agent"})"),
            1)
      << after.body;
  EXPECT_EQ(
      Sample(after.body, R"(palaver_stream_connections{transport="websocket",audience="agent"})"),
      0);
  EXPECT_GE(Sample(after.body, R"(palaver_log_append_duration_seconds_count{log="embedded"})"), 1)
      << after.body;
  EXPECT_EQ(
      Sample(
          after.body,
          R"(palaver_http_requests_total{route="/v1/shops/{shop}/settings/{aspect}",method="PUT",status="200"})"),
      1)
      << after.body;
  EXPECT_GE(Sample(after.body, R"(palaver_inbox_cache_lookups_total{outcome="hit"})"), 1)
      << after.body;
  EXPECT_EQ(Sample(after.body, R"(palaver_inbox_cache_lookups_total{outcome="hit"})") +
                Sample(after.body, R"(palaver_inbox_cache_lookups_total{outcome="miss"})"),
            3)
      << after.body;
  EXPECT_GT(Sample(after.body, "palaver_inbox_cache_bytes"), 0) << after.body;
  // One lag series per view and partition.
  for (const char* view : {"inbox", "receipts", "history", "profile", "metrics"}) {
    EXPECT_GE(Sample(after.body, "palaver_projection_lag_events{projection=\"" + std::string(view) +
                                     "\",partition=\"7\"}"),
              0)
        << view << "\n"
        << after.body;
  }

  stream.close();
  EXPECT_EQ(serve.Stop(SIGTERM), 0) << serve.output();
}

}  // namespace
}  // namespace palaver::testing
