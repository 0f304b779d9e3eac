#include "schemas/codec.h"

#include "schemas/body_codec.h"

namespace palaver {
namespace {

Status CheckEnvelope(const Envelope& envelope, ErrorCode code) {
  if (ActorKindName(envelope.actor_kind).empty()) {
    return Status::Error(code,
                         "field /actor_kind has the unknown value " +
                             std::to_string(static_cast<int>(envelope.actor_kind)),
                         "/actor_kind");
  }
  const std::pair<const char*, const std::string*> strings[] = {
      {"/event_id", &envelope.event_id},
      {"/tenant", &envelope.tenant},
      {"/conversation_id", &envelope.conversation_id},
      {"/actor_id", &envelope.actor_id},
      {"/correlation_id", &envelope.correlation_id},
      {"/idempotency_key", &envelope.idempotency_key},
  };
  for (const auto& [path, value] : strings) {
    if (!IsValidUtf8(*value)) {
      return Status::Error(code, std::string("field ") + path + " is not valid UTF-8", path);
    }
  }
  return Status::Ok();
}

}  // namespace

size_t Utf8SequenceLength(std::string_view bytes, size_t i) {
  const auto c = static_cast<unsigned char>(bytes[i]);
  if (c < 0x80) return 1;
  size_t len = 0;
  uint32_t cp = 0;
  if ((c & 0xe0) == 0xc0) {
    len = 2;
    cp = c & 0x1f;
  } else if ((c & 0xf0) == 0xe0) {
    len = 3;
    cp = c & 0x0f;
  } else if ((c & 0xf8) == 0xf0) {
    len = 4;
    cp = c & 0x07;
  } else {
    return 0;
  }
  if (bytes.size() - i < len) return 0;
  for (size_t k = 1; k < len; ++k) {
    const auto cc = static_cast<unsigned char>(bytes[i + k]);
    if ((cc & 0xc0) != 0x80) return 0;
    cp = (cp << 6) | (cc & 0x3f);
  }
  const uint32_t min = len == 2 ? 0x80 : len == 3 ? 0x800 : 0x10000;
  if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return 0;
  return len;
}

bool IsValidUtf8(std::string_view bytes) {
  for (size_t i = 0; i < bytes.size();) {
    const auto c = static_cast<unsigned char>(bytes[i]);
    if (c < 0x80) {
      ++i;
      continue;
    }
    const size_t len = Utf8SequenceLength(bytes, i);
    if (len == 0) return false;
    i += len;
  }
  return true;
}

Result<std::string> EncodeEvent(const Event& event) {
  PALAVER_RETURN_IF_ERROR(CheckEnvelope(event.envelope, ErrorCode::kInvalidArgument));
  return std::visit(
      [&](const auto& body) -> Result<std::string> {
        PALAVER_RETURN_IF_ERROR(CheckFields(body, ErrorCode::kInvalidArgument, "/body"));
        std::string record = EncodeFrame(MakeFrame(event.envelope, body));
        if (record.size() > kMaxEventBytes) {
          return Status::Error(ErrorCode::kTooLarge,
                               std::string(EventTypeName(TypeOf(event.body))) + " event is " +
                                   std::to_string(record.size()) + " bytes encoded; the limit is " +
                                   std::to_string(kMaxEventBytes));
        }
        return record;
      },
      event.body);
}

Result<Event> DecodeEvent(std::string_view record) {
  Result<FrameView> frame = DecodeFrame(record);
  if (!frame.ok()) return frame.status();
  PALAVER_RETURN_IF_ERROR(CheckEnvelope(frame->envelope, ErrorCode::kCorruption));
  FrameView& f = *frame;
  return DispatchType<Result<Event>>(f.envelope.type, [&](auto type) -> Result<Event> {
    using T = typename decltype(type)::type;
    Result<T> body = DecodeVersion<T>(f.envelope.schema_version, [&](auto layout) {
      return DecodeLayout<typename decltype(layout)::type>(f);
    });
    if (!body.ok()) return body.status();
    const Status fields = CheckFields(*body, ErrorCode::kCorruption, "/body");
    if (!fields.ok()) return fields.WithContext(std::string(EventTypeName(T::kType)) + " event");
    Event event{std::move(f.envelope), std::move(body).value()};
    event.envelope.schema_version = T::kVersion;
    return event;
  });
}

}  // namespace palaver
