#include "connectors/inbound/storefront_http_handler.h"

#include <charconv>
#include <exception>
#include <utility>

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "connectors/inbound/inbound_internal.h"
#include "connectors/storefront/storefront_ingest.h"

namespace palaver::inbound {
namespace http = boost::beast::http;
using internal::Problem;
using storefront::Rejection;

namespace {

constexpr std::string_view kPrefix = "/v1/shops/";
constexpr std::string_view kSuffix = "/storefront/events";
constexpr std::string_view kSignaturePrefix = "sha256=";

http::status StatusOf(const Rejection& rejection) {
  const std::string& r = rejection.reason;
  if (r == "too_large") return http::status::payload_too_large;
  if (r == "unknown_shop") return http::status::not_found;
  if (r == "signature_missing" || r == "signature_invalid" || r == "timestamp_invalid") {
    return http::status::unauthorized;
  }
  if (r == "not_json") return http::status::bad_request;
  if (r == "refused.idempotency_key_reused" || r == "refused.discount_code_taken") {
    return http::status::conflict;
  }
  return http::status::unprocessable_entity;
}

std::string_view HeaderOf(const HttpRequest& request, std::string_view name) {
  auto it = request.find(boost::beast::string_view(name.data(), name.size()));
  if (it == request.end()) return {};
  return std::string_view(it->value().data(), it->value().size());
}

}  // namespace

std::string SignStorefrontRequest(std::string_view secret, std::string_view timestamp,
                                  std::string_view body) {
  std::string message;
  message.reserve(timestamp.size() + 1 + body.size());
  message.append(timestamp).append(".").append(body);
  return std::string(kSignaturePrefix) + internal::HmacSha256Hex(secret, message);
}

std::optional<std::string> StorefrontHttpHandler::ShopOf(std::string_view target) {
  target = target.substr(0, target.find('?'));
  if (!target.starts_with(kPrefix) || !target.ends_with(kSuffix)) return std::nullopt;
  const std::string_view shop =
      target.substr(kPrefix.size(), target.size() - kPrefix.size() - kSuffix.size());
  if (shop.empty() || shop.find('/') != std::string_view::npos) return std::nullopt;
  return internal::PercentDecode(shop, /*plus_is_space=*/false);
}

StorefrontHttpHandler::StorefrontHttpHandler(domain::ConversationEngine& engine,
                                             storefront::DeadLetterWriter& deadletters,
                                             StorefrontHttpOptions options)
    : engine_(engine), deadletters_(deadletters), options_(std::move(options)) {}

HttpResponse StorefrontHttpHandler::Handle(const HttpRequest& request) const {
  const std::string target(request.target());
  const std::optional<std::string> shop = ShopOf(target);
  if (!shop) {
    return Problem(
        request, http::status::not_found, "no_route",
        "no route for " + target + "; storefront events go to POST " + std::string(kRoute));
  }
  if (request.method() != http::verb::post) {
    HttpResponse response = Problem(request, http::status::method_not_allowed, "method_not_allowed",
                                    "storefront events are POSTed");
    response.set(http::field::allow, "POST");
    return response;
  }
  const std::string content_type = internal::MediaType(HeaderOf(request, "Content-Type"));
  if (!content_type.empty() && content_type != "application/json") {
    return Problem(request, http::status::unsupported_media_type, "unsupported_media_type",
                   "send the event as application/json, not " + content_type, "Content-Type");
  }
  const std::string& body = request.body();

  // Every refusal below is a delivery that failed: park it, then answer.
  auto refuse = [&](Rejection rejection) -> HttpResponse {
    storefront::DeadLetter letter;
    letter.rejection = rejection;
    letter.source_topic = "http";
    letter.source_key = *shop;
    letter.original = body;
    letter.source_attributes = {{"method", "POST"}, {"path", target}};
    if (auto ts = HeaderOf(request, "X-Palaver-Timestamp"); !ts.empty()) {
      letter.source_attributes.emplace_back("timestamp", std::string(ts));
    }
    if (auto agent = HeaderOf(request, "User-Agent"); !agent.empty()) {
      letter.source_attributes.emplace_back("user_agent", std::string(agent));
    }
    Result<storefront::DeadLetterPosition> written = deadletters_.Write(letter);
    if (!written.ok()) {
      spdlog::error("storefront_http.deadletter_failed shop={} reason={} error=\"{}\"", *shop,
                    rejection.reason, written.status().ToString());
      return Problem(request, http::status::internal_server_error, "deadletter_failed",
                     "the event was refused (" + rejection.reason +
                         ") but could not be parked; retry the request");
    }
    spdlog::warn(
        "storefront_http.deadletter shop={} reason={} field=\"{}\" message=\"{}\" "
        "deadletter_partition={} deadletter_offset={}",
        *shop, rejection.reason, rejection.field, rejection.message, written->partition,
        written->offset);
    return Problem(request, StatusOf(rejection), rejection.reason, rejection.message,
                   rejection.field);
  };

  if (body.size() > options_.max_body_bytes) {
    return refuse({"too_large",
                   "the event is " + std::to_string(body.size()) + " bytes; the limit is " +
                       std::to_string(options_.max_body_bytes),
                   ""});
  }
  const std::optional<std::string> secret =
      options_.shop_secret ? options_.shop_secret(*shop) : std::nullopt;
  if (!secret) {
    return refuse({"unknown_shop", "palaver serves no shop \"" + *shop + "\"", "shop"});
  }

  // Timestamp, then signature over timestamp + "." + body.
  const std::string_view timestamp = HeaderOf(request, "X-Palaver-Timestamp");
  int64_t seconds = 0;
  const auto [end, ec] =
      std::from_chars(timestamp.data(), timestamp.data() + timestamp.size(), seconds);
  if (timestamp.empty() || ec != std::errc() || end != timestamp.data() + timestamp.size()) {
    return refuse({"timestamp_invalid",
                   "X-Palaver-Timestamp must be the signing time in Unix seconds",
                   "X-Palaver-Timestamp"});
  }
  const int64_t now_seconds =
      (options_.clock != nullptr ? options_.clock->NowMicros() : rules::SystemClock().NowMicros()) /
      1000000;
  const int64_t skew = now_seconds > seconds ? now_seconds - seconds : seconds - now_seconds;
  if (skew > options_.timestamp_tolerance.count()) {
    return refuse({"timestamp_invalid",
                   "X-Palaver-Timestamp is " + std::to_string(skew) +
                       " s from palaver's clock; the tolerance is " +
                       std::to_string(options_.timestamp_tolerance.count()) +
                       " s (sign each request when sending it)",
                   "X-Palaver-Timestamp"});
  }
  const std::string_view signatures = HeaderOf(request, "X-Palaver-Signature");
  if (signatures.find(kSignaturePrefix) == std::string_view::npos) {
    return refuse({"signature_missing",
                   "X-Palaver-Signature must be sha256=<hex HMAC-SHA256 of timestamp.body>",
                   "X-Palaver-Signature"});
  }
  const std::string expected = SignStorefrontRequest(*secret, timestamp, body);
  bool signed_ok = false;
  size_t start = 0;
  while (start <= signatures.size()) {
    size_t comma = signatures.find(',', start);
    if (comma == std::string_view::npos) comma = signatures.size();
    std::string_view one = signatures.substr(start, comma - start);
    while (!one.empty() && one.front() == ' ') one.remove_prefix(1);
    while (!one.empty() && one.back() == ' ') one.remove_suffix(1);
    if (internal::ConstantTimeEquals(one, expected)) signed_ok = true;
    start = comma + 1;
  }
  if (!signed_ok) {
    return refuse({"signature_invalid",
                   "X-Palaver-Signature does not match the body signed with the shop's secret",
                   "X-Palaver-Signature"});
  }

  storefront::IngestOptions ingest;
  ingest.mapper.max_record_bytes = options_.max_body_bytes;
  ingest.mapper.schemas = options_.schemas;
  ingest.expected_tenant = *shop;
  const auto give_up = std::chrono::steady_clock::now() + options_.retry_budget;
  ingest.keep_trying = [give_up] { return std::chrono::steady_clock::now() < give_up; };
  ingest.initial_backoff = std::chrono::milliseconds(50);
  ingest.max_backoff = std::chrono::milliseconds(1000);
  storefront::IngestOutcome outcome = storefront::IngestStorefrontRecord(engine_, body, ingest);

  if (auto* rejection = std::get_if<Rejection>(&outcome)) return refuse(std::move(*rejection));
  if (auto* transient = std::get_if<Status>(&outcome)) {
    spdlog::warn("storefront_http.unavailable shop={} error=\"{}\"", *shop, transient->ToString());
    HttpResponse response = Problem(request, http::status::service_unavailable, "unavailable",
                                    "the event log did not confirm the append (" +
                                        transient->message() + "); retry with the same event id");
    response.set(http::field::retry_after, "1");
    return response;
  }
  const storefront::Ingested& done = std::get<storefront::Ingested>(outcome);
  nlohmann::json answer = {{"event_id", done.event_id},
                           {"type", std::string(EventTypeName(done.type))},
                           {"conversation_id", done.result.conversation_id},
                           {"replayed", done.result.replayed},
                           {"appended", done.result.replayed ? 0 : done.result.events.size()}};
  if (!done.result.events.empty()) {
    answer["partition"] = done.result.events.back().position.partition;
    answer["position"] = done.result.events.back().position.offset;
  } else {
    answer["partition"] = nullptr;
    answer["position"] = nullptr;
  }
  spdlog::info("storefront_http.event shop={} type={} event_id={} appended={} replayed={}", *shop,
               EventTypeName(done.type), done.event_id,
               done.result.replayed ? 0 : done.result.events.size(), done.result.replayed);
  return JsonResponse(request, done.result.replayed ? http::status::ok : http::status::accepted,
                      answer.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
}

}  // namespace palaver::inbound
