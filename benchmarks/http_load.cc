#include "benchmarks/http_load.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>
#include <nlohmann/json.hpp>
#include <unistd.h>

#include "benchmarks/bench_util.h"
#include "engine/rules/clock.h"
#include "engine/rules/shopper_identity.h"

namespace palaver::bench {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
using tcp = asio::ip::tcp;
using namespace std::chrono_literals;

struct Endpoint {
  std::string host;
  std::string port;
};

std::optional<Endpoint> ParseUrl(const std::string& url) {
  std::string rest = url;
  const std::string scheme = "http://";
  if (rest.rfind(scheme, 0) == 0) rest = rest.substr(scheme.size());
  while (!rest.empty() && rest.back() == '/') rest.pop_back();
  const size_t colon = rest.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == rest.size()) return std::nullopt;
  return Endpoint{rest.substr(0, colon), rest.substr(colon + 1)};
}

struct Response {
  int status = 0;  // 0: no answer (connection failed)
  std::string body;
};

// One keep-alive HTTP/1.1 connection; reconnects once when the server closed it.
class HttpClient {
 public:
  explicit HttpClient(Endpoint endpoint) : endpoint_(std::move(endpoint)), stream_(ioc_) {}

  Response Request(http::verb verb, const std::string& target, const std::string& body,
                   const std::vector<std::pair<std::string, std::string>>& headers) {
    for (int attempt = 0; attempt < 2; ++attempt) {
      beast::error_code ec;
      if (!connected_ && !Connect()) continue;
      http::request<http::string_body> req{verb, target, 11};
      req.set(http::field::host, endpoint_.host);
      req.set(http::field::content_type, "application/json");
      req.keep_alive(true);
      for (const auto& [name, value] : headers) req.set(name, value);
      req.body() = body;
      req.prepare_payload();
      http::write(stream_, req, ec);
      if (ec) {
        Close();
        continue;
      }
      beast::flat_buffer buffer;
      http::response<http::string_body> res;
      http::read(stream_, buffer, res, ec);
      if (ec) {
        Close();
        continue;
      }
      if (!res.keep_alive()) Close();
      return {static_cast<int>(res.result_int()), std::move(res.body())};
    }
    return {};
  }

 private:
  bool Connect() {
    beast::error_code ec;
    tcp::resolver resolver(ioc_);
    const auto results = resolver.resolve(endpoint_.host, endpoint_.port, ec);
    if (ec) return false;
    stream_.connect(results, ec);
    if (ec) return false;
    stream_.socket().set_option(tcp::no_delay(true), ec);
    connected_ = true;
    return true;
  }
  void Close() {
    beast::error_code ec;
    stream_.socket().shutdown(tcp::socket::shutdown_both, ec);
    stream_.close();
    connected_ = false;
  }

  const Endpoint endpoint_;
  asio::io_context ioc_;
  beast::tcp_stream stream_;
  bool connected_ = false;
};

int64_t NowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch())
      .count();
}

int64_t ServerPeakRss(int64_t pid) {
  if (pid <= 0) return 0;
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmHWM:", 0) == 0) return std::atoll(line.c_str() + 6) * 1024;
  }
  return 0;
}

constexpr char kMarker[] = "load #";

}  // namespace

