#include "connectors/outbound/email_connector.h"

#include <ctime>

#include "connectors/outbound/contacts.h"
#include "connectors/outbound/lane.h"
#include "connectors/outbound/transport.h"

namespace palaver {
namespace {

using outbound_internal::AttemptResult;
using outbound_internal::Delivery;
using outbound_internal::StateTxn;

bool IsAscii(std::string_view text) {
  for (unsigned char c : text) {
    if (c >= 0x80 || c < 0x20) return false;
  }
  return true;
}

// An address we can put in a header and an SMTP command without letting its
// content become syntax (header or command injection).
bool IsSafeAddress(std::string_view address) {
  if (address.empty() || address.size() > 254) return false;
  const size_t at = address.find('@');
  if (at == std::string_view::npos || at == 0 || at + 1 == address.size()) return false;
  for (unsigned char c : address) {
    if (c <= 0x20 || c == '<' || c == '>' || c == ',' || c == '"' || c == 0x7f) return false;
  }
  return true;
}

// RFC 2047 encoded words ("=?UTF-8?B?...?="), each under 76 characters,
// folded onto continuation lines; code points are never split.
std::string EncodedWords(std::string_view text) {
  std::string out;
  size_t i = 0;
  while (i < text.size()) {
    size_t end = std::min(text.size(), i + 45);
    while (end < text.size() && end > i && (static_cast<unsigned char>(text[end]) & 0xc0) == 0x80) {
      --end;
    }
    if (end == i) end = std::min(text.size(), i + 45);
    if (!out.empty()) out += "\r\n ";
    out += "=?UTF-8?B?" + outbound_internal::Base64(text.substr(i, end - i)) + "?=";
    i = end;
  }
  return out;
}

// A header value that is plain ASCII stays as it is; anything else is encoded.
std::string HeaderText(std::string_view text) {
  if (IsAscii(text) && text.size() < 900) return std::string(text);
  return EncodedWords(text);
}

std::string Mailbox(std::string_view name, std::string_view address) {
  // Appended, not "<" + ...: GCC 12 at -O3 warns (-Wrestrict) on a literal
  // added before a temporary string, a false positive.
  std::string mailbox = name.empty() ? std::string() : EncodedWords(name) + " ";
  mailbox.append("<").append(address).append(">");
  return mailbox;
}

// RFC 5322 date in UTC, independent of the process locale.
std::string MailDate(int64_t us) {
  static constexpr const char* kDays[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
  static constexpr const char* kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                            "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  const std::time_t seconds = static_cast<std::time_t>(us / 1000000);
  std::tm tm{};
  gmtime_r(&seconds, &tm);
  char out[64];
  std::snprintf(out, sizeof(out), "%s, %02d %s %04d %02d:%02d:%02d +0000", kDays[tm.tm_wday],
                tm.tm_mday, kMonths[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min,
                tm.tm_sec);
  return out;
}

// Base64 of the body in lines of 76 characters; CRLF line ends throughout.
std::string Base64Body(std::string_view text) {
  std::string normalized;
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '\n' && (i == 0 || text[i - 1] != '\r')) normalized += '\r';
    normalized += text[i];
  }
  const std::string encoded = outbound_internal::Base64(normalized);
  std::string out;
  for (size_t i = 0; i < encoded.size(); i += 76) out += encoded.substr(i, 76) + "\r\n";
  return out;
}

std::string ChannelLabel(Channel channel) {
  switch (channel) {
    case Channel::kWebChat:
      return "web chat";
    case Channel::kSms:
      return "SMS";
    case Channel::kEmail:
      return "email";
    case Channel::kShopApp:
      return "shop app";
  }
  return "unknown channel";
}

class EmailHandler final : public outbound_internal::Handler {
 public:
  EmailHandler(EmailOptions options, std::string domain)
      : options_(std::move(options)), domain_(std::move(domain)) {}

