#include "engine/domain/message_ids.h"

#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "schemas/events.h"

namespace palaver::domain {
namespace {

TEST(MessageIdsTest, FindsEveryIdItHolds) {
  MessageIds ids;
  std::vector<std::string> held;
  for (int i = 0; i < 1000; ++i) held.push_back(NewEventId());
  for (const std::string& id : held) ids.Insert(id);
  EXPECT_EQ(ids.size(), held.size());
  for (const std::string& id : held) EXPECT_TRUE(ids.Contains(id)) << id;
  EXPECT_FALSE(ids.Contains(NewEventId()));
}

TEST(MessageIdsTest, OrderOfInsertionDoesNotMatterAndRepeatsAreOne) {
  MessageIds ids;
  const std::string newer = "0190f000-0000-7000-8000-000000000002";
  const std::string older = "0190f000-0000-7000-8000-000000000001";
  const std::string oldest = "00000000-0000-7000-8000-000000000000";
  ids.Insert(newer);
  ids.Insert(oldest);
  ids.Insert(older);
  ids.Insert(older);
  ids.Insert(newer);
  EXPECT_EQ(ids.size(), 3u);
  EXPECT_TRUE(ids.Contains(newer));
  EXPECT_TRUE(ids.Contains(older));
  EXPECT_TRUE(ids.Contains(oldest));
  EXPECT_FALSE(ids.Contains("0190f000-0000-7000-8000-000000000003"));
}

TEST(MessageIdsTest, OtherIdsAreMatchedExactlyAsText) {
  MessageIds ids;
  const std::string lower = "0190f000-0000-7000-8000-00000000abcd";
  ids.Insert(lower);
  ids.Insert("sms-42");
  ids.Insert("");
  EXPECT_EQ(ids.size(), 3u);
  EXPECT_TRUE(ids.Contains("sms-42"));
  EXPECT_TRUE(ids.Contains(""));
  // The same UUID in capitals, or without its dashes, is another id.
  EXPECT_FALSE(ids.Contains("0190F000-0000-7000-8000-00000000ABCD"));
  EXPECT_FALSE(ids.Contains("0190f000000070008000000000000abcd"));
  EXPECT_FALSE(ids.Contains("sms-4"));
  ids.Insert("0190F000-0000-7000-8000-00000000ABCD");
  EXPECT_TRUE(ids.Contains("0190F000-0000-7000-8000-00000000ABCD"));
  EXPECT_EQ(ids.size(), 4u);
  // Text that is almost a UUID stays text.
  ids.Insert("0190f000-0000-7000-8000-00000000abcg");
  EXPECT_TRUE(ids.Contains("0190f000-0000-7000-8000-00000000abcg"));
  EXPECT_FALSE(ids.Contains("0190f000-0000-7000-8000-00000000abce"));
}

}  // namespace
}  // namespace palaver::domain
