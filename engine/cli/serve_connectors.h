// What `palaver serve` runs around the HTTP/JSON API: live streams, the
// inbound connectors (signed storefront HTTP, the SMS provider webhook, the
// palaver.storefront consumer when the log is Kafka), the outbound connectors
// (webhooks, email over SMTP, outbound SMS) when configured, and /metrics.
//
//   ServeMetrics metrics;                      // first: the API counts into it
//   api_options.on_answered = metrics.RequestObserver();
//   ApiService api(...);
//   auto parts = ServeConnectors::Start(flags, log_flags, log, engine, projector, auth, clock,
//                                       api, metrics);
//   HttpServer::Start(http_options, api.AsHandler(), (*parts)->StreamRoute());
//   ... (*parts)->Stop() after the HTTP server stopped.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "connectors/api/api_service.h"
#include "connectors/api/auth_store.h"
#include "connectors/http_server.h"
#include "engine/cli/cli_common.h"
#include "engine/domain/conversation_engine.h"
#include "engine/metrics/metrics.h"
#include "engine/metrics/palaver_metrics.h"
#include "engine/rules/clock.h"
#include "projections/projector.h"

namespace palaver::cli {

// The process's metrics registry with palaver's metric families
// (engine/metrics/README.md).
class ServeMetrics {
 public:
  ServeMetrics();
  metrics::Registry& registry() { return registry_; }
  const metrics::PalaverMetrics& families() const { return families_; }
  // Counts one answered request: for ApiServiceOptions::on_answered.
  api::RequestObserver RequestObserver();

 private:
  metrics::Registry registry_;
  metrics::PalaverMetrics families_;
};

class ServeConnectors {
 public:
  struct Flags {
    // Inbound SMS (POST /v1/sms/inbound).
    std::string public_url;   // how the SMS provider reaches palaver, e.g. https://chat.example.com
    std::string sms_numbers;  // "NUMBER=SHOP,..."
    std::string sms_auth_token;
    // Outbound SMS.
    std::string sms_provider_url;
    std::string sms_account;
    std::string sms_from;
    // Email.
    std::string smtp;  // HOST:PORT; empty = no email
    std::string smtp_tls = "none";
    std::string smtp_user;
    std::string smtp_password;
    std::string smtp_from;
    std::string smtp_team;  // comma-separated addresses for new-ticket notices
    // Webhooks: "id=ID,url=URL,secret=SECRET,events=TYPE|TYPE[,shops=SHOP|SHOP]".
    std::vector<std::string> webhooks;
    // The palaver.storefront consumer (Kafka log only).
    std::string storefront_topic = "palaver.storefront";
    std::string storefront_group = "palaver-storefront";
    bool no_storefront_consumer = false;

    void AddTo(CLI::App& app);
  };

  // Builds and starts every configured part and mounts the inbound routes and
  // GET /metrics on `api` (call before serving). Errors name the flag at fault.
  // Everything passed in must outlive the result.
  static Result<std::unique_ptr<ServeConnectors>> Start(
      const Flags& flags, const LogFlags& log_flags, EventLog& log,
      domain::ConversationEngine& engine, projections::Projector& projector, api::AuthStore& auth,
      const rules::Clock& clock, api::ApiService& api, ServeMetrics& metrics);

  ~ServeConnectors();  // Stop()
  ServeConnectors(const ServeConnectors&) = delete;
  ServeConnectors& operator=(const ServeConnectors&) = delete;

  // The live streams' route for HttpServer::Start.
  HttpStreamRoute StreamRoute();

  // Stops the consumers and connectors. Idempotent. Call after the HTTP
  // server has stopped.
  void Stop();

  struct Impl;

 private:
  explicit ServeConnectors(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace palaver::cli
