#include "engine/metrics/metrics.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <set>

namespace palaver::metrics {

// ---- Histogram -------------------------------------------------------------

Histogram::Histogram(std::span<const double> upper_bounds)
    : upper_bounds_(upper_bounds.begin(), upper_bounds.end()),
      buckets_(std::make_unique<std::atomic<uint64_t>[]>(upper_bounds.size() + 1)) {}

void Histogram::Observe(double value) {
  // Bucket i holds (upper_bounds_[i-1], upper_bounds_[i]]; NaN compares false
  // everywhere and lands in +Inf.
  size_t bucket = static_cast<size_t>(
      std::lower_bound(upper_bounds_.begin(), upper_bounds_.end(), value) - upper_bounds_.begin());
  if (std::isnan(value)) bucket = upper_bounds_.size();
  buckets_[bucket].fetch_add(1, std::memory_order_relaxed);
  sum_.fetch_add(value, std::memory_order_relaxed);
}

Histogram::Snapshot Histogram::Read() const {
  Snapshot snapshot;
  snapshot.upper_bounds = upper_bounds_;
  snapshot.cumulative.reserve(upper_bounds_.size() + 1);
  uint64_t running = 0;
  for (size_t i = 0; i <= upper_bounds_.size(); ++i) {
    running += buckets_[i].load(std::memory_order_relaxed);
    snapshot.cumulative.push_back(running);
  }
  // The count is the +Inf bucket, so _count always equals le="+Inf" even
  // while observations race with the read.
  snapshot.count = running;
  snapshot.sum = sum_.load(std::memory_order_relaxed);
  return snapshot;
}

// ---- Family ------------------------------------------------------------------

template <typename Child>
bool Family<Child>::LabelsLess::operator()(const std::vector<std::string>& a,
                                           std::span<const std::string_view> b) const {
  return std::lexicographical_compare(a.begin(), a.end(), b.begin(), b.end(),
                                      [](std::string_view x, std::string_view y) { return x < y; });
}

template <typename Child>
bool Family<Child>::LabelsLess::operator()(std::span<const std::string_view> a,
                                           const std::vector<std::string>& b) const {
  return std::lexicographical_compare(a.begin(), a.end(), b.begin(), b.end(),
                                      [](std::string_view x, std::string_view y) { return x < y; });
}

template <typename Child>
Child& Family<Child>::WithLabels(std::initializer_list<std::string_view> values) {
  return WithLabels(std::span<const std::string_view>(values.begin(), values.size()));
}

template <typename Child>
Child& Family<Child>::WithLabels(const std::vector<std::string>& values) {
  std::vector<std::string_view> views(values.begin(), values.end());
  return WithLabels(std::span<const std::string_view>(views));
}

template <typename Child>
Child& Family<Child>::WithLabels(std::span<const std::string_view> values) {
  const size_t arity = label_names_.size();
  if (values.size() == arity) {
    std::shared_lock lock(mutex_);
    auto found = children_.find(values);
    if (found != children_.end()) return *found->second;
  }
  // First use of this combination (or a wrong number of values): normalise and create.
  std::vector<std::string> key;
  key.reserve(arity);
  for (size_t i = 0; i < arity; ++i) key.emplace_back(i < values.size() ? values[i] : "");
  std::unique_lock lock(mutex_);
  auto found = children_.find(key);
  if (found != children_.end()) return *found->second;
  std::unique_ptr<Child> child;
  if constexpr (std::is_same_v<Child, Histogram>) {
    child = std::make_unique<Histogram>(upper_bounds_);
  } else {
    child = std::make_unique<Child>();
  }
  Child& result = *child;
  children_.emplace(std::move(key), std::move(child));
  return result;
}

template <typename Child>
void Family<Child>::ForEach(
    const std::function<void(const std::vector<std::string>&, const Child&)>& visit) const {
  std::shared_lock lock(mutex_);
  for (const auto& [labels, child] : children_) visit(labels, *child);
}

template class Family<Counter>;
template class Family<Gauge>;
template class Family<Histogram>;

// ---- Text format -------------------------------------------------------------

std::string EscapeLabelValue(std::string_view value) {
  std::string out;
  out.reserve(value.size());
  for (char c : value) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '"') {
      out += "\\\"";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

std::string EscapeHelp(std::string_view help) {
  std::string out;
  out.reserve(help.size());
  for (char c : help) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

std::string FormatValue(double value) {
  if (std::isnan(value)) return "NaN";
  if (std::isinf(value)) return value > 0 ? "+Inf" : "-Inf";
  char buffer[32];
  auto [end, ec] = std::to_chars(buffer, buffer + sizeof buffer, value);
  return ec == std::errc() ? std::string(buffer, end) : "NaN";
}

namespace {

bool IsMetricName(std::string_view name) {
  if (name.empty()) return false;
  for (size_t i = 0; i < name.size(); ++i) {
    char c = name[i];
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':' ||
              (i > 0 && c >= '0' && c <= '9');
    if (!ok) return false;
  }
  return true;
}

bool IsLabelName(std::string_view name) {
  return IsMetricName(name) && name.find(':') == std::string_view::npos &&
         name.substr(0, 2) != "__";
}

// `{a="x",b="y"}` for the given names and values, plus an optional extra pair
// (the histogram "le"); "" when there are no labels at all.
std::string LabelSet(const std::vector<std::string>& names, const std::vector<std::string>& values,
                     std::string_view extra_name = {}, std::string_view extra_value = {}) {
  if (names.empty() && extra_name.empty()) return "";
  std::string out = "{";
  for (size_t i = 0; i < names.size(); ++i) {
    if (i > 0) out += ',';
    out += names[i];
    out += "=\"";
    out += EscapeLabelValue(values[i]);
    out += '"';
  }
  if (!extra_name.empty()) {
    if (!names.empty()) out += ',';
    out += extra_name;
    out += "=\"";
    out += extra_value;
    out += '"';
  }
  out += '}';
  return out;
}

void RenderHeader(std::string& out, const std::string& name, const std::string& help,
                  std::string_view type) {
  out += "# HELP " + name + " " + EscapeHelp(help) + "\n";
  out += "# TYPE " + name + " " + std::string(type) + "\n";
}

}  // namespace

// ---- Registry ----------------------------------------------------------------

Status Registry::Reserve(const std::string& name, const std::vector<std::string>& label_names,
                         bool histogram) {
  if (!IsMetricName(name)) {
    return Status::Error(
        ErrorCode::kInvalidArgument,
        "\"" + name + "\" is not a Prometheus metric name ([a-zA-Z_:][a-zA-Z0-9_:]*)", "name");
  }
  std::set<std::string_view> seen;
  for (const std::string& label : label_names) {
    if (!IsLabelName(label)) {
      return Status::Error(
          ErrorCode::kInvalidArgument,
          "\"" + label + "\" is not a label name ([a-zA-Z_][a-zA-Z0-9_]*, not __*)", "labels");
    }
    if (histogram && label == "le") {
      return Status::Error(ErrorCode::kInvalidArgument,
                           "a histogram cannot have a label named \"le\"", "labels");
    }
    if (!seen.insert(label).second) {
      return Status::Error(ErrorCode::kInvalidArgument, "label \"" + label + "\" is named twice",
                           "labels");
    }
  }
  std::vector<std::string> samples = {name};
  if (histogram) samples = {name, name + "_bucket", name + "_sum", name + "_count"};
  for (const std::string& sample : samples) {
    if (std::find(names_.begin(), names_.end(), sample) != names_.end()) {
      return Status::Error(ErrorCode::kAlreadyExists,
                           "a metric named \"" + sample + "\" is already registered", "name");
    }
  }
  names_.insert(names_.end(), samples.begin(), samples.end());
  return Status::Ok();
}

Result<CounterFamily*> Registry::AddCounter(std::string name, std::string help,
                                            std::vector<std::string> label_names) {
  std::lock_guard lock(mutex_);
  PALAVER_RETURN_IF_ERROR(Reserve(name, label_names, false));
  Entry entry{Entry::Kind::kCounter, nullptr, nullptr, nullptr};
  entry.counter.reset(
      new CounterFamily(std::move(name), std::move(help), std::move(label_names), {}));
  CounterFamily* family = entry.counter.get();
  families_.push_back(std::move(entry));
  return family;
}

Result<GaugeFamily*> Registry::AddGauge(std::string name, std::string help,
                                        std::vector<std::string> label_names) {
  std::lock_guard lock(mutex_);
  PALAVER_RETURN_IF_ERROR(Reserve(name, label_names, false));
  Entry entry{Entry::Kind::kGauge, nullptr, nullptr, nullptr};
  entry.gauge.reset(new GaugeFamily(std::move(name), std::move(help), std::move(label_names), {}));
  GaugeFamily* family = entry.gauge.get();
  families_.push_back(std::move(entry));
  return family;
}

Result<HistogramFamily*> Registry::AddHistogram(std::string name, std::string help,
                                                std::vector<std::string> label_names,
                                                std::vector<double> upper_bounds) {
  if (upper_bounds.empty()) {
    return Status::Error(ErrorCode::kInvalidArgument, "a histogram needs at least one bucket",
                         "upper_bounds");
  }
  for (size_t i = 0; i < upper_bounds.size(); ++i) {
    if (!std::isfinite(upper_bounds[i]) || (i > 0 && !(upper_bounds[i - 1] < upper_bounds[i]))) {
      return Status::Error(ErrorCode::kInvalidArgument,
                           "bucket upper bounds must be finite and strictly increasing",
                           "upper_bounds");
    }
  }
  std::lock_guard lock(mutex_);
  PALAVER_RETURN_IF_ERROR(Reserve(name, label_names, true));
  Entry entry{Entry::Kind::kHistogram, nullptr, nullptr, nullptr};
  entry.histogram.reset(new HistogramFamily(std::move(name), std::move(help),
                                            std::move(label_names), std::move(upper_bounds)));
  HistogramFamily* family = entry.histogram.get();
  families_.push_back(std::move(entry));
  return family;
}

void Registry::AddCollectHook(std::function<void()> hook) {
  std::lock_guard lock(mutex_);
  hooks_.push_back(std::move(hook));
}

std::string Registry::Render() const {
  std::vector<std::function<void()>> hooks;
  {
    std::lock_guard lock(mutex_);
    hooks = hooks_;
  }
  for (const auto& hook : hooks) hook();

  std::lock_guard lock(mutex_);
  std::string out;
  for (const Entry& entry : families_) {
    switch (entry.kind) {
      case Entry::Kind::kCounter: {
        const CounterFamily& f = *entry.counter;
        RenderHeader(out, f.name(), f.help(), "counter");
        f.ForEach([&](const std::vector<std::string>& labels, const Counter& counter) {
          out += f.name() + LabelSet(f.label_names(), labels) + " " +
                 std::to_string(counter.Value()) + "\n";
        });
        break;
      }
      case Entry::Kind::kGauge: {
        const GaugeFamily& f = *entry.gauge;
        RenderHeader(out, f.name(), f.help(), "gauge");
        f.ForEach([&](const std::vector<std::string>& labels, const Gauge& gauge) {
          out += f.name() + LabelSet(f.label_names(), labels) + " " + FormatValue(gauge.Value()) +
                 "\n";
        });
        break;
      }
      case Entry::Kind::kHistogram: {
        const HistogramFamily& f = *entry.histogram;
        RenderHeader(out, f.name(), f.help(), "histogram");
        f.ForEach([&](const std::vector<std::string>& labels, const Histogram& histogram) {
          Histogram::Snapshot s = histogram.Read();
          for (size_t i = 0; i <= s.upper_bounds.size(); ++i) {
            std::string le = i < s.upper_bounds.size() ? FormatValue(s.upper_bounds[i]) : "+Inf";
            out += f.name() + "_bucket" + LabelSet(f.label_names(), labels, "le", le) + " " +
                   std::to_string(s.cumulative[i]) + "\n";
          }
          out += f.name() + "_sum" + LabelSet(f.label_names(), labels) + " " + FormatValue(s.sum) +
                 "\n";
          out += f.name() + "_count" + LabelSet(f.label_names(), labels) + " " +
                 std::to_string(s.count) + "\n";
        });
        break;
      }
    }
  }
  return out;
}

}  // namespace palaver::metrics