  Result<std::vector<Delivery>> Plan(const Event& event, const LogRecord& record,
                                     StateTxn& txn) override {
    std::vector<Delivery> out;
    const Envelope& env = event.envelope;
    if (const auto* started = std::get_if<ConversationStarted>(&event.body)) {
      outbound_internal::RememberConversation(txn, env, *started);
      if (!options_.team_addresses.empty()) out.push_back(TeamNotification(env, *started));
      return out;
    }
    if (const auto* erased = std::get_if<CustomerErased>(&event.body)) {
      PALAVER_RETURN_IF_ERROR(
          outbound_internal::ForgetCustomer(txn, env.tenant, erased->customer_id));
      return out;
    }
    if (const auto* message = std::get_if<MessagePosted>(&event.body)) {
      if (message->delivery_route == DeliveryRoute::kInboxOnly) return out;
      auto contact = outbound_internal::FindContact(txn, env.tenant, env.conversation_id);
      if (!contact.ok()) return contact.status();
      const std::string text = outbound_internal::MessageText(*message);
      if (*contact && options_.send_transcripts) {
        outbound_internal::AddTranscriptLine(txn, env.tenant, env.conversation_id, record.offset,
                                             "[" +
                                                 outbound_internal::UtcMinute(env.occurred_at_us) +
                                                 "] " + Speaker(env) + ": " + text);
      }
      const bool from_shop = env.actor_kind == ActorKind::kAgent ||
                             env.actor_kind == ActorKind::kBot ||
                             env.actor_kind == ActorKind::kSystem;
      if (from_shop && message->delivery_route == DeliveryRoute::kEmail && options_.send_replies) {
        out.push_back(Reply(env, *contact, text));
      }
      return out;
    }
    if (const auto* transcript = std::get_if<TranscriptRequested>(&event.body)) {
      if (!options_.send_transcripts) return out;
      auto contact = outbound_internal::FindContact(txn, env.tenant, env.conversation_id);
      if (!contact.ok()) return contact.status();
      auto lines = outbound_internal::TranscriptLines(txn, env.tenant, env.conversation_id);
      if (!lines.ok()) return lines.status();
      out.push_back(Transcript(env, *transcript, *contact, *lines));
      return out;
    }
    return out;
  }

  bool NeedsHistory() const override { return true; }

  AttemptResult Attempt(const Delivery& d, int, const std::atomic<bool>& stop) override {
    return session_.SendMail(options_.server, options_.from_address, d.recipients, d.content,
                             options_.retry.request_timeout, stop);
  }

 private:
  std::string ShopName(const std::string& tenant) const {
    auto it = options_.shop_names.find(tenant);
    return it == options_.shop_names.end() ? tenant : it->second;
  }

  std::string Speaker(const Envelope& env) const {
    switch (env.actor_kind) {
      case ActorKind::kShopper:
        return "You";
      case ActorKind::kAgent:
        return "Support";
      case ActorKind::kBot:
        return "Bot";
      default:
        return ShopName(env.tenant);
    }
  }

  // The whole message; `to` already checked by IsSafeAddress.
  std::string Compose(const Envelope& env, const Delivery& d, const std::string& to_header,
                      const std::string& subject, const std::string& body, bool threaded,
                      bool automatic) const {
    std::string m;
    m += "Date: " + MailDate(env.occurred_at_us) + "\r\n";
    m += "From: " + Mailbox(options_.from_name, options_.from_address) + "\r\n";
    m += "To: " + to_header + "\r\n";
    m += "Subject: " + HeaderText(subject) + "\r\n";
    m += "Message-ID: <" + d.purpose + "." + env.event_id + "@" + domain_ + ">\r\n";
    if (threaded && !env.conversation_id.empty()) {
      const std::string thread = "<" + env.conversation_id + "@" + domain_ + ">";
      m += "In-Reply-To: " + thread + "\r\n";
      m += "References: " + thread + "\r\n";
    }
    if (automatic) m += "Auto-Submitted: auto-generated\r\n";
    m += "X-Palaver-Delivery: " + d.delivery_id + "\r\n";
    m += "MIME-Version: 1.0\r\n";
    m += "Content-Type: text/plain; charset=UTF-8\r\n";
    m += "Content-Transfer-Encoding: base64\r\n";
    m += "\r\n";
    m += Base64Body(body);
    return m;
  }

  Delivery TeamNotification(const Envelope& env, const ConversationStarted& started) const {
    Delivery d;
    d.delivery_id = "email.team_notification." + env.event_id;
    d.purpose = "team_notification";
    std::string to;
    for (const std::string& address : options_.team_addresses) {
      d.recipients.push_back(address);
      if (!to.empty()) to += ", ";
      to += "<" + address + ">";
    }
    const std::string who =
        started.personal.name.empty() ? started.customer_id : started.personal.name;
    std::string body = "A new conversation was started in " + ShopName(env.tenant) + ".\n\n";
    body += "Customer: " + who + " (" + started.customer_id + ")\n";
    body += "Channel: " + ChannelLabel(started.channel) + "\n";
    if (!started.personal.email.empty()) body += "Email: " + started.personal.email + "\n";
    if (!started.personal.phone.empty()) body += "Phone: " + started.personal.phone + "\n";
    body += "Conversation: " + env.conversation_id + "\n";
    body += "Started: " + outbound_internal::UtcMinute(env.occurred_at_us) + "\n";
    d.content =
        Compose(env, d, to, "New conversation: " + who + " (" + ChannelLabel(started.channel) + ")",
                body, /*threaded=*/false, /*automatic=*/true);
    return d;
  }

