// The HTTP face of a metrics Registry: the answer to `GET /metrics`.
//
// Kept apart from metrics.h so that code which only counts does not pull in
// Boost.Beast. The request and response types are the ones palaver's
// HttpServer uses (connectors/http_server.h names the same Beast types).
#pragma once

#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>

#include "engine/metrics/metrics.h"

namespace palaver::metrics {

using MetricsHttpRequest = boost::beast::http::request<boost::beast::http::string_body>;
using MetricsHttpResponse = boost::beast::http::response<boost::beast::http::string_body>;

// The response to `request`, whatever its target (route it here for /metrics):
//   GET   200, Content-Type kContentType, body registry.Render()
//   HEAD  200, the same headers and Content-Length, no body
//   other 405 application/problem+json with "Allow: GET, HEAD"
// Always "Cache-Control: no-store"; keep-alive as the request asked.
// Never throws; thread-safe (Render() is).
MetricsHttpResponse MetricsResponse(const Registry& registry, const MetricsHttpRequest& request);

}  // namespace palaver::metrics
