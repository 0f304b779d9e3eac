#include "projections/view_codec.h"

#include <cstdio>

#include "schemas/event_enums.h"

namespace palaver::projections::internal {

std::string UtcDay(int64_t unix_micros) {
  // Floor division, so times before 1970 land on the right day.
  constexpr int64_t kMicrosPerDay = 86'400'000'000LL;
  int64_t days = unix_micros / kMicrosPerDay;
  if (unix_micros % kMicrosPerDay < 0) --days;
  // civil_from_days (H. Hinnant, "chrono-Compatible Low-Level Date Algorithms").
  days += 719468;
  const int64_t era = (days >= 0 ? days : days - 146096) / 146097;
  const int64_t doe = days - era * 146097;
  const int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  int64_t y = yoe + era * 400;
  const int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const int64_t mp = (5 * doy + 2) / 153;
  const int64_t d = doy - (153 * mp + 2) / 5 + 1;
  const int64_t m = mp < 10 ? mp + 3 : mp - 9;
  if (m <= 2) ++y;
  char buf[32];
  std::snprintf(buf, sizeof buf, "%04lld-%02lld-%02lld", static_cast<long long>(y),
                static_cast<long long>(m), static_cast<long long>(d));
  return buf;
}

std::string EscapeKey(std::string_view key) {
  std::string out;
  for (char ch : key) {
    const auto c = static_cast<unsigned char>(ch);
    if (c == 0) {
      out.push_back('|');
    } else if (c >= 0x20 && c < 0x7f && c != '\\' && c != '|') {
      out.push_back(ch);
    } else {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", c);
      out.append(buf);
    }
  }
  return out;
}

std::string EncodeInboxRow(const InboxRowData& row) {
  BinWriter w;
  w.U8(1);  // row layout version
  w.Str(row.id);
  w.Str(row.customer_id);
  w.Str(row.name);
  w.Str(row.preview);
  w.Str(row.assignee);
  w.U8(row.channel);
  w.U8(row.status);
  w.OptI64(row.snoozed_until_us);
  w.OptI64(row.waiting_since_us);
  w.Varint(row.topics.size());
  for (uint8_t t : row.topics) w.U8(t);
  w.I64(row.activity_us);
  w.I64(row.started_us);
  w.I64(row.msg_seq);
  w.I64(row.last_inbound_seq);
  w.I64(row.marked_unread_offset);
  w.Varint(row.reads.size());
  for (const auto& r : row.reads) {
    w.Str(r.agent);
    w.I64(r.seq);
    w.I64(r.offset);
  }
  return w.Take();
}

bool DecodeInboxRow(std::string_view bytes, InboxRowData* row) {
  BinReader r(bytes);
  if (r.U8() != 1) return false;
  row->id = r.Str();
  row->customer_id = r.Str();
  row->name = r.Str();
  row->preview = r.Str();
  row->assignee = r.Str();
  row->channel = r.U8();
  row->status = r.U8();
  row->snoozed_until_us = r.OptI64();
  row->waiting_since_us = r.OptI64();
  const uint64_t topics = r.Varint();
  row->topics.clear();
  for (uint64_t i = 0; i < topics && r.ok(); ++i) row->topics.push_back(r.U8());
  row->activity_us = r.I64();
  row->started_us = r.I64();
  row->msg_seq = r.I64();
  row->last_inbound_seq = r.I64();
  row->marked_unread_offset = r.I64();
  const uint64_t reads = r.Varint();
  row->reads.clear();
  for (uint64_t i = 0; i < reads && r.ok(); ++i) {
    InboxRowData::Read read;
    read.agent = r.Str();
    read.seq = r.I64();
    read.offset = r.I64();
    row->reads.push_back(std::move(read));
  }
  return r.ok() && r.done();
}

namespace {

Json OptJson(const std::optional<int64_t>& v) { return v ? Json(*v) : Json(nullptr); }

std::string Hex(std::string_view bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  for (unsigned char c : bytes) {
    out.push_back(kDigits[c >> 4]);
    out.push_back(kDigits[c & 15]);
  }
  return out;
}

}  // namespace

Json ValueToJson(std::string_view full_key, std::string_view value) {
  if (value.empty()) return Json(nullptr);
  if (value[0] == kBinaryTag) {
    InboxRowData row;
    if (full_key.substr(0, 11) == std::string_view("inbox/conv\0", 11) &&
        DecodeInboxRow(value, &row)) {
      Json topics = Json::array();
      for (uint8_t t : row.topics) topics.push_back(EnumName(static_cast<Topic>(t)));
      Json reads = Json::object();
      for (const auto& r : row.reads) reads[r.agent] = Json::array({r.seq, r.offset});
      return Json{{"id", row.id},
                  {"customer_id", row.customer_id},
                  {"name", row.name},
                  {"channel", EnumName(static_cast<Channel>(row.channel))},
                  {"preview", row.preview},
                  {"status", EnumName(static_cast<ConversationStatus>(row.status))},
                  {"snoozed_until", OptJson(row.snoozed_until_us)},
                  {"assignee", row.assignee},
                  {"topics", topics},
                  {"activity_us", row.activity_us},
                  {"started_us", row.started_us},
                  {"waiting_since", OptJson(row.waiting_since_us)},
                  {"msg_seq", row.msg_seq},
                  {"last_inbound_seq", row.last_inbound_seq},
                  {"marked_unread_offset", row.marked_unread_offset},
                  {"reads", reads}};
    }
    return Json{{"bytes", Hex(value)}};
  }
  Json j = Unpack(value);
  if (j.is_discarded()) return Json{{"bytes", Hex(value)}};
  return j;
}

}  // namespace palaver::projections::internal
