// PageCache: answers served only for the generation and time they hold for,
// within a bounded memory.
#include "connectors/api/page_cache.h"

#include <gtest/gtest.h>

namespace palaver::api {
namespace {

TEST(PageCacheTest, ServesAnAnswerOnlyForItsGenerationAndUntilItsTime) {
  PageCache cache(1 << 20);
  EXPECT_EQ(cache.Find("acme", 7, 100), std::nullopt);
  cache.Insert("acme", 7, /*same_until_us=*/500, "page one");
  EXPECT_EQ(cache.Find("acme", 7, 100), "page one");
  EXPECT_EQ(cache.Find("acme", 7, 500), "page one");  // up to and including
  EXPECT_EQ(cache.Find("acme", 7, 501), std::nullopt);
  EXPECT_EQ(cache.Find("acme", 7, 100), std::nullopt);  // the stale entry was dropped
  EXPECT_EQ(cache.stats().bytes, 0u);

  cache.Insert("acme", 7, 500, "page one");
  EXPECT_EQ(cache.Find("acme", 8, 100), std::nullopt);  // the shop's views changed
  EXPECT_EQ(cache.Find("acme", 7, 100), std::nullopt);
  cache.Insert("acme", 8, 500, "page two");
  cache.Insert("acme", 9, 500, "page three");  // replaces
  EXPECT_EQ(cache.Find("acme", 9, 100), "page three");
  EXPECT_EQ(cache.stats().hits, 3u);
  EXPECT_EQ(cache.stats().misses, 5u);
  EXPECT_EQ(cache.stats().bytes, std::string("acme").size() + std::string("page three").size());
}

TEST(PageCacheTest, DropsTheLeastRecentlyUsedToStayWithinItsCapacity) {
  PageCache cache(400);  // answers of up to 100 bytes (a quarter) are kept
  const std::string answer(90, 'x');
  for (char k = 'a'; k <= 'd'; ++k) cache.Insert(std::string(10, k), 1, INT64_MAX, answer);
  EXPECT_EQ(cache.stats().bytes, 400u);
  EXPECT_TRUE(cache.Find(std::string(10, 'a'), 1, 0));  // now the most recently used
  cache.Insert(std::string(10, 'e'), 1, INT64_MAX, answer);
  EXPECT_LE(cache.stats().bytes, 400u);
  EXPECT_FALSE(cache.Find(std::string(10, 'b'), 1, 0));  // the least recently used went
  EXPECT_TRUE(cache.Find(std::string(10, 'a'), 1, 0));
  EXPECT_TRUE(cache.Find(std::string(10, 'e'), 1, 0));

  cache.Insert("big", 1, INT64_MAX, std::string(101, 'y'));  // over a quarter: not kept
  EXPECT_FALSE(cache.Find("big", 1, 0));
  PageCache off(0);
  off.Insert("k", 1, INT64_MAX, "v");
  EXPECT_FALSE(off.Find("k", 1, 0));
  EXPECT_EQ(off.stats().bytes, 0u);
}

}  // namespace
}  // namespace palaver::api
