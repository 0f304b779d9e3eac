// Private to projections/: how projections encode keys and values.
//
// Keys are byte strings made of parts joined by '\0' (ids never contain NUL),
// with numbers as big-endian fixed-width integers so that lexicographic order
// is numeric order. Values read back while applying events (inbox rows,
// history and metrics conversations, receipts, metrics days, profiles) are
// hand-packed (BinWriter/BinReader): the byte kBinaryTag, which never starts
// a MessagePack value, then a BinKind byte, then the fields; each decodes
// into the struct below that its projection needs. The other values are JSON
// documents stored as MessagePack; the ones written on every event (timeline
// entries) are built directly by MsgPackWriter, with their field names as
// one-byte codes (BinKind::kPacked). ValueJson turns any value into
// the JSON document it stands for: what queries, exports and the canonical
// dump read.
//
// The layout as a whole is versioned by kViewFormat (see projector.h): change
// it whenever a key or value encoding changes.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <iterator>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace palaver::projections::internal {

using Json = nlohmann::json;

// The view format this build writes and reads (projector.cc keeps it under
// "meta/format"). Format 1 had no marker; format 2 kept every value but the
// inbox rows as MessagePack; format 3 stored timeline entries' field names;
// format 4 kept an inbox/msg entry for every message.
inline constexpr std::string_view kViewFormat = "palaver-views-5";

inline constexpr char kBinaryTag = '\xc1';  // "never used" in MessagePack

// Hand-packed values: unsigned varints, zig-zag signed varints and
// length-prefixed strings.
class BinWriter {
 public:
  BinWriter() { out_.push_back(kBinaryTag); }
  void U8(uint8_t v) { out_.push_back(static_cast<char>(v)); }
  void Varint(uint64_t v) {
    while (v >= 0x80) {
      out_.push_back(static_cast<char>((v & 0x7f) | 0x80));
      v >>= 7;
    }
    out_.push_back(static_cast<char>(v));
  }
  void I64(int64_t v) { Varint((static_cast<uint64_t>(v) << 1) ^ static_cast<uint64_t>(v >> 63)); }
  void OptI64(const std::optional<int64_t>& v) {
    U8(v ? 1 : 0);
    if (v) I64(*v);
  }
  void Str(std::string_view s) {
    Varint(s.size());
    out_.append(s);
  }
  std::string Take() { return std::move(out_); }

 private:
  std::string out_;
};

// Reads what BinWriter wrote; ok() turns false (and stays) on short or
// malformed input, and every read then returns zero values.
class BinReader {
 public:
  explicit BinReader(std::string_view in) : in_(in) {
    if (in_.empty() || in_[0] != kBinaryTag) {
      ok_ = false;
    } else {
      in_.remove_prefix(1);
    }
  }
  bool ok() const { return ok_; }
  bool done() const { return in_.empty(); }
  uint8_t U8() {
    if (!ok_ || in_.empty()) return Fail(), 0;
    const auto v = static_cast<uint8_t>(in_[0]);
    in_.remove_prefix(1);
    return v;
  }
  uint64_t Varint() {
    uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (!ok_ || in_.empty()) return Fail(), 0;
      const auto b = static_cast<uint8_t>(in_[0]);
      in_.remove_prefix(1);
      v |= static_cast<uint64_t>(b & 0x7f) << shift;
      if (!(b & 0x80)) return v;
    }
    return Fail(), 0;
  }
  int64_t I64() {
    const uint64_t z = Varint();
    return static_cast<int64_t>((z >> 1) ^ (~(z & 1) + 1));
  }
  std::optional<int64_t> OptI64() {
    if (U8() == 0) return std::nullopt;
    return I64();
  }
  std::string Str() {
    const uint64_t n = Varint();
    if (!ok_ || n > in_.size()) return Fail(), std::string();
    std::string s(in_.substr(0, n));
    in_.remove_prefix(n);
    return s;
  }

 private:
  void Fail() { ok_ = false; }
  std::string_view in_;
  bool ok_ = true;
};

// Hand-packed values say what they are in the byte after kBinaryTag, so a
// value decodes (and renders as JSON) without its key. A changed layout gets
// a new kind number (and a new kViewFormat).
enum class BinKind : uint8_t {
  // 1: inbox rows up to palaver-views-4 (without read_window); 2: never used.
  kHistoryConv = 3,   // HistoryConvData
  kReceiptsConv = 4,  // ReceiptsConvData
  kReceiptsMsg = 5,   // ReceiptsMsgData
  kReceiptsRead = 6,  // ReceiptsReadData
  kMetricsConv = 7,   // MetricsConvData
  kMetricsDay = 8,    // MetricsDayData
  kProfile = 9,       // ProfileData
  kPacked = 10,       // MessagePack with coded field names (MsgPackWriter)
  kInboxRow = 11,     // InboxRowData
};

