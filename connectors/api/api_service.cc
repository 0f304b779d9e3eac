#include "connectors/api/api_service.h"

#include <algorithm>
#include <chrono>
#include <exception>
#include <map>
#include <set>
#include <sstream>
#include <type_traits>

#include <boost/beast/http.hpp>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "connectors/api/body_decoders.h"
#include "connectors/api/json_text.h"
#include "projections/queries.h"
#include "schemas/body_codec.h"
#include "schemas/json_codec.h"

namespace palaver::api {

namespace http = boost::beast::http;
using Json = nlohmann::json;
using domain::Command;

// ------------------------------------------------------------------ helpers

namespace {

Status Reasoned(ErrorCode code, std::string reason, std::string message, std::string field = {}) {
  return Status::Error(code, std::move(message), std::move(field)).WithReason(std::move(reason));
}

Status Unauthenticated(std::string message) {
  return Reasoned(ErrorCode::kPermissionDenied, "unauthenticated", std::move(message));
}

Status NotFound(std::string message, std::string field = {}) {
  return Reasoned(ErrorCode::kNotFound, "not_found", std::move(message), std::move(field));
}

http::status HttpStatusFor(const Status& s) {
  if (s.reason() == "unauthenticated") return http::status::unauthorized;
  if (s.reason() == "rate_limited") return http::status::too_many_requests;
  if (s.reason() == "method_not_allowed") return http::status::method_not_allowed;
  switch (s.code()) {
    case ErrorCode::kInvalidArgument:
    case ErrorCode::kSchemaViolation:
    case ErrorCode::kUnsupportedVersion:
      return http::status::bad_request;
    case ErrorCode::kNotFound:
      return http::status::not_found;
    case ErrorCode::kAlreadyExists:
    case ErrorCode::kConflict:
    case ErrorCode::kFailedPrecondition:
      return http::status::conflict;
    case ErrorCode::kPermissionDenied:
      return http::status::forbidden;
    case ErrorCode::kTooLarge:
      return http::status::payload_too_large;
    case ErrorCode::kUnavailable:
    case ErrorCode::kTimeout:
      return http::status::service_unavailable;
    default:
      return http::status::internal_server_error;
  }
}

HttpResponse Problem(const HttpRequest& request, const Status& s) {
  const http::status status = HttpStatusFor(s);
  std::string code = s.reason().empty() ? std::string(CodeName(s.code())) : s.reason();
  if (s.code() == ErrorCode::kTimeout && s.reason().empty()) code = "timeout";
  Json body = {{"type", "https://palaver.dev/problems/" + code},
               {"title", std::string(http::obsolete_reason(status))},
               {"status", static_cast<int>(status)},
               {"code", code},
               {"detail", s.message()}};
  if (!s.field().empty()) body["field"] = s.field();
  HttpResponse response =
      JsonResponse(request, status, body.dump(-1, ' ', false, Json::error_handler_t::replace));
  response.set(http::field::content_type, "application/problem+json");
  if (status == http::status::unauthorized)
    response.set(http::field::www_authenticate, "Bearer realm=\"palaver\"");
  if (status == http::status::service_unavailable) response.set(http::field::retry_after, "1");
  return response;
}

HttpResponse Ok(const HttpRequest& request, const Json& body) {
  return JsonResponse(request, http::status::ok,
                      body.dump(-1, ' ', false, Json::error_handler_t::replace));
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::optional<std::string> PercentDecode(std::string_view s, bool plus_is_space) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%') {
      if (i + 2 >= s.size()) return std::nullopt;
      const int hi = HexValue(s[i + 1]), lo = HexValue(s[i + 2]);
      if (hi < 0 || lo < 0) return std::nullopt;
      out.push_back(static_cast<char>(hi * 16 + lo));
      i += 2;
    } else if (plus_is_space && s[i] == '+') {
      out.push_back(' ');
    } else {
      out.push_back(s[i]);
    }
  }
  return out;
}

// True for an id that may appear in a path: valid UTF-8, no control
// characters, no separators, not a dot segment, at most 256 bytes.
bool IsAcceptableId(std::string_view id) {
  if (id.empty() || id.size() > 256 || id == "." || id == "..") return false;
  for (char c : id) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f || c == '/' || c == '\\') return false;
  }
  return IsValidUtf8(id);
}

std::vector<std::string_view> Split(std::string_view s, char sep) {
  std::vector<std::string_view> out;
  size_t start = 0;
  while (true) {
    const size_t at = s.find(sep, start);
    out.push_back(
        s.substr(start, at == std::string_view::npos ? std::string_view::npos : at - start));
    if (at == std::string_view::npos) break;
    start = at + 1;
  }
  return out;
}

// The query string of a request: name -> values, in order.
class QueryParams {
 public:
  static Result<QueryParams> Parse(std::string_view query) {
    QueryParams q;
    if (query.empty()) return q;
    for (std::string_view pair : Split(query, '&')) {
      if (pair.empty()) continue;
      const size_t eq = pair.find('=');
      auto name = PercentDecode(pair.substr(0, eq), true);
      auto value = PercentDecode(eq == std::string_view::npos ? "" : pair.substr(eq + 1), true);
      if (!name || !value || !IsValidUtf8(*name) || !IsValidUtf8(*value))
        return Reasoned(ErrorCode::kInvalidArgument, "invalid_parameter",
                        "the query string is not valid percent-encoded UTF-8", "query");
      q.values_[*name].push_back(*value);
    }
    return q;
  }

  // Refuses parameters not in `allowed`, and repeats of those not in `repeatable`.
  Status Check(std::initializer_list<std::string_view> allowed,
               std::initializer_list<std::string_view> repeatable = {}) const {
    for (const auto& [name, values] : values_) {
      if (std::find(allowed.begin(), allowed.end(), name) == allowed.end()) {
        std::string list;
        for (auto a : allowed) list += (list.empty() ? "" : ", ") + std::string(a);
        return Reasoned(ErrorCode::kInvalidArgument, "unknown_parameter",
                        "\"" + name + "\" is not a parameter of this route" +
                            (list.empty() ? "" : " (known: " + list + ")"),
                        name);
      }
      if (values.size() > 1 &&
          std::find(repeatable.begin(), repeatable.end(), name) == repeatable.end())
        return Reasoned(ErrorCode::kInvalidArgument, "invalid_parameter",
                        "\"" + name + "\" may be given only once", name);
    }
    return Status::Ok();
  }

