// Raw bytes -> Beast's request parser with HttpServer's limits -> the HTTP
// API (connectors/api/api_service.h ApiService::Handle), in process, over a
// real embedded log, engine, projector and token store.
//
// So that the fuzzer gets past authentication, the placeholders $ADMIN,
// $AGENT and $SHOPPER in the input are replaced by a valid admin API token,
// agent token and shopper identity of the shop "acme" (the seeds use them).
//
// Invariants beyond "no crash, no leak, no UB":
//   - user input never gets a 5xx (503 only for the documented ?min_position
//     timeout and /readyz);
//   - a 4xx appends nothing to the log;
//   - every error is application/problem+json whose "status" is the HTTP
//     status and whose "code" is set.
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>

#include <boost/asio/buffer.hpp>
#include <boost/beast/http.hpp>
#include <nlohmann/json.hpp>
#include <stdlib.h>
#include <unistd.h>

#include "connectors/api/api_service.h"
#include "connectors/api/auth_store.h"
#include "engine/domain/conversation_engine.h"
#include "engine/event_log.h"
#include "engine/rules/clock.h"
#include "engine/rules/shopper_identity.h"
#include "projections/projector.h"
#include "projections/queries.h"
#include "tests/fuzz/fuzz_check.h"

namespace {

namespace beast = boost::beast;
namespace http = beast::http;
using namespace palaver;

struct Fixture {
  std::string dir;
  rules::SystemClock clock;
  std::unique_ptr<EventLog> log;
  std::unique_ptr<api::AuthStore> store;
  std::unique_ptr<domain::ConversationEngine> engine;
  std::unique_ptr<projections::Projector> projector;
  std::unique_ptr<api::ApiService> api;
  std::string admin_token, agent_token, shopper_identity;
};

// Lives for the whole fuzzing process (reachable, so not a leak).
Fixture* fixture = nullptr;

template <typename T>
T Must(Result<T> result, const char* what) {
  FUZZ_CHECK(result.ok(), "%s: %s", what, result.status().ToString().c_str());
  return std::move(*result);
}

int64_t LogSize() {
  int64_t total = 0;
  for (int32_t p = 0; p < fixture->log->PartitionCount(); ++p) {
    total += Must(fixture->log->EndOffset(p), "EndOffset");
  }
  return total;
}

void Replace(std::string& text, const std::string& from, const std::string& to) {
  for (size_t at = 0; (at = text.find(from, at)) != std::string::npos; at += to.size()) {
    text.replace(at, from.size(), to);
  }
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  fixture = new Fixture();  // NOLINT: deliberately never freed, see above
  char dir_template[] = "/tmp/palaver-api-fuzz-XXXXXX";
  FUZZ_CHECK(mkdtemp(dir_template) != nullptr, "mkdtemp failed");
  fixture->dir = dir_template;
  EventLogOptions log_options;
  log_options.embedded_dir = fixture->dir + "/log";
  log_options.sync_writes = false;
  log_options.partitions = 2;
  fixture->log = Must(OpenEventLog(log_options), "open log");
  fixture->store = Must(api::AuthStore::Open(fixture->dir + "/auth.json"), "open auth store");
  const std::string secret = Must(fixture->store->AddShop("acme"), "add shop").identity_secret;
  fixture->admin_token =
      Must(fixture->store->CreateToken("acme", api::Role::kAdmin, "ann"), "token").secret_text;
  fixture->agent_token =
      Must(fixture->store->CreateToken("acme", api::Role::kAgent, "bob"), "token").secret_text;
  domain::ConversationEngineOptions engine_options;
  api::AuthStore* store = fixture->store.get();
  engine_options.shop_secret = [store](std::string_view shop) { return store->ShopSecret(shop); };
  fixture->engine =
      std::make_unique<domain::ConversationEngine>(*fixture->log, fixture->clock, engine_options);
  projections::ProjectorOptions projector_options;
  projector_options.db_path = fixture->dir + "/views";
  projector_options.poll_wait = std::chrono::milliseconds(20);
  fixture->projector = Must(projections::Projector::Open(projector_options, *fixture->log,
                                                         projections::DefaultProjections()),
                            "open projector");
  fixture->projector->Start();
  api::ApiServiceOptions api_options;
  api_options.rate_limit.per_second = 0;  // no limit: the fuzzer calls as fast as it can
  api_options.max_consistency_wait = std::chrono::milliseconds(20);
  api_options.access_log = false;
  fixture->api =
      std::make_unique<api::ApiService>(*fixture->log, *fixture->engine, *fixture->projector,
                                        *fixture->store, fixture->clock, api_options);
  rules::ShopperIdentity identity;
  identity.shop = "acme";
  identity.customer_id = "cust-1";
  identity.email = "shopper@example.com";
  identity.name = "Fuzzy Shopper";
  identity.expires_at_unix_seconds = fixture->clock.NowMicros() / 1000000 + 24 * 3600;
  fixture->shopper_identity = rules::SignShopperIdentity(identity, secret);
  // The directory is removed when the process ends normally.
  atexit([] {
    std::error_code ignored;
    std::filesystem::remove_all(fixture->dir, ignored);
  });
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string input(reinterpret_cast<const char*>(data), size);
  Replace(input, "$ADMIN", fixture->admin_token);
  Replace(input, "$AGENT", fixture->agent_token);
  Replace(input, "$SHOPPER", fixture->shopper_identity);

  const HttpServerOptions limits;
  http::request_parser<http::string_body> parser;
  parser.body_limit(limits.max_body_bytes);
  parser.header_limit(static_cast<std::uint32_t>(limits.max_header_bytes));
  parser.eager(true);
  beast::error_code ec;
  parser.put(boost::asio::buffer(input), ec);
  if (!ec && !parser.is_done()) parser.put_eof(ec);
  if (ec || !parser.is_done()) return 0;  // the server answers 400/413 itself (http_server_fuzzer)
  HttpRequest request = parser.release();

  const int64_t before = LogSize();
  HttpResponse response = fixture->api->Handle(request);
  const int status = response.result_int();
  const std::string target(request.target());
  nlohmann::json body = nlohmann::json::parse(response.body(), nullptr, false);

  if (status >= 400) {
    FUZZ_CHECK(response[http::field::content_type] == "application/problem+json",
               "%d without problem+json for %s", status, target.c_str());
    FUZZ_CHECK(body.is_object() && body.value("status", 0) == status && body.contains("code") &&
                   body["code"].is_string(),
               "malformed problem for %s: %s", target.c_str(), response.body().c_str());
  }
  if (status >= 500) {
    const std::string code = body.is_object() ? body.value("code", "") : "";
    FUZZ_CHECK(status == 503 && (code == "timeout" || target.rfind("/readyz", 0) == 0),
               "user input got %d for %s %s:\n%s", status,
               std::string(request.method_string()).c_str(), target.c_str(),
               response.body().c_str());
  }
  if (status >= 400 && status < 500) {
    FUZZ_CHECK(LogSize() == before, "a %d for %s appended to the log", status, target.c_str());
  }
  return 0;
}