// An inbox row (inbox/conv\0<shop>\0<conversation>; see inbox_projection.cc).
inline constexpr size_t kInboxReadWindow = 4;
struct InboxRowData {
  struct Read {
    std::string agent;
    int64_t seq = 0;      // the last message sequence the agent has read
    int64_t offset = -1;  // the log offset of that read
  };
  std::string id, customer_id, name, preview, assignee;  // assignee "" = unassigned
  uint8_t channel = 0;                                   // Channel
  uint8_t status = 1;                                    // ConversationStatus
  std::optional<int64_t> snoozed_until_us, waiting_since_us;
  std::vector<uint8_t> topics;  // Topic, at most two, latest first
  int64_t activity_us = 0, started_us = 0;
  int64_t msg_seq = 0, last_inbound_seq = 0, marked_unread_offset = -1;
  std::vector<Read> reads;  // sorted by agent
  // The ids of the first kInboxReadWindow messages from the shopper's last
  // one on (from the first message while the shopper has written none), in
  // order: the message of sequence ReadWindowStart() and those right after.
  // An agent's read of one of them is a read of the shopper's last message;
  // the messages after them are found through inbox/msg entries.
  std::vector<std::string> read_window;
  int64_t ReadWindowStart() const { return last_inbound_seq > 0 ? last_inbound_seq : 1; }

  // Unread for an agent who has never read the conversation.
  bool UnreadByDefault() const { return last_inbound_seq > 0 || marked_unread_offset > -1; }
  bool UnreadFor(std::string_view agent) const {
    for (const Read& r : reads)
      if (r.agent == agent) return last_inbound_seq > r.seq || marked_unread_offset > r.offset;
    return UnreadByDefault();
  }
};
std::string EncodeInboxRow(const InboxRowData& row);
// False for bytes that are not an inbox row.
bool DecodeInboxRow(std::string_view bytes, InboxRowData* row);

// history/conv\0<shop>\0<conversation> (history_projection.cc).
struct HistoryConvData {
  std::string customer_id, platform;
  uint8_t channel = 0;  // Channel
  uint8_t status = 1;   // ConversationStatus
  int64_t started_at = 0;
  int64_t seq = 0;  // the last timeline entry's sequence number
};
std::string EncodeHistoryConv(const HistoryConvData& v);
bool DecodeHistoryConv(std::string_view bytes, HistoryConvData* v);

// receipts/conv, receipts/msg and receipts/read values (receipts_projection.cc).
struct ReceiptsConvData {
  int64_t seq = 0;  // messages so far
  std::string customer_id;
};
struct ReceiptsMsgData {
  int64_t seq = 0;
  uint8_t actor_kind = 0;  // ActorKind
  std::string actor_id;
};
struct ReceiptsReadData {
  std::string message_id;
  int64_t seq = 0, at = 0;
};
std::string EncodeReceiptsConv(const ReceiptsConvData& v);
bool DecodeReceiptsConv(std::string_view bytes, ReceiptsConvData* v);
std::string EncodeReceiptsMsg(const ReceiptsMsgData& v);
bool DecodeReceiptsMsg(std::string_view bytes, ReceiptsMsgData* v);
std::string EncodeReceiptsRead(const ReceiptsReadData& v);
bool DecodeReceiptsRead(std::string_view bytes, ReceiptsReadData* v);

// metrics/conv and metrics/day values (metrics_projection.cc).
struct MetricsConvData {
  uint8_t channel = 0;  // Channel
  int64_t started_at = 0;
  std::string day;              // the start's day in the shop's time zone
  std::vector<uint8_t> topics;  // Topic, in the order first labelled
  std::optional<int64_t> frt_wall_us, frt_office_us, res_wall_us, res_office_us, csat;
};
// Parts of MetricsDayData. Declared outside it: Clang does not see a nested
// struct with member initializers as default-constructible inside its
// enclosing class, which std::optional<...>::emplace() needs.
struct MetricsDurations {
  int64_t count = 0, wall_sum_us = 0;
  bool has_office = false;  // office_* are shown once an office value was added
  int64_t office_count = 0, office_sum_us = 0;
};
struct MetricsCsat {
  int64_t count = 0, sum = 0;
};
struct MetricsDayData {
  // Counters by name, sorted by name; a name is there once counted.
  using Counters = std::vector<std::pair<std::string, int64_t>>;
  using Durations = MetricsDurations;
  using Csat = MetricsCsat;
  std::optional<int64_t> started;  // shown once a conversation started that day
  Counters by_channel, by_topic, by_agent;
  std::optional<Durations> frt, res;
  std::optional<Csat> csat;
};
std::string EncodeMetricsConv(const MetricsConvData& v);
bool DecodeMetricsConv(std::string_view bytes, MetricsConvData* v);
std::string EncodeMetricsDay(const MetricsDayData& v);
bool DecodeMetricsDay(std::string_view bytes, MetricsDayData* v);