  std::optional<std::string> Get(const std::string& name) const {
    auto it = values_.find(name);
    if (it == values_.end()) return std::nullopt;
    return it->second.front();
  }
  std::vector<std::string> All(const std::string& name) const {
    auto it = values_.find(name);
    return it == values_.end() ? std::vector<std::string>{} : it->second;
  }

  // A whole number in [min, max]; nullopt when absent.
  Result<std::optional<int64_t>> Integer(const std::string& name, int64_t min, int64_t max) const {
    auto v = Get(name);
    if (!v) return std::optional<int64_t>();
    int64_t n = 0;
    bool ok = !v->empty() && v->size() <= 19;
    for (char c : *v) ok = ok && c >= '0' && c <= '9';
    if (ok) {
      try {
        n = std::stoll(*v);
      } catch (const std::exception&) {
        ok = false;
      }
    }
    if (!ok || n < min || n > max)
      return Reasoned(ErrorCode::kInvalidArgument, "invalid_parameter",
                      "\"" + name + "\" must be a whole number from " + std::to_string(min) +
                          " to " + std::to_string(max),
                      name);
    return std::optional<int64_t>(n);
  }

  Result<bool> Bool(const std::string& name) const {
    auto v = Get(name);
    if (!v || *v == "false") return false;
    if (*v == "true") return true;
    return Reasoned(ErrorCode::kInvalidArgument, "invalid_parameter",
                    "\"" + name + "\" must be true or false", name);
  }

  template <NamedEnum E>
  Result<std::optional<E>> Enum(const std::string& name, const std::string& text) const {
    auto value = EnumFromName<E>(text);
    if (!value) {
      std::string choices;
      for (const auto& [e, n] : EnumNames<E>::kValues)
        choices += (choices.empty() ? "" : ", ") + std::string(n);
      return Reasoned(ErrorCode::kInvalidArgument, "invalid_parameter",
                      "\"" + name + "\" must be one of: " + choices, name);
    }
    return std::optional<E>(*value);
  }

 private:
  std::map<std::string, std::vector<std::string>> values_;
};

std::string NameOf(http::verb v) { return std::string(http::to_string(v)); }

}  // namespace

// ------------------------------------------------------------------ Principal / Authenticator

std::string Principal::RateKey() const {
  return kind == Kind::kAgent ? token_id : "shopper:" + shop + ":" + customer_id;
}

std::string Principal::LogName() const { return kind == Kind::kAgent ? token_id : "shopper"; }

Result<Principal> Authenticator::AuthenticateAgent(const HttpRequest& request,
                                                   std::string_view shop) const {
  auto header = request.find(http::field::authorization);
  if (header == request.end())
    return Unauthenticated("this route needs an API token: Authorization: Bearer <token>");
  std::string_view value = header->value();
  constexpr std::string_view kBearer = "Bearer ";
  if (value.size() <= kBearer.size() ||
      !std::equal(kBearer.begin(), kBearer.end(), value.begin(), [](char a, char b) {
        return std::tolower(static_cast<unsigned char>(a)) ==
               std::tolower(static_cast<unsigned char>(b));
      }))
    return Unauthenticated("the Authorization header must be \"Bearer <token>\"");
  auto token = store_.FindToken(value.substr(kBearer.size()));
  if (!token) return Unauthenticated("the API token is unknown or revoked");
  if (token->shop != shop) return NotFound("no shop " + std::string(shop), "shop");
  Principal p;
  p.kind = Principal::Kind::kAgent;
  p.shop = token->shop;
  p.role = token->role;
  p.agent_id = token->agent_id;
  p.token_id = token->id;
  return p;
}

Result<Principal> Authenticator::AuthenticateShopper(const HttpRequest& request,
                                                     std::string_view shop) const {
  auto header = request.find("X-Palaver-Identity");
  if (header == request.end())
    return Unauthenticated(
        "this route is for shoppers: send the storefront-signed identity in X-Palaver-Identity");
  auto secret = store_.ShopSecret(shop);
  if (!secret) return NotFound("no shop " + std::string(shop), "shop");
  auto identity = rules::VerifyShopperIdentity(header->value(), shop, *secret, clock_);
  if (!identity.ok())
    return Unauthenticated("the shopper identity was refused: " + identity.status().message());
  Principal p;
  p.kind = Principal::Kind::kShopper;
  p.shop = std::string(shop);
  p.customer_id = identity->customer_id;
  p.identity = *identity;
  p.identity_token = std::string(header->value());
  return p;
}

// ------------------------------------------------------------------ Impl

struct ApiService::Impl {
  struct CompiledRoute {
    Route route;
    std::vector<std::string> segments;  // "{name}" for parameters

    static bool IsParam(const std::string& segment) {
      return segment.size() > 2 && segment.front() == '{' && segment.back() == '}';
    }
    // True when `path` (split at '/', without the leading one) has this
    // route's shape: as many segments, literal ones equal, parameters
    // non-empty. The one matcher of Handle and RunsInline.
    bool Matches(const std::vector<std::string_view>& path) const {
      if (path.size() != segments.size()) return false;
      for (size_t i = 0; i < path.size(); ++i) {
        if (IsParam(segments[i]) ? path[i].empty() : segments[i] != path[i]) return false;
      }
      return true;
    }
  };

  Impl(EventLog& log_in, domain::ConversationEngine& engine_in,
       projections::Projector& projector_in, AuthStore& store_in, const rules::Clock& clock_in,
       ApiServiceOptions options_in)
      : log(log_in),
        engine(engine_in),
        projector(projector_in),
        queries(projector_in, &projector_in),
        store(store_in),
        clock(clock_in),
        options(std::move(options_in)),
        limiter(options.rate_limit) {}

  EventLog& log;
  domain::ConversationEngine& engine;
  projections::Projector& projector;
  const projections::Queries queries;
  AuthStore& store;
  const rules::Clock& clock;
  const ApiServiceOptions options;
  RateLimiter limiter;
  PageCache inbox_cache{options.inbox_cache_bytes};
  std::vector<CompiledRoute> routes;   // written before serving only
  std::vector<int64_t> ready_targets;  // end offsets at construction
  std::atomic<bool> ready{false};

  // ---- commands

