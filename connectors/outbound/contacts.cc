#include "connectors/outbound/contacts.h"

#include <cstdio>
#include <ctime>

#include <nlohmann/json.hpp>

namespace palaver::outbound_internal {
namespace {

std::string ContactKey(const std::string& tenant, const std::string& conversation_id) {
  return "c/" + tenant + "/" + conversation_id;
}
std::string IndexPrefix(const std::string& tenant, const std::string& customer_id) {
  return "k/" + tenant + "/" + customer_id + "/";
}
std::string TranscriptPrefix(const std::string& tenant, const std::string& conversation_id) {
  return "t/" + tenant + "/" + conversation_id + "/";
}

}  // namespace

void RememberConversation(StateTxn& txn, const Envelope& envelope,
                          const ConversationStarted& started) {
  nlohmann::json j = {{"customer_id", started.customer_id},
                      {"channel", static_cast<int>(started.channel)},
                      {"name", started.personal.name},
                      {"email", started.personal.email},
                      {"phone", started.personal.phone}};
  txn.Put(ContactKey(envelope.tenant, envelope.conversation_id), j.dump());
  txn.Put(IndexPrefix(envelope.tenant, started.customer_id) + envelope.conversation_id, "");
}

Result<std::optional<Contact>> FindContact(const StateTxn& txn, const std::string& tenant,
                                           const std::string& conversation_id) {
  Result<std::optional<std::string>> raw = txn.Get(ContactKey(tenant, conversation_id));
  if (!raw.ok()) return raw.status();
  if (!*raw) return std::optional<Contact>();
  nlohmann::json j = nlohmann::json::parse(**raw, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) {
    return Status::Error(ErrorCode::kCorruption,
                         "stored contact of conversation " + conversation_id + " is not JSON");
  }
  Contact c;
  c.customer_id = j.value("customer_id", "");
  c.channel = static_cast<Channel>(j.value("channel", 1));
  c.name = j.value("name", "");
  c.email = j.value("email", "");
  c.phone = j.value("phone", "");
  return std::optional<Contact>(std::move(c));
}

void AddTranscriptLine(StateTxn& txn, const std::string& tenant, const std::string& conversation_id,
                       int64_t offset, const std::string& line) {
  char digits[24];
  std::snprintf(digits, sizeof(digits), "%020lld", static_cast<long long>(offset));
  txn.Put(TranscriptPrefix(tenant, conversation_id) + digits, line);
}

Result<std::vector<std::string>> TranscriptLines(const StateTxn& txn, const std::string& tenant,
                                                 const std::string& conversation_id) {
  auto rows = txn.Scan(TranscriptPrefix(tenant, conversation_id));
  if (!rows.ok()) return rows.status();
  std::vector<std::string> lines;
  for (auto& [key, value] : *rows) lines.push_back(std::move(value));
  return lines;
}

Status ForgetCustomer(StateTxn& txn, const std::string& tenant, const std::string& customer_id) {
  const std::string prefix = IndexPrefix(tenant, customer_id);
  auto index = txn.Scan(prefix);
  if (!index.ok()) return index.status();
  for (const auto& [key, value] : *index) {
    const std::string conversation_id = key.substr(prefix.size());
    txn.Delete(ContactKey(tenant, conversation_id));
    auto lines = txn.Scan(TranscriptPrefix(tenant, conversation_id));
    if (!lines.ok()) return lines.status();
    for (const auto& line : *lines) txn.Delete(line.first);
    txn.Delete(key);
  }
  return Status::Ok();
}

std::string MessageText(const MessagePosted& message) {
  std::string text = message.personal.text;
  auto append = [&](const std::string& needle, const std::string& extra) {
    if (needle.empty() || text.find(needle) != std::string::npos) return;
    if (!text.empty()) text += "\n";
    text += extra;
  };
  if (message.image) append(message.image->url, message.image->url);
  append(message.discount_code, "Discount code: " + message.discount_code);
  return text;
}

std::string UtcMinute(int64_t us) {
  const std::time_t seconds = static_cast<std::time_t>(us / 1000000);
  std::tm tm{};
  gmtime_r(&seconds, &tm);
  char out[32];
  std::strftime(out, sizeof(out), "%Y-%m-%d %H:%M UTC", &tm);
  return out;
}

}  // namespace palaver::outbound_internal
