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
  // The next `n` bytes, consumed; throws when fewer are left.
  std::string_view Take(size_t n) {
    if (static_cast<size_t>(egptr() - gptr()) < n)
      throw cereal::Exception("a length of " + std::to_string(n) + " runs past the frame's end");
    const std::string_view bytes(gptr(), n);
    setg(eback(), gptr() + n, egptr());
    return bytes;
  }
};

// A std::string as cereal writes it (its length, then its bytes), read as a
// view into the buffer instead of a copy.
struct StringView {
  ViewBuffer* buffer;
  std::string_view* value;
};
void load(cereal::PortableBinaryInputArchive& ar, StringView& s) {
  cereal::size_type n = 0;
  cereal::CheckedLength(ar, n, 1);
  *s.value = s.buffer->Take(static_cast<size_t>(n));
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
  std::ostringstream out;
  out.write(kMagic.data(), static_cast<std::streamsize>(kMagic.size()));
  {
    cereal::PortableBinaryOutputArchive ar(out);
    ar(frame.envelope, frame.body, frame.personal);
  }
  return std::move(out).str();
}

Result<FrameView> DecodeFrame(std::string_view bytes) {
  PALAVER_RETURN_IF_ERROR(CheckMagic(bytes));
  ViewBuffer buffer(bytes.substr(kMagic.size()));
  std::istream in(&buffer);
  FrameView frame;
  try {
    cereal::PortableBinaryInputArchive ar(in);
    StringView body{&buffer, &frame.body}, personal{&buffer, &frame.personal};
    ar(frame.envelope, body, personal);
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
