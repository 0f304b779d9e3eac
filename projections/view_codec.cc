#include "projections/view_codec.h"

#include <cstdint>
#include <cstdio>

#include "schemas/envelope.h"
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
  w.U8(static_cast<uint8_t>(BinKind::kInboxRow));
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
  w.Varint(row.read_window.size());
  for (const std::string& id : row.read_window) w.Str(id);
  return w.Take();
}

bool DecodeInboxRow(std::string_view bytes, InboxRowData* row) {
  BinReader r(bytes);
  if (r.U8() != static_cast<uint8_t>(BinKind::kInboxRow)) return false;
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
  const uint64_t window = r.Varint();
  if (window > kInboxReadWindow) return false;
  row->read_window.clear();
  for (uint64_t i = 0; i < window && r.ok(); ++i) row->read_window.push_back(r.Str());
  return r.ok() && r.done();
}

namespace {

bool Start(BinReader& r, BinKind kind) { return r.U8() == static_cast<uint8_t>(kind); }

void WriteOpt(BinWriter& w, const std::optional<int64_t>& v) { w.OptI64(v); }

void WriteCounters(BinWriter& w, const MetricsDayData::Counters& counters) {
  w.Varint(counters.size());
  for (const auto& [name, n] : counters) {
    w.Str(name);
    w.I64(n);
  }
}
void ReadCounters(BinReader& r, MetricsDayData::Counters* counters) {
  const uint64_t n = r.Varint();
  counters->clear();
  for (uint64_t i = 0; i < n && r.ok(); ++i) {
    std::string name = r.Str();
    counters->emplace_back(std::move(name), r.I64());
  }
}
void WriteDurations(BinWriter& w, const std::optional<MetricsDayData::Durations>& d) {
  w.U8(d ? (d->has_office ? 2 : 1) : 0);
  if (!d) return;
  w.I64(d->count);
  w.I64(d->wall_sum_us);
  if (!d->has_office) return;
  w.I64(d->office_count);
  w.I64(d->office_sum_us);
}
void ReadDurations(BinReader& r, std::optional<MetricsDayData::Durations>* d) {
  const uint8_t shape = r.U8();
  d->reset();
  if (shape == 0) return;
  d->emplace();
  (*d)->count = r.I64();
  (*d)->wall_sum_us = r.I64();
  if (shape != 2) return;
  (*d)->has_office = true;
  (*d)->office_count = r.I64();
  (*d)->office_sum_us = r.I64();
}

}  // namespace

std::string EncodeHistoryConv(const HistoryConvData& v) {
  BinWriter w;
  w.U8(static_cast<uint8_t>(BinKind::kHistoryConv));
  w.Str(v.customer_id);
  w.Str(v.platform);
  w.U8(v.channel);
  w.U8(v.status);
  w.I64(v.started_at);
  w.I64(v.seq);
  return w.Take();
}
bool DecodeHistoryConv(std::string_view bytes, HistoryConvData* v) {
  BinReader r(bytes);
  if (!Start(r, BinKind::kHistoryConv)) return false;
  v->customer_id = r.Str();
  v->platform = r.Str();
  v->channel = r.U8();
  v->status = r.U8();
  v->started_at = r.I64();
  v->seq = r.I64();
  return r.ok() && r.done();
}

std::string EncodeReceiptsConv(const ReceiptsConvData& v) {
  BinWriter w;
  w.U8(static_cast<uint8_t>(BinKind::kReceiptsConv));
  w.I64(v.seq);
  w.Str(v.customer_id);
  return w.Take();
}
bool DecodeReceiptsConv(std::string_view bytes, ReceiptsConvData* v) {
  BinReader r(bytes);
  if (!Start(r, BinKind::kReceiptsConv)) return false;
  v->seq = r.I64();
  v->customer_id = r.Str();
  return r.ok() && r.done();
}

std::string EncodeReceiptsMsg(const ReceiptsMsgData& v) {
  BinWriter w;
  w.U8(static_cast<uint8_t>(BinKind::kReceiptsMsg));
  w.I64(v.seq);
  w.U8(v.actor_kind);
  w.Str(v.actor_id);
  return w.Take();
}
bool DecodeReceiptsMsg(std::string_view bytes, ReceiptsMsgData* v) {
  BinReader r(bytes);
  if (!Start(r, BinKind::kReceiptsMsg)) return false;
  v->seq = r.I64();
  v->actor_kind = r.U8();
  v->actor_id = r.Str();
  return r.ok() && r.done();
}

