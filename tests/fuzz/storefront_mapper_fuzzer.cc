// MapStorefrontRecord on arbitrary record values (palaver.storefront JSON).
//
// Invariants beyond "no crash":
//   - a rejection carries one of the reasons storefront_mapper.h documents
//     and a message;
//   - mapping is a pure function: the same record maps the same way twice;
//   - a Kafka key only adds the key_mismatch check: with a key, a record is
//     refused for the same reason as without one, or for key_mismatch;
//   - a mapped command belongs to the record's tenant and carries the
//     documented idempotency key.
#include <cstddef>
#include <cstdint>
#include <set>
#include <string>
#include <string_view>

#include "connectors/storefront/storefront_mapper.h"
#include "tests/fuzz/fuzz_check.h"

namespace {

using namespace palaver;
using namespace palaver::storefront;

const std::set<std::string> kReasons = {
    "too_large",           "not_json",     "schema_violation",   "unknown_type",
    "unsupported_version", "key_mismatch", "unsupported_channel"};

std::string Describe(const MapResult& result) {
  if (const auto* rejection = std::get_if<Rejection>(&result)) {
    return "rejected " + rejection->reason + ": " + rejection->message + " at " + rejection->field;
  }
  const auto& mapped = std::get<MappedCommand>(result);
  return "mapped " + std::string(domain::CommandName(mapped.command)) + " for " +
         domain::MetaOf(mapped.command).tenant;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view value(reinterpret_cast<const char*>(data), size);
  MapResult result = MapStorefrontRecord(value, "");
  MapResult again = MapStorefrontRecord(value, "");
  FUZZ_CHECK(Describe(result) == Describe(again), "mapping is not deterministic: %s vs %s",
             Describe(result).c_str(), Describe(again).c_str());

  if (const auto* rejection = std::get_if<Rejection>(&result)) {
    FUZZ_CHECK(kReasons.count(rejection->reason) == 1 && rejection->reason != "key_mismatch",
               "undocumented reason: %s", Describe(result).c_str());
    FUZZ_CHECK(!rejection->message.empty(), "rejection without a message");
  } else {
    const auto& mapped = std::get<MappedCommand>(result);
    const domain::CommandMeta& meta = domain::MetaOf(mapped.command);
    FUZZ_CHECK(!meta.tenant.empty(), "mapped a command without a tenant");
    if (!mapped.event_id.empty()) {
      FUZZ_CHECK(meta.idempotency_key == std::string(kEventIdKeyPrefix) + mapped.event_id,
                 "idempotency key %s for event id %s", meta.idempotency_key.c_str(),
                 mapped.event_id.c_str());
    }
    // The record's own tenant as key changes nothing.
    MapResult keyed = MapStorefrontRecord(value, meta.tenant);
    FUZZ_CHECK(Describe(keyed) == Describe(result), "the tenant's own key changed %s into %s",
               Describe(result).c_str(), Describe(keyed).c_str());
  }

  // Another shop's key: the same answer, or key_mismatch.
  MapResult other = MapStorefrontRecord(value, "fuzz-other-shop-key");
  const auto* other_rejection = std::get_if<Rejection>(&other);
  FUZZ_CHECK(Describe(other) == Describe(result) ||
                 (other_rejection != nullptr && other_rejection->reason == "key_mismatch"),
             "a key turned %s into %s", Describe(result).c_str(), Describe(other).c_str());
  return 0;
}
