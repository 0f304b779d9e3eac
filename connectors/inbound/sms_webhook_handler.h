// SmsWebhookHandler: inbound SMS from a provider webhook in the common Twilio
// shape, mounted by the router at e.g. POST /v1/sms/inbound.
//
// Request: application/x-www-form-urlencoded with From, To, Body, MessageSid
// (others, e.g. AccountSid, NumMedia, FromCity, are signed but unused), and
//   X-Twilio-Signature: base64(HMAC-SHA1(auth token,
//                              full URL + every POST parameter's name and
//                              value, sorted by name, concatenated))
// The full URL is `public_base_url` + the request target (path and query)
// as the provider called it; when public_base_url is empty it is
// "https://" + the Host header.
//
// The To number names the shop through `route` (configuration: one number
// per shop, with the provider account's auth token). Then:
//
//   - bad or missing signature              -> 403 signature_invalid (problem+json)
//   - STOP, STOPALL, UNSUBSCRIBE, CANCEL,   -> 200 TwiML "<Response/>": the
//     END, QUIT, START, UNSTOP                 provider handles opt-out/in
//   - HELP, INFO                             -> 200 TwiML with help_text
//     (keywords match the whole Body, trimmed, any case; nothing is recorded)
//   - anything else -> ConversationEngine::Execute(ReceiveInboundMessage{
//       tenant = the shop, actor = system "sms-gateway", channel = sms,
//       customer_id = "phone:" + From, from_address = From, text = Body,
//       idempotency_key = "sms:" + MessageSid}) -> 200 "<Response/>" with
//       X-Palaver-Position / X-Palaver-Partition headers; a redelivered
//       MessageSid appends nothing and answers the same.
//
// Other answers (problem+json; nothing appended; the router decides the
// path, the handler does not look at it): 405 method_not_allowed; 415
// unsupported_media_type; 413 too_large; 404 unknown_number (To not
// configured); 422 missing_parameter (From, To, MessageSid, Body);
// 422 refused.<reason> when the engine refuses; 503 unavailable when the log
// could not confirm the append (the provider retries the webhook).
//
// Thread safety: Handle() may be called from any thread concurrently; the
// engine must outlive the handler.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "connectors/http_server.h"
#include "engine/domain/conversation_engine.h"
#include "schemas/status.h"

namespace palaver::inbound {

// Which shop a provider number belongs to.
struct SmsRoute {
  std::string shop;
  std::string auth_token;  // the provider account's token (signature key)
};

struct SmsWebhookOptions {
  // To number (E.164, as the provider sends it) -> route; nullopt = unknown.
  std::function<std::optional<SmsRoute>(std::string_view to_number)> route;
  // Scheme and authority the provider calls, e.g. "https://palaver.example.com".
  std::string public_base_url;
  std::string help_text =
      "Reply to this number to reach our support team. Reply STOP to unsubscribe.";
  size_t max_body_bytes = 64 * 1024;
  // Transient append failures are retried for at most this long before 503.
  std::chrono::milliseconds retry_budget{5000};
};

class SmsWebhookHandler {
 public:
  SmsWebhookHandler(domain::ConversationEngine& engine, SmsWebhookOptions options);
  SmsWebhookHandler(const SmsWebhookHandler&) = delete;
  SmsWebhookHandler& operator=(const SmsWebhookHandler&) = delete;

  // Answers one webhook call (see above). Never throws.
  HttpResponse Handle(const HttpRequest& request) const;

 private:
  domain::ConversationEngine& engine_;
  const SmsWebhookOptions options_;
};

// Routes from configuration text "NUMBER=SHOP[,NUMBER=SHOP...]" (e.g. the
// value of PALAVER_SMS_NUMBERS), every number under the one `auth_token`.
// Spaces around entries are ignored. Errors: kInvalidArgument naming the
// entry that is not NUMBER=SHOP, or a number listed twice.
Result<std::function<std::optional<SmsRoute>(std::string_view)>> SmsRoutesFromSpec(
    std::string_view spec, std::string auth_token);

// The form parameters of an application/x-www-form-urlencoded body, decoded
// ('+' is a space); a repeated name keeps its last value.
std::map<std::string, std::string> ParseForm(std::string_view body);

// The X-Twilio-Signature for `url` and `params` under `auth_token`.
std::string TwilioSignature(std::string_view auth_token, std::string_view url,
                            const std::map<std::string, std::string>& params);

// The keyword a Body is, uppercased ("STOP", "HELP", ...), or empty when the
// Body is an ordinary message.
std::string SmsKeyword(std::string_view body);

}  // namespace palaver::inbound
