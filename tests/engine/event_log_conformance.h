// The EventLog conformance suite. Every implementation runs these tests
// unchanged; a test binary instantiates the suite with the logs it covers:
//
//   INSTANTIATE_TEST_SUITE_P(Embedded, EventLogConformanceTest,
//                            ::testing::Values(EmbeddedTarget()), TargetName);
#pragma once

#include <functional>
#include <memory>
#include <string>

#include <gtest/gtest.h>

#include "engine/event_log.h"
#include "schemas/status.h"

namespace palaver::testing {

// One log under test. Open() may be called again once the previous log object
// is destroyed, and must then reopen the same log (same directory or topic).
class LogTarget {
 public:
  virtual ~LogTarget() = default;
  virtual Result<std::unique_ptr<EventLog>> Open() = 0;
  // Appends per thread in the concurrency test (Kafka appends wait for a round trip).
  virtual int AppendsPerThread() const { return 200; }
};

struct LogTargetParam {
  std::string name;
  std::function<std::unique_ptr<LogTarget>()> make;
};

inline std::string TargetName(const ::testing::TestParamInfo<LogTargetParam>& info) {
  return info.param.name;
}

// Partitions of every log the suite opens.
inline constexpr int32_t kConformancePartitions = 4;

class EventLogConformanceTest : public ::testing::TestWithParam<LogTargetParam> {
 protected:
  void SetUp() override;
  void TearDown() override;
  // Destroys the log and opens it again through the target.
  void Reopen();

  std::unique_ptr<LogTarget> target_;
  std::unique_ptr<EventLog> log_;
};

// Targets shared by the binaries.
LogTargetParam EmbeddedTarget();

}  // namespace palaver::testing
