#include "engine/observed_event_log.h"

#include <chrono>
#include <utility>

namespace palaver {
namespace {

class ObservedEventLog final : public EventLog {
 public:
  ObservedEventLog(std::unique_ptr<EventLog> inner, AppendObserver observe)
      : inner_(std::move(inner)), observe_(std::move(observe)) {}

  Result<LogPosition> Append(std::string frame) override {
    const Timer timer(*this);
    return inner_->Append(std::move(frame));
  }
  Result<std::vector<LogPosition>> AppendBatch(std::vector<std::string> frames) override {
    const Timer timer(*this);
    return inner_->AppendBatch(std::move(frames));
  }
  Result<std::unique_ptr<LogReader>> OpenReader(int32_t partition, int64_t from_offset) override {
    return inner_->OpenReader(partition, from_offset);
  }
  Result<int64_t> EndOffset(int32_t partition) override { return inner_->EndOffset(partition); }
  int32_t PartitionCount() const override { return inner_->PartitionCount(); }

 private:
  // Reports the time from its construction to its destruction.
  class Timer {
   public:
    explicit Timer(const ObservedEventLog& log)
        : log_(log), start_(std::chrono::steady_clock::now()) {}
    ~Timer() {
      log_.observe_(
          std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count());
    }
    Timer(const Timer&) = delete;
    Timer& operator=(const Timer&) = delete;

   private:
    const ObservedEventLog& log_;
    const std::chrono::steady_clock::time_point start_;
  };

  const std::unique_ptr<EventLog> inner_;
  const AppendObserver observe_;
};

}  // namespace

std::unique_ptr<EventLog> ObserveAppends(std::unique_ptr<EventLog> inner, AppendObserver observe) {
  return std::make_unique<ObservedEventLog>(std::move(inner), std::move(observe));
}

}  // namespace palaver
