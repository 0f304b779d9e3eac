#include "connectors/outbound/sms_connector.h"

#include "connectors/outbound/contacts.h"
#include "connectors/outbound/lane.h"
#include "connectors/outbound/transport.h"

namespace palaver {
namespace {

using outbound_internal::AttemptResult;
using outbound_internal::Delivery;
using outbound_internal::StateTxn;

// application/x-www-form-urlencoded: unreserved bytes kept, space as '+',
// every other byte (UTF-8 included) as %XX.
std::string FormEncode(std::string_view text) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : text) {
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
        c == '.' || c == '_' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else if (c == ' ') {
      out.push_back('+');
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 0x0f]);
    }
  }
  return out;
}

bool IsE164(std::string_view phone) {
  if (phone.size() < 3 || phone.size() > 16 || phone[0] != '+') return false;
  for (size_t i = 1; i < phone.size(); ++i) {
    if (phone[i] < '0' || phone[i] > '9') return false;
  }
  return true;
}

class SmsHandler final : public outbound_internal::Handler {
 public:
  explicit SmsHandler(SmsOptions options) : options_(std::move(options)) {}

  Result<std::vector<Delivery>> Plan(const Event& event, const LogRecord&, StateTxn& txn) override {
    std::vector<Delivery> out;
    const Envelope& env = event.envelope;
    if (const auto* started = std::get_if<ConversationStarted>(&event.body)) {
      if (started->channel == Channel::kSms) {
        outbound_internal::RememberConversation(txn, env, *started);
      }
      return out;
    }
    if (const auto* erased = std::get_if<CustomerErased>(&event.body)) {
      PALAVER_RETURN_IF_ERROR(
          outbound_internal::ForgetCustomer(txn, env.tenant, erased->customer_id));
      return out;
    }
    const auto* message = std::get_if<MessagePosted>(&event.body);
    if (message == nullptr || message->delivery_route != DeliveryRoute::kSms) return out;
    if (env.actor_kind == ActorKind::kShopper || env.actor_kind == ActorKind::kStorefront) {
      return out;  // the shopper's own message, received by SMS
    }
    Delivery d;
    d.delivery_id = "sms." + env.event_id;
    d.purpose = "reply";
    d.content = outbound_internal::MessageText(*message);
    auto contact = outbound_internal::FindContact(txn, env.tenant, env.conversation_id);
    if (!contact.ok()) return contact.status();
    if (!*contact || (*contact)->phone.empty()) {
      d.refusal = "no phone number is known for conversation " + env.conversation_id +
                  " (no SMS conversation.started for it was seen)";
    } else if (!IsE164((*contact)->phone)) {
      d.refusal =
          "the phone number of conversation " + env.conversation_id + " is not in E.164 form";
    } else if (d.content.empty()) {
      d.refusal = "message " + message->message_id + " has no text to send";
    } else {
      d.recipients.push_back((*contact)->phone);
    }
    out.push_back(std::move(d));
    return out;
  }

  bool NeedsHistory() const override { return true; }

  AttemptResult Attempt(const Delivery& d, int, const std::atomic<bool>& stop) override {
    auto from = options_.from_numbers.find(d.tenant);
    const std::string& sender =
        from == options_.from_numbers.end() ? options_.from_number : from->second;
    const std::string body = "To=" + FormEncode(d.recipients.at(0)) +
                             "&From=" + FormEncode(sender) + "&Body=" + FormEncode(d.content);
    std::vector<std::string> headers = {
        "Content-Type: application/x-www-form-urlencoded",
        "User-Agent: " + options_.user_agent,
        "X-Palaver-Delivery: " + d.delivery_id,
        "Idempotency-Key: " + d.delivery_id,
    };
    const std::string userpwd =
        options_.account.empty() ? "" : options_.account + ":" + options_.auth_token;
    return session_.Post(options_.provider_url, headers, body, userpwd,
                         options_.retry.request_timeout, stop);
  }

 private:
  const SmsOptions options_;
  outbound_internal::CurlSession session_;
};

Status Invalid(const std::string& field, const std::string& message) {
  return Status::Error(ErrorCode::kInvalidArgument, field + ": " + message, field);
}

}  // namespace

Result<std::unique_ptr<OutboundConnector>> NewSmsConnector(EventLog& log, SmsOptions options) {
  PALAVER_RETURN_IF_ERROR(outbound_internal::CheckFollowOptions(options.follow));
  PALAVER_RETURN_IF_ERROR(outbound_internal::CheckRetryOptions(options.retry));
  if (!outbound_internal::IsHttpUrl(options.provider_url)) {
    return Invalid("provider_url",
                   "\"" + options.provider_url + "\" is not an http:// or https:// URL");
  }
  if (!IsE164(options.from_number)) {
    return Invalid("from_number",
                   "\"" + options.from_number + "\" is not an E.164 number like +14155550100");
  }
  for (const auto& [tenant, number] : options.from_numbers) {
    if (!IsE164(number)) {
      return Invalid("from_numbers[" + tenant + "]",
                     "\"" + number + "\" is not an E.164 number like +14155550100");
    }
  }
  if (options.account.find(':') != std::string::npos) {
    return Invalid("account", "must not contain ':'");
  }
  FollowOptions follow = options.follow;
  RetryOptions retry = options.retry;
  std::vector<outbound_internal::TargetSpec> targets;
  outbound_internal::TargetSpec spec;
  spec.target = "sms";
  spec.handler = std::make_unique<SmsHandler>(std::move(options));
  targets.push_back(std::move(spec));
  return std::unique_ptr<OutboundConnector>(new outbound_internal::LaneConnector(
      log, "sms", DeliveryChannel::kSms, std::move(follow), retry, std::move(targets)));
}

}  // namespace palaver
