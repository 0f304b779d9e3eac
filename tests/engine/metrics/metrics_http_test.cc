#include "engine/metrics/metrics_http.h"

#include <boost/beast/http.hpp>
#include <gtest/gtest.h>

#include "tests/engine/metrics/prometheus_text_parser.h"

namespace palaver::metrics {
namespace {

namespace http = boost::beast::http;

class MetricsHttpTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto family = registry_.AddCounter("palaver_http_requests_total", "Requests.", {"status"});
    ASSERT_TRUE(family.ok());
    (*family)->WithLabels({"200"}).Increment(5);
  }
  MetricsHttpRequest Request(http::verb verb) {
    MetricsHttpRequest request(verb, "/metrics", 11);
    request.keep_alive(true);
    return request;
  }
  Registry registry_;
};

TEST_F(MetricsHttpTest, GetAnswersTheTextFormatWithItsContentType) {
  MetricsHttpResponse response = MetricsResponse(registry_, Request(http::verb::get));
  EXPECT_EQ(response.result(), http::status::ok);
  EXPECT_EQ(response[http::field::content_type], "text/plain; version=0.0.4; charset=utf-8");
  EXPECT_EQ(response[http::field::cache_control], "no-store");
  EXPECT_TRUE(response.keep_alive());
  EXPECT_EQ(response[http::field::content_length], std::to_string(response.body().size()));
  testing::Exposition e;
  std::string error;
  ASSERT_TRUE(testing::ParseExposition(response.body(), &e, &error)) << error;
  EXPECT_EQ(e.Value("palaver_http_requests_total", {{"status", "200"}}), "5");
}

TEST_F(MetricsHttpTest, HeadHasTheHeadersButNoBody) {
  MetricsHttpResponse get = MetricsResponse(registry_, Request(http::verb::get));
  MetricsHttpResponse head = MetricsResponse(registry_, Request(http::verb::head));
  EXPECT_EQ(head.result(), http::status::ok);
  EXPECT_TRUE(head.body().empty());
  EXPECT_EQ(head[http::field::content_length], get[http::field::content_length]);
}

TEST_F(MetricsHttpTest, OtherMethodsAre405WithAllowAndAProblem) {
  MetricsHttpRequest post = Request(http::verb::post);
  post.keep_alive(false);
  MetricsHttpResponse response = MetricsResponse(registry_, post);
  EXPECT_EQ(response.result(), http::status::method_not_allowed);
  EXPECT_EQ(response[http::field::allow], "GET, HEAD");
  EXPECT_EQ(response[http::field::content_type], "application/problem+json");
  EXPECT_NE(response.body().find("\"status\":405"), std::string::npos);
  EXPECT_FALSE(response.keep_alive());
}

}  // namespace
}  // namespace palaver::metrics
