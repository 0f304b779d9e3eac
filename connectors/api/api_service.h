// ApiService: palaver's HTTP/JSON API (paths under /v1), as one pure function
// from an HTTP request to an HTTP response.
//
//   ApiService api(log, engine, projector, auth_store, clock, options);
//   auto server = HttpServer::Start(http_options, api.AsHandler());
//
// What it serves (the full list, with bodies and answers, is the OpenAPI
// document schemas/openapi.json, served at GET /openapi.json):
//   - agent routes  /v1/shops/{shop}/...          Authorization: Bearer <API token>
//   - shopper routes /v1/shops/{shop}/shopper/... X-Palaver-Identity: <identity token>
//   - GET /healthz (the process is up), GET /readyz (200 once the projections
//     have applied every record that was in the log when the service was
//     made, 503 before and while draining), GET /openapi.json.
//
// Commands answer {"command", "conversation_id", "created_id", "partition",
// "position", "replayed", "events"}: "position" is the log offset of the last
// event appended (for a command that appended nothing, the partition's last
// offset), to pass as ?min_position= to a query that must see the command's
// effect. An Idempotency-Key header becomes the command's idempotency key.
//
// Errors are application/problem+json:
//   {"type": "https://palaver.dev/problems/<code>", "title", "status", "code",
//    "detail", "field"}
// where "code" is the engine's stable reason (engine/domain/README.md) or, for
// errors of the HTTP layer, one of: unauthenticated (401), not_found (404; also
// anything of a shop that is not the caller's), method_not_allowed (405),
// admin_required (403), rate_limited (429, with Retry-After), the body
// reasons of connectors/api/body_decoders.h, invalid_parameter /
// unknown_parameter (400, "field" names the query parameter or path segment),
// timeout (503: ?min_position was not reached in time), internal (500: a bug;
// never caused by input).
//
// Thread safety: Handle may be called from any thread concurrently. AddRoute
// must be called before the first Handle (it is not synchronised with it).
// The log, engine, projector, auth store and clock must outlive the service.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/beast/http/verb.hpp>

#include "connectors/api/auth_store.h"
#include "connectors/api/page_cache.h"
#include "connectors/api/rate_limiter.h"
#include "connectors/http_server.h"
#include "engine/domain/conversation_engine.h"
#include "engine/event_log.h"
#include "engine/rules/clock.h"
#include "engine/rules/shopper_identity.h"
#include "projections/projector.h"
#include "schemas/status.h"

namespace palaver::api {

// Who a request comes from, once authenticated.
struct Principal {
  enum class Kind { kAgent, kShopper };
  Kind kind = Kind::kAgent;
  std::string shop;
  // kAgent: from the API token.
  Role role = Role::kAgent;
  std::string agent_id;
  std::string token_id;
  // kShopper: from the verified identity token.
  std::string customer_id;
  rules::ShopperIdentity identity;
  std::string identity_token;

  // The key of this principal's rate-limit bucket: the token id, or the shop
  // and customer id of a shopper.
  std::string RateKey() const;
  // What the access log shows: the token id, or "shopper" (no personal data).
  std::string LogName() const;
};

// Turns request headers into a Principal. Errors (Status::reason()):
//   "unauthenticated" (kPermissionDenied; HTTP 401): no credentials, a token
//     that is unknown or revoked, an identity token that is malformed, forged,
//     expired or for another shop;
//   "not_found" (kNotFound; HTTP 404): an agent token of ANOTHER shop, or a
//     shop that does not exist - the same answer, so nothing leaks.
// Thread-safe; the store and clock must outlive it.
class Authenticator {
 public:
  Authenticator(AuthStore& store, const rules::Clock& clock) : store_(store), clock_(clock) {}

  // Authorization: Bearer <token>, for `shop`.
  Result<Principal> AuthenticateAgent(const HttpRequest& request, std::string_view shop) const;
  // X-Palaver-Identity: <token>, verified with `shop`'s identity secret.
  Result<Principal> AuthenticateShopper(const HttpRequest& request, std::string_view shop) const;

