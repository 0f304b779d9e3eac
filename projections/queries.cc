#include "projections/queries.h"

#include <algorithm>
#include <chrono>
#include <cstdio>

#include <date/tz.h>

#include "projections/view_codec.h"

namespace palaver::projections {
namespace {

using internal::BigEndian64;
using internal::DecodeReceiptsMsg;
using internal::Json;
using internal::Key;
using internal::Prefix;
using internal::ReadBigEndian64;
using internal::ReceiptsMsgData;
using internal::ValueJson;

constexpr int64_t kRecentOrderWindowUs = 60LL * 86'400'000'000LL;

std::string Hex(std::string_view bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  for (unsigned char c : bytes) {
    out.push_back(kDigits[c >> 4]);
    out.push_back(kDigits[c & 15]);
  }
  return out;
}
std::optional<std::string> Unhex(std::string_view text) {
  if (text.size() % 2) return std::nullopt;
  auto digit = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
  };
  std::string out;
  for (size_t i = 0; i < text.size(); i += 2) {
    const int hi = digit(text[i]), lo = digit(text[i + 1]);
    if (hi < 0 || lo < 0) return std::nullopt;
    out.push_back(static_cast<char>(hi * 16 + lo));
  }
  return out;
}

template <class E>
E EnumOr(const Json& j, const char* field, E fallback) {
  auto v = EnumFromName<E>(j.value(field, std::string()));
  return v ? *v : fallback;
}

Result<Json> GetView(const ViewReader& views, const std::string& key) {
  auto bytes = views.Get(key);
  if (!bytes.ok()) return bytes.status();
  if (!bytes->has_value()) return Json();
  Json j = ValueJson(**bytes);
  return j.is_discarded() ? Json() : j;
}

// The "online" of a presence value ({"online": bool}, inbox_projection.cc).
// The two values it ever holds are recognised without building a JSON tree.
bool PresenceOnline(std::string_view bytes) {
  static const std::string kOnline = internal::Pack(Json{{"online", true}});
  static const std::string kOffline = internal::Pack(Json{{"online", false}});
  if (bytes == kOnline) return true;
  if (bytes == kOffline) return false;
  const Json presence = ValueJson(bytes);
  return presence.is_object() && presence.value("online", false);
}

std::vector<std::string_view> Views(const std::vector<std::string>& keys) {
  return std::vector<std::string_view>(keys.begin(), keys.end());
}

Status NotFound(const std::string& what) {
  return Status::Error(ErrorCode::kNotFound, what + " was not found").WithReason("not_found");
}

}  // namespace

std::vector<std::unique_ptr<Projection>> DefaultProjections() {
  std::vector<std::unique_ptr<Projection>> out;
  out.push_back(internal::NewInboxProjection());
  out.push_back(internal::NewReceiptsProjection());
  out.push_back(internal::NewHistoryProjection());
  out.push_back(internal::NewProfileProjection());
  out.push_back(internal::NewMetricsProjection());
  return out;
}

Status Queries::Wait(const Consistency& c) const {
  if (!c.min_position) return Status::Ok();
  if (projector_ == nullptr)
    return Status::Error(ErrorCode::kInternal, "read-your-writes needs a projector");
  return projector_->WaitForPosition(c.min_position->partition, c.min_position->offset,
                                     c.wait_timeout);
}

