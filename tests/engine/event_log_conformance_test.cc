// The EventLog conformance suite on the logs that need no broker: the
// embedded log and a librdkafka mock cluster.
#include "tests/engine/event_log_conformance.h"

#include "tests/engine/kafka_mock_cluster.h"

namespace palaver::testing {

INSTANTIATE_TEST_SUITE_P(Logs, EventLogConformanceTest,
                         ::testing::Values(EmbeddedTarget(), MockKafkaTarget()), TargetName);

}  // namespace palaver::testing
