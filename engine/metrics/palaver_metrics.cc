#include "engine/metrics/palaver_metrics.h"

namespace palaver::metrics {

namespace {

template <typename T>
Status Take(Result<T*> added, T*& into) {
  if (!added.ok()) return added.status();
  into = *added;
  return Status::Ok();
}

}  // namespace

Result<PalaverMetrics> PalaverMetrics::Register(Registry& registry) {
  PalaverMetrics m;
  PALAVER_RETURN_IF_ERROR(Take(registry.AddCounter("palaver_http_requests_total",
                                                   "HTTP requests answered, by route template, "
                                                   "method and status code.",
                                                   {"route", "method", "status"}),
                               m.http_requests));
  PALAVER_RETURN_IF_ERROR(
      Take(registry.AddHistogram("palaver_http_request_duration_seconds",
                                 "Time from reading an HTTP request to handing over its response.",
                                 {"route", "method"}, kLatencySecondsBuckets),
           m.http_request_duration));
  PALAVER_RETURN_IF_ERROR(
      Take(registry.AddHistogram("palaver_log_append_duration_seconds",
                                 "Time for one event log append to be acknowledged.", {"log"},
                                 kLatencySecondsBuckets),
           m.log_append_duration));
  PALAVER_RETURN_IF_ERROR(
      Take(registry.AddGauge("palaver_projection_lag_events",
                             "Events in the log a projection has not applied yet.",
                             {"projection", "partition"}),
           m.projection_lag));
  PALAVER_RETURN_IF_ERROR(
      Take(registry.AddGauge("palaver_stream_connections", "Live update streams open now.",
                             {"transport", "audience"}),
           m.stream_connections));
  PALAVER_RETURN_IF_ERROR(Take(registry.AddCounter("palaver_stream_disconnects_total",
                                                   "Live update streams closed by palaver, by "
                                                   "reason.",
                                                   {"reason"}),
                               m.stream_disconnects));
  PALAVER_RETURN_IF_ERROR(Take(registry.AddCounter("palaver_storefront_records_total",
                                                   "palaver.storefront records handled, by "
                                                   "outcome.",
                                                   {"outcome"}),
                               m.storefront_records));
  PALAVER_RETURN_IF_ERROR(Take(registry.AddCounter("palaver_inbox_cache_lookups_total",
                                                   "Inbox pages asked without min_position, by "
                                                   "whether the page cache answered (hit) or "
                                                   "not (miss).",
                                                   {"outcome"}),
                               m.inbox_cache_lookups));
  PALAVER_RETURN_IF_ERROR(Take(
      registry.AddGauge("palaver_inbox_cache_bytes", "Memory the inbox page cache holds now.", {}),
      m.inbox_cache_bytes));
  return m;
}

}  // namespace palaver::metrics