Result<InboxPage> Queries::Inbox(const InboxQuery& q, const Consistency& c) const {
  PALAVER_RETURN_IF_ERROR(Wait(c));
  if (q.limit == 0 || q.limit > 200)
    return Status::Error(ErrorCode::kInvalidArgument, "limit must be between 1 and 200", "limit");
  // The narrowest index that serves the filters; the rest are checked per row.
  std::string prefix = "inbox/" + Prefix({"idx", q.shop});
  if (q.assignee == AssigneeFilter::kMe) {
    prefix = "inbox/" + Prefix({"idxa", q.shop, q.agent_id});
  } else if (q.assignee == AssigneeFilter::kUnassigned) {
    prefix = "inbox/" + Prefix({"idxa", q.shop, ""});
  } else if (q.statuses.size() == 1) {
    prefix = "inbox/" + Prefix({"idxs", q.shop, EnumName(q.statuses[0])});
  }
  std::string start;
  if (!q.cursor.empty()) {
    auto key = Unhex(q.cursor);
    if (!key || key->rfind(prefix, 0) != 0)
      return Status::Error(ErrorCode::kInvalidArgument,
                           "the cursor is not one this inbox returned; start from the first page",
                           "cursor");
    start = *key;
  }
  auto shop = GetView(views_, "inbox/" + Key({"shop", q.shop}));
  if (!shop.ok()) return shop.status();
  const int64_t target_s =
      shop->is_object() ? shop->value("overdue_target_s", int64_t{kDefaultOverdueTargetSeconds})
                        : kDefaultOverdueTargetSeconds;
  InboxPage page;
  std::string last_key;
  bool more = false;
  const std::string row_prefix = "inbox/" + Prefix({"conv", q.shop});
  // Index entries are gathered into batches of as many as the page still
  // needs, and each batch's rows are read with one MultiGet; with no per-row
  // filter the first batch fills the page.
  std::vector<std::string> index_keys, row_keys;  // the batch's
  auto add_row = [&](size_t i, std::optional<std::string_view> bytes) {
    internal::InboxRowData row;
    if (!bytes || !internal::DecodeInboxRow(*bytes, &row)) return;
    const auto status = static_cast<ConversationStatus>(row.status);
    if (!q.statuses.empty() &&
        std::find(q.statuses.begin(), q.statuses.end(), status) == q.statuses.end())
      return;
    if (q.assignee == AssigneeFilter::kMe && row.assignee != q.agent_id) return;
    if (q.assignee == AssigneeFilter::kUnassigned && !row.assignee.empty()) return;
    const auto channel = static_cast<Channel>(row.channel);
    if (q.channel && *q.channel != channel) return;
    std::vector<Topic> topics;
    for (uint8_t t : row.topics) topics.push_back(static_cast<Topic>(t));
    if (q.topic && std::find(topics.begin(), topics.end(), *q.topic) == topics.end()) return;
    const bool unread = row.UnreadFor(q.agent_id);
    if (q.unread_only && !unread) return;
    const bool overdue = status == ConversationStatus::kOpen && row.waiting_since_us &&
                         q.now_us - *row.waiting_since_us > target_s * 1'000'000;
    // A row that may still turn overdue changes the page then: its flag, or
    // (with overdue_only) whether it is on the page at all.
    if (status == ConversationStatus::kOpen && row.waiting_since_us && !overdue)
      page.same_until_us =
          std::min(page.same_until_us, *row.waiting_since_us + target_s * 1'000'000);
    if (q.overdue_only && !overdue) return;
    InboxRow out;
    out.conversation_id = std::move(row.id);
    out.customer_id = std::move(row.customer_id);
    out.customer_name = std::move(row.name);
    out.channel = channel;
    out.preview = std::move(row.preview);
    out.unread = unread;
    out.assignee = std::move(row.assignee);
    out.status = status;
    out.topics = std::move(topics);
    out.waiting_since_us = row.waiting_since_us;
    out.overdue = overdue;
    out.last_activity_us = row.activity_us;
    page.rows.push_back(std::move(out));
    last_key = index_keys[i];
  };
  // The batch never holds more entries than the page lacks, so it cannot overfill it.
  auto read_batch = [&]() -> Status {
    Status s = views_.MultiGet(Views(row_keys), add_row);
    index_keys.clear();
    row_keys.clear();
    return s;
  };
  Status row_status = Status::Ok();
  Status scan = views_.Scan(prefix, start, false, [&](std::string_view key, std::string_view) {
    if (key == start) return true;  // the cursor row itself was on the previous page
    if (page.rows.size() == q.limit) {
      more = true;
      return false;
    }
    // prefix, ~activity (8 bytes), '\0', conversation id.
    if (key.size() < prefix.size() + 9) return true;
    index_keys.emplace_back(key);
    row_keys.push_back(row_prefix + std::string(key.substr(prefix.size() + 9)));
    if (page.rows.size() + row_keys.size() == q.limit) {
      row_status = read_batch();
      if (!row_status.ok()) return false;
    }
    return true;
  });
  PALAVER_RETURN_IF_ERROR(scan);
  PALAVER_RETURN_IF_ERROR(row_status);
  if (!row_keys.empty()) PALAVER_RETURN_IF_ERROR(read_batch());
  // Presence of the page's customers: one MultiGet.
  const std::string presence_prefix = "inbox/" + Prefix({"presence", q.shop});
  std::vector<std::string> presence_keys;
  for (const InboxRow& row : page.rows) presence_keys.push_back(presence_prefix + row.customer_id);
  PALAVER_RETURN_IF_ERROR(
      views_.MultiGet(Views(presence_keys), [&](size_t i, std::optional<std::string_view> bytes) {
        if (bytes) page.rows[i].customer_online = PresenceOnline(*bytes);
      }));
  if (more) page.next_cursor = Hex(last_key);
  return page;
}

