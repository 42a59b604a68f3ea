// The Prometheus registry and text encoder: golden text for counters, gauges and histograms
// with labels, escaping, Go float formatting, sorting, timestamps, and the kubelet_* set.
#include "kubelet/metrics/registry.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <thread>

#include "kubelet/metrics/kubelet_metrics.h"

namespace cubelet::metrics {
namespace {

TEST(FormatFloat, MatchesGoShortestG) {
  EXPECT_EQ(formatFloat(0), "0");
  EXPECT_EQ(formatFloat(1), "1");
  EXPECT_EQ(formatFloat(-3), "-3");
  EXPECT_EQ(formatFloat(0.005), "0.005");
  EXPECT_EQ(formatFloat(0.0125), "0.0125");
  EXPECT_EQ(formatFloat(0.0001), "0.0001");
  EXPECT_EQ(formatFloat(0.00001), "1e-05");
  EXPECT_EQ(formatFloat(2.5), "2.5");
  EXPECT_EQ(formatFloat(123456), "123456");
  EXPECT_EQ(formatFloat(1000000), "1e+06");
  EXPECT_EQ(formatFloat(104857600), "1.048576e+08");
  EXPECT_EQ(formatFloat(12.345678901), "12.345678901");
  EXPECT_EQ(formatFloat(1.7e308), "1.7e+308");
  EXPECT_EQ(formatFloat(1712345678.901), "1.712345678901e+09");
  EXPECT_EQ(formatFloat(std::numeric_limits<double>::infinity()), "+Inf");
  EXPECT_EQ(formatFloat(-std::numeric_limits<double>::infinity()), "-Inf");
  EXPECT_EQ(formatFloat(std::nan("")), "NaN");
}

TEST(Escaping, LabelValuesAndHelp) {
  EXPECT_EQ(escapeLabelValue("a\\b\"c\nd"), "a\\\\b\\\"c\\nd");
  EXPECT_EQ(escapeHelp("a\\b\"c\nd"), "a\\\\b\"c\\nd");
}

TEST(Buckets, ExponentialAsUpstream) {
  auto b = exponentialBuckets(0.005, 2.5, 14);
  ASSERT_EQ(b.size(), 14u);
  EXPECT_EQ(formatFloat(b[0]), "0.005");
  EXPECT_EQ(formatFloat(b[1]), "0.0125");
  EXPECT_EQ(formatFloat(b[2]), "0.03125");
  EXPECT_NEAR(b[13], 745.058059692, 1e-6);
}

TEST(Registry, CounterAndGaugeGolden) {
  Registry r;
  auto& c = r.counter({"test_total", "A counter", Stability::kAlpha, ""});
  auto& g = r.gauge({"test_gauge", "A \\gauge\nwith newline", Stability::kStable, ""});
  c.inc();
  c.inc(2);
  c.inc(-5);  // ignored
  g.set(1.5);
  g.dec();
  EXPECT_EQ(r.render(),
            "# HELP test_gauge [STABLE] A \\\\gauge\\nwith newline\n"
            "# TYPE test_gauge gauge\n"
            "test_gauge 0.5\n"
            "# HELP test_total [ALPHA] A counter\n"
            "# TYPE test_total counter\n"
            "test_total 3\n");
}

TEST(Registry, VecSortsLabelsAndValuesAndEscapes) {
  Registry r;
  auto& v = r.counterVec({"req_total", "Requests", Stability::kNone, ""}, {"path", "method"});
  v.with({"b", "GET"}).inc();
  v.with({"a\"q\\\n", "POST"}).inc(4);
  v.with({"a", "PUT"}).inc();
  // Empty vectors render nothing.
  r.gaugeVec({"empty", "Nothing", Stability::kAlpha, ""}, {"x"});
  EXPECT_EQ(r.render(),
            "# HELP req_total Requests\n"
            "# TYPE req_total counter\n"
            // Label names sorted (method < path); samples ordered by those values.
            "req_total{method=\"GET\",path=\"b\"} 1\n"
            "req_total{method=\"POST\",path=\"a\\\"q\\\\\\n\"} 4\n"
            "req_total{method=\"PUT\",path=\"a\"} 1\n");
}

TEST(Registry, HistogramGolden) {
  Registry r;
  auto& h = r.histogramVec({"op_seconds", "Durations", Stability::kAlpha, "1.29.0"}, {"operation_type"},
                           {0.005, 0.1, 1});
  h.with({"version"}).observe(0.005);  // bounds are inclusive
  h.with({"version"}).observe(0.05);
  h.with({"version"}).observe(7);
  EXPECT_EQ(r.render(),
            "# HELP op_seconds [ALPHA] (Deprecated since 1.29.0) Durations\n"
            "# TYPE op_seconds histogram\n"
            "op_seconds_bucket{operation_type=\"version\",le=\"0.005\"} 1\n"
            "op_seconds_bucket{operation_type=\"version\",le=\"0.1\"} 2\n"
            "op_seconds_bucket{operation_type=\"version\",le=\"1\"} 2\n"
            "op_seconds_bucket{operation_type=\"version\",le=\"+Inf\"} 3\n"
            "op_seconds_sum{operation_type=\"version\"} 7.055\n"
            "op_seconds_count{operation_type=\"version\"} 3\n");
}

TEST(Registry, PlainHistogramHasOnlyLe) {
  Registry r;
  auto& h = r.histogram({"h", "H", Stability::kAlpha, ""}, {1e-05});
  h.observe(1);
  EXPECT_EQ(r.render(),
            "# HELP h [ALPHA] H\n"
            "# TYPE h histogram\n"
            "h_bucket{le=\"1e-05\"} 0\n"
            "h_bucket{le=\"+Inf\"} 1\n"
            "h_sum 1\n"
            "h_count 1\n");
}

TEST(Render, FamiliesWithTimestamps) {
  Family f;
  f.opts = {"container_cpu_usage_seconds_total", "Cumulative cpu time consumed by the container in core-seconds",
            Stability::kStable, ""};
  f.type = Type::kCounter;
  f.samples.push_back({{{"pod", "p"}, {"namespace", "ns"}, {"container", "c"}}, 12.34, int64_t{1712345678901}});
  EXPECT_EQ(render({f}),
            "# HELP container_cpu_usage_seconds_total [STABLE] Cumulative cpu time consumed by the container in "
            "core-seconds\n"
            "# TYPE container_cpu_usage_seconds_total counter\n"
            "container_cpu_usage_seconds_total{container=\"c\",namespace=\"ns\",pod=\"p\"} 12.34 1712345678901\n");
}

TEST(Registry, ConcurrentIncrements) {
  Registry r;
  auto& v = r.counterVec({"c_total", "C", Stability::kAlpha, ""}, {"k"});
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&] {
      for (int i = 0; i < 1000; ++i) v.with({"x"}).inc();
    });
  for (auto& t : threads) t.join();
  EXPECT_EQ(v.with({"x"}).value(), 4000);
}

