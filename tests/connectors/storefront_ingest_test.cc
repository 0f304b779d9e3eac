// IngestStorefrontRecords on an embedded log: a batch large enough to be
// mapped on several threads still answers each record with its own outcome,
// in input order.
#include "connectors/storefront/storefront_ingest.h"

#include <string>
#include <variant>
#include <vector>

#include <gtest/gtest.h>

#include "tests/connectors/inbound/inbound_test_util.h"

namespace palaver::storefront {
namespace {

using namespace ::palaver::inbound::testing;  // EmbeddedEngine, Example, kShop

TEST(StorefrontIngestTest, ABatchMappedOnSeveralThreadsAnswersEachRecordInPlace) {
  EmbeddedEngine e;
  const int64_t before = e.ShopEnd();
  std::vector<std::string> values;
  for (int i = 0; i < 500; ++i) {
    if (i % 7 == 3) {
      values.push_back("not json " + std::to_string(i));
    } else if (i % 7 == 5) {  // valid JSON, but no product id
      nlohmann::json bad = Example(EventType::kProductUpserted, "evt-" + std::to_string(i));
      bad["body"].erase("product_id");
      values.push_back(bad.dump());
    } else {
      values.push_back(Example(EventType::kProductUpserted, "evt-" + std::to_string(i)).dump());
    }
  }
  std::vector<IngestRecord> records;
  for (size_t i = 0; i < values.size(); ++i)
    records.push_back(IngestRecord{values[i], kShop, "offset-" + std::to_string(i)});
  IngestOptions options;
  options.map_threads = 4;  // 125 records each

  const std::vector<IngestOutcome> outcomes = IngestStorefrontRecords(*e.engine, records, options);

  ASSERT_EQ(outcomes.size(), records.size());
  int64_t appended = 0;
  for (size_t i = 0; i < outcomes.size(); ++i) {
    if (i % 7 == 3) {
      const auto* rejection = std::get_if<Rejection>(&outcomes[i]);
      ASSERT_NE(rejection, nullptr) << i;
      EXPECT_EQ(rejection->reason, "not_json") << i;
    } else if (i % 7 == 5) {
      const auto* rejection = std::get_if<Rejection>(&outcomes[i]);
      ASSERT_NE(rejection, nullptr) << i;
      EXPECT_EQ(rejection->reason, "schema_violation") << i;
      EXPECT_EQ(rejection->field, "/body/product_id") << i;
    } else {
      const auto* ingested = std::get_if<Ingested>(&outcomes[i]);
      ASSERT_NE(ingested, nullptr) << i;
      EXPECT_EQ(ingested->event_id, "evt-" + std::to_string(i));
      ASSERT_EQ(ingested->result.events.size(), 1u) << i;
      // Appended in input order, one after the other.
      EXPECT_EQ(ingested->result.events.front().position.offset, before + appended) << i;
      EXPECT_EQ(ingested->result.events.front().event.envelope.idempotency_key,
                "storefront:evt-" + std::to_string(i));
      ++appended;
    }
  }
  EXPECT_EQ(e.ShopEnd(), before + appended);
}

}  // namespace
}  // namespace palaver::storefront
