// Shared helpers of the API suites: a real ApiService behind a real
// HttpServer on an ephemeral port, over a real log (embedded in a temporary
// directory, or Kafka), and a small Beast HTTP client.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <boost/beast/http/verb.hpp>
#include <nlohmann/json.hpp>

#include "connectors/api/api_service.h"
#include "connectors/api/auth_store.h"
#include "connectors/http_server.h"
#include "engine/domain/conversation_engine.h"
#include "engine/event_log.h"
#include "engine/rules/clock.h"
#include "projections/projector.h"
#include "tests/engine/event_log_test_util.h"

namespace palaver::testing {

struct HttpResult {
  int status = 0;
  std::string body;
  nlohmann::json json;                         // discarded when the body is not JSON
  std::map<std::string, std::string> headers;  // lower-case names
  std::string Header(const std::string& lower_name) const {
    auto it = headers.find(lower_name);
    return it == headers.end() ? "" : it->second;
  }
};

// One request on a fresh connection to 127.0.0.1:`port`. `body` is sent as is.
HttpResult HttpCall(uint16_t port, boost::beast::http::verb method, const std::string& target,
                    const std::string& body = "",
                    const std::vector<std::pair<std::string, std::string>>& headers = {});

// ApiServiceOptions for tests: no rate limit (a suite makes many calls at once).
api::ApiServiceOptions TestApiOptions();

// The whole server of `palaver serve`, in process.
class ApiHarness {
 public:
  // Embedded log in a temporary directory unless `log_options` says Kafka.
  // The engine and the API read the time from `clock` (not owned; it must
  // outlive the harness), the system clock when null.
  explicit ApiHarness(api::ApiServiceOptions api_options = TestApiOptions(),
                      std::optional<EventLogOptions> log_options = std::nullopt,
                      const rules::Clock* clock = nullptr);
  ~ApiHarness();

  uint16_t port() const { return server_->port(); }
  api::ApiService& api() { return *api_; }
  api::AuthStore& store() { return *store_; }
  EventLog& log() { return *log_; }
  const std::string& dir() const { return dir_.path(); }

  // Adds a shop and returns its identity secret.
  std::string AddShop(const std::string& shop);
  // A new API token (its text).
  std::string Token(const std::string& shop, api::Role role, const std::string& agent);
  // A shopper identity token for `customer` signed with `secret`, valid one hour.
  std::string Identity(const std::string& shop, const std::string& customer,
                       const std::string& secret, const std::string& email = "shopper@example.com");

  // Sets the shop's staff: each agent with the chat and manage permissions.
  // Uses `admin_token`. Fails the test on error.
  void SetAgents(const std::string& shop, const std::string& admin_token,
                 const std::vector<std::string>& agents);

  // A shop with admin "ann" (its only agent) whose shopper "cust-1" has
  // started a web chat. Fails the test on error (the fields are then empty).
  struct ShopWithChat {
    std::string secret;           // the shop's identity secret
    std::string admin;            // ann's admin token
    std::string shopper;          // cust-1's identity token
    std::string conversation_id;  // cust-1's web chat
  };
  ShopWithChat OpenShopWithChat(const std::string& shop);

  HttpResult Call(boost::beast::http::verb method, const std::string& target,
                  const std::string& body = "",
                  const std::vector<std::pair<std::string, std::string>>& headers = {}) {
    return HttpCall(port(), method, target, body, headers);
  }
  // Bearer / identity header helpers.
  static std::vector<std::pair<std::string, std::string>> Bearer(const std::string& token) {
    return {{"Authorization", "Bearer " + token}};
  }
  static std::vector<std::pair<std::string, std::string>> Shopper(const std::string& identity) {
    return {{"X-Palaver-Identity", identity}};
  }

  // Stops the HTTP server (draining in-flight requests); the destructor does it too.
  void StopServer() { server_->Stop(); }

  // Number of records in the log, over every partition.
  int64_t LogSize();
  // Waits (up to 10 s) until the views have applied every record now in the
  // log, as a client passing ?min_position would. Fails the test otherwise.
  void WaitForViews();

 private:
  TempDir dir_;
  rules::SystemClock system_clock_;
  const rules::Clock& clock_;
  std::unique_ptr<EventLog> log_;
  std::unique_ptr<api::AuthStore> store_;
  std::unique_ptr<domain::ConversationEngine> engine_;
  std::unique_ptr<projections::Projector> projector_;
  std::unique_ptr<api::ApiService> api_;
  std::unique_ptr<HttpServer> server_;
};

// Drives a whole conversation through the API and checks what each side sees:
// a shopper starts a web chat and writes, the agent reads the inbox, adds a
// note and replies, the shopper reads the timeline (without the note) and
// marks it read, the agent sees the receipt, closes the conversation, the
// shopper rates it, and the metrics show it. Fails the calling test on error.
void RunWholeConversation(ApiHarness& harness, const std::string& shop);

}  // namespace palaver::testing
