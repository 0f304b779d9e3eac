#include "tests/engine/event_log_test_util.h"

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <random>

#include <gtest/gtest.h>

namespace palaver::testing {
namespace {

uint64_t RandomU64() {
  thread_local std::mt19937_64 engine{std::random_device{}() ^
                                      (uint64_t{std::random_device{}()} << 32)};
  return engine();
}

}  // namespace

std::string NewEventId() {
  const uint64_t hi = RandomU64();
  const uint64_t lo = RandomU64();
  char buffer[37];
  std::snprintf(buffer, sizeof(buffer), "%08x-%04x-4%03x-a%03x-%012llx",
                static_cast<unsigned>(hi >> 32), static_cast<unsigned>((hi >> 16) & 0xffff),
                static_cast<unsigned>(hi & 0xfff), static_cast<unsigned>((lo >> 48) & 0xfff),
                static_cast<unsigned long long>(lo & 0xffffffffffffULL));
  return buffer;
}

std::string MakeFrame(std::string_view tenant, std::string_view body, EventType type,
                      std::string event_id) {
  Frame frame;
  frame.envelope.event_id = event_id.empty() ? NewEventId() : std::move(event_id);
  frame.envelope.type = type;
  frame.envelope.schema_version = 1;
  frame.envelope.tenant = std::string(tenant);
  frame.envelope.conversation_id = "conv-1";
  frame.envelope.actor_kind = ActorKind::kShopper;
  frame.envelope.actor_id = "customer-1";
  frame.envelope.occurred_at_us = 1'700'000'000'000'000;
  frame.envelope.recorded_at_us = 1'700'000'000'000'001;
  frame.body = std::string(body);
  return EncodeFrame(frame);
}

std::string MakeFrameOfSize(std::string_view tenant, size_t size) {
  const std::string id = NewEventId();
  const size_t overhead = MakeFrame(tenant, "", EventType::kMessagePosted, id).size();
  if (size < overhead) {
    ADD_FAILURE() << "a frame cannot be smaller than " << overhead << " bytes";
    return MakeFrame(tenant, "", EventType::kMessagePosted, id);
  }
  std::string body(size - overhead, 'x');
  return MakeFrame(tenant, body, EventType::kMessagePosted, id);
}

Envelope EnvelopeOf(const LogRecord& record) {
  Result<Envelope> envelope = DecodeEnvelope(record.value);
  EXPECT_TRUE(envelope.ok()) << envelope.status().ToString();
  return envelope.ok() ? *envelope : Envelope{};
}

std::string BodyOf(const LogRecord& record) {
  Result<FrameView> frame = DecodeFrame(record.value);
  EXPECT_TRUE(frame.ok()) << frame.status().ToString();
  return frame.ok() ? std::string(frame->body) : std::string();
}

Result<std::vector<LogRecord>> ReadRecords(EventLog& log, int32_t partition, int64_t from,
                                           size_t count, std::chrono::milliseconds timeout) {
  Result<std::unique_ptr<LogReader>> reader = log.OpenReader(partition, from);
  if (!reader.ok()) return reader.status();
  std::vector<LogRecord> records;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (records.size() < count && std::chrono::steady_clock::now() < deadline) {
    Result<std::vector<LogRecord>> batch =
        (*reader)->Next(count - records.size(), std::chrono::milliseconds(200));
    if (!batch.ok()) return batch.status();
    for (LogRecord& record : *batch) records.push_back(std::move(record));
  }
  return records;
}

Result<std::vector<LogRecord>> ReadAll(EventLog& log) {
  std::vector<LogRecord> all;
  for (int32_t p = 0; p < log.PartitionCount(); ++p) {
    Result<int64_t> end = log.EndOffset(p);
    if (!end.ok()) return end.status();
    Result<std::vector<LogRecord>> records = ReadRecords(log, p, 0, static_cast<size_t>(*end));
    if (!records.ok()) return records.status();
    if (records->size() != static_cast<size_t>(*end)) {
      return Status::Error(ErrorCode::kTimeout, "partition " + std::to_string(p) + ": read " +
                                                    std::to_string(records->size()) + " of " +
                                                    std::to_string(*end) + " records");
    }
    for (LogRecord& record : *records) all.push_back(std::move(record));
  }
  return all;
}

std::string UniqueTopic() {
  char buffer[32];
  std::snprintf(buffer, sizeof(buffer), "palaver.test.%016llx",
                static_cast<unsigned long long>(RandomU64()));
  return buffer;
}

TempDir::TempDir() {
  std::string pattern =
      (std::filesystem::temp_directory_path() / "palaver-log-test-XXXXXX").string();
  if (mkdtemp(pattern.data()) == nullptr) ADD_FAILURE() << "mkdtemp failed for " << pattern;
  path_ = pattern;
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

}  // namespace palaver::testing