  Result<Json> RunCommand(const HttpRequest& request, const RouteContext& ctx,
                          std::string_view name) {
    auto body = ParseJsonBody(request.body());
    if (!body.ok()) return body.status();
    if (name == "update_settings") {
      // The aspect comes from the path; a "kind" in the body must agree.
      const std::string& aspect = ctx.params.at("aspect");
      auto kind = body->find("kind");
      if (kind != body->end() && (!kind->is_string() || *kind != aspect))
        return Reasoned(ErrorCode::kInvalidArgument, "invalid_value",
                        "\"kind\" must be left out or equal the path's aspect \"" + aspect + "\"",
                        "/kind");
      (*body)["kind"] = aspect;
    }
    auto command = DecodeCommandBody(name, *body);
    if (!command.ok()) return command.status();
    const Principal& who = *ctx.principal;
    Status fill;
    std::visit(
        [&](auto& c) {
          auto param = [&](const char* key) -> std::string {
            auto it = ctx.params.find(key);
            return it == ctx.params.end() ? std::string() : it->second;
          };
          if constexpr (requires { c.conversation_id; }) {
            if (ctx.params.count("conversation_id")) c.conversation_id = param("conversation_id");
          }
          if constexpr (requires { c.note_id; }) {
            if (ctx.params.count("note_id")) c.note_id = param("note_id");
          }
          if constexpr (requires { c.customer_id; }) {
            if (ctx.params.count("customer_id")) c.customer_id = param("customer_id");
          }
          if constexpr (requires { c.identity_token; }) {
            c.identity_token = who.identity_token;
          }
          domain::CommandMeta& meta = c.meta;
          meta.tenant = who.shop;
          if (who.kind == Principal::Kind::kShopper) {
            meta.actor = {ActorKind::kShopper, who.customer_id};
          } else if (ctx.route.find("/storefront/") != std::string::npos) {
            meta.actor = {ActorKind::kStorefront, who.token_id};
          } else if (ctx.auth == RouteAuth::kAdmin) {  // settings, privacy requests
            meta.actor = {ActorKind::kSystem, "admin:" + who.agent_id};
          } else {
            meta.actor = {ActorKind::kAgent, who.agent_id};
          }
          auto key = request.find("Idempotency-Key");
          if (key != request.end()) {
            std::string_view k = key->value();
            bool printable = !k.empty() && k.size() <= 200;
            for (char ch : k) printable = printable && ch > 0x20 && ch < 0x7f;
            if (!printable) {
              fill = Reasoned(ErrorCode::kInvalidArgument, "invalid_parameter",
                              "Idempotency-Key must be 1 to 200 printable ASCII characters",
                              "Idempotency-Key");
            }
            meta.idempotency_key = std::string(k);
          }
          auto correlation = request.find("X-Correlation-Id");
          if (correlation != request.end() && correlation->value().size() <= 200 &&
              IsAcceptableId(correlation->value()))
            meta.correlation_id = std::string(correlation->value());
        },
        *command);
    if (!fill.ok()) return fill;
    auto result = engine.Execute(*command);
    if (!result.ok()) {
      const Status& s = result.status();
      // A shopper learns nothing about conversations that are not theirs.
      if (s.reason() == "not_your_conversation")
        return Reasoned(ErrorCode::kNotFound, "not_found.conversation",
                        "no conversation " + ctx.params.at("conversation_id"), "conversation_id");
      return s;
    }
    const int32_t partition = log.PartitionFor(who.shop);
    Json events = Json::array();
    int64_t position = -1;
    for (const auto& appended : result->events) {
      events.push_back({{"event_id", appended.event.envelope.event_id},
                        {"type", std::string(EventTypeName(TypeOf(appended.event.body)))},
                        {"offset", appended.position.offset}});
      position = std::max(position, appended.position.offset);
    }
    if (position < 0) {
      auto end = log.EndOffset(partition);
      if (!end.ok()) return end.status();
      position = *end - 1;
    }
    return Json{{"command", std::string(domain::CommandName(*command))},
                {"conversation_id", result->conversation_id},
                {"created_id", result->created_id},
                {"partition", partition},
                {"position", position},
                {"replayed", result->replayed},
                {"events", events}};
  }

  // ---- queries

  Result<projections::Consistency> ConsistencyFrom(const QueryParams& q, const std::string& shop) {
    projections::Consistency c;
    c.wait_timeout = options.max_consistency_wait;
    auto min = q.Integer("min_position", 0, INT64_MAX - 1);
    if (!min.ok()) return min.status();
    if (*min) c.min_position = LogPosition{log.PartitionFor(shop), **min};
    return c;
  }

  // One inbox row as JSON text, keys in the order nlohmann::json sorts them
  // (see json_text.h): the same bytes a dumped tree had.
  static void AppendInboxRow(std::string& out, const projections::InboxRow& r) {
    using internal::AppendJsonBool;
    using internal::AppendJsonInt;
    using internal::AppendJsonString;
    out.append("{\"assignee\":");
    AppendJsonString(out, r.assignee);
    out.append(",\"channel\":");
    AppendJsonString(out, EnumName(r.channel));
    out.append(",\"conversation_id\":");
    AppendJsonString(out, r.conversation_id);
    out.append(",\"customer_id\":");
    AppendJsonString(out, r.customer_id);
    out.append(",\"customer_name\":");
    AppendJsonString(out, r.customer_name);
    out.append(",\"customer_online\":");
    AppendJsonBool(out, r.customer_online);
    out.append(",\"last_activity_us\":");
    AppendJsonInt(out, r.last_activity_us);
    out.append(",\"overdue\":");
    AppendJsonBool(out, r.overdue);
    out.append(",\"preview\":");
    AppendJsonString(out, r.preview);
    out.append(",\"status\":");
    AppendJsonString(out, EnumName(r.status));
    out.append(",\"topics\":[");
    for (size_t i = 0; i < r.topics.size(); ++i) {
      if (i) out.push_back(',');
      AppendJsonString(out, EnumName(r.topics[i]));
    }
    out.append("],\"unread\":");
    AppendJsonBool(out, r.unread);
    out.append(",\"waiting_since_us\":");
    if (r.waiting_since_us) {
      AppendJsonInt(out, *r.waiting_since_us);
    } else {
      out.append("null");
    }
    out.push_back('}');
  }

