// Behaviour specific to the embedded log; the shared semantics are in the
// conformance suite.
#include "engine/embedded_event_log.h"

#include <thread>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/engine/event_log_test_util.h"

namespace palaver {
namespace {

using ::testing::HasSubstr;
using testing::MakeFrame;
using testing::TempDir;

EventLogOptions Options(const TempDir& dir, int32_t partitions, bool sync = false) {
  EventLogOptions options;
  options.kind = EventLogOptions::Kind::kEmbedded;
  options.embedded_dir = dir.path() + "/nested/log";
  options.partitions = partitions;
  options.sync_writes = sync;
  return options;
}

TEST(EmbeddedEventLogTest, ReopenWithAnotherPartitionCountKeepsTheStoredOne) {
  TempDir dir;
  {
    Result<std::unique_ptr<EventLog>> log = OpenEventLog(Options(dir, 6));
    ASSERT_TRUE(log.ok()) << log.status().ToString();
    EXPECT_EQ((*log)->PartitionCount(), 6);
    ASSERT_TRUE((*log)->Append(MakeFrame("shop-1")).ok());
  }
  Result<std::unique_ptr<EventLog>> log = OpenEventLog(Options(dir, 3));
  ASSERT_TRUE(log.ok()) << log.status().ToString();
  EXPECT_EQ((*log)->PartitionCount(), 6);
  Result<int64_t> end = (*log)->EndOffset((*log)->PartitionFor("shop-1"));
  ASSERT_TRUE(end.ok());
  EXPECT_EQ(*end, 1);
}

TEST(EmbeddedEventLogTest, SecondOpenOfTheSameDirectoryFails) {
  TempDir dir;
  Result<std::unique_ptr<EventLog>> first = OpenEventLog(Options(dir, 2));
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  Result<std::unique_ptr<EventLog>> second = OpenEventLog(Options(dir, 2));
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), ErrorCode::kIoError);
  EXPECT_THAT(second.status().message(), HasSubstr(dir.path()));
}

TEST(EmbeddedEventLogTest, UnwritableDirectoryIsAnIoError) {
  EventLogOptions options;
  options.kind = EventLogOptions::Kind::kEmbedded;
  options.embedded_dir = "/proc/palaver-cannot-be-here/log";
  Result<std::unique_ptr<EventLog>> log = OpenEventLog(options);
  ASSERT_FALSE(log.ok());
  EXPECT_EQ(log.status().code(), ErrorCode::kIoError);
}

// Many tailers on different partitions all wake on their own appends.
TEST(EmbeddedEventLogTest, EveryTailerWakesForItsPartition) {
  TempDir dir;
  Result<std::unique_ptr<EventLog>> log = OpenEventLog(Options(dir, 4));
  ASSERT_TRUE(log.ok()) << log.status().ToString();
  std::vector<std::thread> tailers;
  std::atomic<int> woken{0};
  for (int32_t p = 0; p < 4; ++p) {
    tailers.emplace_back([&, p] {
      Result<std::unique_ptr<LogReader>> reader = (*log)->OpenReader(p, 0);
      if (!reader.ok()) return;
      Result<std::vector<LogRecord>> got = (*reader)->Next(1, std::chrono::seconds(10));
      if (got.ok() && got->size() == 1u) ++woken;
    });
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  std::vector<std::string> frames;
  for (int i = 0; i < 64; ++i) frames.push_back(MakeFrame("shop-" + std::to_string(i)));
  ASSERT_TRUE((*log)->AppendBatch(std::move(frames)).ok());
  for (std::thread& t : tailers) t.join();
  EXPECT_EQ(woken.load(), 4);
}

}  // namespace
}  // namespace palaver
