// EventFromJsonText on arbitrary text (the storefront/HTTP JSON body decoder).
//
// Invariants beyond "no crash, no leak, no UB":
//   - a refusal carries one of the documented codes and a message;
//   - an accepted event re-encodes to JSON that decodes to the same binary
//     record (JSON -> event -> JSON -> event is stable), and its binary
//     record decodes back to itself.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "schemas/codec.h"
#include "schemas/json_codec.h"
#include "tests/fuzz/fuzz_check.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace palaver;
  std::string_view text(reinterpret_cast<const char*>(data), size);
  Result<Event> event = EventFromJsonText(text);
  if (!event.ok()) {
    ErrorCode code = event.status().code();
    FUZZ_CHECK(code == ErrorCode::kInvalidArgument || code == ErrorCode::kSchemaViolation ||
                   code == ErrorCode::kUnsupportedVersion,
               "unexpected code %s", event.status().ToString().c_str());
    FUZZ_CHECK(!event.status().message().empty(), "refusal without a message");
    return 0;
  }
  nlohmann::json json = EventToJson(*event);
  Result<Event> again = EventFromJson(json);
  FUZZ_CHECK(again.ok(), "EventToJson output refused: %s\n%s", again.status().ToString().c_str(),
             json.dump().c_str());
  FUZZ_CHECK(EventToJson(*again) == json, "JSON round trip changed the event:\n%s\n%s",
             json.dump().c_str(), EventToJson(*again).dump().c_str());

  Result<std::string> record = EncodeEvent(*event);
  if (!record.ok()) {
    // Accepted JSON may still be over the record size limit, or carry text
    // the binary codec refuses; both are documented refusals, not crashes.
    FUZZ_CHECK(record.status().code() == ErrorCode::kTooLarge ||
                   record.status().code() == ErrorCode::kInvalidArgument,
               "unexpected encode error %s", record.status().ToString().c_str());
    return 0;
  }
  Result<Event> decoded = DecodeEvent(*record);
  FUZZ_CHECK(decoded.ok(), "a record EncodeEvent wrote does not decode: %s",
             decoded.status().ToString().c_str());
  Result<std::string> reencoded = EncodeEvent(*decoded);
  FUZZ_CHECK(reencoded.ok() && *reencoded == *record, "binary round trip is not stable for\n%s",
             json.dump().c_str());
  return 0;
}
