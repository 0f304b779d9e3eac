// The dead-letter record format and the embedded writer: originals cut and
// flagged, records durable across reopening, a torn last line (a crash in the
// middle of a write) cut off without losing the records before it.
#include "connectors/storefront/deadletter.h"

#include <fstream>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "tests/engine/event_log_test_util.h"

namespace palaver::storefront {
namespace {

DeadLetter Letter(std::string_view original) {
  DeadLetter letter;
  letter.rejection = {"schema_violation", "quantity must be at least 1",
                      "/body/line_items/0/quantity"};
  letter.source_topic = "palaver.storefront";
  letter.source_partition = 3;
  letter.source_offset = 42;
  letter.source_key = std::string("shop\0acme", 9);  // keys are bytes
  letter.original = original;
  return letter;
}

TEST(DeadLetterTest, EncodingCarriesTheRecordAndCutsLongOriginals) {
  const nlohmann::json whole = nlohmann::json::parse(EncodeDeadLetter(Letter("abcdef"), 1024));
  EXPECT_EQ(whole["reason"], "schema_violation");
  EXPECT_EQ(whole["field"], "/body/line_items/0/quantity");
  EXPECT_EQ(whole["source_topic"], "palaver.storefront");
  EXPECT_EQ(whole["source_partition"], 3);
  EXPECT_EQ(whole["source_offset"], 42);
  EXPECT_EQ(whole["source_key_base64"], Base64Encode(std::string("shop\0acme", 9)));
  EXPECT_EQ(whole["original_base64"], "YWJjZGVm");
  EXPECT_EQ(whole["original_bytes"], 6);
  EXPECT_EQ(whole["original_truncated"], false);
  EXPECT_FALSE(whole.contains("source_attributes"));

  const nlohmann::json cut = nlohmann::json::parse(EncodeDeadLetter(Letter("abcdef"), 4));
  EXPECT_EQ(cut["original_base64"], "YWJjZA==");
  EXPECT_EQ(cut["original_bytes"], 6);
  EXPECT_EQ(cut["original_truncated"], true);
}

TEST(DeadLetterTest, EmbeddedRecordsSurviveReopeningAndATornLastLineIsCut) {
  ::palaver::testing::TempDir dir;
  {
    Result<std::unique_ptr<DeadLetterWriter>> writer = OpenEmbeddedDeadLetterWriter({dir.path()});
    ASSERT_TRUE(writer.ok()) << writer.status().ToString();
    for (int64_t i = 0; i < 3; ++i) {
      Result<DeadLetterPosition> position =
          (*writer)->Write(Letter("original " + std::to_string(i)));
      ASSERT_TRUE(position.ok()) << position.status().ToString();
      EXPECT_EQ(position->offset, i);
    }
  }
  // A crash in the middle of the fourth record.
  {
    std::ofstream out(EmbeddedDeadLetterFile(dir.path()), std::ios::app | std::ios::binary);
    out << "{\"offset\":3,\"timestamp_ms\":1,\"va";
  }
  Result<std::vector<StoredDeadLetter>> read = ReadEmbeddedDeadLetters(dir.path());
  ASSERT_TRUE(read.ok()) << read.status().ToString();
  EXPECT_EQ(read->size(), 3u) << "a torn line is not a record";

  Result<std::unique_ptr<DeadLetterWriter>> reopened = OpenEmbeddedDeadLetterWriter({dir.path()});
  ASSERT_TRUE(reopened.ok()) << reopened.status().ToString();
  Result<DeadLetterPosition> next = (*reopened)->Write(Letter("after the crash"));
  ASSERT_TRUE(next.ok());
  EXPECT_EQ(next->offset, 3);

  read = ReadEmbeddedDeadLetters(dir.path());
  ASSERT_TRUE(read.ok()) << read.status().ToString();
  ASSERT_EQ(read->size(), 4u);
  for (int64_t i = 0; i < 4; ++i) EXPECT_EQ(read->at(i).offset, i);
  const StoredDeadLetter& last = read->back();
  EXPECT_EQ(last.key, std::string("shop\0acme", 9));
  const nlohmann::json value = nlohmann::json::parse(last.value);
  EXPECT_EQ(value["original_base64"], Base64Encode("after the crash"));
  std::map<std::string, std::string> headers(last.headers.begin(), last.headers.end());
  EXPECT_EQ(headers["palaver-deadletter-reason"], "schema_violation");
  EXPECT_EQ(headers["palaver-source-offset"], "42");
}

TEST(DeadLetterTest, AnEmbeddedFileThatIsNotDeadLettersIsCorruption) {
  ::palaver::testing::TempDir dir;
  {
    std::ofstream out(EmbeddedDeadLetterFile(dir.path()), std::ios::binary);
    out << "this is not json\n";
  }
  Result<std::vector<StoredDeadLetter>> read = ReadEmbeddedDeadLetters(dir.path());
  ASSERT_FALSE(read.ok());
  EXPECT_EQ(read.status().code(), ErrorCode::kCorruption);
}

}  // namespace
}  // namespace palaver::storefront
