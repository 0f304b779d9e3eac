// The inbox view. Keys (under "inbox/"):
//   conv\0<shop>\0<conversation>           the row of a conversation (JSON, see RowFields below)
//   idx\0<shop>\0<~activity be64>\0<conv>  the same row, ordered newest activity first
//   idxa\0<shop>\0<assignee>\0<~activity be64>\0<conv>   ... per assignee ("" = unassigned)
//   idxs\0<shop>\0<status>\0<~activity be64>\0<conv>     ... per status
//   msg\0<shop>\0<conversation>\0<message> the message's sequence number in its conversation
//   presence\0<shop>\0<customer>           {"online": bool}
//   shop\0<shop>                           {"overdue_target_s": n}
//
// A row holds: id, customer_id, name, channel, preview, status, snoozed_until,
// assignee ("" = unassigned), topics (at most two, latest first), activity_us,
// started_us, waiting_since (null when not waiting on an agent), msg_seq (messages
// so far), last_inbound_seq (sequence of the shopper's last message),
// marked_unread_offset (log offset of the last "mark unread", -1 when none) and
// reads {agent: [read_seq, read_offset]}. The unread dot and the overdue flag
// are computed from these at query time (see queries.cc), as "overdue" depends
// on the clock. customer.erased blanks the customer's name and previews.
#include <algorithm>
#include <array>
#include <utility>
#include <vector>

#include "engine/rules/text.h"
#include "projections/view_codec.h"

namespace palaver::projections::internal {
namespace {

constexpr size_t kPreviewChars = 100;

// The row's three index keys: all rows, rows by assignee, rows by status.
std::array<std::string, 3> IndexKeys(const std::string& shop, const Json& row) {
  const std::string when = BigEndian64(~OrderedSigned(row.value("activity_us", int64_t{0})));
  const std::string id = row.value("id", std::string());
  return {Key({"idx", shop, when, id}),
          Key({"idxa", shop, row.value("assignee", std::string()), when, id}),
          Key({"idxs", shop, row.value("status", std::string()), when, id})};
}

void DeleteIndex(ViewWriter& view, const std::string& shop, const Json& row) {
  for (const std::string& key : IndexKeys(shop, row)) view.Delete(key);
}

class InboxProjection final : public Projection {
 public:
  std::string_view name() const override { return "inbox"; }