  // The inbox page as JSON text: {"conversations": [rows], "next_cursor"}.
  // Pages asked without ?min_position are kept in inbox_cache (see
  // page_cache.h) unless the request says "Cache-Control: no-cache".
  Result<std::string> Inbox(const QueryParams& q, const Principal& who,
                            const HttpRequest& request) {
    PALAVER_RETURN_IF_ERROR(q.Check({"status", "assignee", "channel", "topic", "unread", "overdue",
                                     "cursor", "limit", "min_position"},
                                    {"status"}));
    projections::InboxQuery query;
    query.shop = who.shop;
    query.agent_id = who.agent_id;
    query.now_us = clock.NowMicros();
    for (const std::string& list : q.All("status")) {
      for (std::string_view one : Split(list, ',')) {
        auto s = q.Enum<ConversationStatus>("status", std::string(one));
        if (!s.ok()) return s.status();
        if (std::find(query.statuses.begin(), query.statuses.end(), **s) == query.statuses.end())
          query.statuses.push_back(**s);
      }
    }
    if (auto a = q.Get("assignee")) {
      if (*a == "me") {
        query.assignee = projections::AssigneeFilter::kMe;
      } else if (*a == "unassigned") {
        query.assignee = projections::AssigneeFilter::kUnassigned;
      } else if (*a != "anyone") {
        return Reasoned(ErrorCode::kInvalidArgument, "invalid_parameter",
                        "\"assignee\" must be one of: anyone, me, unassigned", "assignee");
      }
    }
    if (auto c = q.Get("channel")) {
      auto v = q.Enum<Channel>("channel", *c);
      if (!v.ok()) return v.status();
      query.channel = *v;
    }
    if (auto t = q.Get("topic")) {
      auto v = q.Enum<Topic>("topic", *t);
      if (!v.ok()) return v.status();
      query.topic = *v;
    }
    auto unread = q.Bool("unread");
    if (!unread.ok()) return unread.status();
    query.unread_only = *unread;
    auto overdue = q.Bool("overdue");
    if (!overdue.ok()) return overdue.status();
    query.overdue_only = *overdue;
    query.cursor = q.Get("cursor").value_or("");
    auto limit = q.Integer("limit", 1, 200);
    if (!limit.ok()) return limit.status();
    if (*limit) query.limit = static_cast<size_t>(**limit);
    auto c = ConsistencyFrom(q, who.shop);
    if (!c.ok()) return c.status();
    // The agent and the whole target (shop, filters, cursor, limit, already
    // checked above) are everything the page depends on besides the views
    // and the clock; the same query spelled otherwise is just another entry.
    const bool cacheable = !c->min_position && request[http::field::cache_control].find(
                                                   "no-cache") == std::string_view::npos;
    const std::string cache_key = who.agent_id + '\0' + std::string(request.target());
    const uint64_t generation = projector.ShopGeneration(who.shop);  // before reading
    if (cacheable) {
      if (auto hit = inbox_cache.Find(cache_key, generation, query.now_us)) return std::move(*hit);
    }
    auto page = queries.Inbox(query, *c);
    if (!page.ok()) return page.status();
    std::string out;
    // Rows are a few hundred bytes each: one allocation for the whole page.
    size_t guess = 64 + page->next_cursor.size();
    for (const auto& r : page->rows)
      guess += 320 + r.conversation_id.size() + r.customer_id.size() + r.customer_name.size() +
               r.preview.size() + r.assignee.size();
    out.reserve(guess);
    out.append("{\"conversations\":[");
    for (size_t i = 0; i < page->rows.size(); ++i) {
      if (i) out.push_back(',');
      AppendInboxRow(out, page->rows[i]);
    }
    out.append("],\"next_cursor\":");
    internal::AppendJsonString(out, page->next_cursor);
    out.push_back('}');
    if (cacheable) inbox_cache.Insert(cache_key, generation, page->same_until_us, out);
    return out;
  }

  Result<std::string> Badge(const QueryParams& q, const Principal& who) {
    PALAVER_RETURN_IF_ERROR(q.Check({"min_position"}));
    auto c = ConsistencyFrom(q, who.shop);
    if (!c.ok()) return c.status();
    auto count = queries.BadgeCount(who.shop, who.agent_id, *c);
    if (!count.ok()) return count.status();
    std::string out = "{\"unread_conversations\":";
    internal::AppendJsonInt(out, *count);
    out.push_back('}');
    return out;
  }

  Result<Json> Timeline(const QueryParams& q, const Principal& who,
                        const std::string& conversation_id) {
    PALAVER_RETURN_IF_ERROR(q.Check({"direction", "cursor", "limit", "min_position"}));
    projections::TimelineQuery query;
    query.shop = who.shop;
    query.conversation_id = conversation_id;
    if (who.kind == Principal::Kind::kShopper) {
      query.viewer = projections::TimelineViewer::kShopper;
      query.shopper_customer_id = who.customer_id;
    }
    const std::string direction = q.Get("direction").value_or("forward");
    if (direction != "forward" && direction != "backward")
      return Reasoned(ErrorCode::kInvalidArgument, "invalid_parameter",
                      "\"direction\" must be forward or backward", "direction");
    query.backward = direction == "backward";
    query.cursor = q.Get("cursor").value_or("");
    auto limit = q.Integer("limit", 1, 500);
    if (!limit.ok()) return limit.status();
    if (*limit) query.limit = static_cast<size_t>(**limit);
    auto c = ConsistencyFrom(q, who.shop);
    if (!c.ok()) return c.status();
    auto page = queries.Timeline(query, *c);
    if (!page.ok()) return page.status();
    Json entries = Json::array();
    for (const auto& e : page->entries) {
      Json entry = Json::parse(e.json, nullptr, false);
      if (!entry.is_object()) entry = Json::object();
      entry["seq"] = e.seq;
      entries.push_back(std::move(entry));
    }
    return Json{{"conversation_id", conversation_id},
                {"entries", entries},
                {"older_cursor", page->older_cursor},
                {"newer_cursor", page->newer_cursor}};
  }

  Result<Json> Receipts(const QueryParams& q, const Principal& who, const std::string& id) {
    PALAVER_RETURN_IF_ERROR(q.Check({"min_position"}));
    auto c = ConsistencyFrom(q, who.shop);
    if (!c.ok()) return c.status();
    auto r = queries.ReadReceipts(who.shop, id, *c);
    if (!r.ok()) return r.status();
    Json participants = Json::array(), messages = Json::array();
    for (const auto& p : r->participants)
      participants.push_back({{"participant", p.participant},
                              {"last_read_message_id", p.last_read_message_id},
                              {"read_at_us", p.read_at_us}});
    for (const auto& m : r->agent_messages)
      messages.push_back({{"message_id", m.message_id},
                          {"agent_id", m.agent_id},
                          {"seen_by_shopper", m.seen_by_shopper}});
    return Json{
        {"conversation_id", id}, {"participants", participants}, {"agent_messages", messages}};
  }

