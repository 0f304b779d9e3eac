// DecodeEvent on raw bytes (what a corrupt or hostile log record looks like).
//
// Invariants beyond "no crash, no out-of-bounds read, no UB":
//   - a refusal is kCorruption or kUnsupportedVersion, as codec.h promises;
//   - a record that decodes re-encodes (unless the re-encoding is refused as
//     documented), and decode(encode(event)) encodes to the same bytes again:
//     an event survives any number of round trips unchanged.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "schemas/codec.h"
#include "schemas/json_codec.h"
#include "tests/fuzz/fuzz_check.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace palaver;
  std::string_view record(reinterpret_cast<const char*>(data), size);
  Result<Event> event = DecodeEvent(record);
  if (!event.ok()) {
    ErrorCode code = event.status().code();
    FUZZ_CHECK(code == ErrorCode::kCorruption || code == ErrorCode::kUnsupportedVersion,
               "unexpected code %s", event.status().ToString().c_str());
    return 0;
  }
  Result<std::string> encoded = EncodeEvent(*event);
  if (!encoded.ok()) {
    FUZZ_CHECK(encoded.status().code() == ErrorCode::kTooLarge ||
                   encoded.status().code() == ErrorCode::kInvalidArgument,
               "unexpected encode error %s", encoded.status().ToString().c_str());
    return 0;
  }
  Result<Event> decoded = DecodeEvent(*encoded);
  FUZZ_CHECK(decoded.ok(), "a record EncodeEvent wrote does not decode: %s",
             decoded.status().ToString().c_str());
  Result<std::string> again = EncodeEvent(*decoded);
  FUZZ_CHECK(again.ok() && *again == *encoded, "round trip changed the event:\n%s",
             EventToJson(*decoded).dump().c_str());
  // The JSON form of anything in the log is always readable by people.
  (void)EventToJson(*decoded).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  return 0;
}
