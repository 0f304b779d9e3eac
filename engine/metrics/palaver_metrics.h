// The metrics palaver exports, registered in one place so that every part of
// the program uses the same names, labels and buckets. engine/metrics/README.md
// describes each one; `palaver serve` creates one PalaverMetrics per process
// and hands the families to the parts that count.
#pragma once

#include <memory>

#include "engine/metrics/metrics.h"
#include "schemas/status.h"

namespace palaver::metrics {

struct PalaverMetrics {
  // palaver_http_requests_total{route,method,status}: requests answered.
  // `route` is the route template ("/v1/shops/{shop}/conversations"), never
  // the raw path, so the number of series stays bounded; "unmatched" for
  // requests no route took. `status` is the numeric HTTP status ("404").
  CounterFamily* http_requests = nullptr;
  // palaver_http_request_duration_seconds{route,method}: from the request
  // being read to the response being handed to the socket.
  HistogramFamily* http_request_duration = nullptr;
  // palaver_log_append_duration_seconds{log}: one EventLog append until it
  // is acknowledged; `log` is "embedded" or "kafka".
  HistogramFamily* log_append_duration = nullptr;
  // palaver_projection_lag_events{projection,partition}: log end offset minus
  // the next offset the projection will apply (0 when caught up).
  GaugeFamily* projection_lag = nullptr;
  // palaver_stream_connections{transport,audience}: live streams open now;
  // `transport` is "websocket" or "sse", `audience` "agent" or "shopper".
  GaugeFamily* stream_connections = nullptr;
  // palaver_stream_disconnects_total{reason}: streams palaver closed, by
  // reason ("slow_consumer", "shutdown", "auth_expired", "client_closed").
  CounterFamily* stream_disconnects = nullptr;
  // palaver_storefront_records_total{outcome}: palaver.storefront records
  // handled; `outcome` is "applied", "duplicate" or "dead_lettered".
  CounterFamily* storefront_records = nullptr;
  // palaver_inbox_cache_lookups_total{outcome}: inbox pages asked without
  // min_position; `outcome` is "hit" (answered from the page cache) or "miss".
  CounterFamily* inbox_cache_lookups = nullptr;
  // palaver_inbox_cache_bytes: memory the inbox page cache holds now.
  GaugeFamily* inbox_cache_bytes = nullptr;

  // Registers every family above in `registry` (which must outlive the
  // result). kAlreadyExists when one of the names is already registered.
  static Result<PalaverMetrics> Register(Registry& registry);
};

}  // namespace palaver::metrics
