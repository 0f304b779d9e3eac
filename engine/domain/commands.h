// The commands of the support domain: one plain struct per command.
//
// A command names who asks (CommandMeta::actor), for which shop
// (CommandMeta::tenant), and what. ConversationEngine::Execute checks it
// against the shop's state, decides the events and appends them; see
// engine/domain/conversation_engine.h for the contract and
// engine/domain/README.md for every command's refusal reasons.
//
// Each struct lists its payload in `Fields` (like the event bodies in
// schemas/events.h). The idempotency fingerprint of a command is computed
// from its type and these fields, so adding a payload field without listing
// it there would let a retry with a different value pass as the same request.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "schemas/envelope.h"
#include "schemas/event_enums.h"
#include "schemas/events.h"

namespace palaver::domain {

// Who issues a command.
struct Actor {
  ActorKind kind = ActorKind::kSystem;
  std::string id;  // agent id, customer id, service name

  bool operator==(const Actor&) const = default;
};

// What every command carries.
struct CommandMeta {
  std::string tenant;  // the shop
  Actor actor;
  // The caller's key for this request; empty = not idempotent. A repeated key
  // with the same body returns the original result and appends nothing; with
  // a different body the command is refused (kConflict,
  // "idempotency_key_reused").
  std::string idempotency_key;
  // Ties the events of one flow together; generated when empty.
  std::string correlation_id;
};

// ---------------------------------------------------------------- shopper

// Opens a web chat for a storefront-signed shopper (actor kind kShopper; the
// actor id may be empty: the identity token names the customer). Idempotent
// per shopper and channel: while the shopper has a web chat that is not
// closed, it is returned and nothing is appended.
struct StartWebChat {
  CommandMeta meta;
  std::string identity_token;  // engine/rules/shopper_identity.h; empty = not logged in
  std::string platform;        // "web", "ios", ...
  std::string email;           // where replies go once the shopper leaves; default: the token's
  static void Fields(auto& s, auto&& f) {
    f(s.identity_token);
    f(s.platform);
    f(s.email);
  }
};

// A shopper's message in their conversation. Text only (emoji included);
// shoppers cannot send images. On a closed web chat it starts a new
// conversation (a new ticket) and returns its id; a snoozed conversation
// reopens.
struct PostShopperMessage {
  CommandMeta meta;
  std::string conversation_id;
  MessageKind kind = MessageKind::kText;
  std::string text;
  static void Fields(auto& s, auto&& f) {
    f(s.conversation_id);
    f(s.kind);
    f(s.text);
  }
};

// The shopper (kShopper) or an agent (kAgent) has read up to a message.
struct MarkRead {
  CommandMeta meta;
  std::string conversation_id;
  std::string up_to_message_id;
  static void Fields(auto& s, auto&& f) {
    f(s.conversation_id);
    f(s.up_to_message_id);
  }
};

// The shopper ends their web chat; it can never be reopened.
struct EndChat {
  CommandMeta meta;
  std::string conversation_id;
  static void Fields(auto& s, auto&& f) { f(s.conversation_id); }
};

// The shopper takes the answer of a published FAQ; a bot posts it.
struct TakeFaqAnswer {
  CommandMeta meta;
  std::string conversation_id;
  std::string faq_id;
  static void Fields(auto& s, auto&& f) {
    f(s.conversation_id);
    f(s.faq_id);
  }
};

// The shopper asks for a human (handoff to the inbox).
struct AskForHuman {
  CommandMeta meta;
  std::string conversation_id;
  static void Fields(auto& s, auto&& f) { f(s.conversation_id); }
};

// After the conversation is closed: a rating of 1 to 5 and a comment.
struct SubmitCsat {
  CommandMeta meta;
  std::string conversation_id;
  int32_t rating = 0;
  std::string comment;  // may be empty
  static void Fields(auto& s, auto&& f) {
    f(s.conversation_id);
    f(s.rating);
    f(s.comment);
  }
};

// The shopper asks for the transcript by email (default: the chat's email).
struct RequestTranscript {
  CommandMeta meta;
  std::string conversation_id;
  std::string email;
  static void Fields(auto& s, auto&& f) {
    f(s.conversation_id);
    f(s.email);
  }
};

// ---------------------------------------------------------------- agent

// An agent's message. kind decides which payload field is used:
//   kText: text; kImage: image (+ optional caption in text); kMacro: macro_id;
//   kProductShare: 1 to 3 product_ids; kDiscountShare: discount_code.
// The first reply to an unassigned conversation assigns it to the agent.
struct AgentReply {
  CommandMeta meta;
  std::string conversation_id;
  MessageKind kind = MessageKind::kText;
  std::string text;
  std::optional<ImageRef> image;
  std::string macro_id;
  std::vector<std::string> product_ids;
  std::string discount_code;
  static void Fields(auto& s, auto&& f) {
    f(s.conversation_id);
    f(s.kind);
    f(s.text);
    f(s.image);
    f(s.macro_id);
    f(s.product_ids);
    f(s.discount_code);
  }
};

// Internal notes on a conversation (never shown to the shopper).
struct AddInternalNote {
  CommandMeta meta;
  std::string conversation_id;
  std::string text;
  static void Fields(auto& s, auto&& f) {
    f(s.conversation_id);
    f(s.text);
  }
};
struct EditInternalNote {
  CommandMeta meta;
  std::string conversation_id;
  std::string note_id;
  std::string text;
  static void Fields(auto& s, auto&& f) {
    f(s.conversation_id);
    f(s.note_id);
    f(s.text);
  }
};
struct DeleteInternalNote {
  CommandMeta meta;
  std::string conversation_id;
  std::string note_id;
  static void Fields(auto& s, auto&& f) {
    f(s.conversation_id);
    f(s.note_id);
  }
};

// Marks the conversation unread for the team, from a message on (empty = the latest).
struct MarkUnread {
  CommandMeta meta;
  std::string conversation_id;
  std::string from_message_id;
  static void Fields(auto& s, auto&& f) {
    f(s.conversation_id);
    f(s.from_message_id);
  }
};

struct Assign {
  CommandMeta meta;
  std::string conversation_id;
  std::string agent_id;  // must have the chat permission
  static void Fields(auto& s, auto&& f) {
    f(s.conversation_id);
    f(s.agent_id);
  }
};

struct Unassign {
  CommandMeta meta;
  std::string conversation_id;
  static void Fields(auto& s, auto&& f) { f(s.conversation_id); }
};

// Open, snooze until a time, or close. A closed web chat never reopens.
struct ChangeStatus {
  CommandMeta meta;
  std::string conversation_id;
  ConversationStatus to = ConversationStatus::kOpen;
  std::optional<int64_t> snoozed_until_us;  // required exactly for kSnoozed, in the future
  StatusChangeReason reason = StatusChangeReason::kAgentAction;  // agent_action, resolved, spam
  static void Fields(auto& s, auto&& f) {
    f(s.conversation_id);
    f(s.to);
    f(s.snoozed_until_us);
    f(s.reason);
  }
};

// Notes on a customer's profile.
struct AddCustomerNote {
  CommandMeta meta;
  std::string customer_id;
  std::string text;
  static void Fields(auto& s, auto&& f) {
    f(s.customer_id);
    f(s.text);
  }
};
struct EditCustomerNote {
  CommandMeta meta;
  std::string note_id;
  std::string text;
  static void Fields(auto& s, auto&& f) {
    f(s.note_id);
    f(s.text);
  }
};
struct DeleteCustomerNote {
  CommandMeta meta;
  std::string note_id;
  static void Fields(auto& s, auto&& f) { f(s.note_id); }
};

// ---------------------------------------------------------------- storefront

// The storefront's cart after one change. The subtotal is computed from the
// line items (quantity x unit price).
struct UpdateCart {
  CommandMeta meta;
  std::string customer_id;
  std::string cart_id;
  CartChange change = CartChange::kItemAdded;
  std::string changed_product_id;
  std::vector<LineItem> line_items;
  std::string currency;
  static void Fields(auto& s, auto&& f) {
    f(s.customer_id);
    f(s.cart_id);
    f(s.change);
    f(s.changed_product_id);
    f(s.line_items);
    f(s.currency);
  }
};

struct ChangePresence {
  CommandMeta meta;
  std::string customer_id;
  Presence presence = Presence::kOnline;
  std::string session_id;
  static void Fields(auto& s, auto&& f) {
    f(s.customer_id);
    f(s.presence);
    f(s.session_id);
  }
};

// Storefront records passed through after validation.
struct RecordOrderPlaced {
  CommandMeta meta;
  OrderPlaced order;
  static void Fields(auto& s, auto&& f) { f(s.order); }
};
struct RecordOrderUpdated {
  CommandMeta meta;
  OrderUpdated order;
  static void Fields(auto& s, auto&& f) { f(s.order); }
};
struct UpsertCustomerProfile {
  CommandMeta meta;
  CustomerProfileUpserted profile;
  static void Fields(auto& s, auto&& f) { f(s.profile); }
};
struct UpsertProduct {
  CommandMeta meta;
  ProductUpserted product;
  static void Fields(auto& s, auto&& f) { f(s.product); }
};
struct UpsertDiscount {
  CommandMeta meta;
  DiscountUpserted discount;
  static void Fields(auto& s, auto&& f) { f(s.discount); }
};

// An inbound SMS or email from a customer. Continues the customer's
// conversation on that channel (reopening it when snoozed or closed) or
// starts one.
struct ReceiveInboundMessage {
  CommandMeta meta;
  Channel channel = Channel::kSms;  // kSms or kEmail
  std::string customer_id;
  std::string from_address;  // the phone number (E.164) or email address
  std::string name;
  std::string text;
  static void Fields(auto& s, auto&& f) {
    f(s.channel);
    f(s.customer_id);
    f(s.from_address);
    f(s.name);
    f(s.text);
  }
};

// ---------------------------------------------------------------- settings

// Replaces one aspect of the shop's settings. Actor: kSystem (provisioning),
// or an agent with kManageSettings (kManageAgents for the agents aspect).
// Deleting office hours = an OfficeHoursSetting without ranges.
struct UpdateSettings {
  CommandMeta meta;
  SettingsAspect aspect;
  static void Fields(auto& s, auto&& f) { f(s.aspect); }
};

// ---------------------------------------------------------------- privacy

// Answers a customer's privacy request (GDPR, CCPA) to erase their personal
// data: appends customer.erased, on which the engine's state and every
// projection forget the customer's names, email, phone and message texts
// (what the customer did stays: ids, orders, statuses, metrics). Actor: the
// storefront relaying the platform's request, or the system (an admin
// token). Appended for any customer id, known or not, so that the log
// records the request as answered. The personal bytes of the customer's
// earlier events stay in the log (they are not encrypted per customer yet),
// so a replay that stops before the erasure shows them.
struct EraseCustomer {
  CommandMeta meta;
  std::string customer_id;
  std::string request_id;  // the privacy request this fulfils
  ErasureRegulation regulation = ErasureRegulation::kGdpr;
  static void Fields(auto& s, auto&& f) {
    f(s.customer_id);
    f(s.request_id);
    f(s.regulation);
  }
};

// ---------------------------------------------------------------- all

using Command =
    std::variant<StartWebChat, PostShopperMessage, MarkRead, EndChat, TakeFaqAnswer, AskForHuman,
                 SubmitCsat, RequestTranscript, AgentReply, AddInternalNote, EditInternalNote,
                 DeleteInternalNote, MarkUnread, Assign, Unassign, ChangeStatus, AddCustomerNote,
                 EditCustomerNote, DeleteCustomerNote, UpdateCart, ChangePresence,
                 RecordOrderPlaced, RecordOrderUpdated, UpsertCustomerProfile, UpsertProduct,
                 UpsertDiscount, ReceiveInboundMessage, UpdateSettings, EraseCustomer>;

// The command's meta.
const CommandMeta& MetaOf(const Command& command);

// The stable name of the command's type, e.g. "agent_reply" (logs, metrics).
std::string_view CommandName(const Command& command);

// A 16-hex-digit fingerprint of the command's type and payload (not its
// meta): two commands with equal fingerprints ask for the same thing.
std::string Fingerprint(const Command& command);

}  // namespace palaver::domain
