// The ticket-history view: the ordered timeline of every conversation. Keys
// (under "history/"):
//   conv\0<shop>\0<conversation>              {"customer_id", "channel", "platform",
//                                              "status", "started_at", "seq"}
//   tl\0<shop>\0<conversation>\0<seq be64>    one timeline entry (below)
//   note\0<shop>\0<conversation>\0<note>      the seq of an internal note's entry
//   current\0<shop>\0<customer>               the customer's latest conversation id
//   byc\0<shop>\0<customer>\0<~started be64>\0<conversation>
//                                             {"conversation_id", "channel", "started_at"}
//
// Every entry has "type", "at" (occurred_at_us), "actor_kind", "actor_id",
// "customer_id" (the customer it concerns) and "agents_only" (internal notes:
// never shown to the shopper). Types: started, message, cart, status,
// assigned, unassigned, note, topics, csat, handoff. Cart events carry no
// conversation id on the log; they join the customer's latest conversation.
// A cart entry names the changed product only when the rules allow it
// (rules::ShowProductNameInCartEvent: shorter than 41 characters).
// customer.erased blanks the free text of the customer's conversations.
#include <utility>
#include <vector>

#include "engine/rules/text.h"
#include "projections/view_codec.h"

namespace palaver::projections::internal {
namespace {

class HistoryProjection final : public Projection {
 public:
  std::string_view name() const override { return "history"; }