  Result<Json> Previous(const QueryParams& q, const Principal& who, const std::string& customer_id,
                        bool allow_except) {
    if (allow_except) {
      PALAVER_RETURN_IF_ERROR(q.Check({"except", "min_position"}));
    } else {
      PALAVER_RETURN_IF_ERROR(q.Check({"min_position"}));
    }
    auto c = ConsistencyFrom(q, who.shop);
    if (!c.ok()) return c.status();
    auto list =
        queries.PreviousConversations(who.shop, customer_id, q.Get("except").value_or(""), *c);
    if (!list.ok()) return list.status();
    Json out = Json::array();
    for (const auto& p : *list)
      out.push_back({{"conversation_id", p.conversation_id},
                     {"channel", std::string(EnumName(p.channel))},
                     {"started_at_us", p.started_at_us},
                     {"status", p.status}});
    return Json{{"customer_id", customer_id}, {"conversations", out}};
  }

  Result<Json> Profile(const QueryParams& q, const Principal& who, const std::string& customer_id) {
    PALAVER_RETURN_IF_ERROR(q.Check({"min_position"}));
    auto c = ConsistencyFrom(q, who.shop);
    if (!c.ok()) return c.status();
    auto p = queries.Profile(who.shop, customer_id, clock.NowMicros(), *c);
    if (!p.ok()) return p.status();
    auto opt = [](const std::optional<int64_t>& v) { return v ? Json(*v) : Json(nullptr); };
    Json orders = Json::array(), notes = Json::array();
    for (const auto& o : p->recent_orders)
      orders.push_back({{"order_id", o.order_id},
                        {"order_number", o.order_number},
                        {"placed_at_us", opt(o.placed_at_us)},
                        {"status", o.status},
                        {"financial_status", o.financial_status},
                        {"fulfillment_status", o.fulfillment_status},
                        {"total_minor", o.total_minor},
                        {"currency", o.currency}});
    for (const auto& n : p->notes)
      notes.push_back(
          {{"note_id", n.note_id}, {"text", n.text}, {"author", n.author}, {"at_us", n.at_us}});
    return Json{{"customer_id", p->customer_id},
                {"name", p->name},
                {"returning", p->returning},
                {"email", p->email},
                {"phone", p->phone},
                {"location", p->location},
                {"time_zone", p->time_zone},
                {"local_time", p->local_time},
                {"customer_since_us", opt(p->customer_since_us)},
                {"amount_spent_minor", p->amount_spent_minor},
                {"currency", p->currency},
                {"recent_orders", orders},
                {"notes", notes},
                {"current_conversation_id", p->current_conversation_id},
                {"conversation_started_us", opt(p->conversation_started_us)},
                {"platform", p->platform},
                {"erased", p->erased}};
  }

  Result<Json> ConversationMetrics(const QueryParams& q, const Principal& who,
                                   const std::string& id) {
    PALAVER_RETURN_IF_ERROR(q.Check({"min_position"}));
    auto c = ConsistencyFrom(q, who.shop);
    if (!c.ok()) return c.status();
    auto m = queries.MetricsFor(who.shop, id, *c);
    if (!m.ok()) return m.status();
    auto opt = [](const auto& v) { return v ? Json(*v) : Json(nullptr); };
    return Json{{"conversation_id", id},
                {"first_response_wall_us", opt(m->first_response_wall_us)},
                {"first_response_office_us", opt(m->first_response_office_us)},
                {"resolution_wall_us", opt(m->resolution_wall_us)},
                {"resolution_office_us", opt(m->resolution_office_us)},
                {"csat", opt(m->csat)}};
  }

  Result<Json> MetricsReport(const QueryParams& q, const Principal& who) {
    PALAVER_RETURN_IF_ERROR(q.Check({"from", "to", "min_position"}));
    auto day = [&](const char* name) -> Result<std::string> {
      auto v = q.Get(name);
      bool ok = v && v->size() == 10 && (*v)[4] == '-' && (*v)[7] == '-';
      for (size_t i = 0; ok && i < 10; ++i)
        ok = (i == 4 || i == 7) || ((*v)[i] >= '0' && (*v)[i] <= '9');
      if (!ok)
        return Reasoned(ErrorCode::kInvalidArgument, "invalid_parameter",
                        std::string("\"") + name + "\" must be a UTC day YYYY-MM-DD", name);
      return *v;
    };
    auto from = day("from");
    if (!from.ok()) return from.status();
    auto to = day("to");
    if (!to.ok()) return to.status();
    auto c = ConsistencyFrom(q, who.shop);
    if (!c.ok()) return c.status();
    auto m = queries.Metrics(who.shop, *from, *to, *c);
    if (!m.ok()) return m.status();
    auto stats = [](const projections::DurationStats& d) {
      return Json{{"count", d.count},
                  {"wall_avg_us", d.wall_avg_us},
                  {"office_count", d.office_count},
                  {"office_avg_us", d.office_avg_us}};
    };
    auto series = [](const auto& rows) {
      Json out = Json::array();
      for (const auto& [d, n, count] : rows)
        out.push_back({{"day", d}, {"name", n}, {"count", count}});
      return out;
    };
    return Json{{"from", *from},
                {"to", *to},
                {"first_response", stats(m->first_response)},
                {"resolution", stats(m->resolution)},
                {"csat_count", m->csat_count},
                {"csat_average", m->csat_average},
                {"conversations_started", m->conversations_started},
                {"by_channel", series(m->by_channel)},
                {"by_topic", series(m->by_topic)},
                {"by_agent", series(m->by_agent)}};
  }

  Result<Json> Faqs(const QueryParams& q, const Principal& who) {
    PALAVER_RETURN_IF_ERROR(q.Check({"q"}));
    auto faqs = engine.SearchFaqs(who.shop, q.Get("q").value_or(""));
    if (!faqs.ok()) return faqs.status();
    Json out = Json::array();
    for (const Faq& f : *faqs) {
      Json j = {{"faq_id", f.faq_id}, {"question", f.question}, {"answer", f.answer}};
      if (who.kind == Principal::Kind::kAgent) j["published"] = f.published;
      out.push_back(std::move(j));
    }
    return Json{{"faqs", out}};
  }

