// A small Prometheus metrics registry: counters, gauges and histograms with
// labels, rendered in the Prometheus text exposition format 0.0.4.
//
//   metrics::Registry registry;
//   auto requests = registry.AddCounter("palaver_http_requests_total",
//                                       "HTTP requests answered.", {"route", "status"});
//   metrics::Counter& ok = (*requests)->WithLabels({"/healthz", "200"});  // once
//   ok.Increment();                                                        // hot path
//   std::string text = registry.Render();
//
// Cost: Counter::Increment, Gauge::Set/Add and Histogram::Observe are a few
// relaxed atomic operations: no lock, no allocation. WithLabels() takes a
// shared (reader) lock and allocates only the first time a label combination
// is seen; callers on a hot path look their child up once and keep the
// reference.
//
// Lifetime: families and children live as long as their Registry; the
// pointers and references handed out stay valid until it is destroyed.
//
// Thread-safety: every member of every class here may be called from any
// thread at the same time.
//
// Names, the text format and the metrics palaver exports are described in
// engine/metrics/README.md.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <map>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "schemas/status.h"

namespace palaver::metrics {

// The Content-Type of Registry::Render()'s output.
inline constexpr std::string_view kContentType = "text/plain; version=0.0.4; charset=utf-8";

// Upper bounds, in seconds, for latency histograms (1 ms .. 10 s).
inline const std::vector<double> kLatencySecondsBuckets = {
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};

// A value that only goes up (requests served, bytes sent).
class Counter {
 public:
  Counter() = default;
  Counter(const Counter&) = delete;
  Counter& operator=(const Counter&) = delete;

  void Increment(uint64_t by = 1) { value_.fetch_add(by, std::memory_order_relaxed); }
  uint64_t Value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<uint64_t> value_{0};
};

// A value that goes up and down (connected streams, lag).
class Gauge {
 public:
  Gauge() = default;
  Gauge(const Gauge&) = delete;
  Gauge& operator=(const Gauge&) = delete;

  void Set(double value) { value_.store(value, std::memory_order_relaxed); }
  void Add(double by) { value_.fetch_add(by, std::memory_order_relaxed); }
  void Increment() { Add(1); }
  void Decrement() { Add(-1); }
  double Value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0};
};

// Observations counted into fixed buckets, plus their sum and count.
class Histogram {
 public:
  // `upper_bounds` are sorted, finite and distinct (the family checks them).
  explicit Histogram(std::span<const double> upper_bounds);
  Histogram(const Histogram&) = delete;
  Histogram& operator=(const Histogram&) = delete;

  // Counts `value` into the first bucket whose upper bound is >= value (the
  // +Inf bucket when none is). NaN is counted in +Inf and makes the sum NaN,
  // as Prometheus clients do.
  void Observe(double value);

  // A consistent-enough copy for tests and rendering: `cumulative[i]` is the
  // number of observations <= upper_bounds[i]; the last entry is +Inf and
  // equals `count`.
  struct Snapshot {
    std::vector<double> upper_bounds;
    std::vector<uint64_t> cumulative;
    double sum = 0;
    uint64_t count = 0;
  };
  Snapshot Read() const;

 private:
  const std::vector<double> upper_bounds_;
  // One per upper bound, then the +Inf bucket; not cumulative.
  const std::unique_ptr<std::atomic<uint64_t>[]> buckets_;
  std::atomic<double> sum_{0};
};

// A metric name with its label names, and one child per label value combination.
template <typename Child>
class Family {
 public:
  Family(const Family&) = delete;
  Family& operator=(const Family&) = delete;

  // The child for these label values, in the order of the label names,
  // created on first use. Values are any UTF-8 text (escaped on render).
  // Exactly label_names().size() values are expected; missing ones are taken
  // as "" and extra ones are ignored.
  Child& WithLabels(std::initializer_list<std::string_view> values);
  Child& WithLabels(std::span<const std::string_view> values);
  Child& WithLabels(const std::vector<std::string>& values);

  const std::string& name() const { return name_; }
  const std::string& help() const { return help_; }
  const std::vector<std::string>& label_names() const { return label_names_; }

