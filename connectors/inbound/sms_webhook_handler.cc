#include "connectors/inbound/sms_webhook_handler.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <thread>
#include <utility>

#include <spdlog/spdlog.h>

#include "connectors/inbound/inbound_internal.h"
#include "connectors/storefront/storefront_ingest.h"
#include "connectors/storefront/storefront_mapper.h"

namespace palaver::inbound {
namespace http = boost::beast::http;
using internal::Problem;

namespace {

// Opt-out and opt-in keywords the provider acts on itself. Not YES: a
// customer answering an agent's question with "yes" is a message.
constexpr std::array<std::string_view, 8> kOptKeywords = {
    "STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "START", "UNSTOP"};
constexpr std::array<std::string_view, 2> kHelpKeywords = {"HELP", "INFO"};

std::string_view HeaderOf(const HttpRequest& request, std::string_view name) {
  auto it = request.find(boost::beast::string_view(name.data(), name.size()));
  if (it == request.end()) return {};
  return std::string_view(it->value().data(), it->value().size());
}

std::string XmlEscape(std::string_view in) {
  std::string out;
  for (char c : in) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&apos;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

HttpResponse Twiml(const HttpRequest& request, std::string body) {
  HttpResponse response(http::status::ok, request.version());
  response.set(http::field::content_type, "application/xml");
  response.keep_alive(request.keep_alive());
  response.body() = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>" + std::move(body);
  response.prepare_payload();
  return response;
}

}  // namespace

Result<std::function<std::optional<SmsRoute>(std::string_view)>> SmsRoutesFromSpec(
    std::string_view spec, std::string auth_token) {
  auto trim = [](std::string_view v) {
    while (!v.empty() && std::isspace(static_cast<unsigned char>(v.front()))) v.remove_prefix(1);
    while (!v.empty() && std::isspace(static_cast<unsigned char>(v.back()))) v.remove_suffix(1);
    return v;
  };
  std::map<std::string, std::string, std::less<>> shops;  // number -> shop
  size_t start = 0;
  while (start <= spec.size()) {
    size_t comma = spec.find(',', start);
    if (comma == std::string_view::npos) comma = spec.size();
    const std::string_view entry = trim(spec.substr(start, comma - start));
    start = comma + 1;
    if (entry.empty()) continue;
    const size_t eq = entry.find('=');
    const std::string_view number =
        eq == std::string_view::npos ? entry : trim(entry.substr(0, eq));
    const std::string_view shop =
        eq == std::string_view::npos ? std::string_view() : trim(entry.substr(eq + 1));
    if (number.empty() || shop.empty()) {
      // Built in steps: GCC 12 -O3 misreads "..." + std::string&& (-Wrestrict).
      std::string message = "\"";
      message.append(entry).append("\" is not NUMBER=SHOP, e.g. +15005550006=shop-acme");
      return Status::Error(ErrorCode::kInvalidArgument, message, "sms_numbers");
    }
    if (!shops.emplace(std::string(number), std::string(shop)).second) {
      return Status::Error(ErrorCode::kInvalidArgument,
                           "SMS number " + std::string(number) + " is listed twice", "sms_numbers");
    }
  }
  return std::function<std::optional<SmsRoute>(std::string_view)>(
      [shops = std::move(shops),
       token = std::move(auth_token)](std::string_view number) -> std::optional<SmsRoute> {
        auto it = shops.find(number);
        if (it == shops.end()) return std::nullopt;
        return SmsRoute{it->second, token};
      });
}

std::map<std::string, std::string> ParseForm(std::string_view body) {
  std::map<std::string, std::string> out;
  size_t start = 0;
  while (start < body.size()) {
    size_t amp = body.find('&', start);
    if (amp == std::string_view::npos) amp = body.size();
    const std::string_view pair = body.substr(start, amp - start);
    if (!pair.empty()) {
      const size_t eq = pair.find('=');
      const std::string_view name = pair.substr(0, eq);
      const std::string_view value =
          eq == std::string_view::npos ? std::string_view() : pair.substr(eq + 1);
      out[internal::PercentDecode(name, true)] = internal::PercentDecode(value, true);
    }
    start = amp + 1;
  }
  return out;
}

std::string TwilioSignature(std::string_view auth_token, std::string_view url,
                            const std::map<std::string, std::string>& params) {
  std::string message(url);
  for (const auto& [name, value] : params) message.append(name).append(value);  // sorted by name
  return internal::HmacSha1Base64(auth_token, message);
}

std::string SmsKeyword(std::string_view body) {
  while (!body.empty() && std::isspace(static_cast<unsigned char>(body.front()))) {
    body.remove_prefix(1);
  }
  while (!body.empty() && (std::isspace(static_cast<unsigned char>(body.back())) ||
                           body.back() == '.' || body.back() == '!')) {
    body.remove_suffix(1);
  }
  std::string upper(body);
  for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  for (std::string_view k : kOptKeywords) {
    if (upper == k) return upper;
  }
  for (std::string_view k : kHelpKeywords) {
    if (upper == k) return upper;
  }
  return {};
}

SmsWebhookHandler::SmsWebhookHandler(domain::ConversationEngine& engine, SmsWebhookOptions options)
    : engine_(engine), options_(std::move(options)) {}

HttpResponse SmsWebhookHandler::Handle(const HttpRequest& request) const {
  if (request.method() != http::verb::post) {
    HttpResponse response = Problem(request, http::status::method_not_allowed, "method_not_allowed",
                                    "the SMS webhook is POSTed");
    response.set(http::field::allow, "POST");
    return response;
  }
  if (internal::MediaType(HeaderOf(request, "Content-Type")) !=
      "application/x-www-form-urlencoded") {
    return Problem(request, http::status::unsupported_media_type, "unsupported_media_type",
                   "the SMS webhook takes application/x-www-form-urlencoded", "Content-Type");
  }
  if (request.body().size() > options_.max_body_bytes) {
    return Problem(request, http::status::payload_too_large, "too_large",
                   "the webhook body is " + std::to_string(request.body().size()) +
                       " bytes; the limit is " + std::to_string(options_.max_body_bytes));
  }
  const std::map<std::string, std::string> params = ParseForm(request.body());
  auto param = [&](const char* name) -> std::string {
    auto it = params.find(name);
    return it == params.end() ? std::string() : it->second;
  };
  const std::string to = param("To");
  const std::optional<SmsRoute> route =
      options_.route && !to.empty() ? options_.route(to) : std::nullopt;
  if (!route) {
    return Problem(request, http::status::not_found, "unknown_number",
                   "no shop receives SMS on \"" + to + "\"", "To");
  }

  std::string url = options_.public_base_url;
  if (url.empty()) url = "https://" + std::string(HeaderOf(request, "Host"));
  while (!url.empty() && url.back() == '/') url.pop_back();
  url += std::string(request.target());
  const std::string expected = TwilioSignature(route->auth_token, url, params);
  if (!internal::ConstantTimeEquals(HeaderOf(request, "X-Twilio-Signature"), expected)) {
    spdlog::warn("sms.signature_invalid shop={} to={} url=\"{}\"", route->shop, to, url);
    return Problem(request, http::status::forbidden, "signature_invalid",
                   "X-Twilio-Signature does not match this request signed with the account's "
                   "auth token",
                   "X-Twilio-Signature");
  }

  const std::string from = param("From");
  const std::string sid = param("MessageSid");
  const std::string text = param("Body");
  for (const auto& [name, value] :
       {std::pair{"From", &from}, std::pair{"MessageSid", &sid}, std::pair{"Body", &text}}) {
    if (value->empty()) {
      return Problem(request, http::status::unprocessable_entity, "missing_parameter",
                     std::string(name) + " is required", name);
    }
  }

  const std::string keyword = SmsKeyword(text);
  if (!keyword.empty()) {
    spdlog::info("sms.keyword shop={} keyword={} message_sid={}", route->shop, keyword, sid);
    if (keyword == "HELP" || keyword == "INFO") {
      return Twiml(request,
                   "<Response><Message>" + XmlEscape(options_.help_text) + "</Message></Response>");
    }
    return Twiml(request, "<Response/>");
  }

  domain::ReceiveInboundMessage command;
  command.meta.tenant = route->shop;
  command.meta.actor = domain::Actor{ActorKind::kSystem, "sms-gateway"};
  command.meta.idempotency_key = "sms:" + sid;
  command.channel = Channel::kSms;
  command.customer_id = "phone:" + from;
  command.from_address = from;
  command.text = text;

  const auto give_up = std::chrono::steady_clock::now() + options_.retry_budget;
  std::chrono::milliseconds backoff{50};
  while (true) {
    Result<domain::CommandResult> result = engine_.Execute(command);
    if (result.ok()) {
      HttpResponse response = Twiml(request, "<Response/>");
      if (!result->events.empty()) {
        response.set("X-Palaver-Partition",
                     std::to_string(result->events.back().position.partition));
        response.set("X-Palaver-Position", std::to_string(result->events.back().position.offset));
      }
      spdlog::info("sms.inbound shop={} message_sid={} conversation={} appended={} replayed={}",
                   route->shop, sid, result->conversation_id,
                   result->replayed ? 0 : result->events.size(), result->replayed);
      return response;
    }
    const Status& status = result.status();
    if (!storefront::IsTransient(status)) {
      const storefront::Rejection rejection = storefront::RejectionFromRefusal(status);
      spdlog::warn("sms.refused shop={} message_sid={} reason={} message=\"{}\"", route->shop, sid,
                   rejection.reason, rejection.message);
      return Problem(request,
                     rejection.reason == "unknown_shop" ? http::status::not_found
                                                        : http::status::unprocessable_entity,
                     rejection.reason, rejection.message, rejection.field);
    }
    if (std::chrono::steady_clock::now() + backoff >= give_up) {
      HttpResponse response = Problem(request, http::status::service_unavailable, "unavailable",
                                      "the event log did not confirm the message (" +
                                          status.message() + "); the provider's retry is safe");
      response.set(http::field::retry_after, "1");
      return response;
    }
    std::this_thread::sleep_for(backoff);
    backoff = std::min(backoff * 2, std::chrono::milliseconds(1000));
  }
}

}  // namespace palaver::inbound