 private:
  AuthStore& store_;
  const rules::Clock& clock_;
};

// Who may call a route.
enum class RouteAuth {
  kNone,     // anyone (the handler authenticates, if it wants to)
  kAgent,    // an API token of the path's {shop}, any role
  kAdmin,    // an API token of the path's {shop} with role admin
  kShopper,  // a shopper identity for the path's {shop}
};

// What a route handler gets besides the request.
struct RouteContext {
  std::string route;                          // the pattern, e.g. "/v1/shops/{shop}/inbox"
  RouteAuth auth = RouteAuth::kNone;          // who the route lets in
  std::map<std::string, std::string> params;  // path parameters, percent-decoded and checked
  std::optional<Principal> principal;         // set unless RouteAuth::kNone
};

using RouteHandler = std::function<HttpResponse(const HttpRequest&, const RouteContext&)>;

// A route: method + path pattern. A pattern is "/"-separated literal
// segments and "{name}" parameters; a parameter matches one non-empty
// segment, percent-decoded, refused (404) when it is not valid UTF-8, holds a
// control character, "/" or "\\", is "." or "..", or is longer than 256
// bytes. A {shop} parameter must also satisfy IsValidShopId.
struct Route {
  boost::beast::http::verb method = boost::beast::http::verb::get;
  std::string pattern;
  RouteAuth auth = RouteAuth::kAgent;
  RouteHandler handler;
  // The handler only reads committed views and never blocks unless the
  // request asks ?min_position=: such GETs may run on an HTTP I/O thread
  // (see ApiService::InlineFilter).
  bool quick_read = false;
};

// Called once per answered request (e.g. to count it in /metrics): the route
// pattern ("unmatched" when no route took the request), the method, the
// status and the time taken. Called on a server thread; must be thread-safe.
using RequestObserver = std::function<void(std::string_view route, boost::beast::http::verb method,
                                           unsigned status, std::chrono::nanoseconds took)>;

struct ApiServiceOptions {
  RateLimitOptions rate_limit;  // per API token and per shopper
  // The longest a query waits for ?min_position (more is clamped to this).
  std::chrono::milliseconds max_consistency_wait{5000};
  // Rendered inbox pages kept for repeated identical requests (page_cache.h);
  // 0 = none.
  size_t inbox_cache_bytes = 16u << 20;
  std::string log_kind = "embedded";  // shown by /healthz
  bool access_log = true;             // one spdlog line per request
  RequestObserver on_answered;        // may be empty
};

class ApiService {
 public:
  ApiService(EventLog& log, domain::ConversationEngine& engine, projections::Projector& projector,
             AuthStore& auth, const rules::Clock& clock, ApiServiceOptions options = {});
  ~ApiService();
  ApiService(const ApiService&) = delete;
  ApiService& operator=(const ApiService&) = delete;

  // Answers one request. Never throws; any input gets a response (4xx for bad
  // input, never 500).
  HttpResponse Handle(const HttpRequest& request);

  // A handler for HttpServer that calls Handle.
  HttpHandler AsHandler();

  // For HttpServerOptions::run_inline: true for a GET of a quick_read route
  // (the projection queries) whose query string cannot ask ?min_position=
  // (nothing percent-encoded), so answering it never waits.
  bool RunsInline(const HttpRequest& request) const;
  HttpInlineFilter InlineFilter() const;

  // Mounts an extra route (e.g. storefront ingestion, SMS webhooks). Errors:
  // kAlreadyExists when the method and pattern are taken, kInvalidArgument
  // for a malformed pattern. Call before serving.
  Status AddRoute(Route route);

  // (method, pattern) of every route, built-in and added, in match order.
  std::vector<std::pair<boost::beast::http::verb, std::string>> Routes() const;

  const Authenticator& authenticator() const { return authenticator_; }

  // Lookups of the inbox page cache so far, and its size (for /metrics).
  PageCache::Stats InboxCacheStats() const;

  // True once the projections have caught up with the log end seen at
  // construction (and not draining).
  bool Ready();
  // Marks the service as shutting down: /readyz answers 503 from now on.
  void StartDraining() { draining_ = true; }

  struct Impl;  // private

 private:
  EventLog& log_;
  Authenticator authenticator_;
  std::unique_ptr<Impl> impl_;
  std::atomic<bool> draining_{false};
};

// The OpenAPI 3 document (schemas/openapi.json, compiled in).
std::string_view OpenApiDocument();

}  // namespace palaver::api