Result<int64_t> Queries::BadgeCount(const std::string& shop, const std::string& agent_id,
                                    const Consistency& c) const {
  PALAVER_RETURN_IF_ERROR(Wait(c));
  // Two counters kept on apply (inbox_projection.cc): no scan.
  auto all = GetView(views_, "inbox/" + Key({"badge", shop}));
  if (!all.ok()) return all.status();
  auto mine = GetView(views_, "inbox/" + Key({"badge", shop, agent_id}));
  if (!mine.ok()) return mine.status();
  return (all->is_number_integer() ? all->get<int64_t>() : 0) +
         (mine->is_number_integer() ? mine->get<int64_t>() : 0);
}

Result<Receipts> Queries::ReadReceipts(const std::string& shop, const std::string& conversation_id,
                                       const Consistency& c) const {
  PALAVER_RETURN_IF_ERROR(Wait(c));
  auto conv = GetView(views_, "receipts/" + Key({"conv", shop, conversation_id}));
  if (!conv.ok()) return conv.status();
  if (conv->is_null()) return NotFound("conversation " + conversation_id);
  Receipts out;
  int64_t shopper_seq = 0;
  const std::string read_prefix = "receipts/" + Prefix({"read", shop, conversation_id});
  PALAVER_RETURN_IF_ERROR(
      views_.Scan(read_prefix, "", false, [&](std::string_view key, std::string_view value) {
        Json j = ValueJson(value);
        if (j.is_discarded()) return true;
        Receipt r;
        r.participant.assign(key.substr(read_prefix.size()));
        r.last_read_message_id = j.value("message_id", std::string());
        r.read_at_us = j.value("at", int64_t{0});
        if (r.participant.rfind("shopper:", 0) == 0)
          shopper_seq = std::max(shopper_seq, j.value("seq", int64_t{0}));
        out.participants.push_back(std::move(r));
        return true;
      }));
  // The conversation's messages (in order of their ids), the agents' ones
  // then put in conversation order.
  const std::string msg_prefix = "receipts/" + Prefix({"msg", shop, conversation_id});
  std::vector<std::pair<int64_t, AgentMessageReceipt>> agent_messages;
  PALAVER_RETURN_IF_ERROR(
      views_.Scan(msg_prefix, "", false, [&](std::string_view key, std::string_view value) {
        ReceiptsMsgData msg;
        if (!DecodeReceiptsMsg(value, &msg) ||
            msg.actor_kind != static_cast<uint8_t>(ActorKind::kAgent))
          return true;
        agent_messages.push_back({msg.seq,
                                  {std::string(key.substr(msg_prefix.size())),
                                   std::move(msg.actor_id), msg.seq <= shopper_seq}});
        return true;
      }));
  std::sort(agent_messages.begin(), agent_messages.end(),
            [](const auto& a, const auto& b) { return a.first < b.first; });
  for (auto& [seq, receipt] : agent_messages) out.agent_messages.push_back(std::move(receipt));
  return out;
}

