// The customer-profile view. Keys (under "profile/"):
//   cust\0<shop>\0<customer>           the profile (below)
//   order\0<shop>\0<customer>\0<order> {"order_id", "order_number", "placed_at" (null when
//                                       only updates were seen), "status",
//                                       "financial_status", "fulfillment_status",
//                                       "total_minor", "currency"}
//   note\0<shop>\0<customer>\0<note>   {"text", "author", "at", "edited_at"}
//
// A profile holds what the storefront sent last (name, email, phone,
// location, time_zone, locale, customer_since, orders_count,
// amount_spent_minor, currency), falling back to what the shopper gave when
// starting a conversation; "conversations" (how many were started) and
// "current" (the latest conversation: id, started_at, channel, platform).
// Profiles are hand-packed (ProfileData in view_codec.h) and shown as that
// JSON; orders and notes are MessagePack.
// After customer.erased the personal fields are blanked, notes removed, and
// "erased" is true; later events for the customer are still applied.
#include "projections/view_codec.h"

namespace palaver::projections::internal {
namespace {

class ProfileProjection final : public Projection {
 public:
  std::string_view name() const override { return "profile"; }

  Status Apply(const Event& event, const LogRecord&, ViewWriter& view) override {
    const Envelope& env = event.envelope;
    const std::string& shop = env.tenant;

    if (const auto* upsert = std::get_if<CustomerProfileUpserted>(&event.body)) {
      return Update(view, shop, upsert->customer_id, [&](ProfileData& p) {
        const auto& personal = upsert->personal;
        p.name = personal.name;
        p.email = personal.email;
        p.phone = personal.phone;
        p.location = ProfileData::Location{personal.location.city, personal.location.region,
                                           personal.location.country_code};
        p.time_zone = upsert->time_zone;
        p.locale = upsert->locale;
        p.customer_since = upsert->customer_since_us;
        p.orders_count = upsert->orders_count;
        p.amount_spent_minor = upsert->amount_spent_minor;
        p.currency = upsert->currency;
        p.from_storefront = true;
      });
    }
    if (const auto* started = std::get_if<ConversationStarted>(&event.body)) {
      return Update(view, shop, started->customer_id, [&](ProfileData& p) {
        ++p.conversations;
        p.current = ProfileData::Current{env.conversation_id, started->platform, env.occurred_at_us,
                                         static_cast<uint8_t>(started->channel)};
        // What the shopper typed fills only what the storefront did not say.
        const auto& personal = started->personal;
        if (p.name.empty()) p.name = personal.name;
        if (p.email.empty()) p.email = personal.email;
        if (p.phone.empty()) p.phone = personal.phone;
      });
    }
    if (const auto* placed = std::get_if<OrderPlaced>(&event.body)) {
      PutJson(view, Key({"order", shop, placed->customer_id, placed->order_id}),
              Json{{"order_id", placed->order_id},
                   {"order_number", placed->order_number},
                   {"placed_at", placed->placed_at_us},
                   {"status", Name(OrderStatus::kOpen)},
                   {"financial_status", Name(placed->financial_status)},
                   {"fulfillment_status", Name(FulfillmentStatus::kUnfulfilled)},
                   {"total_minor", placed->total_minor},
                   {"currency", placed->currency}});
      return Status::Ok();
    }
    if (const auto* updated = std::get_if<OrderUpdated>(&event.body)) {
      const std::string key = Key({"order", shop, updated->customer_id, updated->order_id});
      auto order = GetJson(view, key);
      if (!order.ok()) return order.status();
      Json o =
          order->is_null()
              ? Json{{"order_id", updated->order_id}, {"order_number", ""}, {"placed_at", nullptr}}
              : std::move(order).value();
      o["status"] = Name(updated->status);
      o["financial_status"] = Name(updated->financial_status);
      o["fulfillment_status"] = Name(updated->fulfillment_status);
      o["total_minor"] = updated->total_minor;
      o["currency"] = updated->currency;
      PutJson(view, key, o);
      return Status::Ok();
    }
    if (const auto* note = std::get_if<CustomerNoteAdded>(&event.body)) {
      PutJson(view, Key({"note", shop, note->customer_id, note->note_id}),
              Json{{"text", note->personal.text},
                   {"author", env.actor_id},
                   {"at", env.occurred_at_us},
                   {"edited_at", nullptr}});
      return Status::Ok();
    }
    if (const auto* edited = std::get_if<CustomerNoteEdited>(&event.body)) {
      const std::string key = Key({"note", shop, edited->customer_id, edited->note_id});
      auto note = GetJson(view, key);
      if (!note.ok()) return note.status();
      if (note->is_null()) return Status::Ok();
      (*note)["text"] = edited->personal.text;
      (*note)["edited_at"] = env.occurred_at_us;
      PutJson(view, key, *note);
      return Status::Ok();
    }
    if (const auto* deleted = std::get_if<CustomerNoteDeleted>(&event.body)) {
      view.Delete(Key({"note", shop, deleted->customer_id, deleted->note_id}));
      return Status::Ok();
    }
    if (const auto* erased = std::get_if<CustomerErased>(&event.body)) {
      std::vector<std::string> notes;
      PALAVER_RETURN_IF_ERROR(
          view.Scan(Prefix({"note", shop, erased->customer_id}), [&](std::string_view k, auto) {
            notes.emplace_back(k);
            return true;
          }));
      for (const auto& k : notes) view.Delete(k);
      return Update(view, shop, erased->customer_id, [&](ProfileData& p) {
        p.name.clear();
        p.email.clear();
        p.phone.clear();
        p.location.reset();
        p.erased = true;
      });
    }
    return Status::Ok();
  }

 private:
  template <class F>
  static Status Update(ViewWriter& view, const std::string& shop, const std::string& customer_id,
                       F&& change) {
    const std::string key = Key({"cust", shop, customer_id});
    auto bytes = view.Get(key);
    if (!bytes.ok()) return bytes.status();
    ProfileData p;
    if (!bytes->has_value() || !DecodeProfile(**bytes, &p)) {
      p = ProfileData();
      p.customer_id = customer_id;
    }
    change(p);
    view.Put(key, EncodeProfile(p));
    return Status::Ok();
  }
};

}  // namespace

std::unique_ptr<Projection> NewProfileProjection() { return std::make_unique<ProfileProjection>(); }

}  // namespace palaver::projections::internal