// profile/cust\0<shop>\0<customer> (profile_projection.cc).
// The customer's current conversation in ProfileData (outside it for the
// same reason as MetricsDurations).
struct ProfileCurrent {
  std::string conversation_id, platform;
  int64_t started_at = 0;
  uint8_t channel = 0;  // Channel
};
struct ProfileData {
  struct Location {
    std::string city, region, country_code;
  };
  using Current = ProfileCurrent;
  std::string customer_id, name, email, phone, time_zone, locale, currency;
  std::optional<Location> location;  // shown as {} when absent
  std::optional<int64_t> customer_since;
  int64_t orders_count = 0, amount_spent_minor = 0, conversations = 0;
  std::optional<Current> current;
  bool from_storefront = false, erased = false;
};
std::string EncodeProfile(const ProfileData& v);
bool DecodeProfile(std::string_view bytes, ProfileData* v);

// The field names MsgPackWriter's maps may use, each stored as its index
// here (a one-byte MessagePack positive fixint where the name would be):
// spelled out, they were a fifth of what a rebuild writes. Append only; a
// name's index is part of the view format.
inline constexpr std::string_view kPackedFieldNames[] = {
    "type",
    "seq",
    "at",
    "actor_kind",
    "actor_id",
    "customer_id",
    "agents_only",
    "message_id",
    "kind",
    "text",
    "delivery_route",
    "product_ids",
    "image_url",
    "discount_code",
    "channel",
    "platform",
    "change",
    "product_id",
    "subtotal_minor",
    "currency",
    "line_items",
    "quantity",
    "variant_id",
    "name",
    "product_name",
    "from",
    "to",
    "snoozed_until",
    "agent_id",
    "previous_agent_id",
    "reason",
    "note_id",
    "edited",
    "topics",
    "rating",
    "comment",
    "target",
};

// A code is one MessagePack positive fixint: at most 128 names.
static_assert(std::size(kPackedFieldNames) <= 0x80);

// A name of kPackedFieldNames, checked when the program is compiled: a
// string literal that is not in the table does not compile.
class PackedField {
 public:
  consteval PackedField(const char* name) : code_(CodeOf(name)) {}  // NOLINT: implicit
  uint8_t code() const { return code_; }

 private:
  static consteval uint8_t CodeOf(std::string_view name) {
    for (size_t i = 0; i < std::size(kPackedFieldNames); ++i)
      if (kPackedFieldNames[i] == name) return static_cast<uint8_t>(i);
    throw "not a name of kPackedFieldNames";  // a compile error in a consteval call
  }
  uint8_t code_;
};

// MessagePack written directly (no JSON document in between), for values
// written on the apply path and read as JSON (timeline entries): kBinaryTag,
// BinKind::kPacked, then one MessagePack value whose map keys are codes of
// kPackedFieldNames. Maps are written with a 16-bit count patched in by
// EndMap, so fields can be added conditionally. ValueJson reads the result
// as the JSON document with the names.
class MsgPackWriter {
 public:
  MsgPackWriter() {
    out_.push_back(kBinaryTag);
    out_.push_back(static_cast<char>(BinKind::kPacked));
  }
  // A map; every Key until the matching EndMap is one of its entries.
  void BeginMap() {
    open_.emplace_back(out_.size(), 0);
    out_.append("\xde\0\0", 3);
  }
  void EndMap() {
    const auto [at, count] = open_.back();
    open_.pop_back();
    out_[at + 1] = static_cast<char>(count >> 8);
    out_[at + 2] = static_cast<char>(count & 0xff);
  }
  void Array(uint32_t n);  // followed by its n values
  void Key(PackedField k) {
    ++open_.back().second;
    out_.push_back(static_cast<char>(k.code()));
  }
  void Str(std::string_view s);
  void Int(int64_t v);
  void Bool(bool v) { out_.push_back(v ? '\xc3' : '\xc2'); }
  // Key followed by its value.
  void Field(PackedField k, std::string_view v) { Key(k), Str(v); }
  void Field(PackedField k, const char* v) { Key(k), Str(v); }
  void Field(PackedField k, const std::string& v) { Key(k), Str(v); }
  void Field(PackedField k, int64_t v) { Key(k), Int(v); }
  void Field(PackedField k, int32_t v) { Key(k), Int(v); }
  void Field(PackedField k, bool v) { Key(k), Bool(v); }
  std::string Take() { return std::move(out_); }