  Result<Json> Settings(const QueryParams& q, const Principal& who) {
    PALAVER_RETURN_IF_ERROR(q.Check({}));
    auto aspect = [](SettingsAspect a) {
      Event e;
      e.body = SettingsChanged{std::move(a)};
      Json j = EventToJson(e)["body"]["aspect"];
      j.erase("kind");
      return j;
    };
    // Rendered under the shop's lock from the settings alone: a copy of the
    // whole state would copy every conversation of the shop.
    Json out;
    PALAVER_RETURN_IF_ERROR(engine.Read(who.shop, [&](const domain::ShopState& shop) {
      out = Json{{"visibility", aspect(VisibilitySetting{shop.visibility})},
                 {"welcome_message", aspect(WelcomeMessageSetting{shop.welcome_message})},
                 {"legal_links", aspect(LegalLinksSetting{shop.terms_url, shop.privacy_url})},
                 {"faqs", aspect(FaqsSetting{shop.faqs})},
                 {"office_hours", aspect(shop.office_hours)},
                 {"macros", aspect(MacrosSetting{shop.macros})},
                 {"agents", aspect(AgentsSetting{shop.agents})},
                 {"overdue_target", aspect(OverdueTargetSetting{shop.overdue_target_seconds})}};
    }));
    return out;
  }
};

// ------------------------------------------------------------------ ApiService

ApiService::ApiService(EventLog& log, domain::ConversationEngine& engine,
                       projections::Projector& projector, AuthStore& auth,
                       const rules::Clock& clock, ApiServiceOptions options)
    : log_(log),
      authenticator_(auth, clock),
      impl_(std::make_unique<Impl>(log, engine, projector, auth, clock, std::move(options))) {
  for (int32_t p = 0; p < log.PartitionCount(); ++p) {
    auto end = log.EndOffset(p);
    impl_->ready_targets.push_back(end.ok() ? *end : 0);
  }

  using V = http::verb;
  Impl& im = *impl_;
  auto query = [&im](auto fn) {
    return [&im, fn](const HttpRequest& request, const RouteContext& ctx) -> HttpResponse {
      const std::string_view target = request.target();
      const size_t qm = target.find('?');
      auto params = QueryParams::Parse(qm == std::string_view::npos ? "" : target.substr(qm + 1));
      if (!params.ok()) return Problem(request, params.status());
      auto result = fn(im, *params, ctx, request);
      if (!result.ok()) return Problem(request, result.status());
      if constexpr (std::is_same_v<std::decay_t<decltype(*result)>, std::string>) {
        return JsonResponse(request, http::status::ok, std::move(*result));  // JSON text already
      } else {
        return Ok(request, *result);
      }
    };
  };
  auto command = [&im](std::string name) {
    return [&im, name](const HttpRequest& request, const RouteContext& ctx) -> HttpResponse {
      const std::string_view target = request.target();
      if (target.find('?') != std::string_view::npos && target.substr(target.find('?') + 1) != "")
        return Problem(request, Reasoned(ErrorCode::kInvalidArgument, "unknown_parameter",
                                         "commands take no query parameters", "query"));
      Result<Json> result = im.RunCommand(request, ctx, name);
      if (!result.ok()) return Problem(request, result.status());
      return Ok(request, *result);
    };
  };

  const std::string shop = "/v1/shops/{shop}";
  const std::string conv = shop + "/conversations/{conversation_id}";
  const std::string mine = shop + "/shopper/conversations/{conversation_id}";
  std::vector<Route> builtin = {
      // Agent queries.
      {V::get, shop + "/inbox", RouteAuth::kAgent,
       query([](Impl& i, const QueryParams& q, const RouteContext& c, const HttpRequest& r) {
         return i.Inbox(q, *c.principal, r);
       })},
      {V::get, shop + "/inbox/badge", RouteAuth::kAgent,
       query([](Impl& i, const QueryParams& q, const RouteContext& c, const HttpRequest&) {
         return i.Badge(q, *c.principal);
       })},
      {V::get, conv + "/timeline", RouteAuth::kAgent,
       query([](Impl& i, const QueryParams& q, const RouteContext& c, const HttpRequest&) {
         return i.Timeline(q, *c.principal, c.params.at("conversation_id"));
       })},
      {V::get, conv + "/receipts", RouteAuth::kAgent,
       query([](Impl& i, const QueryParams& q, const RouteContext& c, const HttpRequest&) {
         return i.Receipts(q, *c.principal, c.params.at("conversation_id"));
       })},
      {V::get, conv + "/metrics", RouteAuth::kAgent,
       query([](Impl& i, const QueryParams& q, const RouteContext& c, const HttpRequest&) {
         return i.ConversationMetrics(q, *c.principal, c.params.at("conversation_id"));
       })},
      {V::get, shop + "/customers/{customer_id}", RouteAuth::kAgent,
       query([](Impl& i, const QueryParams& q, const RouteContext& c, const HttpRequest&) {
         return i.Profile(q, *c.principal, c.params.at("customer_id"));
       })},
      {V::get, shop + "/customers/{customer_id}/conversations", RouteAuth::kAgent,
       query([](Impl& i, const QueryParams& q, const RouteContext& c, const HttpRequest&) {
         return i.Previous(q, *c.principal, c.params.at("customer_id"), true);
       })},
      {V::get, shop + "/metrics", RouteAuth::kAgent,
       query([](Impl& i, const QueryParams& q, const RouteContext& c, const HttpRequest&) {
         return i.MetricsReport(q, *c.principal);
       })},
      {V::get, shop + "/faqs", RouteAuth::kAgent,
       query([](Impl& i, const QueryParams& q, const RouteContext& c, const HttpRequest&) {
         return i.Faqs(q, *c.principal);
       })},
      {V::get, shop + "/settings", RouteAuth::kAgent,
       query([](Impl& i, const QueryParams& q, const RouteContext& c, const HttpRequest&) {
         return i.Settings(q, *c.principal);
       })},
      // Agent commands.
      {V::post, conv + "/messages", RouteAuth::kAgent, command("agent_reply")},
      {V::post, conv + "/notes", RouteAuth::kAgent, command("add_internal_note")},
      {V::patch, conv + "/notes/{note_id}", RouteAuth::kAgent, command("edit_internal_note")},
      {V::delete_, conv + "/notes/{note_id}", RouteAuth::kAgent, command("delete_internal_note")},
      {V::post, conv + "/read", RouteAuth::kAgent, command("mark_read")},
      {V::post, conv + "/unread", RouteAuth::kAgent, command("mark_unread")},
      {V::post, conv + "/assign", RouteAuth::kAgent, command("assign")},
      {V::post, conv + "/unassign", RouteAuth::kAgent, command("unassign")},
      {V::post, conv + "/status", RouteAuth::kAgent, command("change_status")},
      {V::post, shop + "/customers/{customer_id}/notes", RouteAuth::kAgent,
       command("add_customer_note")},
      {V::patch, shop + "/customer-notes/{note_id}", RouteAuth::kAgent,
       command("edit_customer_note")},
      {V::delete_, shop + "/customer-notes/{note_id}", RouteAuth::kAgent,
       command("delete_customer_note")},
      // Settings and privacy requests (admins).
      {V::put, shop + "/settings/{aspect}", RouteAuth::kAdmin, command("update_settings")},
      {V::post, shop + "/customers/{customer_id}/erasure", RouteAuth::kAdmin,
       command("erase_customer")},
      // Storefront records (admin tokens of storefront backends).
      {V::post, shop + "/storefront/cart-updates", RouteAuth::kAdmin, command("update_cart")},
      {V::post, shop + "/storefront/presence", RouteAuth::kAdmin, command("change_presence")},
      {V::post, shop + "/storefront/orders", RouteAuth::kAdmin, command("record_order_placed")},
      {V::post, shop + "/storefront/order-updates", RouteAuth::kAdmin,
       command("record_order_updated")},
      {V::post, shop + "/storefront/customer-profiles", RouteAuth::kAdmin,
       command("upsert_customer_profile")},
      {V::post, shop + "/storefront/products", RouteAuth::kAdmin, command("upsert_product")},
      {V::post, shop + "/storefront/discounts", RouteAuth::kAdmin, command("upsert_discount")},
      {V::post, shop + "/storefront/inbound-messages", RouteAuth::kAdmin,
       command("receive_inbound_message")},
      // Shoppers.
      {V::get, shop + "/shopper/conversations", RouteAuth::kShopper,
       query([](Impl& i, const QueryParams& q, const RouteContext& c, const HttpRequest&) {
         return i.Previous(q, *c.principal, c.principal->customer_id, false);
       })},
      {V::post, shop + "/shopper/conversations", RouteAuth::kShopper, command("start_web_chat")},
      {V::get, mine + "/timeline", RouteAuth::kShopper,
       query([](Impl& i, const QueryParams& q, const RouteContext& c, const HttpRequest&) {
         return i.Timeline(q, *c.principal, c.params.at("conversation_id"));
       })},
      {V::post, mine + "/messages", RouteAuth::kShopper, command("post_shopper_message")},
      {V::post, mine + "/read", RouteAuth::kShopper, command("mark_read")},
      {V::post, mine + "/end", RouteAuth::kShopper, command("end_chat")},
      {V::post, mine + "/faq-answer", RouteAuth::kShopper, command("take_faq_answer")},
      {V::post, mine + "/handoff", RouteAuth::kShopper, command("ask_for_human")},
      {V::post, mine + "/csat", RouteAuth::kShopper, command("submit_csat")},
      {V::post, mine + "/transcript", RouteAuth::kShopper, command("request_transcript")},
      {V::get, shop + "/shopper/faqs", RouteAuth::kShopper,
       query([](Impl& i, const QueryParams& q, const RouteContext& c, const HttpRequest&) {
         return i.Faqs(q, *c.principal);
       })},
  };
  for (Route& r : builtin) {
    // Every query of the views; not the FAQs or settings, which ask the engine.
    r.quick_read =
        r.method == V::get && !r.pattern.ends_with("/faqs") && !r.pattern.ends_with("/settings");
    Status s = AddRoute(std::move(r));
    if (!s.ok()) spdlog::error("api: built-in route refused: {}", s.ToString());
  }
}

