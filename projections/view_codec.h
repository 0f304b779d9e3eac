// Private to projections/: how projections encode keys and values.
//
// Keys are byte strings made of parts joined by '\0' (ids never contain NUL),
// with numbers as big-endian fixed-width integers so that lexicographic order
// is numeric order. Values are JSON documents stored as MessagePack: compact
// on disk, and printed back as JSON text by the canonical dump.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace palaver::projections::internal {

using Json = nlohmann::json;

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
  Json j = Unpack(**bytes);
  if (j.is_discarded()) return Json();
  return j;
}
inline void PutJson(ViewWriter& view, std::string_view key, const Json& value) {
  view.Put(key, Pack(value));
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