 private:
  std::string out_;
  std::vector<std::pair<size_t, uint16_t>> open_;  // map header offset, entries so far
};

// A stored value as JSON for dumps and exports: MessagePack documents as
// they are, hand-packed values decoded by their key (`full_key` starts with
// the projection's prefix), anything else as {"bytes": "<hex>"}; empty
// values (index entries) as null.
Json ValueToJson(std::string_view full_key, std::string_view value);
// A stored value as the JSON document it stands for: hand-packed values
// decoded by their kind, MessagePack as it is; discarded (is_discarded())
// when the bytes are neither. What queries and exports read values with.
Json ValueJson(std::string_view value);

inline void AppendBigEndian64(std::string& out, uint64_t v) {
  for (int shift = 56; shift >= 0; shift -= 8)
    out.push_back(static_cast<char>((v >> shift) & 0xff));
}
inline std::string BigEndian64(uint64_t v) {
  std::string out;
  AppendBigEndian64(out, v);
  return out;
}
// Precondition: bytes.size() >= 8.
inline uint64_t ReadBigEndian64(std::string_view bytes) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i)
    v = (v << 8) | static_cast<unsigned char>(bytes[static_cast<size_t>(i)]);
  return v;
}
// Signed values (timestamps) keep their order when the sign bit is flipped.
inline uint64_t OrderedSigned(int64_t v) { return static_cast<uint64_t>(v) ^ (uint64_t{1} << 63); }
inline int64_t FromOrderedSigned(uint64_t v) {
  return static_cast<int64_t>(v ^ (uint64_t{1} << 63));
}

// Parts joined by '\0'. A part may itself be binary (a big-endian number).
inline std::string Key(std::initializer_list<std::string_view> parts) {
  std::string out;
  bool first = true;
  for (std::string_view p : parts) {
    if (!first) out.push_back('\0');
    out.append(p);
    first = false;
  }
  return out;
}
// `Key(parts)` followed by the separator: the prefix of every longer key.
inline std::string Prefix(std::initializer_list<std::string_view> parts) {
  std::string out = Key(parts);
  out.push_back('\0');
  return out;
}

inline std::string Pack(const Json& value) {
  std::string out;
  Json::to_msgpack(value, out);
  return out;
}
// Unpacks a value written by Pack; a discarded (null) document for bytes that
// do not parse, which callers treat as "absent".
inline Json Unpack(std::string_view bytes) {
  return Json::from_msgpack(bytes.begin(), bytes.end(), /*strict=*/true,
                            /*allow_exceptions=*/false);
}

// "YYYY-MM-DD" (UTC) of a time in microseconds since the Unix epoch.
std::string UtcDay(int64_t unix_micros);

// `key` with the separators shown as '|' and any other byte outside
// printable ASCII (and '\\' and '|') as \xNN: readable, and one line.
std::string EscapeKey(std::string_view key);

}  // namespace palaver::projections::internal

#include "projections/projector.h"
#include "schemas/events.h"

namespace palaver::projections::internal {

// The JSON value at `key`; null when absent or unreadable.
inline Result<Json> GetJson(ViewWriter& view, std::string_view key) {
  auto bytes = view.Get(key);
  if (!bytes.ok()) return bytes.status();
  if (!bytes->has_value()) return Json();
  Json j = ValueJson(**bytes);
  if (j.is_discarded()) return Json();
  return j;
}
inline void PutJson(ViewWriter& view, std::string_view key, const Json& value) {
  view.Put(key, Pack(value));
}
// An integer, as MsgPackWriter writes it (GetJson reads it back).
inline void PutInt(ViewWriter& view, std::string_view key, int64_t value) {
  MsgPackWriter w;
  w.Int(value);
  view.Put(key, w.Take());
}
template <class E>
std::string Name(E value) {
  return std::string(EnumName(value));
}

// Factories of the built-in projections (one .cc file each).
std::unique_ptr<Projection> NewInboxProjection();
std::unique_ptr<Projection> NewReceiptsProjection();
std::unique_ptr<Projection> NewHistoryProjection();
std::unique_ptr<Projection> NewProfileProjection();
std::unique_ptr<Projection> NewMetricsProjection();

}  // namespace palaver::projections::internal