  Delivery Reply(const Envelope& env, const std::optional<outbound_internal::Contact>& contact,
                 const std::string& text) const {
    Delivery d;
    d.delivery_id = "email.reply." + env.event_id;
    d.purpose = "reply";
    if (!contact || contact->email.empty()) {
      d.refusal = "no email address is known for conversation " + env.conversation_id;
      return d;
    }
    if (!IsSafeAddress(contact->email)) {
      d.refusal = "the email address of conversation " + env.conversation_id + " is malformed";
      return d;
    }
    d.recipients.push_back(contact->email);
    std::string body = text + "\n\n-- \n" + ShopName(env.tenant) + " support\n";
    d.content = Compose(env, d, Mailbox(contact->name, contact->email),
                        "Re: Your conversation with " + ShopName(env.tenant), body,
                        /*threaded=*/true, /*automatic=*/false);
    return d;
  }

  Delivery Transcript(const Envelope& env, const TranscriptRequested& request,
                      const std::optional<outbound_internal::Contact>& contact,
                      const std::vector<std::string>& lines) const {
    Delivery d;
    d.delivery_id = "email.transcript." + env.event_id;
    d.purpose = "transcript";
    std::string address = request.personal.email;
    if (address.empty() && contact) address = contact->email;
    if (address.empty()) {
      d.refusal =
          "the transcript request names no email address and none is known for "
          "conversation " +
          env.conversation_id;
      return d;
    }
    if (!IsSafeAddress(address)) {
      d.refusal =
          "the transcript address for conversation " + env.conversation_id + " is malformed";
      return d;
    }
    d.recipients.push_back(address);
    std::string body = "Transcript of your conversation with " + ShopName(env.tenant) +
                       " (conversation " + env.conversation_id + ").\n\n";
    if (lines.empty()) body += "(no messages)\n";
    for (const std::string& line : lines) body += line + "\n";
    d.content = Compose(env, d, Mailbox(contact ? contact->name : "", address),
                        "Transcript of your conversation with " + ShopName(env.tenant), body,
                        /*threaded=*/true, /*automatic=*/true);
    return d;
  }

  const EmailOptions options_;
  const std::string domain_;
  outbound_internal::CurlSession session_;
};

Status Invalid(const std::string& field, const std::string& message) {
  return Status::Error(ErrorCode::kInvalidArgument, field + ": " + message, field);
}

bool IsHostName(std::string_view host) {
  if (host.empty() || host.size() > 253) return false;
  for (char c : host) {
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
          c == '-' || c == ':' || c == '[' || c == ']')) {
      return false;
    }
  }
  return true;
}

}  // namespace

Result<std::unique_ptr<OutboundConnector>> NewEmailConnector(EventLog& log, EmailOptions options) {
  PALAVER_RETURN_IF_ERROR(outbound_internal::CheckFollowOptions(options.follow));
  PALAVER_RETURN_IF_ERROR(outbound_internal::CheckRetryOptions(options.retry));
  if (!IsHostName(options.server.host)) {
    return Invalid("server.host", "\"" + options.server.host + "\" is not a host name or address");
  }
  if (options.server.port < 1 || options.server.port > 65535) {
    return Invalid("server.port",
                   std::to_string(options.server.port) + " is not a port (1 to 65535)");
  }
  if (!IsSafeAddress(options.from_address)) {
    return Invalid("from_address",
                   "\"" + options.from_address + "\" is not an address like support@example.com");
  }
  for (size_t i = 0; i < options.team_addresses.size(); ++i) {
    if (!IsSafeAddress(options.team_addresses[i])) {
      return Invalid("team_addresses[" + std::to_string(i) + "]",
                     "\"" + options.team_addresses[i] + "\" is not an email address");
    }
  }
  std::string domain = options.message_id_domain;
  if (domain.empty()) domain = options.from_address.substr(options.from_address.find('@') + 1);
  if (!IsHostName(domain)) {
    return Invalid("message_id_domain", "\"" + domain + "\" is not a domain");
  }
  FollowOptions follow = options.follow;
  RetryOptions retry = options.retry;
  std::vector<outbound_internal::TargetSpec> targets;
  outbound_internal::TargetSpec spec;
  spec.target = "smtp";
  spec.handler = std::make_unique<EmailHandler>(std::move(options), std::move(domain));
  targets.push_back(std::move(spec));
  return std::unique_ptr<OutboundConnector>(new outbound_internal::LaneConnector(
      log, "email", DeliveryChannel::kEmail, std::move(follow), retry, std::move(targets)));
}

}  // namespace palaver
