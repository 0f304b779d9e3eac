#include "tests/engine/event_log_conformance.h"

#include <atomic>
#include <chrono>
#include <map>
#include <set>
#include <thread>

#include <gmock/gmock.h>

#include "tests/engine/event_log_test_util.h"

namespace palaver::testing {
namespace {

using ::testing::HasSubstr;
using Clock = std::chrono::steady_clock;

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

class EmbeddedLogTarget : public LogTarget {
 public:
  Result<std::unique_ptr<EventLog>> Open() override {
    EventLogOptions options;
    options.kind = EventLogOptions::Kind::kEmbedded;
    options.partitions = kConformancePartitions;
    options.embedded_dir = dir_.path() + "/log";
    options.sync_writes = true;
    return OpenEventLog(options);
  }

 private:
  TempDir dir_;
};

std::vector<int64_t> EndOffsets(EventLog& log) {
  std::vector<int64_t> ends;
  for (int32_t p = 0; p < log.PartitionCount(); ++p) {
    Result<int64_t> end = log.EndOffset(p);
    EXPECT_TRUE(end.ok()) << end.status().ToString();
    ends.push_back(end.ok() ? *end : -1);
  }
  return ends;
}

}  // namespace

LogTargetParam EmbeddedTarget() {
  return {"Embedded", [] { return std::make_unique<EmbeddedLogTarget>(); }};
}

void EventLogConformanceTest::SetUp() {
  target_ = GetParam().make();
  Result<std::unique_ptr<EventLog>> log = target_->Open();
  ASSERT_TRUE(log.ok()) << log.status().ToString();
  log_ = std::move(log).value();
}

void EventLogConformanceTest::TearDown() {
  log_.reset();
  target_.reset();
}

void EventLogConformanceTest::Reopen() {
  log_.reset();
  Result<std::unique_ptr<EventLog>> log = target_->Open();
  ASSERT_TRUE(log.ok()) << log.status().ToString();
  log_ = std::move(log).value();
}

TEST_P(EventLogConformanceTest, ReportsPartitionCountAndStartsEmpty) {
  EXPECT_EQ(log_->PartitionCount(), kConformancePartitions);
  EXPECT_EQ(EndOffsets(*log_), std::vector<int64_t>(kConformancePartitions, 0));
  for (std::string_view tenant : {"shop-1", "shop-2", "acme.myshopify.com", ""}) {
    const int32_t p = log_->PartitionFor(tenant);
    EXPECT_GE(p, 0);
    EXPECT_LT(p, kConformancePartitions);
  }
}

TEST_P(EventLogConformanceTest, AppendAssignsConsecutiveOffsetsPerPartition) {
  std::map<int32_t, int64_t> next;
  for (int i = 0; i < 5; ++i) {
    for (std::string tenant : {"shop-a", "shop-b", "shop-c", "shop-d", "shop-e"}) {
      Result<LogPosition> pos = log_->Append(MakeFrame(tenant, std::to_string(i)));
      ASSERT_TRUE(pos.ok()) << pos.status().ToString();
      EXPECT_EQ(pos->partition, log_->PartitionFor(tenant));
      EXPECT_EQ(pos->offset, next[pos->partition]++) << tenant;
    }
  }
  for (int32_t p = 0; p < log_->PartitionCount(); ++p) {
    Result<int64_t> end = log_->EndOffset(p);
    ASSERT_TRUE(end.ok()) << end.status().ToString();
    EXPECT_EQ(*end, next[p]) << "partition " << p;
  }
}

TEST_P(EventLogConformanceTest, ReadBackGivesKeyValueTimestampAndHeaders) {
  const int64_t before_ms = NowMs();
  const std::string frame = MakeFrame("shop-read", "hello", EventType::kConversationStarted,
                                      "0b7a0a52-3b9e-4c1f-9d7e-0a1b2c3d4e5f");
  Result<LogPosition> pos = log_->Append(frame);
  ASSERT_TRUE(pos.ok()) << pos.status().ToString();
  const int64_t after_ms = NowMs();

  Result<std::vector<LogRecord>> records = ReadRecords(*log_, pos->partition, pos->offset, 1);
  ASSERT_TRUE(records.ok()) << records.status().ToString();
  ASSERT_EQ(records->size(), 1u);
  const LogRecord& record = records->front();
  EXPECT_EQ(record.partition, pos->partition);
  EXPECT_EQ(record.offset, pos->offset);
  EXPECT_EQ(record.key, "shop-read");
  EXPECT_EQ(record.value, frame);
  EXPECT_GE(record.timestamp_ms, before_ms - 1000);
  EXPECT_LE(record.timestamp_ms, after_ms + 1000);
  EXPECT_EQ(record.Header("palaver-event-type"), "conversation.started");
  EXPECT_EQ(record.Header("palaver-schema-version"), "1");
  EXPECT_EQ(record.Header("palaver-event-id"), "0b7a0a52-3b9e-4c1f-9d7e-0a1b2c3d4e5f");
  EXPECT_EQ(record.Header("content-type"), kEventContentType);
  EXPECT_EQ(record.Header("no-such-header"), "");
}

TEST_P(EventLogConformanceTest, KeepsPerTenantOrderAcrossInterleavedTenants) {
  constexpr int kTenants = 12;
  constexpr int kPerTenant = 8;
  for (int seq = 0; seq < kPerTenant; ++seq) {
    for (int t = 0; t < kTenants; ++t) {
      ASSERT_TRUE(log_->Append(MakeFrame("tenant-" + std::to_string(t), std::to_string(seq))).ok());
    }
  }
  Result<std::vector<LogRecord>> all = ReadAll(*log_);
  ASSERT_TRUE(all.ok()) << all.status().ToString();
  ASSERT_EQ(all->size(), size_t{kTenants * kPerTenant});
  std::map<std::string, int> next_seq;
  for (const LogRecord& record : *all) {
    EXPECT_EQ(record.partition, log_->PartitionFor(record.key));
    EXPECT_EQ(BodyOf(record), std::to_string(next_seq[record.key]++)) << record.key;
  }
  for (const auto& [tenant, count] : next_seq) EXPECT_EQ(count, kPerTenant) << tenant;
}

TEST_P(EventLogConformanceTest, AppendBatchReturnsPositionsInInputOrder) {
  std::vector<std::string> frames;
  for (int i = 0; i < 60; ++i) {
    frames.push_back(MakeFrame("batch-shop-" + std::to_string(i % 6), std::to_string(i)));
  }
  const std::vector<std::string> sent = frames;
  Result<std::vector<LogPosition>> positions = log_->AppendBatch(std::move(frames));
  ASSERT_TRUE(positions.ok()) << positions.status().ToString();
  ASSERT_EQ(positions->size(), sent.size());
  std::map<int32_t, int64_t> next;
  for (size_t i = 0; i < sent.size(); ++i) {
    const LogPosition& pos = (*positions)[i];
    EXPECT_EQ(pos.partition, log_->PartitionFor("batch-shop-" + std::to_string(i % 6)));
    EXPECT_EQ(pos.offset, next[pos.partition]++);
  }
  Result<std::vector<LogRecord>> all = ReadAll(*log_);
  ASSERT_TRUE(all.ok()) << all.status().ToString();
  std::map<std::pair<int32_t, int64_t>, std::string> by_position;
  for (LogRecord& r : *all) by_position[{r.partition, r.offset}] = std::move(r.value);
  for (size_t i = 0; i < sent.size(); ++i) {
    const LogPosition& pos = (*positions)[i];
    EXPECT_EQ(by_position[std::make_pair(pos.partition, pos.offset)], sent[i]) << "frame " << i;
  }
}

TEST_P(EventLogConformanceTest, EmptyBatchWritesNothing) {
  Result<std::vector<LogPosition>> positions = log_->AppendBatch({});
  ASSERT_TRUE(positions.ok()) << positions.status().ToString();
  EXPECT_TRUE(positions->empty());
  EXPECT_EQ(EndOffsets(*log_), std::vector<int64_t>(kConformancePartitions, 0));
}

TEST_P(EventLogConformanceTest, BatchWithOneBadFrameWritesNothing) {
  ASSERT_TRUE(log_->Append(MakeFrame("shop-x")).ok());
  const std::vector<int64_t> before = EndOffsets(*log_);
  std::vector<std::string> frames = {MakeFrame("shop-x"), MakeFrame("shop-y"),
                                     "definitely not a frame", MakeFrame("shop-z")};
  Result<std::vector<LogPosition>> positions = log_->AppendBatch(std::move(frames));
  ASSERT_FALSE(positions.ok());
  EXPECT_EQ(positions.status().code(), ErrorCode::kCorruption);
  EXPECT_THAT(positions.status().message(), HasSubstr("frame 2"));
  EXPECT_EQ(EndOffsets(*log_), before);
}

TEST_P(EventLogConformanceTest, RefusesOversizedFrameWithSizeAndLimit) {
  const std::string frame = MakeFrameOfSize("shop-big", kMaxEventBytes + 1);
  ASSERT_EQ(frame.size(), kMaxEventBytes + 1);
  Result<LogPosition> pos = log_->Append(frame);
  ASSERT_FALSE(pos.ok());
  EXPECT_EQ(pos.status().code(), ErrorCode::kTooLarge);
  EXPECT_THAT(pos.status().message(), HasSubstr("1048577 bytes; the limit is 1048576"));

  Result<std::vector<LogPosition>> batch = log_->AppendBatch({MakeFrame("shop-big"), frame});
  ASSERT_FALSE(batch.ok());
  EXPECT_EQ(batch.status().code(), ErrorCode::kTooLarge);
  EXPECT_EQ(EndOffsets(*log_), std::vector<int64_t>(kConformancePartitions, 0));
}

TEST_P(EventLogConformanceTest, RefusesUndecodableFramesWithTheDecoderError) {
  Result<LogPosition> garbage = log_->Append("this is not an event");
  ASSERT_FALSE(garbage.ok());
  EXPECT_EQ(garbage.status().code(), ErrorCode::kCorruption);
  EXPECT_THAT(garbage.status().message(), HasSubstr("PLV1"));

  Result<LogPosition> empty = log_->Append("");
  ASSERT_FALSE(empty.ok());
  EXPECT_EQ(empty.status().code(), ErrorCode::kCorruption);

  std::string truncated = MakeFrame("shop-t", "body");
  truncated.resize(12);
  Result<LogPosition> cut = log_->Append(truncated);
  ASSERT_FALSE(cut.ok());
  EXPECT_EQ(cut.status().code(), ErrorCode::kCorruption);

  Result<LogPosition> unknown = log_->Append(MakeFrame("shop-t", "", static_cast<EventType>(999)));
  ASSERT_FALSE(unknown.ok());
  EXPECT_EQ(unknown.status().code(), ErrorCode::kUnsupportedVersion);

  Result<LogPosition> no_tenant = log_->Append(MakeFrame(""));
  ASSERT_FALSE(no_tenant.ok());
  EXPECT_EQ(no_tenant.status().code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(no_tenant.status().field(), "envelope.tenant");

  EXPECT_EQ(EndOffsets(*log_), std::vector<int64_t>(kConformancePartitions, 0));
}

TEST_P(EventLogConformanceTest, StoresEmptyAndLargestPayloads) {
  const std::string empty_body = MakeFrame("shop-sizes", "");
  const std::string largest = MakeFrameOfSize("shop-sizes", kMaxEventBytes);
  ASSERT_EQ(largest.size(), kMaxEventBytes);
  Result<LogPosition> a = log_->Append(empty_body);
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  Result<LogPosition> b = log_->Append(largest);
  ASSERT_TRUE(b.ok()) << b.status().ToString();
  Result<std::vector<LogPosition>> c = log_->AppendBatch({largest, empty_body});
  ASSERT_TRUE(c.ok()) << c.status().ToString();

  Result<std::vector<LogRecord>> records = ReadRecords(*log_, a->partition, a->offset, 4);
  ASSERT_TRUE(records.ok()) << records.status().ToString();
  ASSERT_EQ(records->size(), 4u);
  EXPECT_EQ((*records)[0].value, empty_body);
  EXPECT_EQ(BodyOf((*records)[0]), "");
  EXPECT_TRUE((*records)[1].value == largest) << "largest frame differs after the round trip";
  EXPECT_TRUE((*records)[2].value == largest) << "largest frame differs in a batch";
  EXPECT_EQ((*records)[3].value, empty_body);
}

TEST_P(EventLogConformanceTest, ReopenedLogHasEveryRecordAndContinuesOffsets) {
  std::vector<std::string> sent;
  for (int i = 0; i < 30; ++i) {
    sent.push_back(MakeFrame("durable-" + std::to_string(i % 5), std::to_string(i)));
    ASSERT_TRUE(log_->Append(sent.back()).ok());
  }
  std::vector<std::string> batch;
  for (int i = 30; i < 50; ++i) {
    batch.push_back(MakeFrame("durable-" + std::to_string(i % 5), std::to_string(i)));
  }
  sent.insert(sent.end(), batch.begin(), batch.end());
  ASSERT_TRUE(log_->AppendBatch(std::move(batch)).ok());
  const std::vector<int64_t> ends = EndOffsets(*log_);

  ASSERT_NO_FATAL_FAILURE(Reopen());
  EXPECT_EQ(log_->PartitionCount(), kConformancePartitions);
  EXPECT_EQ(EndOffsets(*log_), ends);
  Result<std::vector<LogRecord>> all = ReadAll(*log_);
  ASSERT_TRUE(all.ok()) << all.status().ToString();
  std::multiset<std::string> read;
  for (const LogRecord& r : *all) read.insert(r.value);
  EXPECT_EQ(read, std::multiset<std::string>(sent.begin(), sent.end()));

  Result<LogPosition> more = log_->Append(MakeFrame("durable-0", "after reopen"));
  ASSERT_TRUE(more.ok()) << more.status().ToString();
  EXPECT_EQ(more->offset, ends[static_cast<size_t>(more->partition)]);
}

TEST_P(EventLogConformanceTest, ConcurrentAppendersKeepEveryRecordOnceInThreadOrder) {
  constexpr int kThreads = 4;
  const int per_thread = target_->AppendsPerThread();
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      int seq = 0;
      while (seq < per_thread) {
        // Odd threads append in small batches, even threads one by one; each
        // thread spreads over three tenants, so threads share partitions.
        if (t % 2 == 1 && seq + 5 <= per_thread) {
          std::vector<std::string> frames;
          for (int i = 0; i < 5; ++i, ++seq) {
            frames.push_back(MakeFrame("conc-" + std::to_string(t) + "-" + std::to_string(seq % 3),
                                       std::to_string(t) + ":" + std::to_string(seq)));
          }
          if (!log_->AppendBatch(std::move(frames)).ok()) ++failures;
        } else {
          if (!log_->Append(MakeFrame("conc-" + std::to_string(t) + "-" + std::to_string(seq % 3),
                                      std::to_string(t) + ":" + std::to_string(seq)))
                   .ok()) {
            ++failures;
          }
          ++seq;
        }
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  ASSERT_EQ(failures.load(), 0);

  Result<std::vector<LogRecord>> all = ReadAll(*log_);
  ASSERT_TRUE(all.ok()) << all.status().ToString();
  ASSERT_EQ(all->size(), static_cast<size_t>(kThreads * per_thread));
  std::set<std::string> seen;
  // Within one partition, a thread's records appear in the order it appended them.
  std::map<std::pair<int32_t, int>, int> last_seq;
  for (const LogRecord& record : *all) {
    const std::string body = BodyOf(record);
    EXPECT_TRUE(seen.insert(body).second) << "duplicate " << body;
    const int thread = std::stoi(body.substr(0, body.find(':')));
    const int seq = std::stoi(body.substr(body.find(':') + 1));
    auto [it, inserted] = last_seq.try_emplace({record.partition, thread}, seq);
    if (!inserted) {
      EXPECT_GT(seq, it->second) << "thread " << thread << " out of order in partition "
                                 << record.partition;
      it->second = seq;
    }
  }
  EXPECT_EQ(seen.size(), static_cast<size_t>(kThreads * per_thread));
}

TEST_P(EventLogConformanceTest, TailWakesSoonAfterAnAppend) {
  const std::string tenant = "tail-shop";
  const int32_t partition = log_->PartitionFor(tenant);
  // Warm the path (Kafka: connections, metadata) so the measurement is the wake-up.
  ASSERT_TRUE(log_->Append(MakeFrame(tenant, "warm-up")).ok());
  Result<std::unique_ptr<LogReader>> reader = log_->OpenReader(partition, 0);
  ASSERT_TRUE(reader.ok()) << reader.status().ToString();
  Result<std::vector<LogRecord>> warm = ReadRecords(*log_, partition, 0, 1);
  ASSERT_TRUE(warm.ok() && warm->size() == 1u);
  Result<std::vector<LogRecord>> first = (*reader)->Next(10, std::chrono::seconds(10));
  ASSERT_TRUE(first.ok() && first->size() == 1u);

  for (int round = 0; round < 3; ++round) {
    std::atomic<int64_t> woke_ns{0};
    Result<std::vector<LogRecord>> got = std::vector<LogRecord>{};
    std::thread tailer([&] {
      got = (*reader)->Next(10, std::chrono::seconds(5));
      woke_ns = Clock::now().time_since_epoch().count();
    });
    std::this_thread::sleep_for(std::chrono::milliseconds(150));
    EXPECT_EQ(woke_ns.load(), 0) << "Next returned before anything was appended";
    Result<LogPosition> pos = log_->Append(MakeFrame(tenant, "tail-" + std::to_string(round)));
    const int64_t appended_ns = Clock::now().time_since_epoch().count();
    tailer.join();
    ASSERT_TRUE(pos.ok()) << pos.status().ToString();
    ASSERT_TRUE(got.ok()) << got.status().ToString();
    ASSERT_EQ(got->size(), 1u);
    EXPECT_EQ(got->front().offset, pos->offset);
    const double delay_ms = static_cast<double>(woke_ns.load() - appended_ns) / 1e6;
    RecordProperty("tail_wake_ms_round_" + std::to_string(round), std::to_string(delay_ms));
    std::printf("tail woke %.3f ms after Append returned\n", delay_ms);
    EXPECT_LT(delay_ms, 200.0);
  }
}

TEST_P(EventLogConformanceTest, NextWithZeroWaitDoesNotBlock) {
  Result<std::unique_ptr<LogReader>> reader = log_->OpenReader(0, 0);
  ASSERT_TRUE(reader.ok()) << reader.status().ToString();
  auto start = Clock::now();
  Result<std::vector<LogRecord>> none = (*reader)->Next(10, std::chrono::milliseconds(0));
  ASSERT_TRUE(none.ok()) << none.status().ToString();
  EXPECT_TRUE(none->empty());
  EXPECT_LT(Clock::now() - start, std::chrono::milliseconds(100));

  start = Clock::now();
  none = (*reader)->Next(10, std::chrono::milliseconds(300));
  ASSERT_TRUE(none.ok()) << none.status().ToString();
  EXPECT_TRUE(none->empty());
  EXPECT_GE(Clock::now() - start, std::chrono::milliseconds(250));
  EXPECT_EQ((*reader)->Position(), 0);
}

TEST_P(EventLogConformanceTest, ReaderStartsAtOffsetAndSeeks) {
  const std::string tenant = "seek-shop";
  const int32_t partition = log_->PartitionFor(tenant);
  std::vector<std::string> frames;
  for (int i = 0; i < 10; ++i) frames.push_back(MakeFrame(tenant, std::to_string(i)));
  ASSERT_TRUE(log_->AppendBatch(frames).ok());

  Result<std::vector<LogRecord>> from_five = ReadRecords(*log_, partition, 5, 5);
  ASSERT_TRUE(from_five.ok()) << from_five.status().ToString();
  ASSERT_EQ(from_five->size(), 5u);
  EXPECT_EQ(from_five->front().offset, 5);
  EXPECT_EQ(from_five->front().value, frames[5]);

  Result<std::unique_ptr<LogReader>> reader = log_->OpenReader(partition, 0);
  ASSERT_TRUE(reader.ok());
  std::vector<LogRecord> got;
  while (got.size() < 4) {
    Result<std::vector<LogRecord>> batch = (*reader)->Next(4 - got.size(), std::chrono::seconds(5));
    ASSERT_TRUE(batch.ok() && !batch->empty());
    for (LogRecord& r : *batch) got.push_back(std::move(r));
  }
  EXPECT_EQ(got.back().offset, 3);
  EXPECT_EQ((*reader)->Position(), 4);

  (*reader)->Seek(8);
  EXPECT_EQ((*reader)->Position(), 8);
  Result<std::vector<LogRecord>> after = (*reader)->Next(10, std::chrono::seconds(5));
  ASSERT_TRUE(after.ok() && !after->empty());
  EXPECT_EQ(after->front().offset, 8);
  EXPECT_EQ(after->front().value, frames[8]);

  (*reader)->Seek(1);
  Result<std::vector<LogRecord>> back = (*reader)->Next(1, std::chrono::seconds(5));
  ASSERT_TRUE(back.ok() && back->size() == 1u);
  EXPECT_EQ(back->front().offset, 1);
  EXPECT_EQ(back->front().value, frames[1]);
  EXPECT_EQ((*reader)->Position(), 2);
}

TEST_P(EventLogConformanceTest, RejectsPartitionsOutOfRange) {
  for (int32_t partition : {-1, kConformancePartitions}) {
    Result<std::unique_ptr<LogReader>> reader = log_->OpenReader(partition, 0);
    ASSERT_FALSE(reader.ok());
    EXPECT_EQ(reader.status().code(), ErrorCode::kInvalidArgument);
    Result<int64_t> end = log_->EndOffset(partition);
    ASSERT_FALSE(end.ok());
    EXPECT_EQ(end.status().code(), ErrorCode::kInvalidArgument);
  }
}

}  // namespace palaver::testing
