#include "tests/connectors/inbound/inbound_test_util.h"

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>
#include <gtest/gtest.h>

#include "schemas/json_schema.h"

namespace palaver::inbound::testing {
namespace http = boost::beast::http;

HttpResponse Send(uint16_t port, http::verb method, std::string target,
                  std::vector<std::pair<std::string, std::string>> headers, std::string body) {
  try {
    boost::asio::io_context io;
    boost::asio::ip::tcp::socket socket(io);
    socket.connect({boost::asio::ip::make_address("127.0.0.1"), port});
    HttpRequest request(method, target, 11);
    request.set(http::field::host, "127.0.0.1:" + std::to_string(port));
    for (const auto& [name, value] : headers) request.set(name, value);
    request.body() = std::move(body);
    request.prepare_payload();
    http::write(socket, request);
    boost::beast::flat_buffer buffer;
    http::response_parser<http::string_body> parser;
    parser.body_limit(16 * 1024 * 1024);
    http::read(socket, buffer, parser);
    boost::system::error_code ec;
    socket.shutdown(boost::asio::ip::tcp::socket::shutdown_both, ec);
    return parser.release();
  } catch (const std::exception& e) {
    ADD_FAILURE() << "HTTP exchange failed: " << e.what();
    HttpResponse failed;
    failed.result(599);
    return failed;
  }
}

nlohmann::json Example(EventType type, const std::string& event_id) {
  nlohmann::json doc = JsonSchemaSet::Embedded().SchemaOf(type)->at("examples").at(0);
  doc["event_id"] = event_id;
  doc.erase("idempotency_key");
  return doc;
}

std::string Base64Decode(std::string_view in) {
  static const std::string kAlphabet =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  uint32_t buffer = 0;
  int bits = 0;
  for (char c : in) {
    if (c == '=') break;
    const size_t v = kAlphabet.find(c);
    if (v == std::string::npos) return "<invalid base64>";
    buffer = (buffer << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((buffer >> bits) & 0xff);
    }
  }
  return out;
}

EmbeddedEngine::EmbeddedEngine() {
  EventLogOptions options;
  options.kind = EventLogOptions::Kind::kEmbedded;
  options.embedded_dir = dir.path() + "/log";
  options.partitions = 2;
  options.sync_writes = false;
  Result<std::unique_ptr<EventLog>> opened = OpenEventLog(options);
  EXPECT_TRUE(opened.ok()) << opened.status().ToString();
  if (!opened.ok()) return;
  log = std::move(opened).value();
  domain::ConversationEngineOptions engine_options;
  engine_options.shop_secret = [](std::string_view tenant) -> std::optional<std::string> {
    if (tenant == kShop) return std::string(kShopSecret);
    return std::nullopt;
  };
  engine = std::make_unique<domain::ConversationEngine>(*log, clock, engine_options);
}

int64_t EmbeddedEngine::ShopEnd() {
  Result<int64_t> end = log->EndOffset(log->PartitionFor(kShop));
  EXPECT_TRUE(end.ok()) << end.status().ToString();
  return end.ok() ? *end : -1;
}

}  // namespace palaver::inbound::testing

#include "connectors/inbound/storefront_http_handler.h"

namespace palaver::inbound::testing {

std::vector<std::pair<std::string, std::string>> SignedHeaders(const std::string& body,
                                                               const std::string& secret) {
  const std::string timestamp = std::to_string(kNowMicros / 1000000);
  return {{"Content-Type", "application/json"},
          {"X-Palaver-Timestamp", timestamp},
          {"X-Palaver-Signature", SignStorefrontRequest(secret, timestamp, body)}};
}

std::vector<BadDelivery> BadDeliveries(size_t max_body_bytes) {
  std::vector<BadDelivery> out;
  auto add = [&](std::string name, std::string shop, std::string body, unsigned status,
                 std::string code, std::string field) {
    BadDelivery d{std::move(name), std::move(shop), std::move(body), {},
                  status,          std::move(code), std::move(field)};
    d.headers = SignedHeaders(d.body);
    out.push_back(std::move(d));
  };
  add("not_json", kShop, "{\"type\": \"cart.updated\", oops", 400, "not_json", "");
  nlohmann::json violation = Example(EventType::kCartUpdated, "evt-bad-schema");
  violation["body"]["line_items"][0]["quantity"] = 0;
  add("schema_violation", kShop, violation.dump(), 422, "schema_violation",
      "/body/line_items/0/quantity");
  nlohmann::json unknown_type = Example(EventType::kPresenceChanged, "evt-bad-type");
  unknown_type["type"] = "wishlist.updated";
  add("unknown_type", kShop, unknown_type.dump(), 422, "unknown_type", "/type");
  nlohmann::json old_version = Example(EventType::kCartUpdated, "evt-bad-version");
  old_version["schema_version"] = 99;
  add("unsupported_version", kShop, old_version.dump(), 422, "unsupported_version",
      "/schema_version");
  nlohmann::json other_tenant = Example(EventType::kPresenceChanged, "evt-bad-tenant");
  other_tenant["tenant"] = "shop-other";
  add("tenant_mismatch", kShop, other_tenant.dump(), 422, "tenant_mismatch", "/tenant");
  nlohmann::json sms = Example(EventType::kMessagePosted, "evt-bad-channel");
  sms["body"]["channel"] = "sms";
  sms["body"]["delivery_route"] = "sms";
  add("unsupported_channel", kShop, sms.dump(), 422, "unsupported_channel", "/body/channel");
  // A shopper message for a conversation the shop does not have: the engine refuses it.
  add("engine_refusal", kShop, Example(EventType::kMessagePosted, "evt-bad-conv").dump(), 422,
      "refused.not_found.conversation", "conversation_id");
  add("unknown_shop", "shop-nowhere", Example(EventType::kPresenceChanged, "evt-bad-shop").dump(),
      404, "unknown_shop", "shop");
  nlohmann::json big = Example(EventType::kProductUpserted, "evt-bad-size");
  big["body"]["title"] = std::string(max_body_bytes, 'x');
  add("too_large", kShop, big.dump(), 413, "too_large", "");

  const std::string good = Example(EventType::kPresenceChanged, "evt-bad-sig").dump();
  add("signature_invalid", kShop, good, 401, "signature_invalid", "X-Palaver-Signature");
  out.back().headers = SignedHeaders(good, "not-the-shop-secret");
  add("signature_missing", kShop, good, 401, "signature_missing", "X-Palaver-Signature");
  out.back().headers.pop_back();
  // A body signed correctly but with a changed body: a tampered delivery.
  add("body_tampered", kShop, good, 401, "signature_invalid", "X-Palaver-Signature");
  out.back().headers = SignedHeaders(good + " ");
  // A captured request replayed ten minutes later: signed, but stale.
  add("timestamp_stale", kShop, good, 401, "timestamp_invalid", "X-Palaver-Timestamp");
  {
    const std::string stale = std::to_string(kNowMicros / 1000000 - 600);
    out.back().headers = {{"Content-Type", "application/json"},
                          {"X-Palaver-Timestamp", stale},
                          {"X-Palaver-Signature", SignStorefrontRequest(kShopSecret, stale, good)}};
  }
  add("timestamp_missing", kShop, good, 401, "timestamp_invalid", "X-Palaver-Timestamp");
  out.back().headers.erase(out.back().headers.begin() + 1);
  return out;
}

}  // namespace palaver::inbound::testing
