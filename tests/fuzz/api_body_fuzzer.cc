// The JSON command body decoders of the HTTP API (connectors/api/body_decoders.h):
// ParseJsonBody then DecodeCommandBody, for every command name.
//
// The first input byte picks the command (one past the last picks a name
// that is no command); the rest is the request body.
//
// Invariants beyond "no crash, no leak, no UB":
//   - a refusal has the documented code and stable reason, and a message;
//   - a decoded command is the command that was asked for, with an empty
//     CommandMeta (the HTTP layer fills it in, never the body);
//   - decoding is deterministic.
#include <cstddef>
#include <cstdint>
#include <set>
#include <string>
#include <string_view>

#include "connectors/api/body_decoders.h"
#include "tests/fuzz/fuzz_check.h"

namespace {

constexpr std::string_view kCommands[] = {"start_web_chat",
                                          "post_shopper_message",
                                          "mark_read",
                                          "end_chat",
                                          "take_faq_answer",
                                          "ask_for_human",
                                          "submit_csat",
                                          "request_transcript",
                                          "agent_reply",
                                          "add_internal_note",
                                          "edit_internal_note",
                                          "delete_internal_note",
                                          "mark_unread",
                                          "assign",
                                          "unassign",
                                          "change_status",
                                          "add_customer_note",
                                          "edit_customer_note",
                                          "delete_customer_note",
                                          "update_cart",
                                          "change_presence",
                                          "record_order_placed",
                                          "record_order_updated",
                                          "upsert_customer_profile",
                                          "upsert_product",
                                          "upsert_discount",
                                          "receive_inbound_message",
                                          "update_settings",
                                          "erase_customer",
                                          "no_such_command"};
constexpr size_t kCommandCount = sizeof kCommands / sizeof kCommands[0];

const std::set<std::string> kBodyReasons = {"malformed_json", "invalid_utf8",  "too_deep",
                                            "not_an_object",  "unknown_field", "missing_field",
                                            "wrong_type",     "invalid_value", "too_large"};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace palaver;
  if (size == 0) return 0;
  const std::string_view command = kCommands[data[0] % kCommandCount];
  const std::string_view body(reinterpret_cast<const char*>(data) + 1, size - 1);

  Result<nlohmann::json> json = api::ParseJsonBody(body);
  if (!json.ok()) {
    const Status& s = json.status();
    FUZZ_CHECK(s.code() == ErrorCode::kInvalidArgument || s.code() == ErrorCode::kTooLarge,
               "ParseJsonBody: unexpected code %s", s.ToString().c_str());
    FUZZ_CHECK(kBodyReasons.count(s.reason()) == 1, "ParseJsonBody: undocumented reason '%s': %s",
               s.reason().c_str(), s.ToString().c_str());
    FUZZ_CHECK(!s.message().empty(), "refusal without a message");
    return 0;
  }
  Result<domain::Command> decoded = api::DecodeCommandBody(command, *json);
  Result<domain::Command> again = api::DecodeCommandBody(command, *json);
  FUZZ_CHECK(decoded.ok() == again.ok() &&
                 (decoded.ok() ? domain::Fingerprint(*decoded) == domain::Fingerprint(*again)
                               : decoded.status().ToString() == again.status().ToString()),
             "decoding %.*s is not deterministic", static_cast<int>(command.size()),
             command.data());
  if (command == "no_such_command") {
    FUZZ_CHECK(!decoded.ok() && decoded.status().code() == ErrorCode::kNotFound &&
                   decoded.status().reason() == "unknown_command",
               "an unknown command name was not refused as unknown_command");
    return 0;
  }
  if (!decoded.ok()) {
    const Status& s = decoded.status();
    FUZZ_CHECK(s.code() == ErrorCode::kInvalidArgument || s.code() == ErrorCode::kTooLarge,
               "%.*s: unexpected code %s", static_cast<int>(command.size()), command.data(),
               s.ToString().c_str());
    FUZZ_CHECK(kBodyReasons.count(s.reason()) == 1, "%.*s: undocumented reason '%s': %s",
               static_cast<int>(command.size()), command.data(), s.reason().c_str(),
               s.ToString().c_str());
    return 0;
  }
  FUZZ_CHECK(domain::CommandName(*decoded) == command, "asked for %.*s, decoded %.*s",
             static_cast<int>(command.size()), command.data(),
             static_cast<int>(domain::CommandName(*decoded).size()),
             domain::CommandName(*decoded).data());
  const domain::CommandMeta& meta = domain::MetaOf(*decoded);
  FUZZ_CHECK(meta.tenant.empty() && meta.actor.id.empty() && meta.idempotency_key.empty() &&
                 meta.correlation_id.empty(),
             "a request body set the command's meta (tenant '%s', actor '%s')", meta.tenant.c_str(),
             meta.actor.id.c_str());
  return 0;
}
