// The inbox view. Keys (under "inbox/"):
//   conv\0<shop>\0<conversation>           the row of a conversation (InboxRowData,
//                                          hand-packed; see view_codec.h)
//   idx\0<shop>\0<~activity be64>\0<conv>  empty: the rows ordered newest activity first
//   idxa\0<shop>\0<assignee>\0<~activity be64>\0<conv>   ... per assignee ("" = unassigned)
//   idxs\0<shop>\0<status>\0<~activity be64>\0<conv>     ... per status
//   msg\0<shop>\0<conversation>\0<message> the sequence number in its conversation of a
//                                          message past the row's read window (below)
//   cust\0<shop>\0<customer>\0<conv>      empty: the customer's conversations (erasure)
//   presence\0<shop>\0<customer>           {"online": bool}
//   shop\0<shop>                           {"overdue_target_s": n}
//   badge\0<shop>                          open conversations unread by an agent who
//                                          never read them (the default)
//   badge\0<shop>\0<agent>                 for that agent: open conversations unread by
//                                          them minus the default, over the rows they
//                                          have read (so the badge is the sum of both)
//
// Index entries are empty: a page scans an index (a short forward scan, as
// every index sorts newest activity first within its filter) and reads the
// rows it returns. Apply writes only rows; the index entries and badge
// counters follow in Finish, from each row as committed before the batch and
// as it is at the batch's end: a conversation moves in its indexes once per
// batch, however many of its events moved it (each message does).
//
// A row holds: id, customer_id, name, channel, preview, status,
// snoozed_until, assignee, topics (at most two, latest first), activity_us,
// started_us, waiting_since (unset when not waiting on an agent), msg_seq
// (messages so far), last_inbound_seq (sequence of the shopper's last
// message), marked_unread_offset (log offset of the last "mark unread", -1
// when none), reads [agent, read_seq, read_offset] and read_window (see
// InboxRowData). A read seq counts only as at or past last_inbound_seq, or
// not: a read of a message in the window or with a msg entry records its
// seq, a read of any other (an earlier message) one below the window (see
// ReadSeq), so only messages past the window need a msg entry. The unread
// dot and the overdue flag are computed from these at query time (see
// queries.cc), as "overdue" depends on the clock. The badge counters are kept on apply from
// the same facts, so a badge count reads two keys. customer.erased blanks the
// customer's name and previews.
#include <algorithm>
#include <array>
#include <map>
#include <utility>
#include <vector>

#include "engine/rules/text.h"
#include "projections/view_codec.h"

namespace palaver::projections::internal {
namespace {

constexpr size_t kPreviewChars = 100;

// The row's three index keys: all rows, rows by assignee, rows by status.
std::array<std::string, 3> IndexKeys(const std::string& shop, const InboxRowData& row) {
  const std::string when = BigEndian64(~OrderedSigned(row.activity_us));
  const std::string_view status = EnumName(static_cast<ConversationStatus>(row.status));
  return {Key({"idx", shop, when, row.id}), Key({"idxa", shop, row.assignee, when, row.id}),
          Key({"idxs", shop, status, when, row.id})};
}

// What a row adds to the badge counters: "" for the default counter, else
// the agent's own (see the file comment). Closed and snoozed rows add nothing.
void BadgeContribution(const InboxRowData& row, int64_t sign, std::map<std::string, int64_t>& out) {
  if (row.status != static_cast<uint8_t>(ConversationStatus::kOpen)) return;
  const int64_t fallback = row.UnreadByDefault() ? 1 : 0;
  out[""] += sign * fallback;
  for (const auto& r : row.reads) {
    const int64_t unread =
        (row.last_inbound_seq > r.seq || row.marked_unread_offset > r.offset) ? 1 : 0;
    if (unread != fallback) out[r.agent] += sign * (unread - fallback);
  }
}

// A row read with ViewWriter::Get or GetCommitted.
Result<std::optional<InboxRowData>> DecodeRow(Result<std::optional<std::string_view>> bytes) {
  if (!bytes.ok()) return bytes.status();
  if (!bytes->has_value()) return std::optional<InboxRowData>();
  InboxRowData row;
  if (!DecodeInboxRow(**bytes, &row))
    return Status::Error(ErrorCode::kCorruption, "an inbox row does not decode");
  return std::optional<InboxRowData>(std::move(row));
}

Result<std::optional<InboxRowData>> LoadRow(ViewWriter& view, const std::string& key) {
  return DecodeRow(view.Get(key));
}

// Finish's token for a row: the shop's length (8 bytes, big-endian), then the
// row's key "conv\0<shop>\0<conversation>" (ids may hold any byte, so the
// shop is cut out by its length, not at a separator).
constexpr size_t kRowKeyHead = 5;  // "conv\0"
std::string RowToken(const std::string& shop, const std::string& conv_key) {
  return BigEndian64(shop.size()) + conv_key;
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
      // Blank the customer's name and message previews in every row of
      // theirs, found through the customer's index (not a scan of the shop).
      const std::string prefix = Prefix({"cust", shop, erased->customer_id});
      std::vector<std::string> conversations;
      PALAVER_RETURN_IF_ERROR(view.Scan(prefix, [&](std::string_view key, std::string_view) {
        conversations.emplace_back(key.substr(prefix.size()));
        return true;
      }));
      for (const std::string& conversation : conversations) {
        const std::string key = Key({"conv", shop, conversation});
        auto row = LoadRow(view, key);
        if (!row.ok()) return row.status();
        if (!row->has_value() || (*row)->customer_id != erased->customer_id) continue;
        InboxRowData& blank = **row;
        blank.name.clear();
        blank.preview.clear();
        Store(view, shop, key, blank);
      }
      return Status::Ok();
    }
    if (env.conversation_id.empty()) return Status::Ok();
    const std::string conv_key = Key({"conv", shop, env.conversation_id});

