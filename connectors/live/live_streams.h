// LiveStreams: live updates of a shop over WebSocket and Server-Sent Events,
// resumable from a log position, mounted on HttpServer as a stream route.
//
// Routes (see README.md for the wire format):
//   GET /v1/shops/{shop}/stream                                          agents
//   GET /v1/shops/{shop}/shopper/conversations/{conversation_id}/stream  the shopper
// served as WebSocket (an Upgrade request) or Server-Sent Events (Accept:
// text/event-stream). Credentials come in the same headers as the API's
// (Authorization: Bearer, X-Palaver-Identity) or, for browsers, which cannot
// set headers on these requests, as ?access_token= (agents) and ?identity=
// (the shopper); a header wins over the query. Every pushed item carries its position: the offset
// of its event in the shop's partition. A client that reconnects with the last position it saw
// (`?after=N`, or for SSE `Last-Event-ID: N`, which wins over the query because browsers resend the
// original URL) receives everything it missed, in order, with no duplicates. Without either it
// starts at the end of the log; the first message ("ready") says which position it starts after.
//
// How: one tailer thread per partition (started when the first stream of a
// shop in it opens) reads the log at its end, decodes each event once and
// keeps a bounded ring of recent items. A stream that resumes inside the ring
// is served from it; one that resumes from older positions catches up with
// its own LogReader (run by a small pool of catch-up workers, paced by how
// fast the client reads) and then joins the live feed. Each stream has a
// bounded queue (bytes and items). When it is full the stream leaves the live
// feed and reads the log from where it stopped, as fast as its client takes
// items, then joins again: a burst never costs memory beyond the bound. A
// client whose full queue stays untouched for stall_timeout is disconnected
// (WebSocket close 1008 with a reason, SSE a final `event: error`). HttpServer::Stop() closes
// every stream with WebSocket 1001 "server shutting down" (SSE: a final
// `event: error` with code "server_shutting_down").
//
// Lifetime: create LiveStreams before the HttpServer that mounts Route(), and
// stop (or destroy) that server before destroying LiveStreams. The EventLog
// must outlive LiveStreams.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "connectors/http_server.h"
#include "connectors/live/live_view.h"
#include "engine/event_log.h"
#include "schemas/status.h"

namespace palaver::live {

// Which stream a request asked for, parsed from its path.
struct StreamTarget {
  std::string shop;
  Viewer viewer = Viewer::kAgent;
  std::string conversation_id;  // shopper streams only
};

// Decides who may open a stream. Returns the scope the request may see, or an
// error that becomes a problem response before any upgrade:
//   kPermissionDenied  credentials missing or invalid        -> 401
//   kNotFound          valid credentials that do not reach this shop or
//                      conversation (never 403: a stranger must not learn
//                      that it exists)                        -> 404
//   kInvalidArgument   a malformed request                   -> 400
//   anything else                                             -> 503
// The returned scope must name target.shop (and for a shopper
// target.conversation_id); otherwise the stream is refused with 404. Called on
// a server thread; must be thread-safe and must not throw.
using StreamAuthorizer =
    std::function<Result<StreamScope>(const HttpRequest& request, const StreamTarget& target)>;

struct LiveOptions {
  size_t ring_items = 4096;                 // recent items kept per partition
  size_t client_queue_bytes = 1024 * 1024;  // unsent bytes one stream may hold
  size_t client_queue_items = 16 * 1024;    // unsent items one stream may hold
  size_t catch_up_batch = 256;              // records read per catch-up step
  int catch_up_threads = 2;                 // workers shared by all catching-up streams
  // A stream whose queue is full and whose client has taken nothing for this
  // long is closed as a slow consumer. (A full queue alone only means the
  // stream is behind: it then reads from the log, paced by its client.)
  std::chrono::milliseconds stall_timeout{10000};
  std::chrono::milliseconds close_timeout{
      5000};                           // a close handshake that takes longer drops the socket
  std::chrono::seconds keepalive{15};  // SSE comment / WebSocket ping on an idle stream
};

enum class StreamTransport { kWebSocket = 0, kSse = 1 };

// Counters for /metrics. Thread-safe snapshot.
struct LiveStats {
  size_t open_streams = 0;  // streams currently attached (catching up or live)
  // open_streams by transport and audience:
  // open_by_kind[static_cast<int>(StreamTransport)][static_cast<int>(Viewer)].
  size_t open_by_kind[2][2] = {};
  size_t catching_up = 0;       // of which reading the log before joining the live feed
  uint64_t streams_opened = 0;  // since start
  uint64_t items_pushed = 0;    // items handed to sockets
  uint64_t slow_consumer_disconnects = 0;
  size_t peak_queue_bytes = 0;  // the most unsent bytes any one stream held
  size_t tailers = 0;           // partitions tailed
};

class LiveStreams {
 public:
  // Errors: kInvalidArgument for options that cannot work (a zero limit).
  static Result<std::unique_ptr<LiveStreams>> Create(EventLog& log, StreamAuthorizer authorize,
                                                     LiveOptions options = {});
  // Stops the tailers and catch-up workers. See Lifetime above.
  ~LiveStreams();
  LiveStreams(const LiveStreams&) = delete;
  LiveStreams& operator=(const LiveStreams&) = delete;

  // The route to pass to HttpServer::Start: takes over the two stream paths
  // (answering errors itself, as application/problem+json) and leaves every
  // other request to the HttpHandler. Valid while this object lives.
  HttpStreamRoute Route();

  LiveStats Stats() const;

  class Hub;  // internal

 private:
  explicit LiveStreams(std::shared_ptr<Hub> hub);
  std::shared_ptr<Hub> hub_;
};

// Parses a stream path ("/v1/shops/s/stream", query ignored); nullopt when the
// path is not one of the two stream routes. Percent-escapes are decoded.
std::optional<StreamTarget> ParseStreamTarget(std::string_view target);

}  // namespace palaver::live
