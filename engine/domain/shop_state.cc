#include "engine/domain/shop_state.h"

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <string>
#include <type_traits>

#include "engine/rules/text.h"
#include "schemas/codec.h"

namespace palaver::domain {
namespace {

template <class... Ts>
struct Overloaded : Ts... {
  using Ts::operator()...;
};
template <class... Ts>
Overloaded(Ts...) -> Overloaded<Ts...>;

bool IsCustomerActor(ActorKind kind) { return kind == ActorKind::kShopper; }

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

}  // namespace

void ShopState::Apply(const Event& event, const LogPosition& position, std::string_view record) {
  const Envelope& env = event.envelope;
  ConversationState* conv = nullptr;
  if (!env.conversation_id.empty()) {
    auto it = conversations.find(env.conversation_id);
    if (it != conversations.end()) conv = &it->second;
  }

  std::visit(
      Overloaded{
          [&](const ConversationStarted& b) {
            ConversationState& c = conversations[env.conversation_id];
            // The same start again (a record appended twice) lists the conversation once.
            const bool again =
                c.conversation_id == env.conversation_id && c.customer_id == b.customer_id;
            c.conversation_id = env.conversation_id;
            c.customer_id = b.customer_id;
            c.channel = b.channel;
            c.status = ConversationStatus::kOpen;
            c.email = b.personal.email;
            c.phone = b.personal.phone;
            c.started_at_us = env.occurred_at_us;
            latest_conversation[{b.customer_id, b.channel}] = env.conversation_id;
            if (!again) customers[b.customer_id].conversation_ids.push_back(env.conversation_id);
          },
          [&](const ConversationStatusChanged& b) {
            if (conv == nullptr) return;
            conv->status = b.to;
            conv->snoozed_until_us = b.to == ConversationStatus::kSnoozed
                                         ? b.snoozed_until_us
                                         : std::optional<int64_t>();
            if (b.to == ConversationStatus::kClosed) conv->waiting_since_us.reset();
          },
          [&](const ConversationAssigned& b) {
            if (conv != nullptr) conv->assignee = b.agent_id;
          },
          [&](const ConversationUnassigned&) {
            if (conv != nullptr) conv->assignee.clear();
          },
          [&](const ConversationMarkedUnread&) {},
          [&](const MessagePosted& b) {
            if (conv == nullptr) return;
            conv->message_ids.Insert(b.message_id);
            if (b.kind == MessageKind::kDiscountShare)
              conv->shared_discount_codes.push_back(b.discount_code);
            if (IsCustomerActor(env.actor_kind)) {
              ++conv->shopper_messages;
              if (!conv->waiting_since_us) conv->waiting_since_us = env.occurred_at_us;
            } else if (env.actor_kind == ActorKind::kAgent) {
              conv->agent_has_replied = true;
              conv->waiting_since_us.reset();
            }
          },
          [&](const MessagesRead&) {},
          [&](const InternalNoteAdded& b) {
            if (conv != nullptr) conv->internal_note_ids.insert(b.note_id);
          },
          [&](const InternalNoteEdited&) {},
          [&](const InternalNoteDeleted& b) {
            if (conv != nullptr) conv->internal_note_ids.erase(b.note_id);
          },
          [&](const CustomerNoteAdded& b) {
            customers[b.customer_id].note_ids.insert(b.note_id);
            customer_note_owner[b.note_id] = b.customer_id;
          },
          [&](const CustomerNoteEdited&) {},
          [&](const CustomerNoteDeleted& b) {
            customers[b.customer_id].note_ids.erase(b.note_id);
            customer_note_owner.erase(b.note_id);
          },
          [&](const CartUpdated& b) { customers[b.customer_id]; },
          [&](const PresenceChanged& b) { customers[b.customer_id].presence = b.presence; },
          [&](const OrderPlaced& b) {
            CustomerState::Order& o = customers[b.customer_id].orders[b.order_id];
            o.order_id = b.order_id;
            o.placed_at_us = b.placed_at_us;
            o.status = OrderStatus::kOpen;
          },
          [&](const OrderUpdated& b) {
            CustomerState::Order& o = customers[b.customer_id].orders[b.order_id];
            o.order_id = b.order_id;
            o.status = b.status;
          },
          [&](const CustomerProfileUpserted& b) { customers[b.customer_id].has_profile = true; },
          [&](const ProductUpserted& b) { products[b.product_id] = b; },
          [&](const DiscountUpserted& b) {
            // A discount id keeps one code: a renamed code drops the old one.
            for (auto it = discounts_by_code.begin(); it != discounts_by_code.end();) {
              if (it->second.discount_id == b.discount_id && it->first != b.code) {
                it = discounts_by_code.erase(it);
              } else {
                ++it;
              }
            }
            discounts_by_code[b.code] = b;
          },
          [&](const SettingsChanged& b) {
            std::visit(
                Overloaded{
                    [&](const VisibilitySetting& a) { visibility = a.visibility; },
                    [&](const WelcomeMessageSetting& a) { welcome_message = a.text; },
                    [&](const LegalLinksSetting& a) {
                      terms_url = a.terms_url;
                      privacy_url = a.privacy_url;
                    },
                    [&](const FaqsSetting& a) { faqs = a.faqs; },
                    [&](const OfficeHoursSetting& a) { office_hours = a; },
                    [&](const MacrosSetting& a) { macros = a.macros; },
                    [&](const AgentsSetting& a) { agents = a.agents; },
                    [&](const OverdueTargetSetting& a) { overdue_target_seconds = a.seconds; },
                },
                b.aspect);
          },
          [&](const TopicsClassified&) {},
          [&](const LanguageDetected&) {},
          [&](const CsatSubmitted&) {
            if (conv != nullptr) conv->csat_submitted = true;
          },
          [&](const TranscriptRequested&) {},
          [&](const HandoffRequested&) {},
          [&](const CustomerErased& b) { ForgetPersonalData(b.customer_id); },
          [&](const DeliveryRecorded&) {},  // outbound delivery results change no rule
      },
      event.body);

  // Idempotency: every event of one command carries the command's key and,
  // in correlation_id, its fingerprint (see conversation_engine.h).
  if (!env.idempotency_key.empty()) {
    auto [it, first_use] = idempotency.try_emplace(env.idempotency_key);
    if (first_use) idempotency_first_used.emplace_back(env.recorded_at_us, env.idempotency_key);
    IdempotentOutcome& outcome = it->second;
    if (outcome.fingerprint.empty()) outcome.fingerprint = env.correlation_id.substr(0, 16);
    if (outcome.conversation_id.empty()) outcome.conversation_id = env.conversation_id;
    IdempotentOutcome::Record& kept = outcome.records.emplace_back();
    kept.bytes.assign(record);
    kept.position = position;
    std::visit(
        [&](const auto& body) {
          if constexpr (HasPersonal<std::decay_t<decltype(body)>>)
            kept.personal_of = body.customer_id;
        },
        event.body);
  }
  // Forget keys first used more than the window before this event. The
  // newest time applied decides, so replaying the log forgets the same keys.
  newest_recorded_us = std::max(newest_recorded_us, env.recorded_at_us);
  while (!idempotency_first_used.empty() &&
         idempotency_first_used.front().first < newest_recorded_us - kIdempotencyWindowMicros) {
    idempotency.erase(idempotency_first_used.front().second);
    idempotency_first_used.pop_front();
  }
}

void ShopState::ForgetPersonalData(const std::string& customer_id) {
  if (auto it = customers.find(customer_id); it != customers.end()) {
    for (const std::string& id : it->second.conversation_ids) {
      auto conversation = conversations.find(id);
      if (conversation == conversations.end()) continue;
      conversation->second.email.clear();
      conversation->second.phone.clear();
    }
  }
  for (auto& [key, outcome] : idempotency) {
    for (IdempotentOutcome::Record& record : outcome.records) {
      if (record.personal_of != customer_id) continue;
      Result<Event> event = DecodeEvent(record.bytes);
      if (!event.ok()) continue;  // it cannot be replayed either (Events)
      std::visit(
          [&](auto& body) {
            if constexpr (HasPersonal<std::decay_t<decltype(body)>>) body.personal = {};
          },
          event->body);
      Result<std::string> bytes = EncodeEvent(*event);
      record.bytes = bytes.ok() ? std::move(*bytes) : std::string();
      record.personal_of.clear();
    }
  }
}

Result<std::vector<std::pair<Event, LogPosition>>> IdempotentOutcome::Events() const {
  std::vector<std::pair<Event, LogPosition>> events;
  events.reserve(records.size());
  for (const Record& record : records) {
    Result<Event> event = DecodeEvent(record.bytes);
    if (!event.ok()) {
      return Status::Error(ErrorCode::kCorruption,
                           "an event of this command's original result does not decode (offset " +
                               std::to_string(record.position.offset) + ")");
    }
    events.emplace_back(std::move(*event), record.position);
  }
  return events;
}

const Agent* ShopState::FindAgent(std::string_view agent_id) const {
  for (const Agent& a : agents) {
    if (a.agent_id == agent_id) return &a;
  }
  return nullptr;
}

const ConversationState* ShopState::FindConversation(std::string_view conversation_id) const {
  auto it = conversations.find(std::string(conversation_id));
  return it == conversations.end() ? nullptr : &it->second;
}

const Faq* ShopState::FindPublishedFaq(std::string_view faq_id) const {
  for (const Faq& f : faqs) {
    if (f.faq_id == faq_id && f.published) return &f;
  }
  return nullptr;
}

const Macro* ShopState::FindMacro(std::string_view macro_id) const {
  for (const Macro& m : macros) {
    if (m.macro_id == macro_id) return &m;
  }
  return nullptr;
}

bool HasPermission(const Agent& agent, Permission permission) {
  return std::find(agent.permissions.begin(), agent.permissions.end(), permission) !=
         agent.permissions.end();
}

bool IsOverdue(const ConversationState& conversation, int64_t now_us, int32_t target_seconds) {
  if (conversation.status != ConversationStatus::kOpen) return false;
  if (!conversation.waiting_since_us) return false;
  return now_us - *conversation.waiting_since_us > int64_t{target_seconds} * 1000000;
}

std::vector<CustomerState::Order> RecentOrders(const CustomerState& customer, int64_t now_us) {
  std::vector<CustomerState::Order> out;
  for (const auto& [id, order] : customer.orders) {
    const bool in_window =
        order.placed_at_us > now_us - kRecentOrderWindowMicros && order.placed_at_us <= now_us;
    if (in_window || order.status == OrderStatus::kOpen) out.push_back(order);
  }
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) {
    if (a.placed_at_us != b.placed_at_us) return a.placed_at_us > b.placed_at_us;
    return a.order_id < b.order_id;
  });
  if (out.size() > 3) out.resize(3);
  return out;
}

