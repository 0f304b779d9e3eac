// The ticket-history view: the ordered timeline of every conversation. Keys
// (under "history/"):
//   conv\0<shop>\0<conversation>              {"customer_id", "channel", "platform",
//                                              "status", "started_at", "seq"}
//                                              (HistoryConvData, hand-packed)
//   tl\0<shop>\0<conversation>\0<seq be64>    one timeline entry (below; written by
//                                              MsgPackWriter, names as codes)
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
#include <optional>
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
      HistoryConvData state;
      state.customer_id = started->customer_id;
      state.platform = started->platform;
      state.channel = static_cast<uint8_t>(started->channel);
      state.status = static_cast<uint8_t>(ConversationStatus::kOpen);
      state.started_at = env.occurred_at_us;
      state.seq = 1;  // the "started" entry below
      view.Put(Key({"conv", shop, conv}), EncodeHistoryConv(state));
      PutJson(view, Key({"current", shop, started->customer_id}), Json(conv));
      PutJson(view,
              Key({"byc", shop, started->customer_id,
                   BigEndian64(~OrderedSigned(env.occurred_at_us)), conv}),
              Json{{"conversation_id", conv},
                   {"channel", Name(started->channel)},
                   {"started_at", env.occurred_at_us}});
      Entry entry("started");
      entry.w.Field("channel", EnumName(started->channel));
      entry.w.Field("platform", started->platform);
      return Write(view, shop, conv, state.seq, env, started->customer_id, entry, false);
    }
    if (const auto* cart = std::get_if<CartUpdated>(&event.body)) {
      if (conv.empty()) {
        auto current = GetJson(view, Key({"current", shop, cart->customer_id}));
        if (!current.ok()) return current.status();
        if (!current->is_string()) return Status::Ok();  // no conversation to show it in
        conv = current->get<std::string>();
      }
      Entry entry("cart");
      entry.w.Field("change", EnumName(cart->change));
      entry.w.Field("product_id", cart->changed_product_id);
      entry.w.Field("subtotal_minor", static_cast<int64_t>(cart->subtotal_minor));
      entry.w.Field("currency", cart->currency);
      entry.w.Key("line_items");
      entry.w.Array(static_cast<uint32_t>(cart->line_items.size()));
      std::string_view changed_name;
      for (const LineItem& item : cart->line_items) {
        entry.w.BeginMap();
        entry.w.Field("product_id", item.product_id);
        entry.w.Field("quantity", static_cast<int64_t>(item.quantity));
        if (!item.variant_id.empty()) entry.w.Field("variant_id", item.variant_id);
        if (rules::ShowProductNameInCartEvent(item.name)) entry.w.Field("name", item.name);
        entry.w.EndMap();
        if (item.product_id == cart->changed_product_id) changed_name = item.name;
      }
      if (rules::ShowProductNameInCartEvent(changed_name))
        entry.w.Field("product_name", changed_name);
      return Append(view, shop, conv, env, cart->customer_id, entry);
    }
    if (const auto* erased = std::get_if<CustomerErased>(&event.body))
      return Erase(view, shop, erased->customer_id);
    if (conv.empty()) return Status::Ok();

    if (const auto* message = std::get_if<MessagePosted>(&event.body)) {
      Entry entry("message");
      entry.w.Field("message_id", message->message_id);
      entry.w.Field("kind", EnumName(message->kind));
      entry.w.Field("text", message->personal.text);
      entry.w.Field("delivery_route", EnumName(message->delivery_route));
      if (!message->product_ids.empty()) {
        entry.w.Key("product_ids");
        entry.w.Array(static_cast<uint32_t>(message->product_ids.size()));
        for (const auto& id : message->product_ids) entry.w.Str(id);
      }
      if (!message->discount_code.empty()) entry.w.Field("discount_code", message->discount_code);
      if (message->image) entry.w.Field("image_url", message->image->url);
      // Messages only agents see (system notices) are internal like notes.
      return Append(view, shop, conv, env, message->customer_id, entry,
                    message->delivery_route == DeliveryRoute::kInboxOnly);
    }
    if (const auto* status = std::get_if<ConversationStatusChanged>(&event.body)) {
      Entry entry("status");
      entry.w.Field("from", EnumName(status->from));
      entry.w.Field("to", EnumName(status->to));
      entry.w.Field("reason", EnumName(status->reason));
      if (status->snoozed_until_us) entry.w.Field("snoozed_until", *status->snoozed_until_us);
      return Append(view, shop, conv, env, "", entry, false, static_cast<uint8_t>(status->to));
    }
    if (const auto* assigned = std::get_if<ConversationAssigned>(&event.body)) {
      Entry entry("assigned");
      entry.w.Field("agent_id", assigned->agent_id);
      entry.w.Field("previous_agent_id", assigned->previous_agent_id);
      entry.w.Field("reason", EnumName(assigned->reason));
      return Append(view, shop, conv, env, "", entry);
    }
    if (const auto* unassigned = std::get_if<ConversationUnassigned>(&event.body)) {
      Entry entry("unassigned");
      entry.w.Field("previous_agent_id", unassigned->previous_agent_id);
      return Append(view, shop, conv, env, "", entry);
    }
    if (const auto* note = std::get_if<InternalNoteAdded>(&event.body)) {
      auto seq = NextSeq(view, shop, conv);
      if (!seq.ok()) return seq.status();
      if (*seq == 0) return Status::Ok();
      PutInt(view, Key({"note", shop, conv, note->note_id}), *seq);
      Entry entry("note");
      entry.w.Field("note_id", note->note_id);
      entry.w.Field("text", note->personal.text);
      entry.w.Field("edited", false);
      return Write(view, shop, conv, *seq, env, note->customer_id, entry, true);
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
      uint32_t labels = 0;
      for (const TopicScore& score : topics->topics) labels += score.confidence >= 0.9 ? 1 : 0;
      if (labels == 0) return Status::Ok();
      Entry entry("topics");
      entry.w.Key("topics");
      entry.w.Array(labels);
      for (const TopicScore& score : topics->topics)
        if (score.confidence >= 0.9) entry.w.Str(EnumName(score.topic));
      return Append(view, shop, conv, env, "", entry);
    }
    if (const auto* csat = std::get_if<CsatSubmitted>(&event.body)) {
      Entry entry("csat");
      entry.w.Field("rating", static_cast<int64_t>(csat->rating));
      entry.w.Field("comment", csat->personal.comment);
      return Append(view, shop, conv, env, csat->customer_id, entry);
    }
    if (const auto* handoff = std::get_if<HandoffRequested>(&event.body)) {
      Entry entry("handoff");
      entry.w.Field("reason", EnumName(handoff->reason));
      entry.w.Field("target", EnumName(handoff->target));
      return Append(view, shop, conv, env, "", entry);
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
          Json j = ValueJson(value);
          if (!j.is_discarded()) conversations.push_back(j.value("conversation_id", std::string()));
          return true;
        }));
    for (const std::string& conv : conversations) {
      std::vector<std::pair<std::string, Json>> entries;
      PALAVER_RETURN_IF_ERROR(
          view.Scan(Prefix({"tl", shop, conv}), [&](std::string_view key, std::string_view value) {
            Json entry = ValueJson(value);
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

  // A timeline entry being written: its "type" and the fields of that type;
  // Write adds the fields every entry has.
  struct Entry {
    explicit Entry(std::string_view type) {
      w.BeginMap();
      w.Field("type", type);
    }
    MsgPackWriter w;
  };

  // Takes the next sequence number of `conv`'s timeline (0 when the
  // conversation is unknown), setting the conversation's status to `status`
  // (when given) in the same write.
  static Result<int64_t> NextSeq(ViewWriter& view, const std::string& shop, const std::string& conv,
                                 std::optional<uint8_t> status = std::nullopt) {
    const std::string key = Key({"conv", shop, conv});
    auto bytes = view.Get(key);
    if (!bytes.ok()) return bytes.status();
    HistoryConvData state;
    if (!bytes->has_value() || !DecodeHistoryConv(**bytes, &state)) return int64_t{0};
    ++state.seq;
    if (status) state.status = *status;
    view.Put(key, EncodeHistoryConv(state));
    return state.seq;
  }

  static Result<std::string> NoteEntryKey(ViewWriter& view, const std::string& shop,
                                          const std::string& conv, const std::string& note_id) {
    auto seq = GetJson(view, Key({"note", shop, conv, note_id}));
    if (!seq.ok()) return seq.status();
    if (!seq->is_number_integer()) return std::string();
    return Key({"tl", shop, conv, BigEndian64(seq->get<uint64_t>())});
  }

  static Status Append(ViewWriter& view, const std::string& shop, const std::string& conv,
                       const Envelope& env, const std::string& customer_id, Entry& entry,
                       bool agents_only = false, std::optional<uint8_t> status = std::nullopt) {
    auto seq = NextSeq(view, shop, conv, status);
    if (!seq.ok()) return seq.status();
    if (*seq == 0) return Status::Ok();
    return Write(view, shop, conv, *seq, env, customer_id, entry, agents_only);
  }

  static Status Write(ViewWriter& view, const std::string& shop, const std::string& conv,
                      int64_t seq, const Envelope& env, const std::string& customer_id,
                      Entry& entry, bool agents_only) {
    entry.w.Field("seq", seq);
    entry.w.Field("at", env.occurred_at_us);
    entry.w.Field("actor_kind", ActorKindName(env.actor_kind));
    entry.w.Field("actor_id", env.actor_id);
    entry.w.Field("customer_id", customer_id);
    entry.w.Field("agents_only", agents_only);
    entry.w.EndMap();
    view.Put(Key({"tl", shop, conv, BigEndian64(static_cast<uint64_t>(seq))}), entry.w.Take());
    return Status::Ok();
  }
};

}  // namespace

std::unique_ptr<Projection> NewHistoryProjection() { return std::make_unique<HistoryProjection>(); }

}  // namespace palaver::projections::internal