int RunHttpLoad(const HttpLoadConfig& config) {
  const std::optional<Endpoint> endpoint = ParseUrl(config.url);
  if (!endpoint) {
    std::fprintf(stderr, "http load: --http wants http://HOST:PORT, not %s\n", config.url.c_str());
    return 2;
  }
  const std::string base = "/v1/shops/" + config.shop;
  const std::string bearer = "Bearer " + config.token;
  std::printf("http load: %s, shop %s, %d shoppers, %.0f messages/s for %.0f s from %d senders\n",
              config.url.c_str(), config.shop.c_str(), config.conversations, config.rate,
              config.seconds, config.threads);

  // Staff, then one web chat per shopper.
  HttpClient admin(*endpoint);
  const nlohmann::json staff = {{"agents",
                                 {{{"agent_id", config.agent},
                                   {"display_name", "Agent " + config.agent},
                                   {"permissions", {"chat", "manage_settings"}}}}}};
  Response r = admin.Request(http::verb::put, base + "/settings/agents", staff.dump(),
                             {{"Authorization", bearer}});
  if (r.status < 200 || r.status >= 300) {
    std::fprintf(stderr, "http load: PUT settings/agents answered %d: %s\n", r.status,
                 r.body.c_str());
    return 1;
  }
  rules::SystemClock clock;
  struct Shopper {
    std::string identity;
    std::string conversation;
  };
  std::vector<Shopper> shoppers;
  for (int i = 0; i < config.conversations; ++i) {
    rules::ShopperIdentity id;
    id.shop = config.shop;
    id.customer_id = "http-shopper-" + std::to_string(i) + "-" + std::to_string(::getpid());
    id.email = id.customer_id + "@example.com";
    id.name = "Shopper " + std::to_string(i);
    id.expires_at_unix_seconds = clock.NowMicros() / 1000000 + 3600;
    Shopper s{rules::SignShopperIdentity(id, config.secret), ""};
    r = admin.Request(http::verb::post, base + "/shopper/conversations", R"({"platform":"web"})",
                      {{"X-Palaver-Identity", s.identity}});
    const nlohmann::json answer = nlohmann::json::parse(r.body, nullptr, false);
    if (r.status < 200 || r.status >= 300 || !answer.is_object() ||
        !answer.contains("conversation_id")) {
      std::fprintf(stderr, "http load: starting a chat answered %d: %s\n", r.status,
                   r.body.c_str());
      return 1;
    }
    s.conversation = answer["conversation_id"].get<std::string>();
    shoppers.push_back(std::move(s));
  }

  // The agent's stream of the whole shop.
  asio::io_context ws_ioc;
  websocket::stream<tcp::socket> ws(ws_ioc);
  {
    beast::error_code ec;
    tcp::resolver resolver(ws_ioc);
    const auto results = resolver.resolve(endpoint->host, endpoint->port, ec);
    if (!ec) asio::connect(ws.next_layer(), results, ec);
    if (!ec) {
      ws.set_option(websocket::stream_base::decorator(
          [&](websocket::request_type& req) { req.set(http::field::authorization, bearer); }));
      ws.handshake(endpoint->host + ":" + endpoint->port, base + "/stream", ec);
    }
    if (ec) {
      std::fprintf(stderr, "http load: WebSocket %s/stream: %s\n", base.c_str(),
                   ec.message().c_str());
      return 1;
    }
  }

  const auto start = Clock::now();
  const size_t capacity = static_cast<size_t>(config.rate * config.seconds * 1.5) + 1000;
  std::vector<std::atomic<int64_t>> sent_at(capacity);  // ns; 0 = not sent
  std::atomic<size_t> next_seq{0};
  LatencyRecorder ws_latency(start);
  LatencyRecorder post_latency(start);
  std::atomic<int64_t> ws_items{0};
  std::atomic<int64_t> ws_matched{0};
  std::atomic<bool> ws_ready{false};
  std::string ws_error;

  std::thread reader([&] {
    beast::flat_buffer buffer;
    while (true) {
      beast::error_code ec;
      buffer.clear();
      ws.read(buffer, ec);
      if (ec) {
        if (ec != websocket::error::closed && ec != asio::error::operation_aborted &&
            ec != asio::error::eof && ec != asio::error::not_connected &&
            ec != asio::error::bad_descriptor)
          ws_error = ec.message();
        return;
      }
      const int64_t now = NowNs();
      const nlohmann::json item =
          nlohmann::json::parse(beast::buffers_to_string(buffer.data()), nullptr, false);
      if (!item.is_object()) continue;
      if (item.contains("ready")) {
        ws_ready = true;
        continue;
      }
      ++ws_items;
      const auto event = item.find("event");
      if (event == item.end() || !event->is_object() ||
          event->value("type", "") != "message.posted")
        continue;
      std::string text;
      if (auto body = event->find("body"); body != event->end() && body->is_object()) {
        if (auto personal = body->find("personal");
            personal != body->end() && personal->is_object()) {
          if (auto t = personal->find("text"); t != personal->end() && t->is_string())
            text = t->get<std::string>();
        }
      }
      const size_t at = text.find(kMarker);
      if (at == std::string::npos) continue;
      const size_t seq = std::strtoull(text.c_str() + at + sizeof(kMarker) - 1, nullptr, 10);
      if (seq >= capacity) continue;
      const int64_t sent = sent_at[seq].exchange(0);
      if (sent == 0) continue;
      ++ws_matched;
      ws_latency.Add(static_cast<double>(now - sent) / 1e6,
                     Clock::time_point(std::chrono::nanoseconds(sent)));
    }
  });
  for (int i = 0; i < 200 && !ws_ready; ++i) std::this_thread::sleep_for(10ms);

  std::mutex status_mu;
  std::map<int, int64_t> statuses;  // guarded by status_mu
  const auto load_start = Clock::now();
  const auto load_end = load_start + std::chrono::duration<double>(config.seconds);
  std::vector<std::thread> senders;
  for (int t = 0; t < config.threads; ++t) {
    senders.emplace_back([&, t] {
      HttpClient client(*endpoint);
      const double per_sender = config.rate / config.threads;
      std::map<int, int64_t> local;
      for (int64_t i = 0;; ++i) {
        const auto due = load_start + std::chrono::duration_cast<Clock::duration>(
                                          std::chrono::duration<double>(i / per_sender));
        // Closed-loop senders: one request in flight each. One that fell behind
        // stops at the end of the window too, so the achieved rate shows.
        if (due >= load_end || Clock::now() >= load_end) break;
        std::this_thread::sleep_until(due);
        const size_t seq = next_seq++;
        if (seq >= capacity) break;
        const Shopper& s = shoppers[(static_cast<size_t>(i) * static_cast<size_t>(config.threads) +
                                     static_cast<size_t>(t)) %
                                    shoppers.size()];
        const nlohmann::json body = {
            {"text", std::string(kMarker) + std::to_string(seq) + " Where is my order? 📦"}};
        const int64_t sent = NowNs();
        sent_at[seq] = sent;
        const Response answer = client.Request(
            http::verb::post, base + "/shopper/conversations/" + s.conversation + "/messages",
            body.dump(), {{"X-Palaver-Identity", s.identity}});
        post_latency.Add(static_cast<double>(NowNs() - sent) / 1e6,
                         Clock::time_point(std::chrono::nanoseconds(sent)));
        ++local[answer.status];
        if (answer.status < 200 || answer.status >= 300) sent_at[seq] = 0;  // never arrives
      }
      std::lock_guard lock(status_mu);
      for (const auto& [code, n] : local) statuses[code] += n;
    });
  }
  for (std::thread& s : senders) s.join();
  const double window = SecondsSince(load_start);
  // Let the stream deliver what is still in flight, then close it.
  const int64_t sent_ok = [&] {
    std::lock_guard lock(status_mu);
    int64_t n = 0;
    for (const auto& [code, count] : statuses)
      if (code >= 200 && code < 300) n += count;
    return n;
  }();
  for (int i = 0; i < 500 && ws_matched.load() < sent_ok; ++i) std::this_thread::sleep_for(10ms);
  {
    beast::error_code ec;
    ws.next_layer().shutdown(tcp::socket::shutdown_both, ec);
  }
  reader.join();

  const Percentiles ws_p = ws_latency.Summary();
  const Percentiles post_p = post_latency.Summary();
  const int64_t sent_total = static_cast<int64_t>(std::min(next_seq.load(), capacity));
  std::printf(
      "sent %lld messages in %.1f s (%.0f/s); %lld answered 2xx; agent stream saw %lld "
      "of them (%lld items in all)\n",
      static_cast<long long>(sent_total), window, static_cast<double>(sent_total) / window,
      static_cast<long long>(sent_ok), static_cast<long long>(ws_matched.load()),
      static_cast<long long>(ws_items.load()));
  const double achieved = static_cast<double>(sent_total) / window;
  if (achieved < 0.98 * config.rate)
    std::printf(
        "BELOW THE OFFERED RATE: %.0f/s sent of %.0f/s offered (each of the %d senders "
        "waits for its POST's answer; the server answered too slowly to keep up)\n",
        achieved, config.rate, config.threads);
  std::printf("POST answered:                 p50 %7.2f ms  p95 %7.2f  p99 %7.2f  max %8.2f\n",
              post_p.p50, post_p.p95, post_p.p99, post_p.max);
  std::printf(
      "shopper POST -> agent WebSocket: p50 %7.2f ms  p95 %7.2f  p99 %7.2f  max %8.2f"
      "  (target p99 <= 25 ms at 1,000/s)\n",
      ws_p.p50, ws_p.p95, ws_p.p99, ws_p.max);
  nlohmann::json codes = nlohmann::json::object();
  for (const auto& [code, n] : statuses) codes[std::to_string(code)] = n;
  std::printf("answers by status: %s%s%s\n", codes.dump().c_str(),
              ws_error.empty() ? "" : "; stream error: ", ws_error.c_str());
  const int64_t server_rss = ServerPeakRss(config.server_pid);
  if (server_rss > 0)
    std::printf("palaver serve peak RSS: %.1f MiB\n", static_cast<double>(server_rss) / (1 << 20));
  const nlohmann::json report = {{"url", config.url},
                                 {"rate", config.rate},
                                 {"seconds", window},
                                 {"senders", config.threads},
                                 {"shoppers", config.conversations},
                                 {"sent", sent_total},
                                 {"sent_per_second", achieved},
                                 {"below_offered_rate", achieved < 0.98 * config.rate},
                                 {"answered_2xx", sent_ok},
                                 {"seen_on_stream", ws_matched.load()},
                                 {"stream_items", ws_items.load()},
                                 {"statuses", codes},
                                 {"stream_error", ws_error},
                                 {"post_latency_ms", post_p.ToJson()},
                                 {"ws_latency_ms", ws_p.ToJson()},
                                 {"ws_latency_series", ws_latency.Series(0.5)},
                                 {"server_peak_rss_bytes", server_rss}};
  if (!config.json_path.empty() && !WriteJson(config.json_path, report)) {
    std::fprintf(stderr, "cannot write %s\n", config.json_path.c_str());
    return 1;
  }
  return 0;
}

}  // namespace palaver::bench