ApiService::~ApiService() = default;

Status ApiService::AddRoute(Route route) {
  if (route.pattern.empty() || route.pattern[0] != '/' || !route.handler)
    return Status::Error(ErrorCode::kInvalidArgument,
                         "a route needs a pattern starting with \"/\" and a handler", "pattern");
  Impl::CompiledRoute compiled;
  for (std::string_view segment : Split(std::string_view(route.pattern).substr(1), '/')) {
    if (segment.empty())
      return Status::Error(ErrorCode::kInvalidArgument, "empty segment in pattern " + route.pattern,
                           "pattern");
    compiled.segments.emplace_back(segment);
  }
  if (route.auth != RouteAuth::kNone &&
      std::find(compiled.segments.begin(), compiled.segments.end(), "{shop}") ==
          compiled.segments.end())
    return Status::Error(ErrorCode::kInvalidArgument,
                         "an authenticated route needs a {shop} parameter: " + route.pattern,
                         "pattern");
  for (const auto& existing : impl_->routes) {
    if (existing.route.method == route.method && existing.segments == compiled.segments)
      return Status::Error(ErrorCode::kAlreadyExists,
                           NameOf(route.method) + " " + route.pattern + " is already routed");
  }
  compiled.route = std::move(route);
  impl_->routes.push_back(std::move(compiled));
  return Status::Ok();
}

std::vector<std::pair<http::verb, std::string>> ApiService::Routes() const {
  std::vector<std::pair<http::verb, std::string>> out = {{http::verb::get, "/healthz"},
                                                         {http::verb::get, "/readyz"},
                                                         {http::verb::get, "/openapi.json"}};
  for (const auto& r : impl_->routes) out.emplace_back(r.route.method, r.route.pattern);
  return out;
}

PageCache::Stats ApiService::InboxCacheStats() const { return impl_->inbox_cache.stats(); }

bool ApiService::Ready() {
  if (draining_) return false;
  if (impl_->ready) return true;
  for (size_t p = 0; p < impl_->ready_targets.size(); ++p) {
    if (impl_->projector.AppliedOffset(static_cast<int32_t>(p)) < impl_->ready_targets[p] - 1)
      return false;
  }
  impl_->ready = true;
  return true;
}

