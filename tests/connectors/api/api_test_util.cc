#include "tests/connectors/api/api_test_util.h"

#include <chrono>
#include <ctime>

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <gtest/gtest.h>

#include "engine/rules/shopper_identity.h"
#include "projections/queries.h"

namespace palaver::testing {

namespace beast = boost::beast;
namespace http = beast::http;
using Json = nlohmann::json;

HttpResult HttpCall(uint16_t port, http::verb method, const std::string& target,
                    const std::string& body,
                    const std::vector<std::pair<std::string, std::string>>& headers) {
  HttpResult result;
  try {
    boost::asio::io_context io;
    boost::asio::ip::tcp::socket socket(io);
    socket.connect({boost::asio::ip::make_address("127.0.0.1"), port});
    http::request<http::string_body> request(method, target, 11);
    request.set(http::field::host, "127.0.0.1");
    for (const auto& [name, value] : headers) request.set(name, value);
    if (!body.empty()) request.set(http::field::content_type, "application/json");
    request.body() = body;
    request.prepare_payload();
    http::write(socket, request);
    beast::flat_buffer buffer;
    http::response_parser<http::string_body> parser;
    parser.body_limit(64 * 1024 * 1024);
    http::read(socket, buffer, parser);
    auto response = parser.release();
    result.status = static_cast<int>(response.result_int());
    result.body = response.body();
    for (const auto& field : response) {
      std::string name(field.name_string());
      for (char& c : name) c = static_cast<char>(std::tolower(c));
      result.headers[name] = std::string(field.value());
    }
    result.json = Json::parse(result.body, nullptr, false);
  } catch (const std::exception& e) {
    ADD_FAILURE() << "HTTP " << target << ": " << e.what();
  }
  return result;
}

api::ApiServiceOptions TestApiOptions() {
  api::ApiServiceOptions options;
  options.rate_limit.per_second = 0;
  return options;
}

ApiHarness::ApiHarness(api::ApiServiceOptions api_options,
                       std::optional<EventLogOptions> log_options, const rules::Clock* clock)
    : clock_(clock ? *clock : system_clock_) {
  EventLogOptions options;
  if (log_options) {
    options = *log_options;
  } else {
    options.embedded_dir = dir_.path() + "/log";
    options.sync_writes = false;
    options.partitions = 4;
  }
  auto log = OpenEventLog(options);
  EXPECT_TRUE(log.ok()) << log.status().ToString();
  log_ = std::move(*log);
  auto store = api::AuthStore::Open(dir_.path() + "/auth.json");
  EXPECT_TRUE(store.ok()) << store.status().ToString();
  store_ = std::move(*store);
  domain::ConversationEngineOptions engine_options;
  api::AuthStore* s = store_.get();
  engine_options.shop_secret = [s](std::string_view shop) { return s->ShopSecret(shop); };
  engine_ = std::make_unique<domain::ConversationEngine>(*log_, clock_, engine_options);
  projections::ProjectorOptions projector_options;
  projector_options.db_path = dir_.path() + "/views";
  projector_options.poll_wait = std::chrono::milliseconds(20);
  auto projector =
      projections::Projector::Open(projector_options, *log_, projections::DefaultProjections());
  EXPECT_TRUE(projector.ok()) << projector.status().ToString();
  projector_ = std::move(*projector);
  projector_->Start();
  api_ =
      std::make_unique<api::ApiService>(*log_, *engine_, *projector_, *store_, clock_, api_options);
  HttpServerOptions http_options;
  http_options.port = 0;
  http_options.threads = 2;
  http_options.run_inline = api_->InlineFilter();  // as palaver serve
  auto server = HttpServer::Start(http_options, api_->AsHandler());
  EXPECT_TRUE(server.ok()) << server.status().ToString();
  server_ = std::move(*server);
}

ApiHarness::~ApiHarness() {
  server_->Stop();
  server_.reset();
  api_.reset();
  projector_->Stop();
  projector_.reset();
  engine_.reset();
  log_.reset();
}

std::string ApiHarness::AddShop(const std::string& shop) {
  auto record = store_->AddShop(shop);
  EXPECT_TRUE(record.ok()) << record.status().ToString();
  return record.ok() ? record->identity_secret : "";
}

std::string ApiHarness::Token(const std::string& shop, api::Role role, const std::string& agent) {
  auto created = store_->CreateToken(shop, role, agent);
  EXPECT_TRUE(created.ok()) << created.status().ToString();
  return created.ok() ? created->secret_text : "";
}

std::string ApiHarness::Identity(const std::string& shop, const std::string& customer,
                                 const std::string& secret, const std::string& email) {
  rules::ShopperIdentity identity;
  identity.shop = shop;
  identity.customer_id = customer;
  identity.email = email;
  identity.name = "Shopper " + customer;
  identity.expires_at_unix_seconds = clock_.NowMicros() / 1000000 + 3600;
  return rules::SignShopperIdentity(identity, secret);
}

void ApiHarness::SetAgents(const std::string& shop, const std::string& admin_token,
                           const std::vector<std::string>& agents) {
  Json list = Json::array();
  for (const std::string& a : agents)
    list.push_back({{"agent_id", a},
                    {"display_name", a},
                    {"email", a + "@example.com"},
                    {"permissions", {"chat", "manage_settings", "manage_agents"}},
                    {"languages", {"en"}}});
  HttpResult r = Call(http::verb::put, "/v1/shops/" + shop + "/settings/agents",
                      Json{{"agents", list}}.dump(), Bearer(admin_token));
  ASSERT_EQ(r.status, 200) << r.body;
}

ApiHarness::ShopWithChat ApiHarness::OpenShopWithChat(const std::string& shop) {
  ShopWithChat out;
  out.secret = AddShop(shop);
  out.admin = Token(shop, api::Role::kAdmin, "ann");
  SetAgents(shop, out.admin, {"ann"});
  out.shopper = Identity(shop, "cust-1", out.secret);
  HttpResult started = Call(http::verb::post, "/v1/shops/" + shop + "/shopper/conversations", "{}",
                            Shopper(out.shopper));
  EXPECT_EQ(started.status, 200) << started.body;
  if (started.status == 200) out.conversation_id = started.json["conversation_id"];
  return out;
}

int64_t ApiHarness::LogSize() {
  int64_t n = 0;
  for (int32_t p = 0; p < log_->PartitionCount(); ++p) {
    auto end = log_->EndOffset(p);
    EXPECT_TRUE(end.ok());
    n += end.ok() ? *end : 0;
  }
  return n;
}

void ApiHarness::WaitForViews() {
  for (int32_t p = 0; p < log_->PartitionCount(); ++p) {
    auto end = log_->EndOffset(p);
    ASSERT_TRUE(end.ok()) << end.status().ToString();
    if (*end == 0) continue;
    const Status applied = projector_->WaitForPosition(p, *end - 1, std::chrono::seconds(10));
    EXPECT_TRUE(applied.ok()) << "partition " << p << ": " << applied.ToString();
  }
}

namespace {
std::string Today() {
  const time_t now = std::time(nullptr);
  struct tm tm {};
  gmtime_r(&now, &tm);
  char buffer[16];
  std::strftime(buffer, sizeof buffer, "%Y-%m-%d", &tm);
  return buffer;
}
}  // namespace

void RunWholeConversation(ApiHarness& h, const std::string& shop) {
  const std::string secret = h.AddShop(shop);
  const std::string admin = h.Token(shop, api::Role::kAdmin, "ann");
  const std::string agent = h.Token(shop, api::Role::kAgent, "bob");
  ASSERT_NO_FATAL_FAILURE(h.SetAgents(shop, admin, {"ann", "bob"}));
  const std::string shopper = h.Identity(shop, "cust-1", secret);
  const std::string base = "/v1/shops/" + shop;
  using V = http::verb;

  // The shopper starts a web chat and writes.
  HttpResult started = h.Call(V::post, base + "/shopper/conversations", R"({"platform":"web"})",
                              ApiHarness::Shopper(shopper));
  ASSERT_EQ(started.status, 200) << started.body;
  const std::string conv = started.json["conversation_id"];
  ASSERT_FALSE(conv.empty());
  HttpResult wrote = h.Call(V::post, base + "/shopper/conversations/" + conv + "/messages",
                            Json{{"text", "Hello, where is my order? \xF0\x9F\x93\xA6"}}.dump(),
                            ApiHarness::Shopper(shopper));
  ASSERT_EQ(wrote.status, 200) << wrote.body;
  EXPECT_EQ(wrote.json["conversation_id"], conv);
  const int64_t wrote_at = wrote.json["position"];

  // The agent reads the inbox (read-your-writes through min_position).
  HttpResult inbox = h.Call(V::get, base + "/inbox?min_position=" + std::to_string(wrote_at), "",
                            ApiHarness::Bearer(agent));
  ASSERT_EQ(inbox.status, 200) << inbox.body;
  ASSERT_EQ(inbox.json["conversations"].size(), 1u) << inbox.body;
  EXPECT_EQ(inbox.json["conversations"][0]["conversation_id"], conv);
  EXPECT_EQ(inbox.json["conversations"][0]["unread"], true);
  EXPECT_EQ(inbox.json["conversations"][0]["status"], "open");
  HttpResult badge = h.Call(V::get, base + "/inbox/badge", "", ApiHarness::Bearer(agent));
  ASSERT_EQ(badge.status, 200) << badge.body;
  EXPECT_EQ(badge.json["unread_conversations"], 1);

  // A note, then a reply (which assigns the conversation to bob).
  HttpResult note = h.Call(V::post, base + "/conversations/" + conv + "/notes",
                           R"({"text":"VIP customer, be quick"})", ApiHarness::Bearer(agent));
  ASSERT_EQ(note.status, 200) << note.body;
  HttpResult reply = h.Call(V::post, base + "/conversations/" + conv + "/messages",
                            R"({"text":"It ships today!"})", ApiHarness::Bearer(agent));
  ASSERT_EQ(reply.status, 200) << reply.body;
  const std::string reply_id = reply.json["created_id"];
  const std::string after_reply = std::to_string(reply.json["position"].get<int64_t>());

  // The shopper sees the reply, never the note.
  HttpResult theirs = h.Call(
      V::get, base + "/shopper/conversations/" + conv + "/timeline?min_position=" + after_reply, "",
      ApiHarness::Shopper(shopper));
  ASSERT_EQ(theirs.status, 200) << theirs.body;
  EXPECT_NE(theirs.body.find("It ships today!"), std::string::npos) << theirs.body;
  EXPECT_EQ(theirs.body.find("VIP customer"), std::string::npos) << theirs.body;
  for (const Json& entry : theirs.json["entries"]) EXPECT_NE(entry.value("type", ""), "note");
  // The agent sees both.
  HttpResult ours =
      h.Call(V::get, base + "/conversations/" + conv + "/timeline", "", ApiHarness::Bearer(agent));
  ASSERT_EQ(ours.status, 200) << ours.body;
  EXPECT_NE(ours.body.find("VIP customer"), std::string::npos) << ours.body;
  EXPECT_NE(ours.body.find("It ships today!"), std::string::npos) << ours.body;
  HttpResult back =
      h.Call(V::get, base + "/conversations/" + conv + "/timeline?direction=backward&limit=1", "",
             ApiHarness::Bearer(agent));
  ASSERT_EQ(back.status, 200) << back.body;
  ASSERT_EQ(back.json["entries"].size(), 1u);
  EXPECT_FALSE(back.json["older_cursor"].get<std::string>().empty());

  // Read receipts both ways.
  HttpResult read =
      h.Call(V::post, base + "/shopper/conversations/" + conv + "/read",
             Json{{"up_to_message_id", reply_id}}.dump(), ApiHarness::Shopper(shopper));
  ASSERT_EQ(read.status, 200) << read.body;
  HttpResult receipts = h.Call(V::get,
                               base + "/conversations/" + conv + "/receipts?min_position=" +
                                   std::to_string(read.json["position"].get<int64_t>()),
                               "", ApiHarness::Bearer(agent));
  ASSERT_EQ(receipts.status, 200) << receipts.body;
  bool seen = false;
  for (const Json& m : receipts.json["agent_messages"])
    if (m["message_id"] == reply_id) seen = m["seen_by_shopper"];
  EXPECT_TRUE(seen) << receipts.body;

  // Assigned to bob by the first reply; closed; rated.
  HttpResult mine = h.Call(V::get, base + "/inbox?assignee=me", "", ApiHarness::Bearer(agent));
  ASSERT_EQ(mine.status, 200) << mine.body;
  ASSERT_EQ(mine.json["conversations"].size(), 1u) << mine.body;
  EXPECT_EQ(mine.json["conversations"][0]["assignee"], "bob");
  HttpResult closed =
      h.Call(V::post, base + "/conversations/" + conv + "/status",
             R"({"status":"closed","reason":"resolved"})", ApiHarness::Bearer(agent));
  ASSERT_EQ(closed.status, 200) << closed.body;
  HttpResult reopen = h.Call(V::post, base + "/conversations/" + conv + "/status",
                             R"({"status":"open"})", ApiHarness::Bearer(agent));
  EXPECT_EQ(reopen.status, 409) << reopen.body;
  EXPECT_EQ(reopen.json["code"], "web_chat_cannot_reopen") << reopen.body;
  HttpResult csat = h.Call(V::post, base + "/shopper/conversations/" + conv + "/csat",
                           R"({"rating":5,"comment":"great"})", ApiHarness::Shopper(shopper));
  ASSERT_EQ(csat.status, 200) << csat.body;
  const std::string after_csat = std::to_string(csat.json["position"].get<int64_t>());

  HttpResult metrics =
      h.Call(V::get, base + "/conversations/" + conv + "/metrics?min_position=" + after_csat, "",
             ApiHarness::Bearer(agent));
  ASSERT_EQ(metrics.status, 200) << metrics.body;
  EXPECT_EQ(metrics.json["csat"], 5) << metrics.body;
  EXPECT_TRUE(metrics.json["first_response_wall_us"].is_number()) << metrics.body;
  EXPECT_TRUE(metrics.json["resolution_wall_us"].is_number()) << metrics.body;
  HttpResult report = h.Call(
      V::get, base + "/metrics?from=" + Today() + "&to=" + Today() + "&min_position=" + after_csat,
      "", ApiHarness::Bearer(agent));
  ASSERT_EQ(report.status, 200) << report.body;
  EXPECT_EQ(report.json["conversations_started"], 1) << report.body;
  EXPECT_EQ(report.json["csat_count"], 1) << report.body;
  HttpResult closed_inbox =
      h.Call(V::get, base + "/inbox?status=closed", "", ApiHarness::Bearer(agent));
  ASSERT_EQ(closed_inbox.status, 200);
  ASSERT_EQ(closed_inbox.json["conversations"].size(), 1u) << closed_inbox.body;
  EXPECT_EQ(closed_inbox.json["conversations"][0]["status"], "closed");
  HttpResult previous =
      h.Call(V::get, base + "/customers/cust-1/conversations", "", ApiHarness::Bearer(agent));
  ASSERT_EQ(previous.status, 200) << previous.body;
  EXPECT_EQ(previous.json["conversations"].size(), 1u) << previous.body;
  HttpResult profile = h.Call(V::get, base + "/customers/cust-1", "", ApiHarness::Bearer(agent));
  ASSERT_EQ(profile.status, 200) << profile.body;
  EXPECT_EQ(profile.json["customer_id"], "cust-1");
}

}  // namespace palaver::testing
