#include "schemas/frame.h"

#include <istream>
#include <sstream>
#include <streambuf>

#include "schemas/bounded_archive.h"

namespace palaver {
namespace {

constexpr std::string_view kMagic = "PLV1";

// A read-only streambuf over bytes the caller keeps alive: decoding never copies the input.
class ViewBuffer : public std::streambuf {
 public:
  explicit ViewBuffer(std::string_view bytes) {
    char* begin = const_cast<char*>(bytes.data());
    setg(begin, begin, begin + bytes.size());
  }
};

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
  std::ostringstream out;
  out.write(kMagic.data(), static_cast<std::streamsize>(kMagic.size()));
  {
    cereal::PortableBinaryOutputArchive ar(out);
    ar(frame.envelope, frame.body, frame.personal);
  }
  return std::move(out).str();
}

Result<Frame> DecodeFrame(std::string_view bytes) {
  PALAVER_RETURN_IF_ERROR(CheckMagic(bytes));
  ViewBuffer buffer(bytes.substr(kMagic.size()));
  std::istream in(&buffer);
  Frame frame;
  try {
    cereal::PortableBinaryInputArchive ar(in);
    ar(frame.envelope, frame.body, frame.personal);
  } catch (const std::exception& e) {
    return Status::Error(ErrorCode::kCorruption,
                         std::string("palaver event frame does not decode: ") + e.what());
  }
  if (in.peek() != std::char_traits<char>::eof()) {
    return Status::Error(ErrorCode::kCorruption,
                         "palaver event frame has trailing bytes after its last field");
  }
  PALAVER_RETURN_IF_ERROR(CheckKnownType(frame.envelope));
  return frame;
}

Result<Envelope> DecodeEnvelope(std::string_view bytes) {
  PALAVER_RETURN_IF_ERROR(CheckMagic(bytes));
  ViewBuffer buffer(bytes.substr(kMagic.size()));
  std::istream in(&buffer);
  Envelope envelope;
  try {
    cereal::PortableBinaryInputArchive ar(in);
    ar(envelope);
  } catch (const std::exception& e) {
    return Status::Error(ErrorCode::kCorruption,
                         std::string("palaver event envelope does not decode: ") + e.what());
  }
  PALAVER_RETURN_IF_ERROR(CheckKnownType(envelope));
  return envelope;
}

}  // namespace palaver
