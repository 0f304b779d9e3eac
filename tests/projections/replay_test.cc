#include "projections/replay.h"

#include <atomic>
#include <sstream>
#include <thread>

#include <gtest/gtest.h>

#include "tests/engine/event_log_test_util.h"
#include "tests/projections/event_generator.h"
#include "tests/projections/projection_test_util.h"

namespace palaver::testing {
namespace {

using projections::Replay;
using projections::ReplayOptions;

size_t Lines(const std::string& s) {
  return static_cast<size_t>(std::count(s.begin(), s.end(), '\n'));
}

TEST(ReplayTest, UpToOffsetEqualsStoppingThere) {
  TempDir dir;
  auto log = OpenEmbeddedLog(dir.path() + "/log", 2);
  ASSERT_TRUE(AppendEvents(*log, EventGenerator(11).Next(1500)).ok());
  auto reference = OpenProjector(dir.path() + "/reference", *log);
  for (int32_t p = 0; p < 2; ++p)
    while (reference->AppliedOffset(p) < 300)
      ASSERT_TRUE(reference->PollOnce(p, 1, std::chrono::milliseconds(100)).ok());

  ReplayOptions options;
  options.db_path = dir.path() + "/replay";
  options.up_to_offset = 300;
  options.batch_events = 128;
  uint64_t last_done = 0, last_total = 0;
  int calls = 0;
  options.progress = [&](uint64_t done, uint64_t total) {
    last_done = done;
    last_total = total;
    ++calls;
  };
  auto stats = Replay(*log, options);
  ASSERT_TRUE(stats.ok()) << stats.status().ToString();
  EXPECT_EQ(stats->records, 602u);
  EXPECT_GT(calls, 2);
  EXPECT_EQ(last_done, last_total);
  auto replayed = OpenProjector(options.db_path, *log);
  EXPECT_EQ(replayed->AppliedOffset(0), 300);
  EXPECT_EQ(FirstDifference(replayed->DumpAll(), reference->DumpAll()), "");

  EXPECT_EQ(Replay(*log, options).status().code(), ErrorCode::kAlreadyExists);
  EXPECT_EQ(projections::ProgressBar(5, 10, 10), "[#####-----]  50%  5/10");
}

TEST(ReplayTest, PartitionsReplayInParallelWithOrderedProgress) {
  TempDir dir;
  auto log = OpenEmbeddedLog(dir.path() + "/log", 4);
  ASSERT_TRUE(AppendEvents(*log, EventGenerator(13, {.shops = 12}).Next(3000)).ok());
  auto reference = OpenProjector(dir.path() + "/reference", *log);
  for (int32_t p = 0; p < 4; ++p)  // one partition after another
    while (reference->AppliedOffset(p) < *log->EndOffset(p) - 1)
      ASSERT_TRUE(reference->PollOnce(p, 100, std::chrono::milliseconds(100)).ok());

  ReplayOptions options;
  options.db_path = dir.path() + "/replay";
  options.batch_events = 50;
  std::atomic<int> inside{0};
  bool overlapped = false, went_back = false;
  uint64_t last_done = 0, last_total = 0;
  options.progress = [&](uint64_t done, uint64_t total) {
    if (inside.fetch_add(1) != 0) overlapped = true;
    if (done < last_done) went_back = true;
    last_done = done;
    last_total = total;
    std::this_thread::sleep_for(std::chrono::microseconds(200));  // widen any overlap
    inside.fetch_sub(1);
  };
  auto stats = Replay(*log, options);
  ASSERT_TRUE(stats.ok()) << stats.status().ToString();
  EXPECT_EQ(stats->records, 3000u);
  EXPECT_FALSE(overlapped) << "progress was called from two threads at once";
  EXPECT_FALSE(went_back) << "progress went backwards";
  EXPECT_EQ(last_done, 3000u);
  EXPECT_EQ(last_total, 3000u);
  auto replayed = OpenProjector(options.db_path, *log);
  EXPECT_EQ(FirstDifference(replayed->DumpAll(), reference->DumpAll()), "");
}

TEST(ReplayTest, UpToTimestampEqualsTheViewsOfThatMoment) {
  TempDir dir;
  auto log = OpenEmbeddedLog(dir.path() + "/log", 2);
  EventGenerator generator(12);
  ASSERT_TRUE(AppendEvents(*log, generator.Next(800)).ok());
  auto then = OpenProjector(dir.path() + "/then", *log);
  ASSERT_TRUE(then->CatchUp().ok());
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  const int64_t cut_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                             std::chrono::system_clock::now().time_since_epoch())
                             .count();
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  ASSERT_TRUE(AppendEvents(*log, generator.Next(800)).ok());

  ReplayOptions options;
  options.db_path = dir.path() + "/replay";
  options.up_to_timestamp_ms = cut_ms;
  auto stats = Replay(*log, options);
  ASSERT_TRUE(stats.ok()) << stats.status().ToString();
  EXPECT_EQ(stats->records, 800u);
  auto replayed = OpenProjector(options.db_path, *log);
  EXPECT_EQ(FirstDifference(replayed->DumpAll(), then->DumpAll()), "");
}

TEST(ReplayTest, ExportsJsonLinesAndCsv) {
  TempDir dir;
  auto log = OpenEmbeddedLog(dir.path() + "/log", 2);
  ASSERT_TRUE(AppendEvents(*log, EventGenerator(13).Next(300)).ok());
  auto projector = OpenProjector(dir.path() + "/views", *log);
  ASSERT_TRUE(projector->CatchUp().ok());
  const std::string dump = projector->DumpAll();
  std::ostringstream jsonl, csv, inbox;
  ASSERT_TRUE(projections::ExportJsonLines(*projector, "", jsonl).ok());
  ASSERT_TRUE(projections::ExportCsv(*projector, "", csv).ok());
  ASSERT_TRUE(projections::ExportJsonLines(*projector, "inbox", inbox).ok());
  EXPECT_EQ(Lines(jsonl.str()), Lines(dump));
  EXPECT_EQ(Lines(csv.str()), Lines(dump) + 1);
  EXPECT_EQ(csv.str().rfind("view,key,value\n", 0), 0u);
  EXPECT_LT(Lines(inbox.str()), Lines(dump));
  EXPECT_EQ(inbox.str().find("\"view\":\"metrics\""), std::string::npos);
  EXPECT_NE(inbox.str().find("\"view\":\"inbox\""), std::string::npos);
  EXPECT_EQ(jsonl.str().find("checkpoint"), std::string::npos);
}

}  // namespace
}  // namespace palaver::testing
