// ShopState: what the command side knows about one shop, built only by
// applying the shop's events in log order. Restarting the engine is replaying
// the partition; nothing else is stored.
//
// Plain values: not thread-safe; the engine's partition writer owns each
// ShopState and touches it only under the partition's lock.
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "engine/domain/message_ids.h"
#include "engine/event_log.h"
#include "schemas/events.h"

namespace palaver::domain {

// How long an idempotency key is remembered: 24 hours after its command's
// first event was recorded (envelope.recorded_at_us). A retry within the
// window returns the original result; a key older than the window, counted
// back from the newest event the shop has applied, is forgotten and may be
// used again for a new request. Keeps the table bounded by the window's
// traffic instead of growing with every keyed command ever accepted.
inline constexpr int64_t kIdempotencyWindowMicros = int64_t{24} * 3600 * 1000000;

struct ConversationState {
  std::string conversation_id;
  std::string customer_id;
  Channel channel = Channel::kWebChat;
  ConversationStatus status = ConversationStatus::kOpen;
  std::optional<int64_t> snoozed_until_us;
  std::string assignee;  // agent id; empty = unassigned
  std::string email;     // given at chat start (web chat) or the email channel's address
  std::string phone;
  int64_t started_at_us = 0;
  MessageIds message_ids;                   // every message posted to the conversation
  std::set<std::string> internal_note_ids;  // live (not deleted) notes
  int shopper_messages = 0;                 // messages from the customer
  bool agent_has_replied = false;
  // Since when the customer is waiting on an agent: the first customer
  // message after the last agent reply; nullopt when not waiting.
  std::optional<int64_t> waiting_since_us;
  std::vector<std::string> shared_discount_codes;  // the chat session's codes, latest last
  bool csat_submitted = false;
};

struct CustomerState {
  Presence presence = Presence::kOnline;  // unknown presence counts as online
  std::set<std::string> note_ids;         // live customer notes
  struct Order {
    std::string order_id;
    int64_t placed_at_us = 0;
    OrderStatus status = OrderStatus::kOpen;
  };
  std::map<std::string, Order> orders;  // by order id
  bool has_profile = false;
  std::vector<std::string> conversation_ids;  // every conversation of the customer, oldest first
};

// The original result of an idempotent command, rebuilt from the log. A
// shop remembers every keyed event for 24 hours (every storefront event is
// keyed), so the events are kept as their log records: a few hundred bytes
// each, against 672 bytes for an Event plus its strings.
struct IdempotentOutcome {
  struct Record {
    std::string bytes;  // the event as on the log (EncodeEvent)
    LogPosition position;
    std::string personal_of;  // the customer whose personal data `bytes` holds ("" = none)
  };
  std::string fingerprint;  // see engine/domain/commands.h
  std::string conversation_id;
  std::vector<Record> records;  // in log order

  // The command's events, decoded, with their positions. Errors:
  // kCorruption when a record does not decode.
  Result<std::vector<std::pair<Event, LogPosition>>> Events() const;
};

struct ShopState {
  std::string tenant;

  // Settings.
  ChatVisibility visibility = ChatVisibility::kLoggedInUsers;
  std::string welcome_message;
  std::string terms_url;
  std::string privacy_url;
  std::vector<Faq> faqs;
  OfficeHoursSetting office_hours;  // no ranges = no hours
  std::vector<Macro> macros;
  std::vector<Agent> agents;
  int32_t overdue_target_seconds = kDefaultOverdueTargetSeconds;

  // Catalogue.
  std::map<std::string, ProductUpserted> products;            // by product id
  std::map<std::string, DiscountUpserted> discounts_by_code;  // by code

  std::map<std::string, ConversationState> conversations;  // by id
  // The conversation of (customer, channel) that new messages continue: the
  // latest one started; it may be closed.
  std::map<std::pair<std::string, Channel>, std::string> latest_conversation;
  std::map<std::string, CustomerState> customers;
  std::map<std::string, std::string> customer_note_owner;  // note id -> customer id (live notes)

  // Idempotency keys used within kIdempotencyWindowMicros of the newest
  // event applied, and the same keys in the order they were first used, with
  // the recorded_at_us of their first event (the order forgetting follows).
  std::map<std::string, IdempotentOutcome> idempotency;  // by idempotency key
  std::deque<std::pair<int64_t, std::string>> idempotency_first_used;
  int64_t newest_recorded_us = 0;  // the largest envelope.recorded_at_us applied

  // Applies one event (already on the log at `position`, as the bytes
  // `record`: EncodeEvent's, which a keyed event's outcome keeps). Events of other
  // tenants must not be passed. Unknown references (a note of an unknown
  // conversation, ...) are ignored: the log is the truth, this is a view.
  // customer.erased forgets the customer's personal data held here: the
  // email and phone of each of their conversations, and the personal parts
  // of their events in remembered idempotent outcomes; so no later command
  // writes them to the log again. What the customer did (orders, presence,
  // messages' ids) stays.
  void Apply(const Event& event, const LogPosition& position, std::string_view record);

  const Agent* FindAgent(std::string_view agent_id) const;
  const ConversationState* FindConversation(std::string_view conversation_id) const;
  const Faq* FindPublishedFaq(std::string_view faq_id) const;
  const Macro* FindMacro(std::string_view macro_id) const;

 private:
  void ForgetPersonalData(const std::string& customer_id);
};

// True when `agent` holds `permission`.
bool HasPermission(const Agent& agent, Permission permission);

// A conversation is overdue when it is open and the customer has been waiting
// on an agent for longer than `target_seconds` at `now_us`.
bool IsOverdue(const ConversationState& conversation, int64_t now_us, int32_t target_seconds);

// The customer's orders placed or still open in the 60 days before `now_us`,
// most recent first, at most three (the customer profile's list).
inline constexpr int64_t kRecentOrderWindowMicros = int64_t{60} * 24 * 3600 * 1000000;
std::vector<CustomerState::Order> RecentOrders(const CustomerState& customer, int64_t now_us);

// The sentence a cart event shows in the conversation, e.g.
// "Added Blue mug to the cart. 2 items (3 units), subtotal 24.00 EUR."
// The product's name is included only when shorter than 41 characters
// (rules::ShowProductNameInCartEvent); otherwise "a product". The name is
// `changed_product_name` when given (a removed line is no longer in the
// cart), else the changed product's line.
std::string DescribeCartUpdate(const CartUpdated& cart, std::string_view changed_product_name = {});

// Published FAQs whose question or answer contains every word of `query`
// (case-insensitive for ASCII letters), in display order. An empty query
// returns every published FAQ.
std::vector<Faq> SearchFaqs(const std::vector<Faq>& faqs, std::string_view query);

}  // namespace palaver::domain