  Status Apply(const Event& event, const LogRecord&, ViewWriter& view) override {
    const Envelope& env = event.envelope;
    const std::string& shop = env.tenant;
    std::string conv = env.conversation_id;

    if (const auto* started = std::get_if<ConversationStarted>(&event.body)) {
      if (conv.empty()) return Status::Ok();
      PutJson(view, Key({"conv", shop, conv}),
              Json{{"customer_id", started->customer_id},
                   {"channel", Name(started->channel)},
                   {"platform", started->platform},
                   {"status", Name(ConversationStatus::kOpen)},
                   {"started_at", env.occurred_at_us},
                   {"seq", 0}});
      PutJson(view, Key({"current", shop, started->customer_id}), Json(conv));
      PutJson(view,
              Key({"byc", shop, started->customer_id,
                   BigEndian64(~OrderedSigned(env.occurred_at_us)), conv}),
              Json{{"conversation_id", conv},
                   {"channel", Name(started->channel)},
                   {"started_at", env.occurred_at_us}});
      return Append(view, shop, conv, env, started->customer_id,
                    Json{{"type", "started"},
                         {"channel", Name(started->channel)},
                         {"platform", started->platform}});
    }
    if (const auto* cart = std::get_if<CartUpdated>(&event.body)) {
      if (conv.empty()) {
        auto current = GetJson(view, Key({"current", shop, cart->customer_id}));
        if (!current.ok()) return current.status();
        if (!current->is_string()) return Status::Ok();  // no conversation to show it in
        conv = current->get<std::string>();
      }
      Json lines = Json::array();
      std::string changed_name;
      for (const LineItem& item : cart->line_items) {
        Json line = {{"product_id", item.product_id}, {"quantity", item.quantity}};
        if (!item.variant_id.empty()) line["variant_id"] = item.variant_id;
        if (rules::ShowProductNameInCartEvent(item.name)) line["name"] = item.name;
        if (item.product_id == cart->changed_product_id) changed_name = item.name;
        lines.push_back(std::move(line));
      }
      Json entry = {{"type", "cart"},
                    {"change", Name(cart->change)},
                    {"product_id", cart->changed_product_id},
                    {"subtotal_minor", cart->subtotal_minor},
                    {"currency", cart->currency},
                    {"line_items", std::move(lines)}};
      if (rules::ShowProductNameInCartEvent(changed_name)) entry["product_name"] = changed_name;
      return Append(view, shop, conv, env, cart->customer_id, std::move(entry));
    }
    if (const auto* erased = std::get_if<CustomerErased>(&event.body))
      return Erase(view, shop, erased->customer_id);
    if (conv.empty()) return Status::Ok();

    if (const auto* message = std::get_if<MessagePosted>(&event.body)) {
      Json entry = {{"type", "message"},
                    {"message_id", message->message_id},
                    {"kind", Name(message->kind)},
                    {"text", message->personal.text},
                    {"delivery_route", Name(message->delivery_route)}};
      if (!message->product_ids.empty()) entry["product_ids"] = message->product_ids;
      if (!message->discount_code.empty()) entry["discount_code"] = message->discount_code;
      if (message->image) entry["image_url"] = message->image->url;
      // Messages only agents see (system notices) are internal like notes.
      return Append(view, shop, conv, env, message->customer_id, std::move(entry),
                    message->delivery_route == DeliveryRoute::kInboxOnly);
    }
    if (const auto* status = std::get_if<ConversationStatusChanged>(&event.body)) {
      auto state = GetJson(view, Key({"conv", shop, conv}));
      if (!state.ok()) return state.status();
      if (state->is_null()) return Status::Ok();
      (*state)["status"] = Name(status->to);
      PutJson(view, Key({"conv", shop, conv}), *state);
      Json entry = {{"type", "status"},
                    {"from", Name(status->from)},
                    {"to", Name(status->to)},
                    {"reason", Name(status->reason)}};
      if (status->snoozed_until_us) entry["snoozed_until"] = *status->snoozed_until_us;
      return Append(view, shop, conv, env, "", std::move(entry));
    }
    if (const auto* assigned = std::get_if<ConversationAssigned>(&event.body)) {
      return Append(view, shop, conv, env, "",
                    Json{{"type", "assigned"},
                         {"agent_id", assigned->agent_id},
                         {"previous_agent_id", assigned->previous_agent_id},
                         {"reason", Name(assigned->reason)}});
    }
    if (const auto* unassigned = std::get_if<ConversationUnassigned>(&event.body)) {
      return Append(
          view, shop, conv, env, "",
          Json{{"type", "unassigned"}, {"previous_agent_id", unassigned->previous_agent_id}});
    }
    if (const auto* note = std::get_if<InternalNoteAdded>(&event.body)) {
      auto seq = NextSeq(view, shop, conv);
      if (!seq.ok()) return seq.status();
      if (*seq == 0) return Status::Ok();
      PutJson(view, Key({"note", shop, conv, note->note_id}), Json(*seq));
      return Write(view, shop, conv, *seq, env, note->customer_id,
                   Json{{"type", "note"},
                        {"note_id", note->note_id},
                        {"text", note->personal.text},
                        {"edited", false}},
                   true);
    }
    if (const auto* edited = std::get_if<InternalNoteEdited>(&event.body)) {
      auto entry_key = NoteEntryKey(view, shop, conv, edited->note_id);
      if (!entry_key.ok()) return entry_key.status();
      if (entry_key->empty()) return Status::Ok();
      auto entry = GetJson(view, *entry_key);
      if (!entry.ok()) return entry.status();
      if (entry->is_null()) return Status::Ok();
      (*entry)["text"] = edited->personal.text;
      (*entry)["edited"] = true;
      (*entry)["edited_at"] = env.occurred_at_us;
      PutJson(view, *entry_key, *entry);
      return Status::Ok();
    }
    if (const auto* deleted = std::get_if<InternalNoteDeleted>(&event.body)) {
      auto entry_key = NoteEntryKey(view, shop, conv, deleted->note_id);
      if (!entry_key.ok()) return entry_key.status();
      if (entry_key->empty()) return Status::Ok();
      view.Delete(*entry_key);
      view.Delete(Key({"note", shop, conv, deleted->note_id}));
      return Status::Ok();
    }
    if (const auto* topics = std::get_if<TopicsClassified>(&event.body)) {
      Json labels = Json::array();
      for (const TopicScore& score : topics->topics)
        if (score.confidence >= 0.9) labels.push_back(Name(score.topic));
      if (labels.empty()) return Status::Ok();
      return Append(view, shop, conv, env, "", Json{{"type", "topics"}, {"topics", labels}});
    }
    if (const auto* csat = std::get_if<CsatSubmitted>(&event.body)) {
      return Append(
          view, shop, conv, env, csat->customer_id,
          Json{{"type", "csat"}, {"rating", csat->rating}, {"comment", csat->personal.comment}});
    }
    if (const auto* handoff = std::get_if<HandoffRequested>(&event.body)) {
      return Append(view, shop, conv, env, "",
                    Json{{"type", "handoff"},
                         {"reason", Name(handoff->reason)},
                         {"target", Name(handoff->target)}});
    }
    return Status::Ok();
  }