std::string DescribeCartUpdate(const CartUpdated& cart, std::string_view changed_product_name) {
  std::string product = "a product";
  if (!changed_product_name.empty()) {
    if (rules::ShowProductNameInCartEvent(changed_product_name)) product = changed_product_name;
  } else {
    for (const LineItem& item : cart.line_items) {
      if (item.product_id == cart.changed_product_id &&
          rules::ShowProductNameInCartEvent(item.name)) {
        product = item.name;
        break;
      }
    }
  }
  std::string out;
  switch (cart.change) {
    case CartChange::kItemAdded:
      out = "Added " + product + " to the cart.";
      break;
    case CartChange::kItemRemoved:
      out = "Removed " + product + " from the cart.";
      break;
    case CartChange::kQuantityChanged:
      out = "Changed the quantity of " + product + ".";
      break;
    case CartChange::kCleared:
      out = "Cleared the cart.";
      break;
  }
  int64_t units = 0;
  for (const LineItem& item : cart.line_items) units += item.quantity;
  const int64_t major = cart.subtotal_minor / 100;
  const int64_t minor =
      (cart.subtotal_minor < 0 ? -cart.subtotal_minor : cart.subtotal_minor) % 100;
  char amount[64];
  std::snprintf(amount, sizeof amount, "%lld.%02lld", static_cast<long long>(major),
                static_cast<long long>(minor));
  out += " " + std::to_string(cart.line_items.size()) +
         (cart.line_items.size() == 1 ? " item (" : " items (") + std::to_string(units) +
         (units == 1 ? " unit)" : " units)") + ", subtotal " + amount + " " + cart.currency + ".";
  return out;
}

std::vector<Faq> SearchFaqs(const std::vector<Faq>& faqs, std::string_view query) {
  std::vector<std::string> words;
  std::string lowered = Lower(query);
  size_t i = 0;
  while (i < lowered.size()) {
    while (i < lowered.size() && std::isspace(static_cast<unsigned char>(lowered[i]))) ++i;
    size_t j = i;
    while (j < lowered.size() && !std::isspace(static_cast<unsigned char>(lowered[j]))) ++j;
    if (j > i) words.push_back(lowered.substr(i, j - i));
    i = j;
  }
  std::vector<Faq> out;
  for (const Faq& faq : faqs) {
    if (!faq.published) continue;
    const std::string haystack = Lower(faq.question) + "\n" + Lower(faq.answer);
    bool all = true;
    for (const std::string& w : words) {
      if (haystack.find(w) == std::string::npos) {
        all = false;
        break;
      }
    }
    if (all) out.push_back(faq);
  }
  return out;
}

}  // namespace palaver::domain
