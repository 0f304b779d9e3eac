// Queries over the projected views: the C++ API behind the HTTP layer.
//
// Every query reads committed views through a ViewReader (normally the
// Projector). Read-your-writes: a query given `min_position` first waits, up
// to `wait_timeout`, until the projector has applied that log position (the
// position a command's append returned), and fails with kTimeout when it has
// not. Every call returns a Result; errors: kInvalidArgument (bad cursor or
// limit), kNotFound (unknown conversation or customer, or one the caller may
// not see), kTimeout (see above), kIoError (RocksDB).
//
// Thread safety: a Queries object is immutable; call it from any thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "engine/event_log.h"
#include "projections/projector.h"
#include "schemas/event_enums.h"
#include "schemas/status.h"

namespace palaver::projections {

// Read-your-writes for one query.
struct Consistency {
  std::optional<LogPosition> min_position;  // wait until this record is applied
  std::chrono::milliseconds wait_timeout{2000};
};

enum class AssigneeFilter { kAnyone, kMe, kUnassigned };

// Rows come from the narrowest index, each sorted newest activity first: by
// assignee (kMe, kUnassigned), else by status (exactly one status asked),
// else all rows; other filters are checked row by row, so a page is a short
// forward scan costing one row read per index entry scanned to fill it.
struct InboxQuery {
  std::string shop;
  std::string agent_id;                      // "me": the agent reading
  std::vector<ConversationStatus> statuses;  // empty = any status
  AssigneeFilter assignee = AssigneeFilter::kAnyone;
  std::optional<Channel> channel;
  std::optional<Topic> topic;
  bool unread_only = false;  // unread for agent_id
  bool overdue_only = false;
  int64_t now_us = 0;  // the clock for "overdue"
  std::string cursor;  // empty = first page; else InboxPage::next_cursor
  size_t limit = 25;   // 1..200
};

struct InboxRow {
  std::string conversation_id;
  std::string customer_id;
  std::string customer_name;
  Channel channel = Channel::kWebChat;
  std::string preview;   // of the last message
  bool unread = false;   // the dot, for the agent reading
  std::string assignee;  // empty = unassigned
  ConversationStatus status = ConversationStatus::kOpen;
  std::vector<Topic> topics;  // at most two, latest first
  bool customer_online = false;
  std::optional<int64_t> waiting_since_us;  // the shopper's oldest unanswered message
  bool overdue = false;                     // open, and waiting longer than the shop's target
  int64_t last_activity_us = 0;
};

struct InboxPage {
  std::vector<InboxRow> rows;  // newest activity first
  std::string next_cursor;     // empty when there are no more rows
  // While the views do not change, the same query gives this same page for
  // every now_us up to and including this one: the first moment a row the
  // filters let through turns overdue (INT64_MAX when none can).
  int64_t same_until_us = INT64_MAX;
};

struct Receipt {
  std::string participant;  // "shopper:<customer id>" or "agent:<agent id>"
  std::string last_read_message_id;
  int64_t read_at_us = 0;
};
struct AgentMessageReceipt {
  std::string message_id;
  std::string agent_id;
  bool seen_by_shopper = false;
};
struct Receipts {
  std::vector<Receipt> participants;                // sorted by participant
  std::vector<AgentMessageReceipt> agent_messages;  // in conversation order
};

enum class TimelineViewer { kAgent, kShopper };
struct TimelineQuery {
  std::string shop;
  std::string conversation_id;
  TimelineViewer viewer = TimelineViewer::kAgent;
  std::string shopper_customer_id;  // kShopper: who asks; must be the conversation's customer
  // Forward: entries after `cursor` (empty = from the start), oldest first.
  // Backward: entries before `cursor` (empty = from the end).
  bool backward = false;
  std::string cursor;
  size_t limit = 50;  // 1..500
};
struct TimelineEntry {
  int64_t seq = 0;
  std::string json;  // the entry (see history_projection.cc for its fields)
};
struct TimelinePage {
  std::vector<TimelineEntry> entries;  // always oldest first
  std::string older_cursor;            // pass with backward=true; empty at the start
  std::string newer_cursor;            // pass with backward=false; empty at the end
};

struct PreviousConversation {
  std::string conversation_id;
  Channel channel = Channel::kWebChat;
  int64_t started_at_us = 0;
  std::string status;
};

struct OrderSummary {
  std::string order_id;
  std::string order_number;
  std::optional<int64_t> placed_at_us;
  std::string status;  // open, closed, cancelled
  std::string financial_status;
  std::string fulfillment_status;
  int64_t total_minor = 0;
  std::string currency;
};
struct CustomerNote {
  std::string note_id;
  std::string text;
  std::string author;
  int64_t at_us = 0;
};
struct CustomerProfile {
  std::string customer_id;
  std::string name;
  bool returning = false;  // has ordered before or started an earlier conversation
  std::string email;
  std::string phone;
  std::string location;  // "city, region, country" as known
  std::string time_zone;
  std::string local_time;  // "HH:MM" at now_us in time_zone; empty when unknown
  std::optional<int64_t> customer_since_us;
  int64_t amount_spent_minor = 0;
  std::string currency;
  std::vector<OrderSummary> recent_orders;  // at most 3, placed or open in the last 60 days
  std::vector<CustomerNote> notes;
  std::string current_conversation_id;
  std::optional<int64_t> conversation_started_us;
  std::string platform;
  bool erased = false;
};

struct DurationStats {
  int64_t count = 0;
  int64_t wall_avg_us = 0;
  int64_t office_count = 0;  // conversations measured in office hours
  int64_t office_avg_us = 0;
};
struct ConversationMetrics {
  std::optional<int64_t> first_response_wall_us, first_response_office_us;
  std::optional<int64_t> resolution_wall_us, resolution_office_us;
  std::optional<int> csat;
};
struct MetricsReport {
  DurationStats first_response;  // of conversations started in the range
  DurationStats resolution;
  int64_t csat_count = 0;
  double csat_average = 0;
  int64_t conversations_started = 0;
  // day "YYYY-MM-DD" (in the shop's time zone, see Metrics) -> name -> count
  std::vector<std::tuple<std::string, std::string, int64_t>> by_channel, by_topic, by_agent;
};

class Queries {
 public:
  // `views` must outlive this object; `projector` (may be null) serves
  // Consistency::min_position and must outlive it too.
  explicit Queries(const ViewReader& views, Projector* projector = nullptr)
      : views_(views), projector_(projector) {}