 private:
  // Blanks the free text (messages, notes, CSAT comments) of every
  // conversation of `customer_id`; the entries themselves stay, marked "erased".
  static Status Erase(ViewWriter& view, const std::string& shop, const std::string& customer_id) {
    std::vector<std::string> conversations;
    PALAVER_RETURN_IF_ERROR(view.Scan(
        Prefix({"byc", shop, customer_id}), [&](std::string_view, std::string_view value) {
          Json j = Unpack(value);
          if (!j.is_discarded()) conversations.push_back(j.value("conversation_id", std::string()));
          return true;
        }));
    for (const std::string& conv : conversations) {
      std::vector<std::pair<std::string, Json>> entries;
      PALAVER_RETURN_IF_ERROR(
          view.Scan(Prefix({"tl", shop, conv}), [&](std::string_view key, std::string_view value) {
            Json entry = Unpack(value);
            if (!entry.is_discarded() && (entry.contains("text") || entry.contains("comment")))
              entries.emplace_back(std::string(key), std::move(entry));
            return true;
          }));
      for (auto& [key, entry] : entries) {
        if (entry.contains("text")) entry["text"] = "";
        if (entry.contains("comment")) entry["comment"] = "";
        entry["erased"] = true;
        PutJson(view, key, entry);
      }
    }
    return Status::Ok();
  }

  // The next sequence number of `conv`'s timeline; 0 when the conversation is unknown.
  static Result<int64_t> NextSeq(ViewWriter& view, const std::string& shop,
                                 const std::string& conv) {
    const std::string key = Key({"conv", shop, conv});
    auto state = GetJson(view, key);
    if (!state.ok()) return state.status();
    if (state->is_null()) return int64_t{0};
    const int64_t seq = state->value("seq", int64_t{0}) + 1;
    (*state)["seq"] = seq;
    PutJson(view, key, *state);
    return seq;
  }

  static Result<std::string> NoteEntryKey(ViewWriter& view, const std::string& shop,
                                          const std::string& conv, const std::string& note_id) {
    auto seq = GetJson(view, Key({"note", shop, conv, note_id}));
    if (!seq.ok()) return seq.status();
    if (!seq->is_number_integer()) return std::string();
    return Key({"tl", shop, conv, BigEndian64(seq->get<uint64_t>())});
  }

  static Status Append(ViewWriter& view, const std::string& shop, const std::string& conv,
                       const Envelope& env, const std::string& customer_id, Json entry,
                       bool agents_only = false) {
    auto seq = NextSeq(view, shop, conv);
    if (!seq.ok()) return seq.status();
    if (*seq == 0) return Status::Ok();
    return Write(view, shop, conv, *seq, env, customer_id, std::move(entry), agents_only);
  }

  static Status Write(ViewWriter& view, const std::string& shop, const std::string& conv,
                      int64_t seq, const Envelope& env, const std::string& customer_id, Json entry,
                      bool agents_only) {
    entry["seq"] = seq;
    entry["at"] = env.occurred_at_us;
    entry["actor_kind"] = std::string(ActorKindName(env.actor_kind));
    entry["actor_id"] = env.actor_id;
    entry["customer_id"] = customer_id;
    entry["agents_only"] = agents_only;
    PutJson(view, Key({"tl", shop, conv, BigEndian64(static_cast<uint64_t>(seq))}), entry);
    return Status::Ok();
  }
};

}  // namespace

std::unique_ptr<Projection> NewHistoryProjection() { return std::make_unique<HistoryProjection>(); }

}  // namespace palaver::projections::internal