    auto loaded = LoadRow(view, conv_key);
    if (!loaded.ok()) return loaded.status();

    if (const auto* started = std::get_if<ConversationStarted>(&event.body)) {
      InboxRowData row;
      row.id = env.conversation_id;
      row.customer_id = started->customer_id;
      row.name = started->personal.name;
      row.channel = static_cast<uint8_t>(started->channel);
      row.status = static_cast<uint8_t>(ConversationStatus::kOpen);
      row.activity_us = env.occurred_at_us;
      row.started_us = env.occurred_at_us;
      // A repeated start replaces the row (and its customer).
      if (loaded->has_value() && (*loaded)->customer_id != row.customer_id)
        view.Delete(Key({"cust", shop, (*loaded)->customer_id, row.id}));
      view.Put(Key({"cust", shop, row.customer_id, row.id}), std::string_view());
      Store(view, shop, conv_key, row);
      return Status::Ok();
    }

    if (!loaded->has_value()) return Status::Ok();  // events of a conversation never started
    InboxRowData& row = **loaded;

    if (const auto* status = std::get_if<ConversationStatusChanged>(&event.body)) {
      row.status = static_cast<uint8_t>(status->to);
      row.snoozed_until_us = status->snoozed_until_us;
      row.activity_us = std::max(row.activity_us, env.occurred_at_us);
    } else if (const auto* assigned = std::get_if<ConversationAssigned>(&event.body)) {
      row.assignee = assigned->agent_id;
    } else if (std::get_if<ConversationUnassigned>(&event.body)) {
      row.assignee.clear();
    } else if (std::get_if<ConversationMarkedUnread>(&event.body)) {
      row.marked_unread_offset = record.offset;
    } else if (const auto* message = std::get_if<MessagePosted>(&event.body)) {
      const int64_t seq = ++row.msg_seq;
      if (env.actor_kind == ActorKind::kShopper) {
        row.read_window.assign(1, message->message_id);
      } else if (row.read_window.size() < kInboxReadWindow) {
        row.read_window.push_back(message->message_id);
      } else {
        PutInt(view, Key({"msg", shop, env.conversation_id, message->message_id}), seq);
      }
      if (message->delivery_route != DeliveryRoute::kInboxOnly)
        row.preview = rules::Preview(message->personal.text, kPreviewChars);
      row.activity_us = std::max(row.activity_us, env.occurred_at_us);
      if (env.actor_kind == ActorKind::kShopper) {
        row.last_inbound_seq = seq;
        if (!row.waiting_since_us) row.waiting_since_us = env.occurred_at_us;
      } else if (env.actor_kind == ActorKind::kAgent) {
        row.waiting_since_us.reset();
        SetRead(row, env.actor_id, seq, record.offset, /*keep_max=*/false);  // the author read it
      }
    } else if (const auto* read = std::get_if<MessagesRead>(&event.body)) {
      if (env.actor_kind != ActorKind::kAgent) return Status::Ok();
      auto seq = ReadSeq(view, shop, env.conversation_id, row, read->up_to_message_id);
      if (!seq.ok()) return seq.status();
      SetRead(row, env.actor_id, *seq, record.offset, /*keep_max=*/true);
    } else if (const auto* topics = std::get_if<TopicsClassified>(&event.body)) {
      std::vector<uint8_t> latest;
      for (const TopicScore& score : topics->topics)
        if (score.confidence >= 0.9) latest.push_back(static_cast<uint8_t>(score.topic));
      if (latest.empty()) return Status::Ok();
      for (uint8_t t : row.topics)
        if (std::find(latest.begin(), latest.end(), t) == latest.end()) latest.push_back(t);
      if (latest.size() > 2) latest.resize(2);
      row.topics = std::move(latest);
    } else {
      return Status::Ok();
    }
    Store(view, shop, conv_key, row);
    return Status::Ok();
  }

