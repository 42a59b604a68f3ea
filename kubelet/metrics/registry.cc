#include "kubelet/metrics/registry.h"

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstdlib>

namespace cubelet::metrics {

std::string formatFloat(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  if (v == 0) return std::signbit(v) ? "-0" : "0";
  // Shortest round-trip digits, then Go's 'g' layout: exponent form when the decimal
  // exponent is < -4 or >= 6 (strconv uses precision 6 for that decision when shortest).
  char buf[64];
  auto res = std::to_chars(buf, buf + sizeof(buf), v, std::chars_format::scientific);
  std::string sci(buf, res.ptr);
  std::string out;
  size_t i = 0;
  if (sci[0] == '-') {
    out += '-';
    i = 1;
  }
  const size_t ePos = sci.find('e');
  std::string digits;
  for (size_t k = i; k < ePos; ++k)
    if (sci[k] != '.') digits += sci[k];
  const int exp = std::atoi(sci.c_str() + ePos + 1);
  if (exp < -4 || exp >= 6) {
    out += digits[0];
    if (digits.size() > 1) {
      out += '.';
      out.append(digits, 1, std::string::npos);
    }
    out += 'e';
    out += exp < 0 ? '-' : '+';
    const int a = std::abs(exp);
    if (a < 10) out += '0';
    out += std::to_string(a);
    return out;
  }
  if (exp >= 0) {
    const size_t intLen = static_cast<size_t>(exp) + 1;
    if (digits.size() <= intLen) {
      out += digits;
      out.append(intLen - digits.size(), '0');
    } else {
      out.append(digits, 0, intLen);
      out += '.';
      out.append(digits, intLen, std::string::npos);
    }
    return out;
  }
  out += "0.";
  out.append(static_cast<size_t>(-exp - 1), '0');
  out += digits;
  return out;
}

std::string escapeLabelValue(const std::string& v) {
  std::string out;
  out.reserve(v.size());
  for (char c : v) {
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

std::string escapeHelp(const std::string& v) {
  std::string out;
  out.reserve(v.size());
  for (char c : v) {
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

std::string decoratedHelp(const Opts& opts) {
  std::string out;
  switch (opts.stability) {
    case Stability::kAlpha:
      out = "[ALPHA] ";
      break;
    case Stability::kStable:
      out = "[STABLE] ";
      break;
    case Stability::kNone:
      break;
  }
  if (!opts.deprecatedVersion.empty()) out += "(Deprecated since " + opts.deprecatedVersion + ") ";
  return out + opts.help;
}

namespace {

std::string_view typeName(Type t) {
  switch (t) {
    case Type::kCounter:
      return "counter";
    case Type::kGauge:
      return "gauge";
    case Type::kHistogram:
      return "histogram";
    case Type::kUntyped:
      return "untyped";
  }
  return "untyped";
}

Labels sortedLabels(Labels labels) {
  std::stable_sort(labels.begin(), labels.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  return labels;
}

// client_golang orders a family's metrics by their label values (label pairs sorted by
// name), then by timestamp.
bool labelsLess(const Labels& a, const Labels& b) {
  const size_t n = std::min(a.size(), b.size());
  for (size_t i = 0; i < n; ++i) {
    if (a[i].second != b[i].second) return a[i].second < b[i].second;
  }
  return a.size() < b.size();
}

void writeLabels(std::string& out, const Labels& labels, const char* extraName = nullptr,
                 const std::string& extraValue = {}) {
  if (labels.empty() && extraName == nullptr) return;
  out += '{';
  bool first = true;
  for (const auto& [k, v] : labels) {
    if (!first) out += ',';
    first = false;
    out += k;
    out += "=\"";
    out += escapeLabelValue(v);
    out += '"';
  }
  if (extraName != nullptr) {
    if (!first) out += ',';
    out += extraName;
    out += "=\"";
    out += escapeLabelValue(extraValue);
    out += '"';
  }
  out += '}';
}

void writeTail(std::string& out, double value, const std::optional<int64_t>& ts) {
  out += ' ';
  out += formatFloat(value);
  if (ts) {
    out += ' ';
    out += std::to_string(*ts);
  }
  out += '\n';
}

void atomicAdd(std::atomic<double>& a, double delta) {
  double cur = a.load(std::memory_order_relaxed);
  while (!a.compare_exchange_weak(cur, cur + delta, std::memory_order_relaxed)) {
  }
}

}  // namespace

std::string render(std::vector<Family> families) {
  std::stable_sort(families.begin(), families.end(),
                   [](const Family& a, const Family& b) { return a.opts.name < b.opts.name; });
  std::string out;
  for (auto& f : families) {
    if (f.samples.empty() && f.histograms.empty()) continue;
    out += "# HELP " + f.opts.name + " " + escapeHelp(decoratedHelp(f.opts)) + "\n";
    out += "# TYPE " + f.opts.name + " ";
    out += typeName(f.type);
    out += '\n';
    if (f.type == Type::kHistogram) {
      for (auto& h : f.histograms) h.labels = sortedLabels(std::move(h.labels));
      std::stable_sort(f.histograms.begin(), f.histograms.end(),
                       [](const HistogramSample& a, const HistogramSample& b) { return labelsLess(a.labels, b.labels); });
      for (const auto& h : f.histograms) {
        for (size_t i = 0; i < h.bounds.size(); ++i) {
          out += f.opts.name + "_bucket";
          writeLabels(out, h.labels, "le", formatFloat(h.bounds[i]));
          writeTail(out, static_cast<double>(i < h.cumulative.size() ? h.cumulative[i] : h.count), h.timestampMs);
        }
        out += f.opts.name + "_bucket";
        writeLabels(out, h.labels, "le", "+Inf");
        writeTail(out, static_cast<double>(h.count), h.timestampMs);
        out += f.opts.name + "_sum";
        writeLabels(out, h.labels);
        writeTail(out, h.sum, h.timestampMs);
        out += f.opts.name + "_count";
        writeLabels(out, h.labels);
        writeTail(out, static_cast<double>(h.count), h.timestampMs);
      }
      continue;
    }
    for (auto& s : f.samples) s.labels = sortedLabels(std::move(s.labels));
    std::stable_sort(f.samples.begin(), f.samples.end(), [](const Sample& a, const Sample& b) {
      if (labelsLess(a.labels, b.labels)) return true;
      if (labelsLess(b.labels, a.labels)) return false;
      return a.timestampMs.value_or(0) < b.timestampMs.value_or(0);
    });
    for (const auto& s : f.samples) {
      out += f.opts.name;
      writeLabels(out, s.labels);
      writeTail(out, s.value, s.timestampMs);
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------

void Counter::inc(double delta) {
  if (delta < 0) return;  // counters only go up (client_golang panics)
  atomicAdd(value_, delta);
}

void Gauge::add(double delta) { atomicAdd(value_, delta); }

void Gauge::setToCurrentTime() {
  auto now = std::chrono::system_clock::now().time_since_epoch();
  set(std::chrono::duration<double>(now).count());
}

Histogram::Histogram(std::vector<double> bounds) : bounds_(std::move(bounds)) {
  std::sort(bounds_.begin(), bounds_.end());
  bounds_.erase(std::unique(bounds_.begin(), bounds_.end()), bounds_.end());
  if (!bounds_.empty() && std::isinf(bounds_.back())) bounds_.pop_back();
  counts_.assign(bounds_.size() + 1, 0);
}

void Histogram::observe(double v) {
  // The first bucket whose upper bound is >= v (bounds are inclusive).
  const size_t idx = static_cast<size_t>(std::lower_bound(bounds_.begin(), bounds_.end(), v) - bounds_.begin());
  std::lock_guard<std::mutex> lock(mu_);
  counts_[idx]++;
  count_++;
  sum_ += v;
}

HistogramSample Histogram::snapshot() const {
  HistogramSample s;
  s.bounds = bounds_;
  std::lock_guard<std::mutex> lock(mu_);
  uint64_t acc = 0;
  s.cumulative.reserve(bounds_.size());
  for (size_t i = 0; i < bounds_.size(); ++i) {
    acc += counts_[i];
    s.cumulative.push_back(acc);
  }
  s.count = count_;
  s.sum = sum_;
  return s;
}

uint64_t Histogram::count() const {
  std::lock_guard<std::mutex> lock(mu_);
  return count_;
}

double Histogram::sum() const {
  std::lock_guard<std::mutex> lock(mu_);
  return sum_;
}

std::vector<double> defBuckets() { return {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10}; }

std::vector<double> exponentialBuckets(double start, double factor, int count) {
  std::vector<double> out;
  double v = start;
  for (int i = 0; i < count; ++i) {
    out.push_back(v);
    v *= factor;
  }
  return out;
}

std::vector<double> linearBuckets(double start, double width, int count) {
  std::vector<double> out;
  double v = start;
  for (int i = 0; i < count; ++i) {
    out.push_back(v);
    v += width;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------

struct Registry::Entry {
  Opts opts;
  Type type = Type::kGauge;
  std::unique_ptr<Counter> counter;
  std::unique_ptr<Gauge> gauge;
  std::unique_ptr<Histogram> histogram;
  std::unique_ptr<CounterVec> counterVec;
  std::unique_ptr<GaugeVec> gaugeVec;
  std::unique_ptr<HistogramVec> histogramVec;

  Family family() const {
    Family f;
    f.opts = opts;
    f.type = type;
    if (counter) f.samples.push_back({{}, counter->value(), std::nullopt});
    if (gauge) f.samples.push_back({{}, gauge->value(), std::nullopt});
    if (histogram) f.histograms.push_back(histogram->snapshot());
    auto labelsOf = [](const std::vector<std::string>& names, const std::vector<std::string>& values) {
      Labels l;
      for (size_t i = 0; i < names.size(); ++i) l.emplace_back(names[i], values[i]);
      return l;
    };
    if (counterVec) {
      counterVec->forEach([&](const std::vector<std::string>& values, const Counter& c) {
        f.samples.push_back({labelsOf(counterVec->labelNames(), values), c.value(), std::nullopt});
      });
    }
    if (gaugeVec) {
      gaugeVec->forEach([&](const std::vector<std::string>& values, const Gauge& g) {
        f.samples.push_back({labelsOf(gaugeVec->labelNames(), values), g.value(), std::nullopt});
      });
    }
    if (histogramVec) {
      histogramVec->forEach([&](const std::vector<std::string>& values, const Histogram& h) {
        HistogramSample s = h.snapshot();
        s.labels = labelsOf(histogramVec->labelNames(), values);
        f.histograms.push_back(std::move(s));
      });
    }
    return f;
  }
};

Registry::Registry() = default;
Registry::~Registry() = default;

Registry::Entry& Registry::add(const Opts& opts, Type type) {
  std::lock_guard<std::mutex> lock(mu_);
  auto e = std::make_unique<Entry>();
  e->opts = opts;
  e->type = type;
  entries_.push_back(std::move(e));
  return *entries_.back();
}

Counter& Registry::counter(const Opts& opts) {
  auto& e = add(opts, Type::kCounter);
  e.counter = std::make_unique<Counter>();
  return *e.counter;
}

Gauge& Registry::gauge(const Opts& opts) {
  auto& e = add(opts, Type::kGauge);
  e.gauge = std::make_unique<Gauge>();
  return *e.gauge;
}

Histogram& Registry::histogram(const Opts& opts, std::vector<double> buckets) {
  auto& e = add(opts, Type::kHistogram);
  e.histogram = std::make_unique<Histogram>(std::move(buckets));
  return *e.histogram;
}

CounterVec& Registry::counterVec(const Opts& opts, std::vector<std::string> labelNames) {
  auto& e = add(opts, Type::kCounter);
  e.counterVec = std::make_unique<CounterVec>(std::move(labelNames), [] { return std::make_unique<Counter>(); });
  return *e.counterVec;
}

GaugeVec& Registry::gaugeVec(const Opts& opts, std::vector<std::string> labelNames) {
  auto& e = add(opts, Type::kGauge);
  e.gaugeVec = std::make_unique<GaugeVec>(std::move(labelNames), [] { return std::make_unique<Gauge>(); });
  return *e.gaugeVec;
}

HistogramVec& Registry::histogramVec(const Opts& opts, std::vector<std::string> labelNames,
                                     std::vector<double> buckets) {
  auto& e = add(opts, Type::kHistogram);
  e.histogramVec = std::make_unique<HistogramVec>(std::move(labelNames),
                                                  [buckets] { return std::make_unique<Histogram>(buckets); });
  return *e.histogramVec;
}

void Registry::addCollector(std::function<std::vector<Family>()> collector) {
  std::lock_guard<std::mutex> lock(mu_);
  collectors_.push_back(std::move(collector));
}

std::string Registry::render() const {
  std::vector<Family> families;
  std::vector<std::function<std::vector<Family>()>> collectors;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (const auto& e : entries_) families.push_back(e->family());
    collectors = collectors_;
  }
  for (const auto& c : collectors) {
    for (auto& f : c()) families.push_back(std::move(f));
  }
  return metrics::render(std::move(families));
}

}  // namespace cubelet::metrics
