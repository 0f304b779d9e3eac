#include "schemas/frame.h"

#include "schemas/archive_streams.h"
#include "schemas/bounded_archive.h"

namespace palaver {
namespace {

constexpr std::string_view kMagic = "PLV1";

// A std::string as cereal writes it (its length, then its bytes), read as a
// view into the stream's bytes instead of a copy.
struct StringView {
  ViewStream* stream;
  std::string_view* value;
};
void load(cereal::PortableBinaryInputArchive& ar, StringView& s) {
  cereal::size_type n = 0;
  cereal::CheckedLength(ar, n, 1);
  *s.value = s.stream->Take(static_cast<size_t>(n));
}

Status CheckMagic(std::string_view bytes) {
  if (bytes.size() < kMagic.size() || bytes.substr(0, kMagic.size()) != kMagic) {
    return Status::Error(ErrorCode::kCorruption,
                         "not a palaver event: the record does not start with \"PLV1\"");
  }
  return Status::Ok();
}

Status CheckKnownType(const Envelope& envelope) {
  if (EventTypeName(envelope.type).empty()) {
    return Status::Error(ErrorCode::kUnsupportedVersion,
                         "event type " + std::to_string(static_cast<int>(envelope.type)) +
                             " is unknown to this build of palaver; upgrade to read it",
                         "envelope.type");
  }
  return Status::Ok();
}

}  // namespace

std::string EncodeFrame(const Frame& frame) {
  StringStream stream;
  stream.out().write(kMagic.data(), static_cast<std::streamsize>(kMagic.size()));
  {
    cereal::PortableBinaryOutputArchive ar(stream.out());
    ar(frame.envelope, frame.body, frame.personal);
  }
  return stream.Take();
}

Result<FrameView> DecodeFrame(std::string_view bytes) {
  PALAVER_RETURN_IF_ERROR(CheckMagic(bytes));
  ViewStream stream(bytes.substr(kMagic.size()));
  FrameView frame;
  try {
    cereal::PortableBinaryInputArchive ar(stream.in());
    StringView body{&stream, &frame.body}, personal{&stream, &frame.personal};
    ar(frame.envelope, body, personal);
  } catch (const std::exception& e) {
    return Status::Error(ErrorCode::kCorruption,
                         std::string("palaver event frame does not decode: ") + e.what());
  }
  if (!stream.AtEnd()) {
    return Status::Error(ErrorCode::kCorruption,
                         "palaver event frame has trailing bytes after its last field");
  }
  PALAVER_RETURN_IF_ERROR(CheckKnownType(frame.envelope));
  return frame;
}

Result<Envelope> DecodeEnvelope(std::string_view bytes) {
  PALAVER_RETURN_IF_ERROR(CheckMagic(bytes));
  ViewStream stream(bytes.substr(kMagic.size()));
  Envelope envelope;
  try {
    cereal::PortableBinaryInputArchive ar(stream.in());
    ar(envelope);
  } catch (const std::exception& e) {
    return Status::Error(ErrorCode::kCorruption,
                         std::string("palaver event envelope does not decode: ") + e.what());
  }
  PALAVER_RETURN_IF_ERROR(CheckKnownType(envelope));
  return envelope;
}

}  // namespace palaver