TEST(KubeletMetrics, UpstreamNamesHelpAndBuckets) {
  auto& m = kubeletMetrics();
  m.runningPods.set(2);
  m.runningContainers.with({"running"}).set(3);
  recordRuntimeOperation("version", 0.001, false);
  recordRuntimeOperation("version", 0.02, true);
  m.nodeName.with({"node-1"}).set(1);
  const std::string text = m.registry.render();
  EXPECT_NE(text.find("# HELP kubelet_running_pods [ALPHA] Number of pods that have a running pod sandbox\n"
                      "# TYPE kubelet_running_pods gauge\nkubelet_running_pods 2\n"),
            std::string::npos);
  EXPECT_NE(text.find("kubelet_running_containers{container_state=\"running\"} 3\n"), std::string::npos);
  EXPECT_NE(text.find("kubelet_runtime_operations_total{operation_type=\"version\"} 2\n"), std::string::npos);
  EXPECT_NE(text.find("kubelet_runtime_operations_errors_total{operation_type=\"version\"} 1\n"), std::string::npos);
  EXPECT_NE(text.find("kubelet_runtime_operations_duration_seconds_bucket{operation_type=\"version\",le=\"0.005\"} 1\n"),
            std::string::npos);
  EXPECT_NE(text.find("kubelet_runtime_operations_duration_seconds_bucket{operation_type=\"version\",le=\"0.03125\"} 2\n"),
            std::string::npos);
  EXPECT_NE(text.find("kubelet_node_name{node=\"node-1\"} 1\n"), std::string::npos);
  EXPECT_NE(text.find("kubelet_started_pods_total 0\n"), std::string::npos);
  EXPECT_NE(text.find("kubelet_pod_start_duration_seconds_bucket{le=\"3600\"} 0\n"), std::string::npos);
  EXPECT_NE(text.find("# HELP process_start_time_seconds Start time of the process since unix epoch in seconds.\n"
                      "# TYPE process_start_time_seconds gauge\n"),
            std::string::npos);
  // Families come sorted by name.
  EXPECT_LT(text.find("kubelet_mirror_pods"), text.find("kubelet_running_pods"));
  EXPECT_LT(text.find("kubelet_running_pods"), text.find("process_start_time_seconds"));
}

}  // namespace
}  // namespace cubelet::metrics
