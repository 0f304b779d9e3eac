#include "engine/metrics/metrics_http.h"

namespace palaver::metrics {

namespace http = boost::beast::http;

MetricsHttpResponse MetricsResponse(const Registry& registry, const MetricsHttpRequest& request) {
  MetricsHttpResponse response;
  response.version(request.version());
  response.keep_alive(request.keep_alive());
  response.set(http::field::server, "palaver");
  response.set(http::field::cache_control, "no-store");
  if (request.method() != http::verb::get && request.method() != http::verb::head) {
    response.result(http::status::method_not_allowed);
    response.set(http::field::allow, "GET, HEAD");
    response.set(http::field::content_type, "application/problem+json");
    response.body() =
        R"({"type":"https://palaver.dev/problems/method_not_allowed","title":"Method Not Allowed",)"
        R"("status":405,"code":"method_not_allowed","detail":"/metrics answers GET and HEAD only"})";
    response.prepare_payload();
    return response;
  }
  response.result(http::status::ok);
  response.set(http::field::content_type, kContentType);
  response.body() = registry.Render();
  response.prepare_payload();  // sets Content-Length from the body
  if (request.method() == http::verb::head) response.body().clear();
  return response;
}

}  // namespace palaver::metrics