  Result<InboxPage> Inbox(const InboxQuery& query, const Consistency& c = {}) const;
  // Open conversations unread by `agent_id`: counters kept on apply, so the
  // cost does not grow with the shop's conversations (two key reads).
  Result<int64_t> BadgeCount(const std::string& shop, const std::string& agent_id,
                             const Consistency& c = {}) const;
  Result<Receipts> ReadReceipts(const std::string& shop, const std::string& conversation_id,
                                const Consistency& c = {}) const;
  // kShopper sees only a conversation of their own (kNotFound otherwise) and
  // of it what the shopper's live stream shows: started, messages (without
  // the delivery route), closing and reopening (a snooze reads as open), their
  // CSAT and handoffs; never notes, assignments, topics, cart entries or
  // anything of another customer. Cursors count every entry either way.
  Result<TimelinePage> Timeline(const TimelineQuery& query, const Consistency& c = {}) const;
  // Newest first, without `except_conversation_id`.
  Result<std::vector<PreviousConversation>> PreviousConversations(
      const std::string& shop, const std::string& customer_id,
      const std::string& except_conversation_id = {}, const Consistency& c = {}) const;
  Result<CustomerProfile> Profile(const std::string& shop, const std::string& customer_id,
                                  int64_t now_us, const Consistency& c = {}) const;
  Result<ConversationMetrics> MetricsFor(const std::string& shop,
                                         const std::string& conversation_id,
                                         const Consistency& c = {}) const;
  // Days "YYYY-MM-DD", inclusive, in the shop's time zone: the zone of its office
  // hours setting when each event was applied (UTC when it has none). The
  // time range of the report is therefore whole local days.
  Result<MetricsReport> Metrics(const std::string& shop, const std::string& from_day,
                                const std::string& to_day, const Consistency& c = {}) const;

 private:
  Status Wait(const Consistency& c) const;

  const ViewReader& views_;
  Projector* const projector_;
};

// The projections palaver runs, in a fixed order: inbox, receipts, history,
// profile, metrics.
std::vector<std::unique_ptr<Projection>> DefaultProjections();

}  // namespace palaver::projections