namespace {

// What the shopper sees of a timeline entry, as the shopper's live stream
// does (connectors/live/live_view.h): the conversation starting, messages,
// the conversation closing and reopening, their own CSAT and a handoff.
// Assignments, topics, cart entries, snoozes and delivery routes are for
// agents. Returns false when the entry is not shown at all.
bool ShopperEntry(Json& entry) {
  const std::string type = entry.value("type", std::string());
  if (type == "started" || type == "csat" || type == "handoff") return true;
  if (type == "message") {
    entry.erase("delivery_route");
    return true;
  }
  if (type == "status") {
    const bool from_open = entry.value("from", std::string()) != "closed";
    const bool to_open = entry.value("to", std::string()) != "closed";
    if (from_open && to_open) return false;  // snooze, unsnooze: still open to the shopper
    if (from_open) entry["from"] = "open";
    if (to_open) entry["to"] = "open";
    entry.erase("snoozed_until");
    return true;
  }
  return false;
}

}  // namespace

Result<TimelinePage> Queries::Timeline(const TimelineQuery& q, const Consistency& c) const {
  PALAVER_RETURN_IF_ERROR(Wait(c));
  if (q.limit == 0 || q.limit > 500)
    return Status::Error(ErrorCode::kInvalidArgument, "limit must be between 1 and 500", "limit");
  auto conv = GetView(views_, "history/" + Key({"conv", q.shop, q.conversation_id}));
  if (!conv.ok()) return conv.status();
  const std::string customer = conv->is_object() ? conv->value("customer_id", std::string()) : "";
  // A shopper asking for someone else's conversation learns nothing about it.
  if (conv->is_null() ||
      (q.viewer == TimelineViewer::kShopper && customer != q.shopper_customer_id))
    return NotFound("conversation " + q.conversation_id);
  const int64_t last_seq = conv->value("seq", int64_t{0});
  int64_t cursor = q.backward ? last_seq + 1 : 0;
  if (!q.cursor.empty()) {
    try {
      size_t used = 0;
      cursor = std::stoll(q.cursor, &used);
      if (used != q.cursor.size() || cursor < 0) throw std::invalid_argument("cursor");
    } catch (const std::exception&) {
      return Status::Error(ErrorCode::kInvalidArgument, "the cursor is not a timeline position",
                           "cursor");
    }
  }
  const std::string prefix = "history/" + Prefix({"tl", q.shop, q.conversation_id});
  TimelinePage page;
  if ((q.backward && cursor <= 1) || (!q.backward && cursor >= last_seq)) return page;
  const std::string start =
      prefix + BigEndian64(static_cast<uint64_t>(q.backward ? cursor - 1 : cursor + 1));
  PALAVER_RETURN_IF_ERROR(
      views_.Scan(prefix, start, q.backward, [&](std::string_view key, std::string_view value) {
        Json entry = ValueJson(value);
        if (entry.is_discarded()) return true;
        if (q.viewer == TimelineViewer::kShopper) {
          if (entry.value("agents_only", false)) return true;
          const std::string about = entry.value("customer_id", std::string());
          if (!about.empty() && about != customer) return true;
          if (!ShopperEntry(entry)) return true;
        }
        page.entries.push_back(
            {static_cast<int64_t>(ReadBigEndian64(key.substr(prefix.size()))), entry.dump()});
        return page.entries.size() < q.limit;
      }));
  if (q.backward) std::reverse(page.entries.begin(), page.entries.end());
  if (!page.entries.empty()) {
    if (page.entries.front().seq > 1) page.older_cursor = std::to_string(page.entries.front().seq);
    if (page.entries.back().seq < last_seq)
      page.newer_cursor = std::to_string(page.entries.back().seq);
  }
  return page;
}

Result<std::vector<PreviousConversation>> Queries::PreviousConversations(
    const std::string& shop, const std::string& customer_id,
    const std::string& except_conversation_id, const Consistency& c) const {
  PALAVER_RETURN_IF_ERROR(Wait(c));
  std::vector<PreviousConversation> out;
  PALAVER_RETURN_IF_ERROR(views_.Scan("history/" + Prefix({"byc", shop, customer_id}), "", false,
                                      [&](std::string_view, std::string_view value) {
                                        Json j = ValueJson(value);
                                        if (j.is_discarded()) return true;
                                        PreviousConversation p;
                                        p.conversation_id =
                                            j.value("conversation_id", std::string());
                                        if (p.conversation_id == except_conversation_id)
                                          return true;
                                        p.channel = EnumOr(j, "channel", Channel::kWebChat);
                                        p.started_at_us = j.value("started_at", int64_t{0});
                                        out.push_back(std::move(p));
                                        return true;
                                      }));
  for (auto& p : out) {
    auto conv = GetView(views_, "history/" + Key({"conv", shop, p.conversation_id}));
    if (!conv.ok()) return conv.status();
    if (conv->is_object()) p.status = conv->value("status", std::string());
  }
  return out;
}

