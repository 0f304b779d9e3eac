#include "engine/metrics/metrics.h"

#include <cmath>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "engine/metrics/palaver_metrics.h"
#include "tests/engine/metrics/prometheus_text_parser.h"

namespace palaver::metrics {
namespace {

using testing::Exposition;
using testing::ParseExposition;

Exposition Parse(const Registry& registry) {
  Exposition exposition;
  std::string error;
  std::string text = registry.Render();
  EXPECT_TRUE(ParseExposition(text, &exposition, &error)) << error << "\n" << text;
  return exposition;
}

TEST(MetricsTest, CounterRendersHelpTypeAndOneSamplePerLabelSet) {
  Registry registry;
  auto requests = registry.AddCounter("palaver_http_requests_total", "HTTP requests answered.",
                                      {"route", "status"});
  ASSERT_TRUE(requests.ok()) << requests.status().ToString();
  (*requests)->WithLabels({"/healthz", "200"}).Increment();
  (*requests)->WithLabels({"/healthz", "200"}).Increment(2);
  (*requests)->WithLabels({"/v1/shops/{shop}/inbox", "404"}).Increment();

  Exposition e = Parse(registry);
  EXPECT_EQ(e.type["palaver_http_requests_total"], "counter");
  EXPECT_EQ(e.help["palaver_http_requests_total"], "HTTP requests answered.");
  ASSERT_EQ(e.samples.size(), 2u);
  EXPECT_EQ(e.Value("palaver_http_requests_total", {{"route", "/healthz"}, {"status", "200"}}),
            "3");
  EXPECT_EQ(e.Value("palaver_http_requests_total",
                    {{"route", "/v1/shops/{shop}/inbox"}, {"status", "404"}}),
            "1");
}

TEST(MetricsTest, WithLabelsReturnsTheSameChildEveryTime) {
  Registry registry;
  auto family = registry.AddGauge("streams", "Streams.", {"transport"});
  ASSERT_TRUE(family.ok());
  Gauge& first = (*family)->WithLabels({"sse"});
  Gauge& again = (*family)->WithLabels(std::vector<std::string>{"sse"});
  EXPECT_EQ(&first, &again);
  EXPECT_NE(&first, &(*family)->WithLabels({"websocket"}));
}

TEST(MetricsTest, LabelValuesAndHelpAreEscapedAndReadBackExactly) {
  Registry registry;
  const std::string help = "Help with a \\ backslash\nand a second line.";
  auto family = registry.AddCounter("odd_total", help, {"value"});
  ASSERT_TRUE(family.ok());
  const std::vector<std::string> values = {"quote \" inside", "back\\slash", "new\nline",
                                           "emoji 💬 and } { , =", ""};
  for (const std::string& value : values) (*family)->WithLabels({value}).Increment();

  std::string text = registry.Render();
  EXPECT_NE(text.find(R"(value="quote \" inside")"), std::string::npos) << text;
  EXPECT_NE(text.find(R"(value="back\\slash")"), std::string::npos) << text;
  EXPECT_NE(text.find(R"(value="new\nline")"), std::string::npos) << text;
  Exposition e = Parse(registry);
  EXPECT_EQ(e.help["odd_total"], help);
  for (const std::string& value : values) {
    EXPECT_EQ(e.Value("odd_total", {{"value", value}}), "1") << value;
  }
}

TEST(MetricsTest, HistogramBucketsAreCumulativeWithInfSumAndCount) {
  Registry registry;
  auto family = registry.AddHistogram("latency_seconds", "Latency.", {"route"}, {0.1, 0.5, 1});
  ASSERT_TRUE(family.ok()) << family.status().ToString();
  Histogram& h = (*family)->WithLabels({"/x"});
  for (double v : {0.05, 0.1, 0.3, 0.5, 0.7, 2.0, 3.0}) h.Observe(v);

  Exposition e = Parse(registry);
  EXPECT_EQ(e.type["latency_seconds"], "histogram");
  auto bucket = [&](const std::string& le) {
    return e.Value("latency_seconds_bucket", {{"route", "/x"}, {"le", le}});
  };
  EXPECT_EQ(bucket("0.1"), "2");  // 0.05 and 0.1: the bound is inclusive
  EXPECT_EQ(bucket("0.5"), "4");
  EXPECT_EQ(bucket("1"), "5");
  EXPECT_EQ(bucket("+Inf"), "7");
  EXPECT_EQ(e.Value("latency_seconds_count", {{"route", "/x"}}), "7");
  EXPECT_DOUBLE_EQ(std::stod(e.Value("latency_seconds_sum", {{"route", "/x"}})), 6.65);
  // The buckets come in increasing order of le, +Inf last.
  std::vector<std::string> les;
  for (const auto& s : e.samples) {
    if (s.name == "latency_seconds_bucket") les.push_back(s.labels.at("le"));
  }
  EXPECT_EQ(les, (std::vector<std::string>{"0.1", "0.5", "1", "+Inf"}));
}

TEST(MetricsTest, UnlabelledMetricsHaveNoBraces) {
  Registry registry;
  auto gauge = registry.AddGauge("palaver_up", "1 while serving.");
  auto histogram = registry.AddHistogram("append_seconds", "Appends.", {}, {1});
  ASSERT_TRUE(gauge.ok() && histogram.ok());
  (*gauge)->WithLabels({}).Set(1);
  (*histogram)->WithLabels({}).Observe(0.5);
  std::string text = registry.Render();
  EXPECT_NE(text.find("\npalaver_up 1\n"), std::string::npos) << text;
  EXPECT_NE(text.find("\nappend_seconds_bucket{le=\"1\"} 1\n"), std::string::npos) << text;
  EXPECT_NE(text.find("\nappend_seconds_sum 0.5\n"), std::string::npos) << text;
  Parse(registry);
}

TEST(MetricsTest, GaugeGoesUpAndDownAndRendersSpecialValues) {
  Registry registry;
  auto family = registry.AddGauge("g", "A gauge.", {"k"});
  ASSERT_TRUE(family.ok());
  Gauge& g = (*family)->WithLabels({"a"});
  g.Increment();
  g.Increment();
  g.Decrement();
  g.Add(0.5);
  EXPECT_DOUBLE_EQ(g.Value(), 1.5);
  (*family)->WithLabels({"inf"}).Set(INFINITY);
  (*family)->WithLabels({"ninf"}).Set(-INFINITY);
  (*family)->WithLabels({"nan"}).Set(NAN);
  Exposition e = Parse(registry);
  EXPECT_EQ(e.Value("g", {{"k", "a"}}), "1.5");
  EXPECT_EQ(e.Value("g", {{"k", "inf"}}), "+Inf");
  EXPECT_EQ(e.Value("g", {{"k", "ninf"}}), "-Inf");
  EXPECT_EQ(e.Value("g", {{"k", "nan"}}), "NaN");
}

TEST(MetricsTest, FamiliesRenderInRegistrationOrderEvenWithoutSamples) {
  Registry registry;
  ASSERT_TRUE(registry.AddGauge("zeta", "Z.").ok());
  ASSERT_TRUE(registry.AddCounter("alpha_total", "A.").ok());
  Exposition e = Parse(registry);
  EXPECT_EQ(e.family_order, (std::vector<std::string>{"zeta", "alpha_total"}));
  EXPECT_TRUE(e.samples.empty());
}

TEST(MetricsTest, WrongNumberOfLabelValuesIsPaddedOrCut) {
  Registry registry;
  auto family = registry.AddCounter("c_total", "C.", {"a", "b"});
  ASSERT_TRUE(family.ok());
  (*family)->WithLabels({"x"}).Increment();
  (*family)->WithLabels({"x", "", "extra"}).Increment();
  Exposition e = Parse(registry);
  EXPECT_EQ(e.Value("c_total", {{"a", "x"}, {"b", ""}}), "2");
}

TEST(MetricsTest, RefusesBadNamesDuplicatesAndBadBuckets) {
  Registry registry;
  EXPECT_EQ(registry.AddCounter("1bad", "x").status().code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(registry.AddCounter("bad-name", "x").status().code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(registry.AddCounter("ok_total", "x", {"bad-label"}).status().code(),
            ErrorCode::kInvalidArgument);
  EXPECT_EQ(registry.AddCounter("ok_total", "x", {"__reserved"}).status().code(),
            ErrorCode::kInvalidArgument);
  EXPECT_EQ(registry.AddCounter("ok_total", "x", {"a", "a"}).status().code(),
            ErrorCode::kInvalidArgument);
  EXPECT_EQ(registry.AddHistogram("h", "x", {"le"}, {1}).status().code(),
            ErrorCode::kInvalidArgument);
  EXPECT_EQ(registry.AddHistogram("h", "x", {}, {}).status().code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(registry.AddHistogram("h", "x", {}, {2, 1}).status().code(),
            ErrorCode::kInvalidArgument);
  EXPECT_EQ(registry.AddHistogram("h", "x", {}, {1, 1}).status().code(),
            ErrorCode::kInvalidArgument);
  EXPECT_EQ(registry.AddHistogram("h", "x", {}, {1, INFINITY}).status().code(),
            ErrorCode::kInvalidArgument);

  ASSERT_TRUE(registry.AddCounter("ok_total", "x").ok());
  auto again = registry.AddGauge("ok_total", "x");
  EXPECT_EQ(again.status().code(), ErrorCode::kAlreadyExists);
  EXPECT_NE(again.status().message().find("ok_total"), std::string::npos);
  ASSERT_TRUE(registry.AddHistogram("req_seconds", "x", {}, {1}).ok());
  EXPECT_EQ(registry.AddCounter("req_seconds_count", "x").status().code(),
            ErrorCode::kAlreadyExists);
  // The failed registrations left nothing behind.
  Exposition e = Parse(registry);
  EXPECT_EQ(e.family_order, (std::vector<std::string>{"ok_total", "req_seconds"}));
}

TEST(MetricsTest, CollectHooksRunBeforeEachRender) {
  Registry registry;
  auto lag = registry.AddGauge("lag_events", "Lag.", {"partition"});
  ASSERT_TRUE(lag.ok());
  int end_offset = 10;
  registry.AddCollectHook([&] { (*lag)->WithLabels({"0"}).Set(end_offset - 4); });
  EXPECT_EQ(Parse(registry).Value("lag_events", {{"partition", "0"}}), "6");
  end_offset = 4;
  EXPECT_EQ(Parse(registry).Value("lag_events", {{"partition", "0"}}), "0");
}

TEST(MetricsTest, ConcurrentUpdatesAreAllCounted) {
  Registry registry;
  auto counter = registry.AddCounter("hits_total", "Hits.", {"worker"});
  auto histogram = registry.AddHistogram("obs", "Observations.", {"worker"}, {1, 2});
  ASSERT_TRUE(counter.ok() && histogram.ok());
  constexpr int kThreads = 4;
  constexpr int kPerThread = 20000;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      // Half the threads share one child, the rest create theirs concurrently.
      std::string worker = t % 2 == 0 ? "shared" : "own-" + std::to_string(t);
      for (int i = 0; i < kPerThread; ++i) {
        (*counter)->WithLabels({worker}).Increment();
        (*histogram)->WithLabels({"all"}).Observe(i % 3);
        if (i % 5000 == 0) registry.Render();  // rendering races with updates safely
      }
    });
  }
  for (auto& thread : threads) thread.join();
  Exposition e = Parse(registry);
  EXPECT_EQ(e.Value("hits_total", {{"worker", "shared"}}), std::to_string(2 * kPerThread));
  EXPECT_EQ(e.Value("hits_total", {{"worker", "own-1"}}), std::to_string(kPerThread));
  EXPECT_EQ(e.Value("obs_count", {{"worker", "all"}}), std::to_string(kThreads * kPerThread));
  // i % 3 is 0, 1, 2 in turn: two thirds are <= 1, all are <= 2.
  EXPECT_EQ(e.Value("obs_bucket", {{"worker", "all"}, {"le", "2"}}),
            std::to_string(kThreads * kPerThread));
}

TEST(MetricsTest, FormatValueIsShortestRoundTrip) {
  EXPECT_EQ(FormatValue(0.005), "0.005");
  EXPECT_EQ(FormatValue(10), "10");
  EXPECT_EQ(FormatValue(2.5), "2.5");
  EXPECT_EQ(FormatValue(1e-7), "1e-07");
  EXPECT_EQ(std::stod(FormatValue(0.1 + 0.2)), 0.1 + 0.2);
}

TEST(PalaverMetricsTest, RegistersTheDocumentedNamesOnce) {
  Registry registry;
  auto metrics = PalaverMetrics::Register(registry);
  ASSERT_TRUE(metrics.ok()) << metrics.status().ToString();
  metrics->http_requests->WithLabels({"/healthz", "GET", "200"}).Increment();
  metrics->http_request_duration->WithLabels({"/healthz", "GET"}).Observe(0.002);
  metrics->log_append_duration->WithLabels({"embedded"}).Observe(0.001);
  metrics->projection_lag->WithLabels({"inbox", "3"}).Set(0);
  metrics->stream_connections->WithLabels({"websocket", "agent"}).Increment();
  metrics->stream_disconnects->WithLabels({"slow_consumer"}).Increment();
  metrics->storefront_records->WithLabels({"applied"}).Increment();
  metrics->inbox_cache_lookups->WithLabels({"hit"}).Increment();
  metrics->inbox_cache_bytes->WithLabels({}).Set(9200);
  Exposition e = Parse(registry);
  EXPECT_EQ(e.family_order,
            (std::vector<std::string>{
                "palaver_http_requests_total", "palaver_http_request_duration_seconds",
                "palaver_log_append_duration_seconds", "palaver_projection_lag_events",
                "palaver_stream_connections", "palaver_stream_disconnects_total",
                "palaver_storefront_records_total", "palaver_inbox_cache_lookups_total",
                "palaver_inbox_cache_bytes"}));
  EXPECT_EQ(e.Value("palaver_http_requests_total",
                    {{"route", "/healthz"}, {"method", "GET"}, {"status", "200"}}),
            "1");
  EXPECT_EQ(e.Value("palaver_http_request_duration_seconds_bucket",
                    {{"route", "/healthz"}, {"method", "GET"}, {"le", "0.0025"}}),
            "1");
  EXPECT_EQ(PalaverMetrics::Register(registry).status().code(), ErrorCode::kAlreadyExists);
}

}  // namespace
}  // namespace palaver::metrics