std::string EncodeReceiptsRead(const ReceiptsReadData& v) {
  BinWriter w;
  w.U8(static_cast<uint8_t>(BinKind::kReceiptsRead));
  w.Str(v.message_id);
  w.I64(v.seq);
  w.I64(v.at);
  return w.Take();
}
bool DecodeReceiptsRead(std::string_view bytes, ReceiptsReadData* v) {
  BinReader r(bytes);
  if (!Start(r, BinKind::kReceiptsRead)) return false;
  v->message_id = r.Str();
  v->seq = r.I64();
  v->at = r.I64();
  return r.ok() && r.done();
}

std::string EncodeMetricsConv(const MetricsConvData& v) {
  BinWriter w;
  w.U8(static_cast<uint8_t>(BinKind::kMetricsConv));
  w.U8(v.channel);
  w.I64(v.started_at);
  w.Str(v.day);
  w.Varint(v.topics.size());
  for (uint8_t t : v.topics) w.U8(t);
  WriteOpt(w, v.frt_wall_us);
  WriteOpt(w, v.frt_office_us);
  WriteOpt(w, v.res_wall_us);
  WriteOpt(w, v.res_office_us);
  WriteOpt(w, v.csat);
  return w.Take();
}
bool DecodeMetricsConv(std::string_view bytes, MetricsConvData* v) {
  BinReader r(bytes);
  if (!Start(r, BinKind::kMetricsConv)) return false;
  v->channel = r.U8();
  v->started_at = r.I64();
  v->day = r.Str();
  const uint64_t topics = r.Varint();
  v->topics.clear();
  for (uint64_t i = 0; i < topics && r.ok(); ++i) v->topics.push_back(r.U8());
  v->frt_wall_us = r.OptI64();
  v->frt_office_us = r.OptI64();
  v->res_wall_us = r.OptI64();
  v->res_office_us = r.OptI64();
  v->csat = r.OptI64();
  return r.ok() && r.done();
}

std::string EncodeMetricsDay(const MetricsDayData& v) {
  BinWriter w;
  w.U8(static_cast<uint8_t>(BinKind::kMetricsDay));
  w.OptI64(v.started);
  WriteCounters(w, v.by_channel);
  WriteCounters(w, v.by_topic);
  WriteCounters(w, v.by_agent);
  WriteDurations(w, v.frt);
  WriteDurations(w, v.res);
  w.U8(v.csat ? 1 : 0);
  if (v.csat) {
    w.I64(v.csat->count);
    w.I64(v.csat->sum);
  }
  return w.Take();
}
bool DecodeMetricsDay(std::string_view bytes, MetricsDayData* v) {
  BinReader r(bytes);
  if (!Start(r, BinKind::kMetricsDay)) return false;
  v->started = r.OptI64();
  ReadCounters(r, &v->by_channel);
  ReadCounters(r, &v->by_topic);
  ReadCounters(r, &v->by_agent);
  ReadDurations(r, &v->frt);
  ReadDurations(r, &v->res);
  v->csat.reset();
  if (r.U8() == 1) {
    v->csat.emplace();
    v->csat->count = r.I64();
    v->csat->sum = r.I64();
  }
  return r.ok() && r.done();
}

