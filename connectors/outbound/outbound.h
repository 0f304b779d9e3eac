// Outbound connectors: what palaver sends to the world outside as the log
// grows - signed webhooks, mails over SMTP, text messages through an SMS
// provider. This header holds what every outbound connector shares: the
// options for following the log and retrying, the counters, and the
// OutboundConnector interface. The connectors themselves are created by
// NewWebhookConnector (webhook_connector.h), NewEmailConnector
// (email_connector.h) and NewSmsConnector (sms_connector.h).
//
// How every outbound connector works:
//   - It follows the log with one LogReader per partition and keeps ITS OWN
//     position per partition (per target: each webhook endpoint has its own)
//     in a small RocksDB store under FollowOptions::state_dir. An event's
//     position is written only after every delivery it caused is settled
//     (delivered, failed for good, or - on Stop - not yet settled, in which
//     case the position stays before it). A restart therefore resumes at the
//     first event whose deliveries were not settled: nothing delivered is
//     skipped, and nothing settled is sent again, except the deliveries of
//     the one event in flight when the process died.
//   - Delivery is AT-LEAST-ONCE with a stable delivery id the receiver uses as
//     its idempotency key: the same id on every attempt and after a restart
//     (webhook header X-Palaver-Delivery, mail Message-ID, SMS header
//     X-Palaver-Delivery). Exactly-once from the receiver's side holds for a
//     receiver that drops ids it has already accepted. True exactly-once is not
//     possible over HTTP or SMTP: the receiver may accept a request whose
//     answer never reaches palaver, and only a resend can tell.
//   - Retries: a transient failure (connection refused or reset, timeout,
//     HTTP 408/425/429/5xx, SMTP 4xx) is retried with exponential backoff; a
//     permanent one (other HTTP 4xx, SMTP 5xx, an event that names no
//     recipient) settles as `failed` and the target moves on. After
//     RetryOptions::max_attempts transient failures the target is PARKED: it
//     keeps its position (its backlog is the log itself), tries the same
//     delivery again every park_retry_interval, and when that succeeds
//     delivers its backlog in order. Targets are independent: a parked
//     webhook endpoint holds up no other endpoint and no other connector.
//   - Each settled result is appended to the log as a `delivery.recorded`
//     event (schemas/events.h) in the shop's partition, actor kSystem: one
//     for `delivered`, one for `failed`, and one when a target parks on a
//     delivery (followed by `delivered` when it recovers). Connectors ignore
//     delivery.recorded events when following the log.
//
// Thread safety: Start, Stop and Counters may be called from any thread.
// Each target runs on a thread of its own, started by Start.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "schemas/status.h"

namespace palaver {

// Where a target with no stored position starts, the first time it runs.
enum class StartFrom {
  kEnd,        // only events appended from now on (the default: a new endpoint
               // does not receive the shop's whole history). Email and SMS
               // still read the partition from 0 once, sending nothing, to learn
               // the addresses of conversations started before them.
  kBeginning,  // every event from offset 0
};

// How a connector follows the log.
struct FollowOptions {
  // The connector's own RocksDB store (positions, and for email/SMS the
  // conversations' contact addresses and transcript lines). Created when
  // missing. One directory per connector; two connectors never share one.
  std::string state_dir;
  // The partitions to follow; empty = every partition of the log. Several
  // palaver instances split the partitions between them this way.
  std::vector<int32_t> partitions;
  StartFrom start_from = StartFrom::kEnd;
  size_t batch_size = 200;                  // records read from a partition at a time
  std::chrono::milliseconds idle_wait{20};  // pause when no partition had anything new
};

// Retries, backoff and parking. The n-th retry of a delivery waits
// min(initial_backoff * multiplier^(n-1), max_backoff).
struct RetryOptions {
  int max_attempts = 5;  // attempts before the target parks (the parking threshold); >= 1
  std::chrono::milliseconds initial_backoff{500};
  std::chrono::milliseconds max_backoff{30000};
  double multiplier = 2.0;  // >= 1
  // While parked, one attempt this often.
  std::chrono::milliseconds park_retry_interval{60000};
  // false: after max_attempts the delivery settles as `failed` and the target
  // moves on instead of parking (messages are then lost to that receiver).
  bool park_when_exhausted = true;
  std::chrono::milliseconds request_timeout{10000};  // bound on one HTTP request or SMTP session
};

// Counters of one connector, summed over its targets; monotonic except
// `parked_now` and `lag`.
struct OutboundCounters {
  uint64_t delivered = 0;   // deliveries accepted by their receiver
  uint64_t failed = 0;      // deliveries refused for good (or exhausted without parking)
  uint64_t retried = 0;     // attempts after a transient failure
  uint64_t parked = 0;      // times a target parked
  uint64_t parked_now = 0;  // targets parked at this moment
  uint64_t skipped = 0;     // records that did not decode (logged, position moved past)
  int64_t lag = 0;          // records in followed partitions not yet settled, all targets
};

// The counters of one target of one connector.
struct TargetCounters {
  std::string connector;  // "webhook", "email", "sms"
  std::string target;     // the endpoint id, "smtp", "sms"
  OutboundCounters counters;
};

// One outbound connector: a set of targets, each following the log.
class OutboundConnector {
 public:
  virtual ~OutboundConnector() = default;
  OutboundConnector(const OutboundConnector&) = delete;
  OutboundConnector& operator=(const OutboundConnector&) = delete;

  // Opens the positions and starts one thread per target. Returns once every
  // target knows its starting position (written to the store at once for a
  // new target, so a restart before its first event skips nothing).
  // Errors: kIoError when the state directory cannot be opened (e.g. another
  // process holds it); kUnavailable when the log cannot be read;
  // kFailedPrecondition when already started.
  virtual Status Start() = 0;

  // Stops every target and joins its thread. A request already on its way
  // is awaited (at most RetryOptions::request_timeout) and settled, so a
  // graceful stop resends nothing; a delivery waiting for its next attempt is
  // left unsettled and sent again, with the same delivery id, after a
  // restart. Idempotent; the destructor calls it.
  virtual void Stop() = 0;

  // A snapshot of the counters.
  virtual OutboundCounters Counters() const = 0;

  // A snapshot of the counters of each target.
  virtual std::vector<TargetCounters> Targets() const = 0;

  // The counters in the Prometheus text format, one sample per target, e.g.
  //   palaver_outbound_delivered_total{connector="webhook",target="helpdesk"} 12
  // Metric names: palaver_outbound_{delivered,failed,retried,parked,skipped}_total,
  // palaver_outbound_parked (0/1) and palaver_outbound_lag_records.
  // Same as OutboundMetricsText({this}).
  virtual std::string MetricsText() const = 0;

 protected:
  OutboundConnector() = default;
};

// The counters of every target of `connectors` in the Prometheus text format,
// each metric family (HELP, TYPE, samples) once, for a /metrics endpoint
// that serves several connectors. Null pointers are skipped.
std::string OutboundMetricsText(const std::vector<const OutboundConnector*>& connectors);

}  // namespace palaver