Result<CustomerProfile> Queries::Profile(const std::string& shop, const std::string& customer_id,
                                         int64_t now_us, const Consistency& c) const {
  PALAVER_RETURN_IF_ERROR(Wait(c));
  auto stored = GetView(views_, "profile/" + Key({"cust", shop, customer_id}));
  if (!stored.ok()) return stored.status();
  if (stored->is_null()) return NotFound("customer " + customer_id);
  const Json& p = *stored;
  CustomerProfile out;
  out.customer_id = customer_id;
  out.name = p.value("name", std::string());
  out.email = p.value("email", std::string());
  out.phone = p.value("phone", std::string());
  out.returning =
      p.value("orders_count", int64_t{0}) > 0 || p.value("conversations", int64_t{0}) > 1;
  if (p["location"].is_object()) {
    for (const char* part : {"city", "region", "country_code"}) {
      const std::string v = p["location"].value(part, std::string());
      if (v.empty()) continue;
      if (!out.location.empty()) out.location += ", ";
      out.location += v;
    }
  }
  out.time_zone = p.value("time_zone", std::string());
  if (!out.time_zone.empty()) {
    try {
      const auto* zone = date::locate_zone(out.time_zone);
      const auto local = zone->to_local(
          std::chrono::sys_time<std::chrono::microseconds>(std::chrono::microseconds(now_us)));
      out.local_time = date::format("%H:%M", std::chrono::floor<std::chrono::minutes>(local));
    } catch (const std::exception&) {
      out.local_time.clear();  // an unknown zone: no local time rather than a wrong one
    }
  }
  if (p["customer_since"].is_number_integer())
    out.customer_since_us = p["customer_since"].get<int64_t>();
  out.amount_spent_minor = p.value("amount_spent_minor", int64_t{0});
  out.currency = p.value("currency", std::string());
  out.erased = p.value("erased", false);
  if (p["current"].is_object()) {
    out.current_conversation_id = p["current"].value("conversation_id", std::string());
    out.conversation_started_us = p["current"].value("started_at", int64_t{0});
    out.platform = p["current"].value("platform", std::string());
  }
  PALAVER_RETURN_IF_ERROR(views_.Scan(
      "profile/" + Prefix({"order", shop, customer_id}), "", false,
      [&](std::string_view, std::string_view value) {
        Json o = ValueJson(value);
        if (o.is_discarded()) return true;
        OrderSummary s;
        s.order_id = o.value("order_id", std::string());
        s.order_number = o.value("order_number", std::string());
        if (o["placed_at"].is_number_integer()) s.placed_at_us = o["placed_at"].get<int64_t>();
        s.status = o.value("status", std::string());
        s.financial_status = o.value("financial_status", std::string());
        s.fulfillment_status = o.value("fulfillment_status", std::string());
        s.total_minor = o.value("total_minor", int64_t{0});
        s.currency = o.value("currency", std::string());
        const bool recent = s.placed_at_us && *s.placed_at_us >= now_us - kRecentOrderWindowUs;
        if (recent || s.status == "open") out.recent_orders.push_back(std::move(s));
        return true;
      }));
  std::sort(out.recent_orders.begin(), out.recent_orders.end(),
            [](const OrderSummary& a, const OrderSummary& b) {
              const int64_t ta = a.placed_at_us.value_or(INT64_MIN);
              const int64_t tb = b.placed_at_us.value_or(INT64_MIN);
              return ta != tb ? ta > tb : a.order_id < b.order_id;
            });
  if (out.recent_orders.size() > 3) out.recent_orders.resize(3);
  const std::string note_prefix = "profile/" + Prefix({"note", shop, customer_id});
  PALAVER_RETURN_IF_ERROR(
      views_.Scan(note_prefix, "", false, [&](std::string_view key, std::string_view value) {
        Json n = ValueJson(value);
        if (n.is_discarded()) return true;
        out.notes.push_back({std::string(key.substr(note_prefix.size())),
                             n.value("text", std::string()), n.value("author", std::string()),
                             n.value("at", int64_t{0})});
        return true;
      }));
  std::sort(out.notes.begin(), out.notes.end(), [](const CustomerNote& a, const CustomerNote& b) {
    return a.at_us != b.at_us ? a.at_us > b.at_us : a.note_id < b.note_id;
  });
  return out;
}

