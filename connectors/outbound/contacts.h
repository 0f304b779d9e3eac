// Internal to connectors/outbound: what the email and SMS connectors remember
// about conversations, kept in their own store (lane.h StateTxn) and
// committed with their positions: each conversation's contact (from
// conversation.started) and the lines of its transcript. Personal data:
// ForgetCustomer deletes all of it on customer.erased.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "connectors/outbound/lane.h"
#include "schemas/events.h"

namespace palaver::outbound_internal {

struct Contact {
  std::string customer_id;
  Channel channel = Channel::kWebChat;
  std::string name;
  std::string email;
  std::string phone;
};

// Keys: "c/<tenant>/<conversation>" contact, "k/<tenant>/<customer>/<conversation>"
// index for erasure, "t/<tenant>/<conversation>/<offset, 20 digits>" transcript line.
void RememberConversation(StateTxn& txn, const Envelope& envelope,
                          const ConversationStarted& started);
Result<std::optional<Contact>> FindContact(const StateTxn& txn, const std::string& tenant,
                                           const std::string& conversation_id);
void AddTranscriptLine(StateTxn& txn, const std::string& tenant, const std::string& conversation_id,
                       int64_t offset, const std::string& line);
Result<std::vector<std::string>> TranscriptLines(const StateTxn& txn, const std::string& tenant,
                                                 const std::string& conversation_id);
Status ForgetCustomer(StateTxn& txn, const std::string& tenant, const std::string& customer_id);

// The text of a message as the shopper receives it outside the chat: the
// text, then the image link and the discount code when the text lacks them.
std::string MessageText(const MessagePosted& message);

// "2024-06-10 06:13 UTC".
std::string UtcMinute(int64_t us);

}  // namespace palaver::outbound_internal