  Status Apply(const Event& event, const LogRecord& record, ViewWriter& view) override {
    const Envelope& env = event.envelope;
    const std::string& shop = env.tenant;
    if (const auto* presence = std::get_if<PresenceChanged>(&event.body)) {
      PutJson(view, Key({"presence", shop, presence->customer_id}),
              Json{{"online", presence->presence == Presence::kOnline}});
      return Status::Ok();
    }
    if (const auto* settings = std::get_if<SettingsChanged>(&event.body)) {
      if (const auto* overdue = std::get_if<OverdueTargetSetting>(&settings->aspect))
        PutJson(view, Key({"shop", shop}), Json{{"overdue_target_s", overdue->seconds}});
      return Status::Ok();
    }
    if (const auto* erased = std::get_if<CustomerErased>(&event.body)) {
      // Blank the customer's name and message previews in every row of theirs.
      std::vector<std::pair<std::string, Json>> rows;
      PALAVER_RETURN_IF_ERROR(view.Scan(Prefix({"conv", shop}), [&](std::string_view key,
                                                                    std::string_view value) {
        Json row = Unpack(value);
        if (!row.is_discarded() && row.value("customer_id", std::string()) == erased->customer_id)
          rows.emplace_back(std::string(key), std::move(row));
        return true;
      }));
      for (auto& [key, row] : rows) {
        DeleteIndex(view, shop, row);
        row["name"] = "";
        row["preview"] = "";
        Store(view, shop, key, row);
      }
      return Status::Ok();
    }
    if (env.conversation_id.empty()) return Status::Ok();
    const std::string conv_key = Key({"conv", shop, env.conversation_id});

    if (const auto* started = std::get_if<ConversationStarted>(&event.body)) {
      Json row = {{"id", env.conversation_id},
                  {"customer_id", started->customer_id},
                  {"name", started->personal.name},
                  {"channel", Name(started->channel)},
                  {"preview", ""},
                  {"status", Name(ConversationStatus::kOpen)},
                  {"snoozed_until", nullptr},
                  {"assignee", ""},
                  {"topics", Json::array()},
                  {"activity_us", env.occurred_at_us},
                  {"started_us", env.occurred_at_us},
                  {"waiting_since", nullptr},
                  {"msg_seq", 0},
                  {"last_inbound_seq", 0},
                  {"marked_unread_offset", -1},
                  {"reads", Json::object()}};
      auto old = GetJson(view, conv_key);
      if (!old.ok()) return old.status();
      if (!old->is_null()) DeleteIndex(view, shop, *old);  // a repeated start replaces the row
      Store(view, shop, conv_key, row);
      return Status::Ok();
    }

    auto loaded = GetJson(view, conv_key);
    if (!loaded.ok()) return loaded.status();
    if (loaded->is_null()) return Status::Ok();  // events of a conversation never started
    Json row = std::move(loaded).value();
    const Json old_row = row;

    if (const auto* status = std::get_if<ConversationStatusChanged>(&event.body)) {
      row["status"] = Name(status->to);
      row["snoozed_until"] =
          status->snoozed_until_us ? Json(*status->snoozed_until_us) : Json(nullptr);
      row["activity_us"] = std::max(row.value("activity_us", int64_t{0}), env.occurred_at_us);
    } else if (const auto* assigned = std::get_if<ConversationAssigned>(&event.body)) {
      row["assignee"] = assigned->agent_id;
    } else if (std::get_if<ConversationUnassigned>(&event.body)) {
      row["assignee"] = "";
    } else if (std::get_if<ConversationMarkedUnread>(&event.body)) {
      row["marked_unread_offset"] = record.offset;
    } else if (const auto* message = std::get_if<MessagePosted>(&event.body)) {
      const int64_t seq = row.value("msg_seq", int64_t{0}) + 1;
      row["msg_seq"] = seq;
      PutJson(view, Key({"msg", shop, env.conversation_id, message->message_id}), Json(seq));
      if (message->delivery_route != DeliveryRoute::kInboxOnly)
        row["preview"] = rules::Preview(message->personal.text, kPreviewChars);
      row["activity_us"] = std::max(row.value("activity_us", int64_t{0}), env.occurred_at_us);
      if (env.actor_kind == ActorKind::kShopper) {
        row["last_inbound_seq"] = seq;
        if (row["waiting_since"].is_null()) row["waiting_since"] = env.occurred_at_us;
      } else if (env.actor_kind == ActorKind::kAgent) {
        row["waiting_since"] = nullptr;
        row["reads"][env.actor_id] = Json::array({seq, record.offset});  // the author has read it
      }
    } else if (const auto* read = std::get_if<MessagesRead>(&event.body)) {
      if (env.actor_kind != ActorKind::kAgent) return Status::Ok();
      auto seq = GetJson(view, Key({"msg", shop, env.conversation_id, read->up_to_message_id}));
      if (!seq.ok()) return seq.status();
      if (!seq->is_number_integer()) return Status::Ok();  // an unknown message
      Json& reads = row["reads"];
      int64_t previous = 0;
      if (reads.contains(env.actor_id)) previous = reads[env.actor_id][0].get<int64_t>();
      reads[env.actor_id] = Json::array({std::max(previous, seq->get<int64_t>()), record.offset});
    } else if (const auto* topics = std::get_if<TopicsClassified>(&event.body)) {
      Json latest = Json::array();
      for (const TopicScore& score : topics->topics)
        if (score.confidence >= 0.9) latest.push_back(Name(score.topic));
      if (latest.empty()) return Status::Ok();
      for (const Json& t : row["topics"])
        if (std::find(latest.begin(), latest.end(), t) == latest.end()) latest.push_back(t);
      while (latest.size() > 2) latest.erase(latest.end() - 1);
      row["topics"] = latest;
    } else {
      return Status::Ok();
    }
    DeleteIndex(view, shop, old_row);
    Store(view, shop, conv_key, row);
    return Status::Ok();
  }

 private:
  static void Store(ViewWriter& view, const std::string& shop, const std::string& conv_key,
                    const Json& row) {
    const std::string packed = Pack(row);
    view.Put(conv_key, packed);
    for (const std::string& key : IndexKeys(shop, row)) view.Put(key, packed);
  }
};

}  // namespace

std::unique_ptr<Projection> NewInboxProjection() { return std::make_unique<InboxProjection>(); }

}  // namespace palaver::projections::internal
