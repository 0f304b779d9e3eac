#include "projections/projector.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>

#include <gtest/gtest.h>

#include "projections/queries.h"
#include "projections/view_codec.h"
#include "schemas/codec.h"
#include "tests/engine/event_log_test_util.h"
#include "tests/projections/event_generator.h"
#include "tests/projections/projection_test_util.h"

namespace palaver::testing {
namespace {

using projections::Projection;
using projections::Projector;
using projections::ViewWriter;

// Counts the events it sees per shop: applying one twice would show.
class CountingProjection final : public Projection {
 public:
  std::string_view name() const override { return "counting"; }
  Status Apply(const Event& event, const LogRecord&, ViewWriter& view) override {
    const std::string key = "n/" + event.envelope.tenant;
    auto current = view.Get(key);
    if (!current.ok()) return current.status();
    const int n = current->has_value() ? std::stoi(std::string(**current)) : 0;
    view.Put(key, std::to_string(n + 1));  // read back within the batch by the next event
    if (event.envelope.tenant == "shop-1" && fail_shop_1)
      return Status::Error(ErrorCode::kInternal, "boom");
    return Status::Ok();
  }
  bool fail_shop_1 = false;
};

std::vector<std::unique_ptr<Projection>> Counting(bool fail_shop_1 = false) {
  auto p = std::make_unique<CountingProjection>();
  p->fail_shop_1 = fail_shop_1;
  std::vector<std::unique_ptr<Projection>> out;
  out.push_back(std::move(p));
  return out;
}

int CountOf(const Projector& projector, const std::string& shop) {
  auto v = projector.Get("counting/n/" + shop);
  if (!v.ok() || !v->has_value()) return 0;
  return std::stoi(**v);
}

TEST(ProjectorTest, CommitsCheckpointsWithBatchesAndResumesWithoutReapplying) {
  TempDir dir;
  auto log = OpenEmbeddedLog(dir.path() + "/log", 1);
  const auto events = EventGenerator(7, {.shops = 2}).Next(500);
  ASSERT_TRUE(AppendEvents(*log, events).ok());
  int expected = 0;
  for (const auto& e : events) expected += e.envelope.tenant == "shop-0";

  projections::ProjectorOptions options;
  options.db_path = dir.path() + "/db";
  options.max_batch_events = 64;
  {
    auto projector = Projector::Open(options, *log, Counting());
    ASSERT_TRUE(projector.ok());
    EXPECT_EQ((*projector)->AppliedOffset(0), -1);
    auto n = (*projector)->PollOnce(0, 100, std::chrono::milliseconds(0));
    ASSERT_TRUE(n.ok());
    EXPECT_EQ(*n, 100u);
    EXPECT_EQ((*projector)->AppliedOffset(0), 99);
  }
  auto projector = Projector::Open(options, *log, Counting());
  ASSERT_TRUE(projector.ok());
  EXPECT_EQ((*projector)->AppliedOffset(0), 99);  // read back from the checkpoint
  ASSERT_TRUE((*projector)->CatchUp().ok());
  EXPECT_EQ((*projector)->AppliedOffset(0), 499);
  EXPECT_EQ(CountOf(**projector, "shop-0"), expected);
  // The dump leaves the checkpoints out.
  EXPECT_EQ((*projector)->DumpAll().find("checkpoint/"), std::string::npos);
}

// A view added to existing ones applies the log from offset 0 while the
// others skip what they applied: each projection's offset shows where it is,
// and the views end as if built together.
TEST(ProjectorTest, AViewAddedToExistingViewsCatchesUpAloneAndShowsItsOwnOffset) {
  TempDir dir;
  auto log = OpenEmbeddedLog(dir.path() + "/log", 1);
  ASSERT_TRUE(AppendEvents(*log, EventGenerator(11, {.shops = 2}).Next(300)).ok());
  auto inbox_and_receipts = [] {
    std::vector<std::unique_ptr<Projection>> both;
    both.push_back(projections::internal::NewInboxProjection());
    both.push_back(projections::internal::NewReceiptsProjection());
    return both;
  };
  projections::ProjectorOptions options;
  options.db_path = dir.path() + "/db";
  {
    std::vector<std::unique_ptr<Projection>> inbox;
    inbox.push_back(projections::internal::NewInboxProjection());
    auto projector = Projector::Open(options, *log, std::move(inbox));
    ASSERT_TRUE(projector.ok());
    ASSERT_TRUE((*projector)->CatchUp().ok());
    EXPECT_EQ((*projector)->AppliedOffset(0, "inbox"), 299);
  }
  auto projector = Projector::Open(options, *log, inbox_and_receipts());
  ASSERT_TRUE(projector.ok());
  EXPECT_EQ((*projector)->ProjectionNames(), (std::vector<std::string>{"inbox", "receipts"}));
  EXPECT_EQ((*projector)->AppliedOffset(0, "inbox"), 299);
  EXPECT_EQ((*projector)->AppliedOffset(0, "receipts"), -1);
  EXPECT_EQ((*projector)->AppliedOffset(0), -1);             // what every view has applied
  EXPECT_EQ((*projector)->AppliedOffset(0, "profile"), -1);  // not one of them
  EXPECT_EQ((*projector)->AppliedOffset(1, "inbox"), -1);    // no such partition
  ASSERT_TRUE((*projector)->PollOnce(0, 100, std::chrono::milliseconds(0)).ok());
  EXPECT_EQ((*projector)->AppliedOffset(0, "receipts"), 99);
  EXPECT_EQ((*projector)->AppliedOffset(0, "inbox"), 299);
  EXPECT_EQ((*projector)->AppliedOffset(0), 99);
  ASSERT_TRUE((*projector)->CatchUp().ok());
  EXPECT_EQ((*projector)->AppliedOffset(0, "receipts"), 299);
  EXPECT_EQ((*projector)->AppliedOffset(0), 299);

  options.db_path = dir.path() + "/together";
  auto together = Projector::Open(options, *log, inbox_and_receipts());
  ASSERT_TRUE(together.ok());
  ASSERT_TRUE((*together)->CatchUp().ok());
  EXPECT_EQ((*projector)->DumpAll(), (*together)->DumpAll());
}

// The batch (700 records, read in several chunks) is applied again from its
// first record after each failure: shop-0's events are each counted once.
TEST(ProjectorTest, FailedApplyIsRolledBackCountedAndDoesNotStall) {
  TempDir dir;
  auto log = OpenEmbeddedLog(dir.path() + "/log", 1);
  const auto events = EventGenerator(3, {.shops = 2}).Next(700);
  ASSERT_TRUE(AppendEvents(*log, events).ok());
  int shop_0 = 0, shop_1 = 0;
  for (const auto& e : events) (e.envelope.tenant == "shop-0" ? shop_0 : shop_1) += 1;
  ASSERT_GT(shop_1, 0);
  projections::ProjectorOptions options;
  options.db_path = dir.path() + "/db";
  auto projector = Projector::Open(options, *log, Counting(/*fail_shop_1=*/true));
  ASSERT_TRUE(projector.ok());
  ASSERT_TRUE((*projector)->CatchUp().ok());
  EXPECT_EQ((*projector)->AppliedOffset(0), 699);
  EXPECT_EQ(CountOf(**projector, "shop-1"), 0);  // every shop-1 write rolled back
  EXPECT_EQ(CountOf(**projector, "shop-0"), shop_0);
  EXPECT_EQ((*projector)->failed_applies(), static_cast<uint64_t>(shop_1));
}

// Counts each shop's events and defers the shop on every one; Finish
// appends "<count committed before the batch>><count at its end>;" to the
// shop's "moves" key, and records the order of its calls.
class BatchEndProjection final : public Projection {
 public:
  std::string_view name() const override { return "batch_end"; }
  Status Apply(const Event& event, const LogRecord&, ViewWriter& view) override {
    const std::string& shop = event.envelope.tenant;
    auto current = view.Get("n/" + shop);
    if (!current.ok()) return current.status();
    const int n = current->has_value() ? std::stoi(std::string(**current)) : 0;
    view.Put("n/" + shop, std::to_string(n + 1));
    view.Defer(shop);
    return Status::Ok();
  }
  Status Finish(std::string_view shop, ViewWriter& view) override {
    calls.emplace_back(shop);
    const std::string key = "n/" + std::string(shop);
    auto before = view.GetCommitted(key);
    if (!before.ok()) return before.status();
    const std::string from = before->has_value() ? std::string(**before) : "0";
    auto after = view.Get(key);
    if (!after.ok()) return after.status();
    const std::string to(**after);
    auto moves = view.Get("moves/" + std::string(shop));
    if (!moves.ok()) return moves.status();
    const std::string so_far = moves->has_value() ? std::string(**moves) : "";
    if (shop == "shop-1" && fail_shop_1) return Status::Error(ErrorCode::kInternal, "boom");
    view.Put("moves/" + std::string(shop), so_far + from + ">" + to + ";");
    return Status::Ok();
  }
  bool fail_shop_1 = false;
  std::vector<std::string> calls;  // Finish's tokens, in call order
};

TEST(ProjectorTest, FinishRunsOncePerDeferredTokenAndBatchSeeingTheCommittedValue) {
  TempDir dir;
  auto log = OpenEmbeddedLog(dir.path() + "/log", 1);
  const auto events = EventGenerator(11, {.shops = 3}).Next(450);
  ASSERT_TRUE(AppendEvents(*log, events).ok());
  for (const bool fail_shop_1 : {false, true}) {
    SCOPED_TRACE(fail_shop_1 ? "Finish fails for shop-1" : "no failure");
    projections::ProjectorOptions options;
    options.db_path = dir.path() + (fail_shop_1 ? "/db-failing" : "/db");
    auto projection = std::make_unique<BatchEndProjection>();
    projection->fail_shop_1 = fail_shop_1;
    const BatchEndProjection& seen = *projection;
    std::vector<std::unique_ptr<Projection>> projections;
    projections.push_back(std::move(projection));
    auto projector = Projector::Open(options, *log, std::move(projections));
    ASSERT_TRUE(projector.ok());

    // Batches of 100 records: what each shop's moves must read.
    std::map<std::string, int> count;
    std::map<std::string, std::string> expected_moves;
    std::vector<std::string> expected_calls;
    for (size_t start = 0; start < events.size(); start += 100) {
      std::map<std::string, int> before = count;
      for (size_t i = start; i < std::min(events.size(), start + 100); ++i)
        ++count[events[i].envelope.tenant];
      for (const auto& [shop, n] : count) {  // std::map: token order
        if (n == before[shop]) continue;
        expected_calls.push_back(shop);
        expected_moves[shop] += std::to_string(before[shop]) + ">" + std::to_string(n) + ";";
      }
      auto n = (*projector)->PollOnce(0, 100, std::chrono::milliseconds(0));
      ASSERT_TRUE(n.ok());
      ASSERT_EQ(*n, std::min<size_t>(100, events.size() - start));
    }
    EXPECT_EQ(seen.calls, expected_calls);  // once per shop and batch, in order, after Apply
    for (const auto& [shop, n] : count) {
      EXPECT_EQ(**(*projector)->Get("batch_end/n/" + shop), std::to_string(n));
      auto moves = (*projector)->Get("batch_end/moves/" + shop);
      ASSERT_TRUE(moves.ok());
      if (fail_shop_1 && shop == "shop-1") {
        EXPECT_FALSE(moves->has_value()) << "a failed Finish wrote " << **moves;
      } else {
        EXPECT_EQ(moves->value_or(""), expected_moves[shop]) << shop;
      }
    }
    const auto batches_with_shop_1 =
        static_cast<uint64_t>(std::count(expected_calls.begin(), expected_calls.end(), "shop-1"));
    EXPECT_EQ((*projector)->failed_applies(), fail_shop_1 ? batches_with_shop_1 : 0u);
    EXPECT_EQ((*projector)->AppliedOffset(0), static_cast<int64_t>(events.size()) - 1);
  }
}

// Applies partition 0's `records` in batches of at most 1,000 records;
// returns how many batches it took. Each batch takes at least one record,
// and the partition's offset follows each batch.
size_t ApplyInBatchesOf1000(Projector& projector, size_t records) {
  size_t at = 0, batches = 0;
  while (at < records) {
    auto n = projector.PollOnce(0, 1000, std::chrono::milliseconds(0));
    EXPECT_TRUE(n.ok());
    if (!n.ok() || *n == 0) {
      ADD_FAILURE() << "no record applied after " << at << " of " << records;
      break;
    }
    at += *n;
    ++batches;
    EXPECT_EQ(projector.AppliedOffset(0), static_cast<int64_t>(at) - 1);
  }
  EXPECT_EQ(at, records);
  return batches;
}

// The views' memory is bounded by the block cache: a batch ends early once
// the cache is full of what is charged to it (memtables, read cache, pending
// writes). Every record is still applied once (the rest of a chunk read is
// left to the next batch), and the views are those of a large cache's batches.
TEST(ProjectorTest, BatchesEndOnceTheBlockCacheIsFullAndTheViewsAreTheSame) {
  TempDir dir;
  auto log = OpenEmbeddedLog(dir.path() + "/log", 1);
  const auto events = EventGenerator(13, {.shops = 3}).Next(3000);
  ASSERT_TRUE(AppendEvents(*log, events).ok());
  std::string dumps[2];
  for (size_t cache_mb : {64, 2}) {
    projections::ProjectorOptions options;
    options.db_path = dir.path() + "/db" + std::to_string(cache_mb);
    options.block_cache_bytes = cache_mb << 20;
    options.write_buffer_bytes = 1u << 20;
    auto projector = Projector::Open(options, *log, projections::DefaultProjections());
    ASSERT_TRUE(projector.ok());
    const size_t batches = ApplyInBatchesOf1000(**projector, events.size());
    if (cache_mb == 64) {
      EXPECT_EQ(batches, 3u);
    } else {
      EXPECT_GT(batches, 6u);
    }
    dumps[cache_mb == 2] = (*projector)->DumpAll();
  }
  EXPECT_FALSE(dumps[0].empty());
  EXPECT_EQ(dumps[0], dumps[1]);
}

// Large events fill the block cache sooner: their batches end early, and
// the rest is applied by the next batches, each record once.
TEST(ProjectorTest, LargeEventsEndBatchesEarlyAndTheRestIsAppliedByTheNext) {
  TempDir dir;
  auto log = OpenEmbeddedLog(dir.path() + "/log", 1);
  auto events = EventGenerator(5, {.shops = 2}).Next(120);
  for (Event& event : events)  // large messages among small events
    if (auto* message = std::get_if<MessagePosted>(&event.body))
      message->personal.text = std::string(50'000, 'x');
  ASSERT_TRUE(AppendEvents(*log, events).ok());

  projections::ProjectorOptions options;
  options.db_path = dir.path() + "/db";
  options.block_cache_bytes = 2u << 20;
  options.write_buffer_bytes = 1u << 20;
  auto projections = projections::DefaultProjections();  // the history keeps the messages
  projections.push_back(std::make_unique<CountingProjection>());
  auto projector = Projector::Open(options, *log, std::move(projections));
  ASSERT_TRUE(projector.ok());
  const size_t batches = ApplyInBatchesOf1000(**projector, events.size());
  EXPECT_GT(batches, 10u);
  int expected = 0;
  for (const auto& e : events) expected += e.envelope.tenant == "shop-0";
  EXPECT_EQ(CountOf(**projector, "shop-0"), expected);  // each record applied once
}

TEST(ProjectorTest, ReadCacheStaysWithinItsBudgetBatchAfterBatch) {
  TempDir dir;
  auto log = OpenEmbeddedLog(dir.path() + "/log", 1);
  ASSERT_TRUE(AppendEvents(*log, EventGenerator(9, {.shops = 3}).Next(3000)).ok());
  projections::ProjectorOptions options;
  options.db_path = dir.path() + "/db";
  options.read_cache_bytes = 64 << 10;
  auto projector = Projector::Open(options, *log, projections::DefaultProjections());
  ASSERT_TRUE(projector.ok());
  for (int batch = 0; batch < 30; ++batch) {  // rows rewritten batch after batch
    auto n = (*projector)->PollOnce(0, 100, std::chrono::milliseconds(0));
    ASSERT_TRUE(n.ok());
    ASSERT_EQ(*n, 100u);
    EXPECT_LE((*projector)->ReadCacheBytes(), options.read_cache_bytes) << "after batch " << batch;
  }
  EXPECT_GT((*projector)->ReadCacheBytes(), 0u);
}

// A bulk load (replay) applies each partition once: CatchUp gives back a
// partition's read cache when the partition is done, while a live projector
// keeps its caches for the batches to come; the views are the same.
TEST(ProjectorTest, BulkLoadGivesBackEachCaughtUpPartitionsReadCache) {
  TempDir dir;
  auto log = OpenEmbeddedLog(dir.path() + "/log", 4);
  ASSERT_TRUE(AppendEvents(*log, EventGenerator(11, {.shops = 8}).Next(4000)).ok());
  std::string dumps[2];
  for (bool bulk : {false, true}) {
    projections::ProjectorOptions options;
    options.db_path = dir.path() + (bulk ? "/bulk" : "/live");
    options.max_batch_events = 500;
    options.bulk_load = bulk;
    auto projector = Projector::Open(options, *log, projections::DefaultProjections());
    ASSERT_TRUE(projector.ok());
    ASSERT_TRUE((*projector)->CatchUp(std::chrono::seconds(60)).ok());
    if (bulk) {
      EXPECT_EQ((*projector)->ReadCacheBytes(), 0u);
    } else {
      EXPECT_GT((*projector)->ReadCacheBytes(), 0u);
    }
    dumps[bulk] = (*projector)->DumpAll();
  }
  EXPECT_FALSE(dumps[0].empty());
  EXPECT_EQ(dumps[0], dumps[1]);
}

// A bulk load commits each batch as a table file it ingests: the views equal
// those of WriteBatch commits, no batch file stays in the database's
// directory, and one left there by a crash is removed when the views are
// opened again.
TEST(ProjectorTest, BulkLoadCommitsBatchesAsTableFilesAndLeavesNoneBehind) {
  TempDir dir;
  auto log = OpenEmbeddedLog(dir.path() + "/log", 1);
  ASSERT_TRUE(AppendEvents(*log, EventGenerator(17, {.shops = 3}).Next(2000)).ok());
  auto batch_files = [](const std::string& db) {
    size_t n = 0;
    for (const auto& file : std::filesystem::directory_iterator(db))
      n += file.path().filename().string().starts_with("palaver-batch-");
    return n;
  };
  std::string dumps[2];
  for (bool bulk : {false, true}) {
    projections::ProjectorOptions options;
    options.db_path = dir.path() + (bulk ? "/bulk" : "/live");
    options.bulk_load = bulk;
    auto projector = Projector::Open(options, *log, projections::DefaultProjections());
    ASSERT_TRUE(projector.ok());
    for (size_t batch_size : {700, 700, 600}) {
      auto n = (*projector)->PollOnce(0, batch_size, std::chrono::milliseconds(0));
      ASSERT_TRUE(n.ok()) << n.status().ToString();
      ASSERT_EQ(*n, batch_size);
      EXPECT_EQ(batch_files(options.db_path), 0u);
    }
    dumps[bulk] = (*projector)->DumpAll();
  }
  EXPECT_FALSE(dumps[0].empty());
  EXPECT_EQ(dumps[0], dumps[1]);

  const std::string leftover = dir.path() + "/bulk/palaver-batch-0.sst";
  { std::ofstream(leftover) << "a batch file a crash left half written"; }
  projections::ProjectorOptions options;
  options.db_path = dir.path() + "/bulk";
  options.bulk_load = true;
  auto reopened = Projector::Open(options, *log, projections::DefaultProjections());
  ASSERT_TRUE(reopened.ok()) << reopened.status().ToString();
  EXPECT_FALSE(std::filesystem::exists(leftover));
  EXPECT_EQ((*reopened)->AppliedOffset(0), 1999);
  EXPECT_EQ((*reopened)->DumpAll(), dumps[0]);
}

// A fresh database's partitions answer reads of keys they have not written
// without RocksDB (a filter within the read cache's budget, which turns
// itself off once full). With a budget so small that the filter fills early
// in the run, the views must equal those of a projector with no read cache
// (no filter) and of one whose filter never fills.
TEST(ProjectorTest, FreshViewsEqualTheSameEventsAppliedWithoutTheFilterOfWrittenKeys) {
  TempDir dir;
  auto log = OpenEmbeddedLog(dir.path() + "/log", 2);
  ASSERT_TRUE(AppendEvents(*log, EventGenerator(21, {.shops = 4}).Next(4000)).ok());
  auto rebuild = [&](const std::string& name, size_t read_cache_bytes) {
    auto projector = OpenProjector(dir.path() + "/" + name, *log, 200, read_cache_bytes);
    EXPECT_TRUE(projector->CatchUp().ok());
    EXPECT_EQ(projector->failed_applies(), 0u);
    return projector->DumpAll();
  };
  const std::string without_filter = rebuild("none", 0);
  EXPECT_NE(without_filter.find("inbox/conv|"), std::string::npos);
  EXPECT_EQ(FirstDifference(rebuild("full_early", 1024), without_filter), "");
  EXPECT_EQ(FirstDifference(rebuild("roomy", 16u << 20), without_filter), "");
}

// Writes three keys per event, which share a long prefix and differ in
// their last bytes ('\0', '\x01', 'a' and '\xff' among them), and at every
// 50th record scans 22 prefixes of them. A scan must visit every key written
// so far exactly once, in key order, whether it was committed by an earlier
// batch or is still pending in this one.
class OrderedKeysProjection final : public Projection {
 public:
  std::string_view name() const override { return "ordered"; }
  Status Apply(const Event&, const LogRecord& record, ViewWriter& view) override {
    const std::string bytes[] = {std::string(1, '\0'), "\x01", "a", "\xff"};
    const std::string shared = "k/" + std::string(40, 's');
    const int64_t n = record.offset;
    for (int64_t k = 0; k < 3; ++k) {
      const std::string key =
          shared + bytes[(n + k) % 4] + bytes[(n / 4 + k) % 4] + std::to_string(n * 3 + k);
      view.Put(key, "v");
      written.insert(key);
    }
    if (n % 50 != 0) return Status::Ok();
    std::vector<std::string> prefixes = {"", shared};
    for (const std::string& a : bytes) {
      prefixes.push_back(shared + a);
      for (const std::string& b : bytes) prefixes.push_back(shared + a + b);
    }
    for (const std::string& prefix : prefixes) {
      std::vector<std::string> seen;
      Status s = view.Scan(prefix, [&](std::string_view key, std::string_view) {
        seen.emplace_back(key);
        return true;
      });
      if (!s.ok()) return s;
      std::vector<std::string> expected;  // std::string orders bytes as unsigned, as RocksDB does
      for (auto it = written.lower_bound(prefix); it != written.end() && it->starts_with(prefix);
           ++it)
        expected.push_back(*it);
      ++scans;
      if (seen != expected) ++wrong_scans;
    }
    return Status::Ok();
  }
  std::set<std::string> written;
  int scans = 0;
  int wrong_scans = 0;
};

TEST(ProjectorTest, ScansSeeCommittedAndPendingKeysOnceEachInKeyOrder) {
  TempDir dir;
  auto log = OpenEmbeddedLog(dir.path() + "/log", 1);
  ASSERT_TRUE(AppendEvents(*log, EventGenerator(13, {.shops = 2}).Next(3000)).ok());
  projections::ProjectorOptions options;
  options.db_path = dir.path() + "/db";
  auto projection = std::make_unique<OrderedKeysProjection>();
  const OrderedKeysProjection& seen = *projection;
  std::vector<std::unique_ptr<Projection>> projections;
  projections.push_back(std::move(projection));
  auto projector = Projector::Open(options, *log, std::move(projections));
  ASSERT_TRUE(projector.ok());
  // Batches of uneven sizes: pending keys are sorted into runs of many sizes.
  const size_t sizes[] = {1, 1500, 7, 900, 300, 1000};
  size_t applied = 0;
  for (size_t i = 0; applied < 3000; ++i) {
    auto n = (*projector)->PollOnce(0, sizes[i % std::size(sizes)], std::chrono::milliseconds(0));
    ASSERT_TRUE(n.ok());
    ASSERT_GT(*n, 0u);
    applied += *n;
  }
  EXPECT_EQ(seen.scans, 60 * 22);
  EXPECT_EQ(seen.wrong_scans, 0);
  EXPECT_EQ((*projector)->failed_applies(), 0u);
}

// A log one partition of which cannot be read (its broker is gone).
class UnreadablePartitionLog final : public EventLog {
 public:
  UnreadablePartitionLog(EventLog& inner, int32_t broken) : inner_(inner), broken_(broken) {}
  Result<LogPosition> Append(std::string frame) override { return inner_.Append(std::move(frame)); }
  Result<std::vector<LogPosition>> AppendBatch(std::vector<std::string> frames) override {
    return inner_.AppendBatch(std::move(frames));
  }
  Result<std::unique_ptr<LogReader>> OpenReader(int32_t partition, int64_t from) override {
    if (partition == broken_)
      return Status::Error(ErrorCode::kUnavailable, "partition 1 cannot be read");
    return inner_.OpenReader(partition, from);
  }
  Result<int64_t> EndOffset(int32_t partition) override { return inner_.EndOffset(partition); }
  int32_t PartitionCount() const override { return inner_.PartitionCount(); }

 private:
  EventLog& inner_;
  const int32_t broken_;
};

TEST(ProjectorTest, CatchUpOverPartitionsInParallelReportsTheErrorAndLosesNothing) {
  TempDir dir;
  auto log = OpenEmbeddedLog(dir.path() + "/log", 4);
  ASSERT_TRUE(AppendEvents(*log, EventGenerator(5, {.shops = 12}).Next(3000)).ok());
  for (int32_t p = 0; p < 4; ++p) ASSERT_GT(*log->EndOffset(p), 0) << "partition " << p;

  // Partition 1 cannot be read: CatchUp says so, whatever the other threads did.
  UnreadablePartitionLog broken(*log, 1);
  {
    auto projector = OpenProjector(dir.path() + "/views", broken, /*batch=*/100);
    const Status caught_up = projector->CatchUp();
    EXPECT_EQ(caught_up.code(), ErrorCode::kUnavailable) << caught_up.ToString();
    EXPECT_EQ(projector->AppliedOffset(1), -1);
  }
  // Once the partition is back, catching up completes the same views as a
  // rebuild that never failed: what was committed before the error stays, and
  // nothing was applied twice.
  auto resumed = OpenProjector(dir.path() + "/views", *log, /*batch=*/100);
  ASSERT_TRUE(resumed->CatchUp().ok());
  auto clean = OpenProjector(dir.path() + "/clean", *log, /*batch=*/100);
  ASSERT_TRUE(clean->CatchUp().ok());
  for (int32_t p = 0; p < 4; ++p) EXPECT_EQ(resumed->AppliedOffset(p), *log->EndOffset(p) - 1);
  EXPECT_EQ(FirstDifference(resumed->DumpAll(), clean->DumpAll()), "");
}

TEST(ProjectorTest, WaitForPositionTimesOutThenSucceeds) {
  TempDir dir;
  auto log = OpenEmbeddedLog(dir.path() + "/log", 2);
  auto projector = OpenProjector(dir.path() + "/db", *log);
  const Status early = projector->WaitForPosition(0, 0, std::chrono::milliseconds(20));
  EXPECT_EQ(early.code(), ErrorCode::kTimeout);
  EXPECT_EQ(projector->WaitForPosition(9, 0, std::chrono::milliseconds(1)).code(),
            ErrorCode::kInvalidArgument);
  projector->Start();
  ASSERT_TRUE(AppendEvents(*log, EventGenerator(1).Next(50)).ok());
  for (int32_t p = 0; p < 2; ++p) {
    const int64_t end = log->EndOffset(p).value();
    if (end > 0) {
      EXPECT_TRUE(projector->WaitForPosition(p, end - 1, std::chrono::seconds(10)).ok());
    }
  }
  projector->Stop();
}

// A one-partition log that serves whatever bytes it is given, including
// records the real logs would refuse.
class RawLog final : public EventLog {
 public:
  explicit RawLog(std::vector<std::string> values) : values_(std::move(values)) {}
  Result<LogPosition> Append(std::string) override {
    return Status::Error(ErrorCode::kInternal, "read only");
  }
  Result<std::vector<LogPosition>> AppendBatch(std::vector<std::string>) override {
    return Status::Error(ErrorCode::kInternal, "read only");
  }
  Result<std::unique_ptr<LogReader>> OpenReader(int32_t, int64_t from) override {
    return std::unique_ptr<LogReader>(std::make_unique<Reader>(values_, from));
  }
  Result<int64_t> EndOffset(int32_t) override { return static_cast<int64_t>(values_.size()); }
  int32_t PartitionCount() const override { return 1; }

 private:
  class Reader final : public LogReader {
   public:
    Reader(const std::vector<std::string>& values, int64_t from) : values_(values), next_(from) {}
    Result<std::vector<LogRecord>> Next(size_t max, std::chrono::milliseconds) override {
      std::vector<LogRecord> out;
      while (out.size() < max && next_ < static_cast<int64_t>(values_.size())) {
        LogRecord r;
        r.offset = next_;
        r.value = values_[static_cast<size_t>(next_++)];
        out.push_back(std::move(r));
      }
      return out;
    }
    void Seek(int64_t offset) override { next_ = offset; }
    int64_t Position() const override { return next_; }

   private:
    const std::vector<std::string>& values_;
    int64_t next_;
  };
  const std::vector<std::string> values_;
};

TEST(ProjectorTest, UndecodableRecordsAreCountedAndSkipped) {
  const auto events = EventGenerator(5, {.shops = 1}).Next(3);
  std::vector<std::string> values;
  values.push_back(EncodeEvent(events[0]).value());
  values.push_back("not a frame");
  std::string truncated = EncodeEvent(events[1]).value();
  truncated.resize(truncated.size() / 2);
  values.push_back(truncated);
  values.push_back(EncodeEvent(events[2]).value());
  RawLog log(values);
  TempDir dir;
  projections::ProjectorOptions options;
  options.db_path = dir.path() + "/db";
  auto projector = Projector::Open(options, log, Counting());
  ASSERT_TRUE(projector.ok());
  ASSERT_TRUE((*projector)->CatchUp(std::chrono::seconds(5)).ok());
  EXPECT_EQ((*projector)->AppliedOffset(0), 3);
  EXPECT_EQ((*projector)->undecodable_records(), 2u);
  EXPECT_EQ(CountOf(**projector, "shop-0"), 2);
}

// Records are decoded as they are applied, and a batch whose Apply failed is
// applied (and decoded) again: each undecodable record is still counted once.
TEST(ProjectorTest, UndecodableRecordsAreCountedOnceWhenTheBatchIsAppliedAgain) {
  const auto events = EventGenerator(5, {.shops = 2}).Next(40);
  std::vector<std::string> values;
  values.push_back("not a frame");
  int shop_0 = 0, shop_1 = 0;
  for (const Event& e : events) {
    values.push_back(EncodeEvent(e).value());
    (e.envelope.tenant == "shop-1" ? shop_1 : shop_0) += 1;
  }
  values.push_back("not a frame either");
  ASSERT_GT(shop_1, 0);
  RawLog log(values);
  TempDir dir;
  projections::ProjectorOptions options;
  options.db_path = dir.path() + "/db";
  options.max_batch_events = values.size();  // one batch, applied again after each failure
  auto projector = Projector::Open(options, log, Counting(/*fail_shop_1=*/true));
  ASSERT_TRUE(projector.ok());
  ASSERT_TRUE((*projector)->CatchUp(std::chrono::seconds(5)).ok());
  EXPECT_EQ((*projector)->AppliedOffset(0), static_cast<int64_t>(values.size()) - 1);
  EXPECT_EQ((*projector)->undecodable_records(), 2u);
  EXPECT_EQ((*projector)->failed_applies(), static_cast<uint64_t>(shop_1));
  EXPECT_EQ(CountOf(**projector, "shop-0"), shop_0);
  EXPECT_EQ(CountOf(**projector, "shop-1"), 0);
}

TEST(ProjectorTest, RefusesBadProjectionNames) {
  class Named final : public Projection {
   public:
    explicit Named(std::string n) : n_(std::move(n)) {}
    std::string_view name() const override { return n_; }
    Status Apply(const Event&, const LogRecord&, ViewWriter&) override { return Status::Ok(); }
    std::string n_;
  };
  TempDir dir;
  auto log = OpenEmbeddedLog(dir.path() + "/log", 1);
  for (const char* bad : {"", "checkpoint", "Inbox", "a/b"}) {
    std::vector<std::unique_ptr<Projection>> list;
    list.push_back(std::make_unique<Named>(bad));
    projections::ProjectorOptions options;
    options.db_path = dir.path() + "/db";
    EXPECT_EQ(Projector::Open(options, *log, std::move(list)).status().code(),
              ErrorCode::kInvalidArgument)
        << bad;
  }
}

}  // namespace
}  // namespace palaver::testing
