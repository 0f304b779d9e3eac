// Property: for random event sequences, incremental application (random
// batch sizes, random partition order, restarts, appends interleaved with
// projection) dumps exactly like a rebuild from offset zero.
#include <map>
#include <random>
#include <set>
#include <sstream>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "schemas/codec.h"
#include "tests/engine/event_log_test_util.h"
#include "tests/projections/event_generator.h"
#include "tests/projections/projection_test_util.h"

namespace palaver::testing {
namespace {

// The badge counters kept on apply equal counting the open conversations
// unread by each agent through the inbox query, for every shop and every
// agent that appears in the rows (and one that never does).
void ExpectBadgesMatchTheInbox(projections::Projector& projector, const std::string& dump) {
  std::map<std::string, std::set<std::string>> agents;  // shop -> agents
  std::istringstream lines(dump);
  std::string line;
  const std::string row_prefix = "inbox/conv|";
  while (std::getline(lines, line)) {
    if (line.rfind(row_prefix, 0) != 0) continue;
    const std::string shop =
        line.substr(row_prefix.size(), line.find('|', row_prefix.size()) - row_prefix.size());
    auto row = nlohmann::json::parse(line.substr(line.find(" = ") + 3));
    auto& set = agents[shop];
    set.insert("never-read-anything");
    for (auto it = row["reads"].begin(); it != row["reads"].end(); ++it) set.insert(it.key());
    if (!row["assignee"].get<std::string>().empty()) set.insert(row["assignee"]);
  }
  EXPECT_FALSE(agents.empty());
  projections::Queries queries(projector);
  for (const auto& [shop, names] : agents) {
    for (const std::string& agent : names) {
      projections::InboxQuery q;
      q.shop = shop;
      q.agent_id = agent;
      q.statuses = {ConversationStatus::kOpen};
      q.unread_only = true;
      q.limit = 200;
      int64_t counted = 0;
      for (;;) {
        auto page = queries.Inbox(q);
        ASSERT_TRUE(page.ok()) << page.status().ToString();
        counted += static_cast<int64_t>(page->rows.size());
        if (page->next_cursor.empty()) break;
        q.cursor = page->next_cursor;
      }
      EXPECT_EQ(queries.BadgeCount(shop, agent).value(), counted) << shop << " " << agent;
    }
  }
}

TEST(ProjectorPropertyTest, IncrementalEqualsRebuildFromZero) {
  const uint64_t base_seed = TestSeed();
  for (uint64_t round = 0; round < 3; ++round) {
    const uint64_t seed = base_seed + round;
    SCOPED_TRACE("seed=" + std::to_string(seed) +
                 " (rerun with PALAVER_PROPERTY_SEED=" + std::to_string(base_seed) + ")");
    std::mt19937_64 rng(seed ^ 0x9e3779b97f4a7c15ULL);
    auto uniform = [&](uint64_t lo, uint64_t hi) {
      return std::uniform_int_distribution<uint64_t>(lo, hi)(rng);
    };
    TempDir dir;
    auto log = OpenEmbeddedLog(dir.path() + "/log", 3);
    EventGenerator generator(seed);
    auto incremental = OpenProjector(dir.path() + "/incremental", *log, 1000);
    size_t appended = 0;
    int restarts = 0;
    while (appended < 3000) {
      const auto events = generator.Next(uniform(1, 300));
      ASSERT_TRUE(AppendEvents(*log, events).ok());
      appended += events.size();
      const uint64_t polls = uniform(0, 6);
      for (uint64_t i = 0; i < polls; ++i) {
        auto n = incremental->PollOnce(static_cast<int32_t>(uniform(0, 2)), uniform(1, 200),
                                       std::chrono::milliseconds(0));
        ASSERT_TRUE(n.ok()) << n.status().ToString();
      }
      if (uniform(0, 4) == 0) {  // a clean restart resumes from the checkpoints
        incremental.reset();
        // The read cache off, so small that it evicts on almost every store,
        // or the default size: what Apply reads must not depend on it.
        const size_t cache_bytes[] = {0, 4096, projections::ProjectorOptions().read_cache_bytes};
        incremental = OpenProjector(dir.path() + "/incremental", *log, uniform(1, 64),
                                    cache_bytes[uniform(0, 2)]);
        ++restarts;
      }
    }
    ASSERT_TRUE(incremental->CatchUp().ok());
    auto rebuilt = OpenProjector(dir.path() + "/rebuilt", *log, 1000);
    ASSERT_TRUE(rebuilt->CatchUp().ok());
    const std::string a = incremental->DumpAll();
    const std::string b = rebuilt->DumpAll();
    EXPECT_NE(a.find("inbox/"), std::string::npos);
    EXPECT_NE(a.find("metrics/"), std::string::npos);
    EXPECT_EQ(FirstDifference(a, b), "") << "after " << restarts << " restarts";
    // Each inbox row has exactly one entry in each of its three indexes.
    auto count = [&](const std::string& prefix) {
      size_t n = 0;
      for (size_t at = a.find("\n" + prefix); at != std::string::npos;
           at = a.find("\n" + prefix, at + 1))
        ++n;
      return n;
    };
    const size_t rows = count("inbox/conv|");
    EXPECT_GT(rows, 0u);
    EXPECT_EQ(count("inbox/idx|"), rows);
    EXPECT_EQ(count("inbox/idxa|"), rows);
    EXPECT_EQ(count("inbox/idxs|"), rows);
    EXPECT_EQ(incremental->undecodable_records(), 0u);
    EXPECT_EQ(incremental->failed_applies(), 0u);
    ExpectBadgesMatchTheInbox(*incremental, a);
  }
}

TEST(ProjectorPropertyTest, LiveThreadsEqualRebuildAndServeReadYourWrites) {
  const uint64_t seed = TestSeed();
  SCOPED_TRACE("seed=" + std::to_string(seed));
  TempDir dir;
  auto log = OpenEmbeddedLog(dir.path() + "/log", 4);
  EventGenerator generator(seed);
  auto live = OpenProjector(dir.path() + "/live", *log, 100);
  live->Start();
  for (int round = 0; round < 10; ++round) {
    const auto events = generator.Next(200);
    std::vector<std::string> frames;
    for (const auto& e : events) frames.push_back(EncodeEvent(e).value());
    auto positions = log->AppendBatch(std::move(frames));
    ASSERT_TRUE(positions.ok());
    // Read-your-writes: the position of the last append becomes visible.
    const LogPosition last = positions->back();
    ASSERT_TRUE(live->WaitForPosition(last.partition, last.offset, std::chrono::seconds(20)).ok());
    EXPECT_GE(live->AppliedOffset(last.partition), last.offset);
  }
  for (int32_t p = 0; p < 4; ++p) {
    const int64_t end = log->EndOffset(p).value();
    ASSERT_TRUE(live->WaitForPosition(p, end - 1, std::chrono::seconds(20)).ok());
  }
  live->Stop();
  auto rebuilt = OpenProjector(dir.path() + "/rebuilt", *log, 1000);
  ASSERT_TRUE(rebuilt->CatchUp().ok());
  EXPECT_EQ(FirstDifference(live->DumpAll(), rebuilt->DumpAll()), "");
}

}  // namespace
}  // namespace palaver::testing
