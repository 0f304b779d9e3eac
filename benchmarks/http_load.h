// The HTTP/WebSocket mode of the load generator: shoppers POST messages to a
// running `palaver serve` at a fixed rate while an agent holds the shop's
// WebSocket stream open, and the time from each POST to the agent seeing the
// message on the stream is recorded.
//
// Routes used (connectors/api, connectors/live):
//   PUT  /v1/shops/{shop}/settings/agents                 (admin token) staff
//   POST /v1/shops/{shop}/shopper/conversations            (X-Palaver-Identity) start a chat
//   POST /v1/shops/{shop}/shopper/conversations/{id}/messages  {"text": ...}
//   GET  /v1/shops/{shop}/stream                           (Bearer, WebSocket) live events
// Shopper identities are signed here with the shop's identity secret, as a
// storefront backend would (engine/rules/shopper_identity.h).
#pragma once

#include <cstdint>
#include <string>

namespace palaver::bench {

struct HttpLoadConfig {
  std::string url;            // "http://127.0.0.1:8080"
  std::string shop;           // a shop `palaver shop add` created
  std::string token;          // an admin API token of that shop (`palaver token create`)
  std::string agent = "ann";  // the token's agent id
  std::string secret;         // the shop's identity secret
  int conversations = 200;    // shoppers, one web chat each
  double rate = 1000;         // shopper messages per second, over all senders
  double seconds = 10;
  int threads = 8;         // sender threads, one keep-alive connection and one request
                           // in flight each: rate x POST latency must stay below this
  int64_t server_pid = 0;  // when set, palaver's peak RSS is read from /proc
  std::string json_path;
};

// Runs the load and prints (and writes to json_path) the figures. Returns a
// process exit code: 0 when the run completed, 1 when setup failed.
int RunHttpLoad(const HttpLoadConfig& config);

}  // namespace palaver::bench
