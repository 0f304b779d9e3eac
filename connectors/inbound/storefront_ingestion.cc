#include "connectors/inbound/storefront_ingestion.h"

#include <utility>

#include <spdlog/spdlog.h>

namespace palaver::inbound {

Result<std::unique_ptr<StorefrontIngestion>> StorefrontIngestion::Start(
    domain::ConversationEngine& engine, storefront::StorefrontConsumerOptions options,
    storefront::DeadLetterWriter* deadletters) {
  Result<std::unique_ptr<storefront::StorefrontConsumer>> consumer =
      deadletters != nullptr
          ? storefront::StorefrontConsumer::Open(engine, std::move(options), *deadletters)
          : storefront::StorefrontConsumer::Open(engine, std::move(options));
  if (!consumer.ok()) return consumer.status();
  return std::unique_ptr<StorefrontIngestion>(new StorefrontIngestion(std::move(consumer).value()));
}

StorefrontIngestion::StorefrontIngestion(std::unique_ptr<storefront::StorefrontConsumer> consumer)
    : consumer_(std::move(consumer)) {
  thread_ = std::jthread([this](std::stop_token stop) {
    Status status = consumer_->Run(stop);
    if (!status.ok()) spdlog::error("storefront.ingestion_failed error=\"{}\"", status.ToString());
    std::lock_guard lock(mu_);
    run_status_ = std::move(status);
  });
  spdlog::info("storefront.ingestion_started");
}

StorefrontIngestion::~StorefrontIngestion() { Stop(); }

void StorefrontIngestion::Stop() {
  std::lock_guard lock(stop_mu_);
  if (!thread_.joinable()) return;
  thread_.request_stop();
  consumer_->Stop();
  thread_.join();
  spdlog::info("storefront.ingestion_stopped");
}

storefront::StorefrontConsumerStats StorefrontIngestion::Stats() const {
  return consumer_->Stats();
}

Status StorefrontIngestion::RunStatus() const {
  std::lock_guard lock(mu_);
  return run_status_;
}

}  // namespace palaver::inbound