HttpHandler ApiService::AsHandler() {
  return [this](const HttpRequest& request) { return Handle(request); };
}

bool ApiService::RunsInline(const HttpRequest& request) const {
  if (request.method() != http::verb::get) return false;
  const std::string_view target = request.target();
  const size_t qm = target.find('?');
  if (qm != std::string_view::npos) {
    const std::string_view query = target.substr(qm + 1);
    if (query.find("min_position") != std::string_view::npos ||
        query.find('%') != std::string_view::npos)
      return false;
  }
  const std::string_view path = target.substr(0, qm);
  if (path.size() < 2 || path[0] != '/') return false;
  const std::vector<std::string_view> segments = Split(path.substr(1), '/');
  for (const auto& compiled : impl_->routes) {
    // Handle answers with the first GET route that matches, as here.
    if (compiled.route.method == http::verb::get && compiled.Matches(segments))
      return compiled.route.quick_read;
  }
  return false;
}

HttpInlineFilter ApiService::InlineFilter() const {
  return [this](const HttpRequest& request) { return RunsInline(request); };
}

HttpResponse ApiService::Handle(const HttpRequest& request) {
  const auto started = std::chrono::steady_clock::now();
  std::string route_name = "-";
  std::string shop = "-";
  std::string token = "-";
  HttpResponse response;
  try {
    response = [&]() -> HttpResponse {
      const std::string_view target = request.target();
      const std::string_view path = target.substr(0, target.find('?'));
      const http::verb method = request.method();
      if (path == "/healthz" || path == "/readyz" || path == "/openapi.json") {
        route_name = std::string(path);
        if (method != http::verb::get) {
          HttpResponse r =
              Problem(request, Reasoned(ErrorCode::kInvalidArgument, "method_not_allowed",
                                        NameOf(method) + " is not allowed here"));
          r.set(http::field::allow, "GET");
          return r;
        }
        if (path == "/healthz")
          return Ok(request, {{"status", "ok"},
                              {"log", impl_->options.log_kind},
                              {"partitions", log_.PartitionCount()}});
        if (path == "/readyz") {
          if (Ready()) return Ok(request, {{"status", "ready"}});
          return Problem(request, Reasoned(ErrorCode::kUnavailable, "not_ready",
                                           draining_ ? "the server is shutting down"
                                                     : "the projections are catching up with "
                                                       "the log"));
        }
        HttpResponse r = JsonResponse(request, http::status::ok, std::string(OpenApiDocument()));
        r.set(http::field::content_type, "application/json");
        return r;
      }

      // Match the path against the routes.
      if (path.empty() || path[0] != '/')
        return Problem(request, NotFound("no route for this target"));
      std::vector<std::string_view> segments = Split(path.substr(1), '/');
      std::vector<http::verb> allowed;
      for (const auto& compiled : impl_->routes) {
        if (!compiled.Matches(segments)) continue;
        RouteContext ctx;
        Status bad_param;
        for (size_t i = 0; i < segments.size(); ++i) {
          const std::string& want = compiled.segments[i];
          if (!Impl::CompiledRoute::IsParam(want)) continue;
          const std::string name = want.substr(1, want.size() - 2);
          auto decoded = PercentDecode(segments[i], false);
          if (!decoded || !IsAcceptableId(*decoded) ||
              (name == "shop" && !IsValidShopId(*decoded))) {
            if (bad_param.ok()) bad_param = NotFound("\"" + name + "\" is not a valid id", name);
          } else {
            ctx.params[name] = *decoded;
          }
        }
        if (compiled.route.method != method) {
          allowed.push_back(compiled.route.method);
          continue;
        }
        route_name = compiled.route.pattern;
        if (!bad_param.ok()) return Problem(request, bad_param);
        ctx.route = compiled.route.pattern;
        ctx.auth = compiled.route.auth;
        if (auto it = ctx.params.find("shop"); it != ctx.params.end()) shop = it->second;
        if (compiled.route.auth != RouteAuth::kNone) {
          const std::string& s = ctx.params.at("shop");
          auto principal = compiled.route.auth == RouteAuth::kShopper
                               ? authenticator_.AuthenticateShopper(request, s)
                               : authenticator_.AuthenticateAgent(request, s);
          if (!principal.ok()) return Problem(request, principal.status());
          token = principal->LogName();
          if (compiled.route.auth == RouteAuth::kAdmin && principal->role != Role::kAdmin)
            return Problem(request, Reasoned(ErrorCode::kPermissionDenied, "admin_required",
                                             "only an admin token may do this; token " +
                                                 principal->token_id + " has role agent"));
          if (int64_t wait = impl_->limiter.Acquire(principal->RateKey()); wait > 0) {
            HttpResponse r = Problem(
                request, Reasoned(ErrorCode::kUnavailable, "rate_limited",
                                  "too many requests; retry in " + std::to_string(wait) + " s"));
            r.set(http::field::retry_after, std::to_string(wait));
            return r;
          }
          ctx.principal = std::move(*principal);
        }
        return compiled.route.handler(request, ctx);
      }
      if (!allowed.empty()) {
        std::string allow;
        for (http::verb v : allowed) allow += (allow.empty() ? "" : ", ") + NameOf(v);
        HttpResponse r =
            Problem(request, Reasoned(ErrorCode::kInvalidArgument, "method_not_allowed",
                                      NameOf(method) +
                                          " is not allowed on this "
                                          "route; use " +
                                          allow));
        r.set(http::field::allow, allow);
        return r;
      }
      return Problem(request, NotFound("no route for " + NameOf(method) + " " +
                                       std::string(path.substr(0, 200))));
    }();
  } catch (const std::exception& e) {
    spdlog::error("api: {} {} threw: {}", NameOf(request.method()), route_name, e.what());
    response = Problem(request, Status::Error(ErrorCode::kInternal,
                                              "an internal error occurred; it has been logged"));
  }
  const auto took = std::chrono::steady_clock::now() - started;
  if (impl_->options.on_answered) {
    impl_->options.on_answered(route_name == "-" ? "unmatched" : route_name, request.method(),
                               response.result_int(), took);
  }
  if (impl_->options.access_log) {
    const double ms = std::chrono::duration<double, std::milli>(took).count();
    spdlog::info("http method={} route={} status={} ms={:.2f} shop={} token={}",
                 NameOf(request.method()), route_name, response.result_int(), ms, shop, token);
  }
  return response;
}

}  // namespace palaver::api