  // A row written in the batch (see RowToken): its index entries and badge
  // counters move from the row as committed to the row as it is now.
  Status Finish(std::string_view token, ViewWriter& view) override {
    const std::string shop(token.substr(8 + kRowKeyHead, ReadBigEndian64(token)));
    const std::string_view conv_key = token.substr(8);
    auto before = DecodeRow(view.GetCommitted(conv_key));
    if (!before.ok()) return before.status();
    auto after = DecodeRow(view.Get(conv_key));
    if (!after.ok()) return after.status();
    const InboxRowData* old = before->has_value() ? &**before : nullptr;
    const InboxRowData* row = after->has_value() ? &**after : nullptr;

    // First every read: the badge counters whose value changes.
    std::map<std::string, int64_t> badge;
    if (old != nullptr) BadgeContribution(*old, -1, badge);
    if (row != nullptr) BadgeContribution(*row, +1, badge);
    std::vector<std::pair<std::string, int64_t>> counters;  // key, new value
    for (const auto& [agent, delta] : badge) {
      if (delta == 0) continue;
      std::string key = agent.empty() ? Key({"badge", shop}) : Key({"badge", shop, agent});
      auto current = GetJson(view, key);
      if (!current.ok()) return current.status();
      counters.emplace_back(std::move(key),
                            (current->is_number_integer() ? current->get<int64_t>() : 0) + delta);
    }
    // Then the writes: the index entries that moved, the counters.
    std::array<std::string, 3> old_keys, keys;
    if (old != nullptr) old_keys = IndexKeys(shop, *old);
    if (row != nullptr) keys = IndexKeys(shop, *row);
    for (size_t i = 0; i < keys.size(); ++i) {
      if (old != nullptr && row != nullptr && old_keys[i] == keys[i]) continue;
      if (old != nullptr) view.Delete(old_keys[i]);
      if (row != nullptr) view.Put(keys[i], std::string_view());
    }
    for (const auto& [key, value] : counters) {
      if (value == 0) {
        view.Delete(key);
      } else {
        PutInt(view, key, value);
      }
    }
    return Status::Ok();
  }

 private:
  // The seq to record for a read up to `message_id`: its own when it is in
  // the read window or has a msg entry; otherwise the message is older than
  // the window (the engine accepts reads only of the conversation's
  // messages), and one below the window's start stands for it.
  static Result<int64_t> ReadSeq(ViewWriter& view, const std::string& shop,
                                 const std::string& conversation, const InboxRowData& row,
                                 const std::string& message_id) {
    const auto in_window = std::find(row.read_window.begin(), row.read_window.end(), message_id);
    if (in_window != row.read_window.end())
      return row.ReadWindowStart() + (in_window - row.read_window.begin());
    auto seq = GetJson(view, Key({"msg", shop, conversation, message_id}));
    if (!seq.ok()) return seq.status();
    if (seq->is_number_integer()) return seq->get<int64_t>();
    return row.ReadWindowStart() - 1;
  }

  // Records that `agent` has read up to `seq` (with keep_max, never moving back).
  static void SetRead(InboxRowData& row, const std::string& agent, int64_t seq, int64_t offset,
                      bool keep_max) {
    auto it = std::lower_bound(
        row.reads.begin(), row.reads.end(), agent,
        [](const InboxRowData::Read& r, const std::string& a) { return r.agent < a; });
    if (it == row.reads.end() || it->agent != agent)
      it = row.reads.insert(it, InboxRowData::Read{agent, 0, -1});
    it->seq = keep_max ? std::max(it->seq, seq) : seq;
    it->offset = offset;
  }

  // Writes `row`; its index entries and badge counters follow in Finish.
  static void Store(ViewWriter& view, const std::string& shop, const std::string& conv_key,
                    const InboxRowData& row) {
    view.Put(conv_key, EncodeInboxRow(row));
    view.Defer(RowToken(shop, conv_key));
  }
};

}  // namespace

std::unique_ptr<Projection> NewInboxProjection() { return std::make_unique<InboxProjection>(); }

}  // namespace palaver::projections::internal