Result<ConversationMetrics> Queries::MetricsFor(const std::string& shop,
                                                const std::string& conversation_id,
                                                const Consistency& c) const {
  PALAVER_RETURN_IF_ERROR(Wait(c));
  auto conv = GetView(views_, "metrics/" + Key({"conv", shop, conversation_id}));
  if (!conv.ok()) return conv.status();
  if (conv->is_null()) return NotFound("conversation " + conversation_id);
  auto opt = [&](const char* field) -> std::optional<int64_t> {
    const Json& v = (*conv)[field];
    if (v.is_number_integer()) return v.get<int64_t>();
    return std::nullopt;
  };
  ConversationMetrics m;
  m.first_response_wall_us = opt("frt_wall_us");
  m.first_response_office_us = opt("frt_office_us");
  m.resolution_wall_us = opt("res_wall_us");
  m.resolution_office_us = opt("res_office_us");
  if (auto csat = opt("csat")) m.csat = static_cast<int>(*csat);
  return m;
}

Result<MetricsReport> Queries::Metrics(const std::string& shop, const std::string& from_day,
                                       const std::string& to_day, const Consistency& c) const {
  PALAVER_RETURN_IF_ERROR(Wait(c));
  const std::string prefix = "metrics/" + Prefix({"day", shop});
  MetricsReport report;
  struct Sums {
    int64_t count = 0, wall = 0, office_count = 0, office = 0;
  } frt, res;
  int64_t csat_sum = 0;
  auto add = [](Sums& s, const Json& j) {
    if (!j.is_object()) return;
    s.count += j.value("count", int64_t{0});
    s.wall += j.value("wall_sum_us", int64_t{0});
    s.office_count += j.value("office_count", int64_t{0});
    s.office += j.value("office_sum_us", int64_t{0});
  };
  auto counters = [](const std::string& day, const Json& j,
                     std::vector<std::tuple<std::string, std::string, int64_t>>& out) {
    if (!j.is_object()) return;
    for (auto it = j.begin(); it != j.end(); ++it)
      out.emplace_back(day, it.key(), it.value().get<int64_t>());
  };
  PALAVER_RETURN_IF_ERROR(views_.Scan(
      prefix, prefix + from_day, false, [&](std::string_view key, std::string_view value) {
        const std::string day(key.substr(prefix.size()));
        if (day > to_day) return false;
        Json d = ValueJson(value);
        if (d.is_discarded()) return true;
        add(frt, d["frt"]);
        add(res, d["res"]);
        if (d["csat"].is_object()) {
          report.csat_count += d["csat"].value("count", int64_t{0});
          csat_sum += d["csat"].value("sum", int64_t{0});
        }
        report.conversations_started += d.value("started", int64_t{0});
        counters(day, d["by_channel"], report.by_channel);
        counters(day, d["by_topic"], report.by_topic);
        counters(day, d["by_agent"], report.by_agent);
        return true;
      }));
  auto stats = [](const Sums& s) {
    DurationStats d;
    d.count = s.count;
    d.wall_avg_us = s.count ? s.wall / s.count : 0;
    d.office_count = s.office_count;
    d.office_avg_us = s.office_count ? s.office / s.office_count : 0;
    return d;
  };
  report.first_response = stats(frt);
  report.resolution = stats(res);
  report.csat_average = report.csat_count
                            ? static_cast<double>(csat_sum) / static_cast<double>(report.csat_count)
                            : 0;
  return report;
}

}  // namespace palaver::projections