std::string EncodeProfile(const ProfileData& v) {
  BinWriter w;
  w.U8(static_cast<uint8_t>(BinKind::kProfile));
  w.Str(v.customer_id);
  w.Str(v.name);
  w.Str(v.email);
  w.Str(v.phone);
  w.Str(v.time_zone);
  w.Str(v.locale);
  w.Str(v.currency);
  w.U8(v.location ? 1 : 0);
  if (v.location) {
    w.Str(v.location->city);
    w.Str(v.location->region);
    w.Str(v.location->country_code);
  }
  w.OptI64(v.customer_since);
  w.I64(v.orders_count);
  w.I64(v.amount_spent_minor);
  w.I64(v.conversations);
  w.U8(v.current ? 1 : 0);
  if (v.current) {
    w.Str(v.current->conversation_id);
    w.Str(v.current->platform);
    w.I64(v.current->started_at);
    w.U8(v.current->channel);
  }
  w.U8(static_cast<uint8_t>((v.from_storefront ? 1 : 0) | (v.erased ? 2 : 0)));
  return w.Take();
}
bool DecodeProfile(std::string_view bytes, ProfileData* v) {
  BinReader r(bytes);
  if (!Start(r, BinKind::kProfile)) return false;
  v->customer_id = r.Str();
  v->name = r.Str();
  v->email = r.Str();
  v->phone = r.Str();
  v->time_zone = r.Str();
  v->locale = r.Str();
  v->currency = r.Str();
  v->location.reset();
  if (r.U8() == 1) {
    v->location.emplace();
    v->location->city = r.Str();
    v->location->region = r.Str();
    v->location->country_code = r.Str();
  }
  v->customer_since = r.OptI64();
  v->orders_count = r.I64();
  v->amount_spent_minor = r.I64();
  v->conversations = r.I64();
  v->current.reset();
  if (r.U8() == 1) {
    v->current.emplace();
    v->current->conversation_id = r.Str();
    v->current->platform = r.Str();
    v->current->started_at = r.I64();
    v->current->channel = r.U8();
  }
  const uint8_t flags = r.U8();
  v->from_storefront = (flags & 1) != 0;
  v->erased = (flags & 2) != 0;
  return r.ok() && r.done();
}

void MsgPackWriter::Array(uint32_t n) {
  if (n <= 15) {
    out_.push_back(static_cast<char>(0x90 | n));
  } else if (n <= 0xffff) {
    out_.push_back('\xdc');
    out_.push_back(static_cast<char>(n >> 8));
    out_.push_back(static_cast<char>(n & 0xff));
  } else {
    out_.push_back('\xdd');
    for (int shift = 24; shift >= 0; shift -= 8)
      out_.push_back(static_cast<char>((n >> shift) & 0xff));
  }
}

void MsgPackWriter::Str(std::string_view s) {
  const size_t n = s.size();
  if (n <= 31) {
    out_.push_back(static_cast<char>(0xa0 | n));
  } else if (n <= 0xff) {
    out_.push_back('\xd9');
    out_.push_back(static_cast<char>(n));
  } else if (n <= 0xffff) {
    out_.push_back('\xda');
    out_.push_back(static_cast<char>(n >> 8));
    out_.push_back(static_cast<char>(n & 0xff));
  } else {
    out_.push_back('\xdb');
    for (int shift = 24; shift >= 0; shift -= 8)
      out_.push_back(static_cast<char>((n >> shift) & 0xff));
  }
  out_.append(s);
}