  // Calls `visit(label_values, child)` for every child, ordered by label values.
  void ForEach(
      const std::function<void(const std::vector<std::string>&, const Child&)>& visit) const;

 private:
  friend class Registry;
  Family(std::string name, std::string help, std::vector<std::string> label_names,
         std::vector<double> upper_bounds)
      : name_(std::move(name)),
        help_(std::move(help)),
        label_names_(std::move(label_names)),
        upper_bounds_(std::move(upper_bounds)) {}

  // Orders stored label values against looked-up views without building strings.
  struct LabelsLess {
    using is_transparent = void;
    bool operator()(const std::vector<std::string>& a, const std::vector<std::string>& b) const {
      return a < b;
    }
    bool operator()(const std::vector<std::string>& a, std::span<const std::string_view> b) const;
    bool operator()(std::span<const std::string_view> a, const std::vector<std::string>& b) const;
  };

  const std::string name_;
  const std::string help_;
  const std::vector<std::string> label_names_;
  const std::vector<double> upper_bounds_;  // histograms only
  mutable std::shared_mutex mutex_;
  std::map<std::vector<std::string>, std::unique_ptr<Child>, LabelsLess>
      children_;  // guarded by mutex_
};

using CounterFamily = Family<Counter>;
using GaugeFamily = Family<Gauge>;
using HistogramFamily = Family<Histogram>;

// Owns metric families and renders them.
class Registry {
 public:
  Registry() = default;
  Registry(const Registry&) = delete;
  Registry& operator=(const Registry&) = delete;

  // Adds a family. Errors (kInvalidArgument, field "name" or "labels"):
  //   - `name` does not match [a-zA-Z_:][a-zA-Z0-9_:]*;
  //   - a label name does not match [a-zA-Z_][a-zA-Z0-9_]*, starts with "__",
  //     repeats, or is "le" on a histogram;
  //   - histogram `upper_bounds` empty, unsorted, repeated or not finite.
  // kAlreadyExists when a family of that name was already added (also when
  // a histogram's name_bucket/_sum/_count would clash with one).
  Result<CounterFamily*> AddCounter(std::string name, std::string help,
                                    std::vector<std::string> label_names = {});
  Result<GaugeFamily*> AddGauge(std::string name, std::string help,
                                std::vector<std::string> label_names = {});
  Result<HistogramFamily*> AddHistogram(std::string name, std::string help,
                                        std::vector<std::string> label_names,
                                        std::vector<double> upper_bounds = kLatencySecondsBuckets);

  // Runs `hook` at the start of every Render(), e.g. to set a gauge that is
  // cheaper to compute on scrape (projection lag). Hooks run in the order
  // added, on the rendering thread, and must not call AddCollectHook().
  void AddCollectHook(std::function<void()> hook);

  // Every family in the order added, in the text exposition format 0.0.4:
  // "# HELP", "# TYPE", then one line per sample; children ordered by label
  // values; a family without children renders only its HELP and TYPE lines.
  std::string Render() const;

 private:
  struct Entry {
    enum class Kind { kCounter, kGauge, kHistogram } kind;
    std::unique_ptr<CounterFamily> counter;
    std::unique_ptr<GaugeFamily> gauge;
    std::unique_ptr<HistogramFamily> histogram;
  };
  Status Reserve(const std::string& name, const std::vector<std::string>& label_names,
                 bool histogram);

  mutable std::mutex mutex_;
  std::vector<Entry> families_;               // guarded by mutex_
  std::vector<std::string> names_;            // guarded by mutex_; every sample name taken
  std::vector<std::function<void()>> hooks_;  // guarded by mutex_
};

// Text-format helpers, public for tests and for other exporters.
// A label value with \ " and newline escaped.
std::string EscapeLabelValue(std::string_view value);
// HELP text with \ and newline escaped.
std::string EscapeHelp(std::string_view help);
// A sample value: shortest round-trip decimal, "+Inf", "-Inf" or "NaN".
std::string FormatValue(double value);

}  // namespace palaver::metrics
