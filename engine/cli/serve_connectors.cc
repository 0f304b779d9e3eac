#include "engine/cli/serve_connectors.h"

#include <filesystem>
#include <map>
#include <mutex>
#include <sstream>

#include <spdlog/spdlog.h>

#include "connectors/inbound/sms_webhook_handler.h"
#include "connectors/inbound/storefront_http_handler.h"
#include "connectors/inbound/storefront_ingestion.h"
#include "connectors/live/live_streams.h"
#include "connectors/outbound/email_connector.h"
#include "connectors/outbound/sms_connector.h"
#include "connectors/outbound/webhook_connector.h"
#include "connectors/storefront/deadletter.h"
#include "engine/metrics/metrics_http.h"
#include "projections/queries.h"

namespace palaver::cli {
namespace {

namespace http = boost::beast::http;

Status FlagError(const std::string& flag, const std::string& message) {
  return Status::Error(ErrorCode::kInvalidArgument, message, flag);
}

std::vector<std::string> Split(std::string_view text, char separator) {
  std::vector<std::string> parts;
  std::string part;
  std::istringstream in{std::string(text)};
  while (std::getline(in, part, separator)) {
    if (!part.empty()) parts.push_back(part);
  }
  return parts;
}

// "id=ID,url=URL,secret=SECRET,events=TYPE|TYPE[,shops=SHOP|SHOP]"
Result<WebhookEndpoint> ParseWebhook(const std::string& spec) {
  WebhookEndpoint endpoint;
  for (const std::string& entry : Split(spec, ',')) {
    auto equals = entry.find('=');
    if (equals == std::string::npos) {
      return FlagError("--webhook", "\"" + entry + "\" in \"" + spec + "\" is not NAME=VALUE");
    }
    const std::string name = entry.substr(0, equals);
    const std::string value = entry.substr(equals + 1);
    if (name == "id") {
      endpoint.id = value;
    } else if (name == "url") {
      endpoint.url = value;
    } else if (name == "secret") {
      endpoint.secret = value;
    } else if (name == "events") {
      for (const std::string& type_name : Split(value, '|')) {
        auto type = EventTypeFromName(type_name);
        if (!type) return FlagError("--webhook", "\"" + type_name + "\" is not an event type");
        endpoint.event_types.push_back(*type);
      }
    } else if (name == "shops") {
      endpoint.tenants = Split(value, '|');
    } else {
      return FlagError("--webhook", "unknown webhook setting \"" + name +
                                        "\"; use id, url, secret, events, shops");
    }
  }
  return endpoint;
}

}  // namespace

ServeMetrics::ServeMetrics() {
  auto families = metrics::PalaverMetrics::Register(registry_);
  // Registering fixed names in a fresh registry cannot collide.
  if (families.ok()) families_ = *families;
}

api::RequestObserver ServeMetrics::RequestObserver() {
  return [this](std::string_view route, http::verb method, unsigned status,
                std::chrono::nanoseconds took) {
    const std::string_view method_name = http::to_string(method);
    const std::string status_text = std::to_string(status);
    families_.http_requests->WithLabels({route, method_name, status_text}).Increment();
    families_.http_request_duration->WithLabels({route, method_name})
        .Observe(std::chrono::duration<double>(took).count());
  };
}

struct ServeConnectors::Impl {
  std::unique_ptr<live::LiveStreams> streams;
  std::unique_ptr<storefront::DeadLetterWriter> deadletters;
  std::unique_ptr<inbound::StorefrontHttpHandler> storefront_http;
  std::unique_ptr<inbound::SmsWebhookHandler> sms_webhook;
  std::unique_ptr<inbound::StorefrontIngestion> storefront_consumer;
  std::vector<std::pair<std::string, std::unique_ptr<OutboundConnector>>> outbound;
  std::unique_ptr<projections::Queries> queries;
  std::mutex metrics_mu;
  // What the collect hook already added to the counters: guarded by metrics_mu.
  storefront::StorefrontConsumerStats counted;
  uint64_t counted_slow_consumer_disconnects = 0;
  api::PageCache::Stats counted_inbox_cache;
};

void ServeConnectors::Flags::AddTo(CLI::App& app) {
  app.add_option("--public-url", public_url,
                 "Base URL the SMS provider calls palaver at (its webhook signature covers "
                 "the full URL), e.g. https://chat.example.com")
      ->envname("PALAVER_PUBLIC_URL");
  app.add_option("--sms-numbers", sms_numbers,
                 "Inbound SMS: provider numbers and their shops, NUMBER=SHOP,... "
                 "(POST /v1/sms/inbound is served when set)")
      ->envname("PALAVER_SMS_NUMBERS");
  app.add_option("--sms-auth-token", sms_auth_token,
                 "SMS provider auth token: verifies inbound webhooks, authenticates outbound "
                 "sends")
      ->envname("PALAVER_SMS_AUTH_TOKEN");
  app.add_option("--sms-provider-url", sms_provider_url,
                 "Outbound SMS: the provider's send endpoint (agent replies on SMS "
                 "conversations are POSTed there); empty = no outbound SMS")
      ->envname("PALAVER_SMS_PROVIDER_URL");
  app.add_option("--sms-account", sms_account,
                 "Outbound SMS: the provider account (basic-auth user)")
      ->envname("PALAVER_SMS_ACCOUNT");
  app.add_option("--sms-from", sms_from, "Outbound SMS: the sender number (E.164)")
      ->envname("PALAVER_SMS_FROM");
  app.add_option("--smtp", smtp,
                 "Email: the SMTP server HOST:PORT (replies to shoppers who left, transcripts, "
                 "new-ticket notices); empty = no email")
      ->envname("PALAVER_SMTP");
  app.add_option("--smtp-tls", smtp_tls, "Email: none, starttls or implicit")
      ->envname("PALAVER_SMTP_TLS")
      ->check(CLI::IsMember({"none", "starttls", "implicit"}))
      ->capture_default_str();
  app.add_option("--smtp-user", smtp_user, "Email: SMTP AUTH user (empty: no AUTH)")
      ->envname("PALAVER_SMTP_USER");
  app.add_option("--smtp-password", smtp_password, "Email: SMTP AUTH password")
      ->envname("PALAVER_SMTP_PASSWORD");
  app.add_option("--smtp-from", smtp_from, "Email: the From address, e.g. support@shop.example")
      ->envname("PALAVER_SMTP_FROM");
  app.add_option("--smtp-team", smtp_team,
                 "Email: team addresses for new-ticket notices, comma-separated")
      ->envname("PALAVER_SMTP_TEAM");
  app.add_option("--webhook", webhooks,
                 "A webhook endpoint (repeatable): "
                 "id=ID,url=URL,secret=SECRET,events=TYPE|TYPE[,shops=SHOP|SHOP], e.g. "
                 "id=helpdesk,url=https://desk.example/hook,secret=...,"
                 "events=handoff.requested|conversation.started");
  app.add_option("--storefront-topic", storefront_topic,
                 "Kafka log only: the topic of storefront events palaver consumes")
      ->envname("PALAVER_STOREFRONT_TOPIC")
      ->capture_default_str();
  app.add_option("--storefront-group", storefront_group,
                 "Kafka log only: the consumer group of the storefront consumer")
      ->envname("PALAVER_STOREFRONT_GROUP")
      ->capture_default_str();
  app.add_flag("--no-storefront-consumer", no_storefront_consumer,
               "Kafka log only: do not consume the storefront topic in this process");
}

Result<std::unique_ptr<ServeConnectors>> ServeConnectors::Start(
    const Flags& flags, const LogFlags& log_flags, EventLog& log,
    domain::ConversationEngine& engine, projections::Projector& projector, api::AuthStore& auth,
    const rules::Clock& clock, api::ApiService& api, ServeMetrics& metrics) {
  auto impl = std::make_unique<Impl>();
  Impl& parts = *impl;
  const std::filesystem::path data_dir(log_flags.data_dir);
  auto shop_secret = [&auth](std::string_view shop) { return auth.ShopSecret(shop); };

  // Live streams: agents with an API token of the shop, shoppers with an
  // identity of the shop for a conversation of their own.
  parts.queries = std::make_unique<projections::Queries>(projector, &projector);
  const api::Authenticator& authenticator = api.authenticator();
  projections::Queries& queries = *parts.queries;
  auto authorize = [&authenticator, &queries, &log](
                       const HttpRequest& request,
                       const live::StreamTarget& target) -> Result<live::StreamScope> {
    live::StreamScope scope;
    scope.tenant = target.shop;
    scope.viewer = target.viewer;
    if (target.viewer == live::Viewer::kAgent) {
      auto principal = authenticator.AuthenticateAgent(request, target.shop);
      if (!principal.ok()) return principal.status();
      return scope;
    }
    auto principal = authenticator.AuthenticateShopper(request, target.shop);
    if (!principal.ok()) return principal.status();
    // The conversation must be the shopper's: ask the history view, once it
    // has applied everything the log held when the stream was asked for.
    projections::Consistency consistency;
    const int32_t partition = log.PartitionFor(target.shop);
    auto end = log.EndOffset(partition);
    if (!end.ok()) return end.status();
    if (*end > 0) consistency.min_position = LogPosition{partition, *end - 1};
    projections::TimelineQuery query;
    query.shop = target.shop;
    query.conversation_id = target.conversation_id;
    query.viewer = projections::TimelineViewer::kShopper;
    query.shopper_customer_id = principal->customer_id;
    query.limit = 1;
    auto timeline = queries.Timeline(query, consistency);
    if (!timeline.ok()) return timeline.status();
    scope.conversation_id = target.conversation_id;
    scope.customer_id = principal->customer_id;
    return scope;
  };
  auto streams = live::LiveStreams::Create(log, authorize);
  if (!streams.ok()) return streams.status();
  parts.streams = std::move(*streams);

  // Storefront events over signed HTTP, dead letters to palaver.deadletter
  // (Kafka) or DATA_DIR/deadletter (embedded).
  auto deadletters = storefront::OpenDeadLetterWriter(log_flags.kafka_brokers, data_dir.string());
  if (!deadletters.ok()) return deadletters.status();
  parts.deadletters = std::move(*deadletters);
  inbound::StorefrontHttpOptions storefront_options;
  storefront_options.shop_secret = shop_secret;
  storefront_options.clock = &clock;
  parts.storefront_http = std::make_unique<inbound::StorefrontHttpHandler>(
      engine, *parts.deadletters, storefront_options);
  inbound::StorefrontHttpHandler& storefront_http = *parts.storefront_http;
  PALAVER_RETURN_IF_ERROR(api.AddRoute(
      {http::verb::post, std::string(inbound::StorefrontHttpHandler::kRoute), api::RouteAuth::kNone,
       [&storefront_http](const HttpRequest& request, const api::RouteContext&) {
         return storefront_http.Handle(request);
       }}));

  // The SMS provider's webhook.
  if (!flags.sms_numbers.empty()) {
    if (flags.sms_auth_token.empty()) {
      return FlagError("--sms-auth-token", "--sms-numbers needs the provider's auth token");
    }
    if (flags.public_url.empty()) {
      return FlagError("--public-url",
                       "--sms-numbers needs the URL the provider calls (its signature covers it)");
    }
    auto routes = inbound::SmsRoutesFromSpec(flags.sms_numbers, flags.sms_auth_token);
    if (!routes.ok()) return routes.status().WithContext("--sms-numbers");
    inbound::SmsWebhookOptions sms_options;
    sms_options.route = std::move(*routes);
    sms_options.public_base_url = flags.public_url;
    parts.sms_webhook = std::make_unique<inbound::SmsWebhookHandler>(engine, sms_options);
    inbound::SmsWebhookHandler& sms_webhook = *parts.sms_webhook;
    PALAVER_RETURN_IF_ERROR(
        api.AddRoute({http::verb::post, "/v1/sms/inbound", api::RouteAuth::kNone,
                      [&sms_webhook](const HttpRequest& request, const api::RouteContext&) {
                        return sms_webhook.Handle(request);
                      }}));
  }

  // GET /metrics.
  metrics::Registry& registry = metrics.registry();
  PALAVER_RETURN_IF_ERROR(
      api.AddRoute({http::verb::get, "/metrics", api::RouteAuth::kNone,
                    [&registry, &parts](const HttpRequest& request, const api::RouteContext&) {
                      HttpResponse response = metrics::MetricsResponse(registry, request);
                      if (response.result() == http::status::ok && !parts.outbound.empty()) {
                        std::vector<const OutboundConnector*> connectors;
                        for (const auto& [name, connector] : parts.outbound)
                          connectors.push_back(connector.get());
                        response.body() += OutboundMetricsText(connectors);
                        response.prepare_payload();
                      }
                      return response;
                    }}));

  // The palaver.storefront consumer, when the log is Kafka.
  if (!log_flags.kafka_brokers.empty() && !flags.no_storefront_consumer) {
    storefront::StorefrontConsumerOptions consumer_options;
    consumer_options.kafka_brokers = log_flags.kafka_brokers;
    consumer_options.source_topic = flags.storefront_topic;
    consumer_options.group_id = flags.storefront_group;
    consumer_options.partitions = log_flags.partitions;
    auto consumer =
        inbound::StorefrontIngestion::Start(engine, consumer_options, parts.deadletters.get());
    if (!consumer.ok()) return consumer.status().WithContext("storefront consumer");
    parts.storefront_consumer = std::move(*consumer);
    spdlog::info("storefront: consuming {} as group {}", flags.storefront_topic,
                 flags.storefront_group);
  }

  // Outbound connectors, each with its own positions under DATA_DIR/outbound.
  auto follow = [&data_dir](const std::string& name) {
    FollowOptions options;
    options.state_dir = (data_dir / "outbound" / name).string();
    return options;
  };
  if (!flags.webhooks.empty()) {
    WebhookOptions options;
    for (const std::string& spec : flags.webhooks) {
      auto endpoint = ParseWebhook(spec);
      if (!endpoint.ok()) return endpoint.status();
      options.endpoints.push_back(std::move(*endpoint));
    }
    options.follow = follow("webhooks");
    auto connector = NewWebhookConnector(log, options);
    if (!connector.ok()) return connector.status().WithContext("--webhook");
    parts.outbound.emplace_back("webhooks", std::move(*connector));
  }
  if (!flags.smtp.empty()) {
    auto server = ParseHostPort(flags.smtp, "--smtp");
    if (!server.ok()) return server.status();
    if (server->second == 0) return FlagError("--smtp", "the SMTP server's port cannot be 0");
    EmailOptions options;
    options.server.host = server->first;
    options.server.port = server->second;
    options.server.tls = flags.smtp_tls == "starttls"   ? SmtpServer::Tls::kStartTls
                         : flags.smtp_tls == "implicit" ? SmtpServer::Tls::kImplicit
                                                        : SmtpServer::Tls::kNone;
    options.server.username = flags.smtp_user;
    options.server.password = flags.smtp_password;
    options.from_address = flags.smtp_from;
    options.team_addresses = Split(flags.smtp_team, ',');
    options.follow = follow("email");
    auto connector = NewEmailConnector(log, options);
    if (!connector.ok()) return connector.status().WithContext("--smtp");
    parts.outbound.emplace_back("email", std::move(*connector));
  }
  if (!flags.sms_provider_url.empty()) {
    SmsOptions options;
    options.provider_url = flags.sms_provider_url;
    options.account = flags.sms_account;
    options.auth_token = flags.sms_auth_token;
    options.from_number = flags.sms_from;
    options.follow = follow("sms");
    auto connector = NewSmsConnector(log, options);
    if (!connector.ok()) return connector.status().WithContext("--sms-provider-url");
    parts.outbound.emplace_back("sms", std::move(*connector));
  }
  for (auto& [name, connector] : parts.outbound) {
    Status started = connector->Start();
    if (!started.ok()) return started.WithContext("outbound " + name);
    spdlog::info("outbound: {} started", name);
  }

  // Gauges and counters read on each scrape.
  const metrics::PalaverMetrics& families = metrics.families();
  registry.AddCollectHook([&parts, &families, &log, &projector, &api] {
    const std::vector<std::string> projections = projector.ProjectionNames();
    for (int32_t p = 0; p < log.PartitionCount(); ++p) {
      auto end = log.EndOffset(p);
      if (!end.ok()) continue;
      for (const std::string& projection : projections) {
        const int64_t lag = *end - (projector.AppliedOffset(p, projection) + 1);
        families.projection_lag->WithLabels({projection, std::to_string(p)})
            .Set(static_cast<double>(lag < 0 ? 0 : lag));
      }
    }
    const live::LiveStats live = parts.streams->Stats();
    for (auto transport : {live::StreamTransport::kWebSocket, live::StreamTransport::kSse}) {
      for (auto viewer : {live::Viewer::kAgent, live::Viewer::kShopper}) {
        families.stream_connections
            ->WithLabels({transport == live::StreamTransport::kWebSocket ? "websocket" : "sse",
                          viewer == live::Viewer::kAgent ? "agent" : "shopper"})
            .Set(static_cast<double>(
                live.open_by_kind[static_cast<int>(transport)][static_cast<int>(viewer)]));
      }
    }
    std::lock_guard lock(parts.metrics_mu);
    // Adds to a counter what a running total grew by since the last scrape.
    auto count = [](metrics::CounterFamily* family, std::string_view label, auto value,
                    auto& seen) {
      if (value > seen) family->WithLabels({label}).Increment(static_cast<uint64_t>(value - seen));
      seen = std::max(seen, value);
    };
    count(families.stream_disconnects, "slow_consumer", live.slow_consumer_disconnects,
          parts.counted_slow_consumer_disconnects);
    if (parts.storefront_consumer) {
      const storefront::StorefrontConsumerStats now = parts.storefront_consumer->Stats();
      count(families.storefront_records, "applied", now.events, parts.counted.events);
      count(families.storefront_records, "duplicate", now.replayed, parts.counted.replayed);
      count(families.storefront_records, "dead_lettered", now.dead_letters,
            parts.counted.dead_letters);
    }
    const api::PageCache::Stats cache = api.InboxCacheStats();
    count(families.inbox_cache_lookups, "hit", cache.hits, parts.counted_inbox_cache.hits);
    count(families.inbox_cache_lookups, "miss", cache.misses, parts.counted_inbox_cache.misses);
    families.inbox_cache_bytes->WithLabels({}).Set(static_cast<double>(cache.bytes));
  });
  return std::unique_ptr<ServeConnectors>(new ServeConnectors(std::move(impl)));
}

ServeConnectors::ServeConnectors(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

ServeConnectors::~ServeConnectors() { Stop(); }

HttpStreamRoute ServeConnectors::StreamRoute() { return impl_->streams->Route(); }

void ServeConnectors::Stop() {
  if (impl_->storefront_consumer) impl_->storefront_consumer->Stop();
  for (auto& [name, connector] : impl_->outbound) connector->Stop();
}

}  // namespace palaver::cli
