// StorefrontIngestion: the palaver.storefront consumer as a start/stop
// component for `palaver serve` (one thread running StorefrontConsumer::Run).
//
// Start() opens the consumer (creating topics when missing) and starts its
// thread; Stop() (or the destructor) asks the loop to finish the record in
// hand when its result is already durable, joins the thread and leaves the
// consumer group. A fatal error of the loop ends the thread; it is logged
// (storefront.ingestion_failed) and kept in RunStatus().
//
// Thread safety: Stop(), Stats(), RunStatus() from any thread.
#pragma once

#include <memory>
#include <mutex>
#include <thread>

#include "connectors/storefront/deadletter.h"
#include "connectors/storefront/storefront_consumer.h"
#include "engine/domain/conversation_engine.h"
#include "schemas/status.h"

namespace palaver::inbound {

class StorefrontIngestion {
 public:
  // `engine` (and `deadletters`, when given) must outlive the component.
  // With `deadletters` null the consumer writes to its own Kafka writer on
  // options.deadletter_topic. Errors: those of StorefrontConsumer::Open.
  static Result<std::unique_ptr<StorefrontIngestion>> Start(
      domain::ConversationEngine& engine, storefront::StorefrontConsumerOptions options,
      storefront::DeadLetterWriter* deadletters = nullptr);

  ~StorefrontIngestion();  // Stop()
  StorefrontIngestion(const StorefrontIngestion&) = delete;
  StorefrontIngestion& operator=(const StorefrontIngestion&) = delete;

  // Stops the loop and joins its thread. Idempotent.
  void Stop();

  storefront::StorefrontConsumerStats Stats() const;

  // OK while running or after a clean stop; the loop's error otherwise.
  Status RunStatus() const;

 private:
  explicit StorefrontIngestion(std::unique_ptr<storefront::StorefrontConsumer> consumer);

  const std::unique_ptr<storefront::StorefrontConsumer> consumer_;
  mutable std::mutex mu_;
  Status run_status_;   // guarded by mu_
  std::mutex stop_mu_;  // serialises Stop()
  std::jthread thread_;
};

}  // namespace palaver::inbound