void MsgPackWriter::Int(int64_t v) {
  // The shortest form, as nlohmann::json's to_msgpack writes it.
  auto big_endian = [&](char tag, uint64_t u, int bytes) {
    out_.push_back(tag);
    for (int shift = 8 * (bytes - 1); shift >= 0; shift -= 8)
      out_.push_back(static_cast<char>((u >> shift) & 0xff));
  };
  if (v >= 0) {
    const auto u = static_cast<uint64_t>(v);
    if (u <= 0x7f) {
      out_.push_back(static_cast<char>(u));
    } else if (u <= 0xff) {
      big_endian('\xcc', u, 1);
    } else if (u <= 0xffff) {
      big_endian('\xcd', u, 2);
    } else if (u <= 0xffffffff) {
      big_endian('\xce', u, 4);
    } else {
      big_endian('\xcf', u, 8);
    }
  } else if (v >= -32) {
    out_.push_back(static_cast<char>(v));
  } else if (v >= INT8_MIN) {
    big_endian('\xd0', static_cast<uint64_t>(v), 1);
  } else if (v >= INT16_MIN) {
    big_endian('\xd1', static_cast<uint64_t>(v), 2);
  } else if (v >= INT32_MIN) {
    big_endian('\xd2', static_cast<uint64_t>(v), 4);
  } else {
    big_endian('\xd3', static_cast<uint64_t>(v), 8);
  }
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

template <class E>
Json EnumJson(uint8_t v) {
  return Json(EnumName(static_cast<E>(v)));
}

Json CountersJson(const MetricsDayData::Counters& counters) {
  Json out = Json::object();
  for (const auto& [name, n] : counters) out[name] = n;
  return out;
}

Json DurationsJson(const MetricsDayData::Durations& d) {
  Json out = {{"count", d.count}, {"wall_sum_us", d.wall_sum_us}};
  if (d.has_office) {
    out["office_count"] = d.office_count;
    out["office_sum_us"] = d.office_sum_us;
  }
  return out;
}

// Reads one MessagePack value as MsgPackWriter writes it (integers,
// booleans, strings, arrays, maps with 16-bit counts whose keys are codes of
// kPackedFieldNames) from the front of `in` into `out`. False for anything
// else, for truncated bytes, and for nesting deeper than 32.
bool ReadPacked(std::string_view& in, Json& out, int depth = 0) {
  if (in.empty() || depth > 32) return false;
  const auto tag = static_cast<unsigned char>(in[0]);
  in.remove_prefix(1);
  uint64_t n = 0;
  auto take = [&](size_t bytes) {  // a big-endian number into n
    if (in.size() < bytes) return false;
    for (size_t i = 0; i < bytes; ++i) n = (n << 8) | static_cast<unsigned char>(in[i]);
    in.remove_prefix(bytes);
    return true;
  };
  auto string = [&] {
    if (in.size() < n) return false;
    out = std::string(in.substr(0, n));
    in.remove_prefix(n);
    return true;
  };
  auto array = [&] {
    out = Json::array();
    for (uint64_t i = 0; i < n; ++i)
      if (!ReadPacked(in, out.emplace_back(), depth + 1)) return false;
    return true;
  };
  auto map = [&] {
    out = Json::object();
    for (uint64_t i = 0; i < n; ++i) {
      if (in.empty() || static_cast<unsigned char>(in[0]) >= std::size(kPackedFieldNames))
        return false;
      const std::string_view name = kPackedFieldNames[static_cast<unsigned char>(in[0])];
      in.remove_prefix(1);
      if (!ReadPacked(in, out[std::string(name)], depth + 1)) return false;
    }
    return true;
  };
  if (tag <= 0x7f) return out = tag, true;
  if (tag >= 0xe0) return out = int64_t{static_cast<int8_t>(tag)}, true;
  if (tag >= 0xa0 && tag <= 0xbf) {
    n = tag & 0x1f;
    return string();
  }
  if (tag >= 0x90 && tag <= 0x9f) {
    n = tag & 0x0f;
    return array();
  }
  if (tag >= 0xcc && tag <= 0xd3) {  // unsigned, then signed, of 1, 2, 4 and 8 bytes
    const size_t bytes = size_t{1} << ((tag - 0xcc) & 3);
    if (!take(bytes)) return false;
    if (tag < 0xd0) return out = n, true;
    const int unused = 64 - 8 * static_cast<int>(bytes);  // sign-extended below
    return out = static_cast<int64_t>(n << unused) >> unused, true;
  }
  switch (tag) {
    case 0xc2:
    case 0xc3:
      return out = tag == 0xc3, true;
    case 0xd9:
    case 0xda:
    case 0xdb:
      return take(size_t{1} << (tag - 0xd9)) && string();
    case 0xdc:
      return take(2) && array();
    case 0xdd:
      return take(4) && array();
    case 0xde:
      return take(2) && map();
    default:
      return false;
  }
}

// The JSON each hand-packed kind stands for: the documents format 2 stored.
Json BinaryJson(std::string_view value) {
  if (value.size() < 2) return Json(Json::value_t::discarded);
  switch (static_cast<BinKind>(value[1])) {
    case BinKind::kInboxRow: {
      InboxRowData row;
      if (!DecodeInboxRow(value, &row)) break;
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
                  {"reads", reads},
                  {"read_window", row.read_window}};
    }
    case BinKind::kHistoryConv: {
      HistoryConvData v;
      if (!DecodeHistoryConv(value, &v)) break;
      return Json{
          {"customer_id", v.customer_id}, {"channel", EnumJson<Channel>(v.channel)},
          {"platform", v.platform},       {"status", EnumJson<ConversationStatus>(v.status)},
          {"started_at", v.started_at},   {"seq", v.seq}};
    }
    case BinKind::kReceiptsConv: {
      ReceiptsConvData v;
      if (!DecodeReceiptsConv(value, &v)) break;
      return Json{{"seq", v.seq}, {"customer_id", v.customer_id}};
    }
    case BinKind::kReceiptsMsg: {
      ReceiptsMsgData v;
      if (!DecodeReceiptsMsg(value, &v)) break;
      return Json{{"seq", v.seq},
                  {"actor_kind", std::string(ActorKindName(static_cast<ActorKind>(v.actor_kind)))},
                  {"actor_id", v.actor_id}};
    }
    case BinKind::kReceiptsRead: {
      ReceiptsReadData v;
      if (!DecodeReceiptsRead(value, &v)) break;
      return Json{{"message_id", v.message_id}, {"seq", v.seq}, {"at", v.at}};
    }
    case BinKind::kMetricsConv: {
      MetricsConvData v;
      if (!DecodeMetricsConv(value, &v)) break;
      Json topics = Json::array();
      for (uint8_t t : v.topics) topics.push_back(EnumName(static_cast<Topic>(t)));
      return Json{{"channel", EnumJson<Channel>(v.channel)},
                  {"started_at", v.started_at},
                  {"day", v.day},
                  {"topics", topics},
                  {"frt_wall_us", OptJson(v.frt_wall_us)},
                  {"frt_office_us", OptJson(v.frt_office_us)},
                  {"res_wall_us", OptJson(v.res_wall_us)},
                  {"res_office_us", OptJson(v.res_office_us)},
                  {"csat", OptJson(v.csat)}};
    }
    case BinKind::kMetricsDay: {
      MetricsDayData v;
      if (!DecodeMetricsDay(value, &v)) break;
      Json out = Json::object();
      if (v.started) out["started"] = *v.started;
      if (!v.by_channel.empty()) out["by_channel"] = CountersJson(v.by_channel);
      if (!v.by_topic.empty()) out["by_topic"] = CountersJson(v.by_topic);
      if (!v.by_agent.empty()) out["by_agent"] = CountersJson(v.by_agent);
      if (v.frt) out["frt"] = DurationsJson(*v.frt);
      if (v.res) out["res"] = DurationsJson(*v.res);
      if (v.csat) out["csat"] = Json{{"count", v.csat->count}, {"sum", v.csat->sum}};
      return out;
    }
    case BinKind::kProfile: {
      ProfileData v;
      if (!DecodeProfile(value, &v)) break;
      Json location = Json::object();
      if (v.location)
        location = Json{{"city", v.location->city},
                        {"region", v.location->region},
                        {"country_code", v.location->country_code}};
      Json current = nullptr;
      if (v.current)
        current = Json{{"conversation_id", v.current->conversation_id},
                       {"started_at", v.current->started_at},
                       {"channel", EnumJson<Channel>(v.current->channel)},
                       {"platform", v.current->platform}};
      return Json{{"customer_id", v.customer_id},
                  {"name", v.name},
                  {"email", v.email},
                  {"phone", v.phone},
                  {"location", location},
                  {"time_zone", v.time_zone},
                  {"locale", v.locale},
                  {"customer_since", OptJson(v.customer_since)},
                  {"orders_count", v.orders_count},
                  {"amount_spent_minor", v.amount_spent_minor},
                  {"currency", v.currency},
                  {"conversations", v.conversations},
                  {"current", current},
                  {"from_storefront", v.from_storefront},
                  {"erased", v.erased}};
    }
    case BinKind::kPacked: {
      std::string_view in = value.substr(2);
      Json j;
      if (ReadPacked(in, j) && in.empty()) return j;
      break;
    }
  }
  return Json(Json::value_t::discarded);
}

}  // namespace

Json ValueJson(std::string_view value) {
  if (!value.empty() && value[0] == kBinaryTag) return BinaryJson(value);
  return Unpack(value);
}

Json ValueToJson(std::string_view, std::string_view value) {
  if (value.empty()) return Json(nullptr);
  Json j = ValueJson(value);
  if (j.is_discarded()) return Json{{"bytes", Hex(value)}};
  return j;
}

}  // namespace palaver::projections::internal
