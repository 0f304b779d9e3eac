// Helpers shared by the inbound suites: a Beast HTTP client over loopback,
// an engine on an embedded log, storefront example events, base64.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/beast/http/verb.hpp>
#include <nlohmann/json.hpp>

#include "connectors/http_server.h"
#include "engine/domain/conversation_engine.h"
#include "engine/event_log.h"
#include "engine/rules/clock.h"
#include "schemas/events.h"
#include "tests/engine/event_log_test_util.h"

namespace palaver::inbound::testing {

// Sends one request to 127.0.0.1:`port` on a fresh connection and returns the
// response; fails the calling test (and returns a 599) when the exchange fails.
HttpResponse Send(uint16_t port, boost::beast::http::verb method, std::string target,
                  std::vector<std::pair<std::string, std::string>> headers, std::string body);

// The schema example of `type` with `event_id`.
nlohmann::json Example(EventType type, const std::string& event_id);

std::string Base64Decode(std::string_view in);

// An engine serving kShop (identity secret kShopSecret) on a fresh embedded log.
inline constexpr char kShop[] = "shop-acme";  // the tenant of the schema examples
inline constexpr char kShopSecret[] = "acme-signing-secret";
inline constexpr int64_t kNowMicros = int64_t{1795424400} * 1000000;

struct EmbeddedEngine {
  EmbeddedEngine();
  ::palaver::testing::TempDir dir;
  rules::ManualClock clock{kNowMicros};
  std::unique_ptr<EventLog> log;
  std::unique_ptr<domain::ConversationEngine> engine;
  // Records in the shop's partition.
  int64_t ShopEnd();
};

}  // namespace palaver::inbound::testing

namespace palaver::inbound::testing {

// One bad delivery to the storefront endpoint and what it must produce.
struct BadDelivery {
  std::string name;
  std::string shop;  // in the path
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
  unsigned status = 0;
  std::string code;   // problem code == dead-letter reason
  std::string field;  // problem field == dead-letter field
};

// Every kind of refused delivery, signed with kShopSecret at kNowMicros
// unless the case is about the signature or the timestamp. `max_body_bytes`
// is the handler's limit.
std::vector<BadDelivery> BadDeliveries(size_t max_body_bytes);

// Headers of a correctly signed delivery of `body` at kNowMicros.
std::vector<std::pair<std::string, std::string>> SignedHeaders(
    const std::string& body, const std::string& secret = kShopSecret);

}  // namespace palaver::inbound::testing
