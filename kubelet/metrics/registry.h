// A small Prometheus registry and text encoder, rendering what the upstream kubelet's
// component-base registry renders on /metrics (text exposition format 0.0.4):
//
//   # HELP kubelet_running_pods [ALPHA] Number of pods that have a running pod sandbox
//   # TYPE kubelet_running_pods gauge
//   kubelet_running_pods 3
//
// * Families are sorted by name; samples inside a family by their label values (label names
//   sorted), as client_golang's Gather does.
// * HELP carries the component-base stability prefix "[ALPHA] " / "[STABLE] " (and
//   "(Deprecated since X.Y.Z) " after it); Stability::kNone is for plain client_golang
//   metrics (kubelet_http_*, process_*) that have none.
// * Numbers are printed like Go's strconv.FormatFloat(v, 'g', -1, 64): 0.005, 1e-05,
//   1.048576e+08, +Inf, -Inf, NaN.
// * Histograms: cumulative `_bucket{...,le="<bound>"}` lines ending with le="+Inf", then
//   `_sum` and `_count`.
// * A vector with no children renders nothing (no HELP/TYPE either), like client_golang.
//
// Thread-safety: every metric and the registry may be used from any thread. Metric
// references handed out stay valid for the registry's lifetime (children are never
// destroyed while the registry lives, except through Vec::reset()/remove(), after which the
// caller must not use references it kept to the removed children).
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace cubelet::metrics {

enum class Stability { kAlpha, kStable, kNone };
enum class Type { kCounter, kGauge, kHistogram, kUntyped };

struct Opts {
  std::string name;  // full name, e.g. "kubelet_running_pods"
  std::string help;  // without the stability prefix
  Stability stability = Stability::kAlpha;
  std::string deprecatedVersion;  // "1.29.0" or empty
};

// Go strconv.FormatFloat(v, 'g', -1, 64) with Prometheus' spellings of the infinities.
std::string formatFloat(double v);
// Label value escaping of the text format: \ -> \\, " -> \", newline -> \n.
std::string escapeLabelValue(const std::string& v);
// HELP escaping: \ -> \\, newline -> \n.
std::string escapeHelp(const std::string& v);
// The HELP text as component-base writes it: "[ALPHA] help", "[STABLE] (Deprecated since
// 1.29.0) help", or just the help for kNone.
std::string decoratedHelp(const Opts& opts);

using Labels = std::vector<std::pair<std::string, std::string>>;

// One rendered sample of a counter, gauge or untyped family.
struct Sample {
  Labels labels;  // any order; rendered sorted by name
  double value = 0;
  std::optional<int64_t> timestampMs;
};

// One histogram child: `bounds` ascending without +Inf, `counts[i]` the number of
// observations <= bounds[i] (cumulative), `count` all observations.
struct HistogramSample {
  Labels labels;
  std::vector<double> bounds;
  std::vector<uint64_t> cumulative;
  uint64_t count = 0;
  double sum = 0;
  std::optional<int64_t> timestampMs;
};

struct Family {
  Opts opts;
  Type type = Type::kGauge;
  std::vector<Sample> samples;             // counter, gauge, untyped
  std::vector<HistogramSample> histograms;  // histogram
};

// Renders families sorted by name, each family's samples sorted by label values; empty
// families are left out.
std::string render(std::vector<Family> families);

// ---------------------------------------------------------------------------------------------
// Live metrics.

class Counter {
 public:
  void inc(double delta = 1);
  double value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0};
};

class Gauge {
 public:
  void set(double v) { value_.store(v, std::memory_order_relaxed); }
  void add(double delta);
  void inc() { add(1); }
  void dec() { add(-1); }
  // Unix time in seconds (fractional), as client_golang's SetToCurrentTime.
  void setToCurrentTime();
  double value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0};
};

class Histogram {
 public:
  explicit Histogram(std::vector<double> bounds);
  void observe(double v);
  // A consistent snapshot (cumulative counts).
  HistogramSample snapshot() const;
  uint64_t count() const;
  double sum() const;

 private:
  std::vector<double> bounds_;
  mutable std::mutex mu_;
  std::vector<uint64_t> counts_;  // per bucket, not cumulative; last = +Inf only
  uint64_t count_ = 0;
  double sum_ = 0;
};

// Bucket helpers (client_golang's DefBuckets, ExponentialBuckets, LinearBuckets).
std::vector<double> defBuckets();
std::vector<double> exponentialBuckets(double start, double factor, int count);
std::vector<double> linearBuckets(double start, double width, int count);

// A family of children keyed by label values (given in the order of the label names passed
// at creation). with() creates the child on first use.
template <typename M>
class Vec {
 public:
  Vec(std::vector<std::string> labelNames, std::function<std::unique_ptr<M>()> make)
      : labelNames_(std::move(labelNames)), make_(std::move(make)) {}

  // The child for these label values; their number must equal the number of label names
  // (missing ones are taken as "", extra ones ignored).
  M& with(std::vector<std::string> values) {
    values.resize(labelNames_.size());
    std::lock_guard<std::mutex> lock(mu_);
    auto& slot = children_[values];
    if (!slot) slot = make_();
    return *slot;
  }
  void remove(std::vector<std::string> values) {
    values.resize(labelNames_.size());
    std::lock_guard<std::mutex> lock(mu_);
    children_.erase(values);
  }
  void reset() {
    std::lock_guard<std::mutex> lock(mu_);
    children_.clear();
  }
  const std::vector<std::string>& labelNames() const { return labelNames_; }
  // Calls fn(labelValues, child) for each child under the lock.
  template <typename Fn>
  void forEach(Fn&& fn) const {
    std::lock_guard<std::mutex> lock(mu_);
    for (const auto& [values, child] : children_) fn(values, *child);
  }

 private:
  std::vector<std::string> labelNames_;
  std::function<std::unique_ptr<M>()> make_;
  mutable std::mutex mu_;
  std::map<std::vector<std::string>, std::unique_ptr<M>> children_;
};

using CounterVec = Vec<Counter>;
using GaugeVec = Vec<Gauge>;
using HistogramVec = Vec<Histogram>;

// Owns metrics and renders them with any registered collectors' families.
class Registry {
 public:
  Registry();
  ~Registry();
  Registry(const Registry&) = delete;
  Registry& operator=(const Registry&) = delete;

  Counter& counter(const Opts& opts);
  Gauge& gauge(const Opts& opts);
  Histogram& histogram(const Opts& opts, std::vector<double> buckets);
  CounterVec& counterVec(const Opts& opts, std::vector<std::string> labelNames);
  GaugeVec& gaugeVec(const Opts& opts, std::vector<std::string> labelNames);
  HistogramVec& histogramVec(const Opts& opts, std::vector<std::string> labelNames, std::vector<double> buckets);

  // Families computed at render time (e.g. process_start_time_seconds, resource metrics).
  void addCollector(std::function<std::vector<Family>()> collector);

  // The whole registry in the text format.
  std::string render() const;

 private:
  struct Entry;
  Entry& add(const Opts& opts, Type type);
  mutable std::mutex mu_;
  std::vector<std::unique_ptr<Entry>> entries_;
  std::vector<std::function<std::vector<Family>()>> collectors_;
};

}  // namespace cubelet::metrics
