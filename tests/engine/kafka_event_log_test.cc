// The EventLog conformance suite on a real Kafka broker named by
// PALAVER_KAFKA_BROKERS. Without a reachable broker every test fails: a
// suite that silently skips would report Kafka support it never checked.
#include <cstdlib>

#include "tests/engine/event_log_conformance.h"
#include "tests/engine/event_log_test_util.h"

namespace palaver::testing {
namespace {

constexpr std::string_view kHowToRun =
    "set PALAVER_KAFKA_BROKERS (host:port) or run ./test.sh, which starts a broker";

class RealKafkaLogTarget : public LogTarget {
 public:
  Result<std::unique_ptr<EventLog>> Open() override {
    const char* brokers = std::getenv("PALAVER_KAFKA_BROKERS");
    if (brokers == nullptr || *brokers == '\0') {
      return Status::Error(ErrorCode::kUnavailable,
                           "PALAVER_KAFKA_BROKERS is not set; " + std::string(kHowToRun));
    }
    EventLogOptions options;
    options.kind = EventLogOptions::Kind::kKafka;
    options.kafka_brokers = brokers;
    options.topic = topic_;
    options.partitions = kConformancePartitions;
    options.replication_factor = 1;
    options.kafka_timeout = std::chrono::seconds(20);
    Result<std::unique_ptr<EventLog>> log = OpenEventLog(options);
    if (!log.ok()) return log.status().WithContext(std::string(kHowToRun));
    return log;
  }
  int AppendsPerThread() const override { return 100; }

 private:
  const std::string topic_ = UniqueTopic();
};

}  // namespace

INSTANTIATE_TEST_SUITE_P(Logs, EventLogConformanceTest,
                         ::testing::Values(LogTargetParam{
                             "RealKafka", [] { return std::make_unique<RealKafkaLogTarget>(); }}),
                         TargetName);

}  // namespace palaver::testing
