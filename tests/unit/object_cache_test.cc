// ObjectCache: referencedNames over a pod, and the watch-based cache against an in-process
// fake apiserver that serves list and watch (with the exact metadata.name field selector the
// Reflector sends) and plain GETs from a small in-memory store, pushing changes to open watches.
#include "kubelet/volume/object_cache.h"

#include <gtest/gtest.h>
#include <httplib.h>

#include <atomic>
#include <condition_variable>
#include <functional>
#include <map>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

#include "kubelet/objects/json_access.h"

namespace cubelet::volume {
namespace {

using namespace std::chrono_literals;

// Polls `cond` every 20 ms for up to 10 s.
bool eventually(const std::function<bool()>& cond) {
  for (int i = 0; i < 500; ++i) {
    if (cond()) return true;
    std::this_thread::sleep_for(20ms);
  }
  return cond();
}

// One namespace's worth of objects, shared by every resource path (configmaps, secrets).
class FakeApiserver {
 public:
  FakeApiserver() {
    // Open watches each hold a server thread; leave plenty for lists and GETs.
    srv_.new_task_queue = [] { return new httplib::ThreadPool(32); };
    srv_.Get(R"(/api/v1/namespaces/([^/]+)/([a-z]+))", [this](const httplib::Request& req, httplib::Response& res) {
      if (req.get_param_value("watch") == "true") {
        serveWatch(req, res);
      } else {
        serveList(req, res);
      }
    });
    srv_.Get(R"(/api/v1/namespaces/([^/]+)/([a-z]+)/([^/]+))",
             [this](const httplib::Request& req, httplib::Response& res) { serveGet(req, res); });
    port_ = srv_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { srv_.listen_after_bind(); });
    while (!srv_.is_running()) std::this_thread::sleep_for(5ms);
  }
  ~FakeApiserver() {
    {
      std::lock_guard<std::mutex> l(mu_);
      stopping_ = true;
    }
    cv_.notify_all();
    srv_.stop();
    thread_.join();
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }

  // Creates or replaces an object; open watches see ADDED or MODIFIED.
  void put(const std::string& name, json data, bool immutable = false) {
    {
      std::lock_guard<std::mutex> l(mu_);
      json obj = {{"apiVersion", "v1"},
                  {"kind", "ConfigMap"},
                  {"metadata", {{"name", name}, {"namespace", "ns"}, {"resourceVersion", std::to_string(++rv_)}}},
                  {"data", std::move(data)}};
      if (immutable) obj["immutable"] = true;
      log_.push_back({rv_, objects_.contains(name) ? "MODIFIED" : "ADDED", obj});
      objects_[name] = std::move(obj);
    }
    cv_.notify_all();
  }
  void remove(const std::string& name) {
    {
      std::lock_guard<std::mutex> l(mu_);
      json obj = objects_.at(name);
      objects_.erase(name);
      obj["metadata"]["resourceVersion"] = std::to_string(++rv_);
      log_.push_back({rv_, "DELETED", obj});
    }
    cv_.notify_all();
  }
  // Lists and watches of `name` answer 403 (the Node authorizer's graph not populated yet).
  void forbid(const std::string& name, bool on) {
    std::lock_guard<std::mutex> l(mu_);
    if (on) {
      forbidden_.insert(name);
    } else {
      forbidden_.erase(name);
    }
  }

  int lists(const std::string& name) { return count(lists_, name); }
  int watches(const std::string& name) { return count(watches_, name); }  // ever started
  int openWatches(const std::string& name) { return count(open_, name); }
  int gets(const std::string& name) { return count(gets_, name); }
  std::vector<std::string> targets() {
    std::lock_guard<std::mutex> l(mu_);
    return targets_;
  }

 private:
  struct Event {
    int rv;
    std::string type;
    json object;
  };

  int count(const std::map<std::string, int>& m, const std::string& name) {
    std::lock_guard<std::mutex> l(mu_);
    auto it = m.find(name);
    return it == m.end() ? 0 : it->second;
  }

  // The name from the selector; the Node authorizer accepts only this exact form.
  static std::string selectedName(const httplib::Request& req) {
    const std::string sel = req.get_param_value("fieldSelector");
    const std::string prefix = "metadata.name=";
    EXPECT_EQ(sel.rfind(prefix, 0), 0u) << req.target;
    return sel.substr(std::min(prefix.size(), sel.size()));
  }

  static void status(httplib::Response& res, int code, const std::string& reason, const std::string& message) {
    res.status = code;
    res.set_content(json{{"kind", "Status"}, {"apiVersion", "v1"}, {"status", "Failure"}, {"message", message},
                         {"reason", reason}, {"code", code}}
                        .dump(),
                    "application/json");
  }

  void serveList(const httplib::Request& req, httplib::Response& res) {
    const std::string name = selectedName(req);
    std::lock_guard<std::mutex> l(mu_);
    targets_.push_back(req.target);
    ++lists_[name];
    if (forbidden_.contains(name)) return status(res, 403, "Forbidden", "no relationship found");
    json items = json::array();
    if (auto it = objects_.find(name); it != objects_.end()) items.push_back(it->second);
    res.set_content(json{{"kind", "ConfigMapList"},
                         {"apiVersion", "v1"},
                         {"metadata", {{"resourceVersion", std::to_string(rv_)}}},
                         {"items", items}}
                        .dump(),
                    "application/json");
  }

  void serveWatch(const httplib::Request& req, httplib::Response& res) {
    const std::string name = selectedName(req);
    auto last = std::make_shared<int>(std::stoi(req.get_param_value("resourceVersion")));
    {
      std::lock_guard<std::mutex> l(mu_);
      targets_.push_back(req.target);
      if (forbidden_.contains(name)) return status(res, 403, "Forbidden", "no relationship found");
      ++watches_[name];
      ++open_[name];
    }
    res.set_chunked_content_provider(
        "application/json",
        [this, name, last](size_t, httplib::DataSink& sink) {
          std::string out;
          {
            std::unique_lock<std::mutex> l(mu_);
            auto pending = [&] { return !log_.empty() && log_.back().rv > *last; };
            cv_.wait_for(l, 50ms, [&] { return stopping_ || pending(); });
            if (stopping_) return false;
            for (const Event& ev : log_) {
              if (ev.rv > *last && ev.object["metadata"]["name"] == name) {
                out += json{{"type", ev.type}, {"object", ev.object}}.dump() + "\n";
              }
            }
            *last = rv_;
          }
          // An empty line when there is nothing to send: the client skips it, and a failed
          // write is how the server notices that the client closed the watch.
          if (out.empty()) out = "\n";
          return sink.write(out.data(), out.size());
        },
        [this, name](bool) {
          std::lock_guard<std::mutex> l(mu_);
          --open_[name];
        });
  }

  void serveGet(const httplib::Request& req, httplib::Response& res) {
    const std::string name = req.matches[3];
    std::lock_guard<std::mutex> l(mu_);
    targets_.push_back(req.target);
    ++gets_[name];
    auto it = objects_.find(name);
    if (it == objects_.end()) {
      return status(res, 404, "NotFound", req.matches[2].str() + " \"" + name + "\" not found");
    }
    res.set_content(it->second.dump(), "application/json");
  }

  httplib::Server srv_;
  int port_ = 0;
  std::thread thread_;

  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  int rv_ = 100;
  std::map<std::string, json> objects_;
  std::vector<Event> log_;
  std::set<std::string> forbidden_;
  std::map<std::string, int> lists_, watches_, open_, gets_;
  std::vector<std::string> targets_;
};

class ObjectCacheTest : public ::testing::Test {
 protected:
  void SetUp() override {
    config::RestConfig rc;
    rc.server = fake_.url();
    auto c = api::Client::create(rc);
    ASSERT_TRUE(c.ok()) << c.status();
    client_ = std::move(*c);
  }

  // Generous first-sync wait: the tests must not depend on timing.
  std::unique_ptr<ObjectCache> makeCache(ObjectCacheOptions opts = {.firstSyncWait = 10s}) {
    return std::make_unique<ObjectCache>(client_.get(), "configmaps", "configmap", opts);
  }

  static std::string dataOf(const absl::StatusOr<json>& obj, const std::string& key) {
    if (!obj.ok()) return "error: " + obj.status().ToString();
    return objects::str(*obj, {"data", key});
  }

  FakeApiserver fake_;  // declared first: outlives the client and every cache
  std::unique_ptr<api::Client> client_;
};

TEST_F(ObjectCacheTest, GetAfterRegisterReturnsTheObject) {
  fake_.put("x", {{"k", "v1"}});
  auto cache = makeCache();
  cache->registerPod("pod1", "ns", {"x"});
  EXPECT_EQ(dataOf(cache->get("ns", "x"), "k"), "v1");
  EXPECT_EQ(cache->registeredCount(), 1u);
  EXPECT_EQ(fake_.lists("x"), 1);
  EXPECT_EQ(fake_.gets("x"), 0) << "a registered object is served from the watch, not by GET";
}

TEST_F(ObjectCacheTest, RequestsCarryTheExactNameFieldSelector) {
  fake_.put("x", {{"k", "v1"}});
  auto cache = makeCache();
  cache->registerPod("pod1", "ns", {"x"});
  ASSERT_TRUE(cache->get("ns", "x").ok());
  ASSERT_TRUE(eventually([&] { return fake_.openWatches("x") == 1; }));
  auto targets = fake_.targets();
  ASSERT_GE(targets.size(), 2u);
  EXPECT_EQ(targets[0], "/api/v1/namespaces/ns/configmaps?fieldSelector=metadata.name%3Dx");
  EXPECT_EQ(targets[1].rfind("/api/v1/namespaces/ns/configmaps?watch=true&", 0), 0u) << targets[1];
  EXPECT_NE(targets[1].find("&resourceVersion=101&"), std::string::npos) << targets[1];
  EXPECT_TRUE(targets[1].ends_with("&fieldSelector=metadata.name%3Dx")) << targets[1];
}

TEST_F(ObjectCacheTest, UpdateIsSeenThroughTheWatch) {
  fake_.put("x", {{"k", "v1"}});
  auto cache = makeCache();
  cache->registerPod("pod1", "ns", {"x"});
  ASSERT_EQ(dataOf(cache->get("ns", "x"), "k"), "v1");
  fake_.put("x", {{"k", "v2"}});
  EXPECT_TRUE(eventually([&] { return dataOf(cache->get("ns", "x"), "k") == "v2"; }));
  EXPECT_EQ(fake_.lists("x"), 1) << "the update came through the watch, not a relist";
  EXPECT_EQ(fake_.gets("x"), 0);
}

TEST_F(ObjectCacheTest, MissingObjectIsNotFoundWithTheUpstreamMessage) {
  auto cache = makeCache();
  cache->registerPod("pod1", "ns", {"missing"});
  auto r = cache->get("ns", "missing");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(r.status().message(), "configmap \"missing\" not found");

  ObjectCache secrets(client_.get(), "secrets", "secret", {.firstSyncWait = 10s});
  secrets.registerPod("pod1", "ns", {"s"});
  auto s = secrets.get("ns", "s");
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().message(), "secret \"s\" not found");
}

TEST_F(ObjectCacheTest, ObjectCreatedLaterBecomesVisibleAndDeletedGoesAway) {
  auto cache = makeCache();
  cache->registerPod("pod1", "ns", {"later"});
  ASSERT_TRUE(api::isNotFound(cache->get("ns", "later").status()));
  fake_.put("later", {{"k", "here"}});
  EXPECT_TRUE(eventually([&] { return dataOf(cache->get("ns", "later"), "k") == "here"; }));
  fake_.remove("later");
  EXPECT_TRUE(eventually([&] { return api::isNotFound(cache->get("ns", "later").status()); }));
  EXPECT_EQ(cache->get("ns", "later").status().message(), "configmap \"later\" not found");
}

TEST_F(ObjectCacheTest, UnregisteringTheLastPodStopsTheWatch) {
  fake_.put("x", {{"k", "v1"}});
  auto cache = makeCache();
  cache->registerPod("pod1", "ns", {"x"});
  ASSERT_TRUE(cache->get("ns", "x").ok());
  ASSERT_TRUE(eventually([&] { return fake_.openWatches("x") == 1; }));
  cache->unregisterPod("pod1");
  EXPECT_EQ(cache->registeredCount(), 0u);
  EXPECT_TRUE(eventually([&] { return fake_.openWatches("x") == 0; })) << "the server saw the watch closed";
  const int lists = fake_.lists("x"), watches = fake_.watches("x");
  std::this_thread::sleep_for(300ms);
  EXPECT_EQ(fake_.lists("x"), lists);
  EXPECT_EQ(fake_.watches("x"), watches) << "no new watch after the reflector stopped";
  // No longer registered: served by a GET.
  EXPECT_EQ(dataOf(cache->get("ns", "x"), "k"), "v1");
  EXPECT_EQ(fake_.gets("x"), 1);
  cache->unregisterPod("pod1");     // a second unregister is harmless
  cache->unregisterPod("unknown");  // and so is an unknown pod
}

TEST_F(ObjectCacheTest, PodsSharingAnObjectShareOneWatch) {
  fake_.put("x", {{"k", "v1"}});
  auto cache = makeCache();
  cache->registerPod("pod1", "ns", {"x"});
  cache->registerPod("pod2", "ns", {"x"});
  ASSERT_TRUE(cache->get("ns", "x").ok());
  ASSERT_TRUE(eventually([&] { return fake_.openWatches("x") == 1; }));
  EXPECT_EQ(fake_.lists("x"), 1);
  EXPECT_EQ(cache->registeredCount(), 1u);

  cache->unregisterPod("pod1");
  fake_.put("x", {{"k", "v2"}});
  EXPECT_TRUE(eventually([&] { return dataOf(cache->get("ns", "x"), "k") == "v2"; }))
      << "pod2 still references it: still watched";
  EXPECT_EQ(fake_.openWatches("x"), 1);
  EXPECT_EQ(fake_.watches("x"), 1);
  EXPECT_EQ(fake_.gets("x"), 0);

  cache->unregisterPod("pod2");
  EXPECT_EQ(cache->registeredCount(), 0u);
  EXPECT_TRUE(eventually([&] { return fake_.openWatches("x") == 0; }));
}

TEST_F(ObjectCacheTest, RegisteringAgainReplacesThePodsReferences) {
  for (const char* n : {"a", "b", "c"}) fake_.put(n, {{"k", n}});
  auto cache = makeCache();
  cache->registerPod("pod1", "ns", {"a", "b"});
  ASSERT_TRUE(eventually([&] { return fake_.openWatches("a") == 1 && fake_.openWatches("b") == 1; }));
  cache->registerPod("pod1", "ns", {"b", "c"});
  EXPECT_EQ(cache->registeredCount(), 2u);
  EXPECT_EQ(dataOf(cache->get("ns", "c"), "k"), "c");
  EXPECT_TRUE(eventually([&] { return fake_.openWatches("a") == 0 && fake_.openWatches("c") == 1; }));
  EXPECT_EQ(fake_.lists("b"), 1) << "an object the pod keeps is not re-listed";
  EXPECT_EQ(fake_.watches("b"), 1);
  cache->registerPod("pod1", "ns", {});
  EXPECT_EQ(cache->registeredCount(), 0u);
  EXPECT_TRUE(eventually([&] { return fake_.openWatches("b") == 0 && fake_.openWatches("c") == 0; }));
}

TEST_F(ObjectCacheTest, UnregisteredObjectFallsBackToGet) {
  fake_.put("y", {{"k", "direct"}});
  auto cache = makeCache();
  EXPECT_EQ(dataOf(cache->get("ns", "y"), "k"), "direct");
  EXPECT_EQ(fake_.gets("y"), 1);
  EXPECT_EQ(fake_.lists("y"), 0);
  auto r = cache->get("ns", "nope");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(r.status().message(), "configmap \"nope\" not found") << "the apiserver's plural is not shown";
  EXPECT_EQ(cache->registeredCount(), 0u) << "a get does not register anything";
}

TEST_F(ObjectCacheTest, GetStrategyGetsEveryTime) {
  fake_.put("x", {{"k", "v1"}});
  auto cache = makeCache({.strategy = ChangeDetectionStrategy::kGet});
  cache->registerPod("pod1", "ns", {"x"});
  EXPECT_EQ(dataOf(cache->get("ns", "x"), "k"), "v1");
  fake_.put("x", {{"k", "v2"}});
  EXPECT_EQ(dataOf(cache->get("ns", "x"), "k"), "v2");
  EXPECT_EQ(dataOf(cache->get("ns", "x"), "k"), "v2");
  EXPECT_EQ(fake_.gets("x"), 3);
  EXPECT_EQ(fake_.lists("x"), 0);
  EXPECT_EQ(fake_.watches("x"), 0);
  EXPECT_EQ(cache->registeredCount(), 0u);
  EXPECT_EQ(cache->get("ns", "nope").status().message(), "configmap \"nope\" not found");
  cache->unregisterPod("pod1");
}

TEST_F(ObjectCacheTest, ImmutableObjectIsNotWatched) {
  fake_.put("imm", {{"k", "fixed"}}, /*immutable=*/true);
  auto cache = makeCache();
  cache->registerPod("pod1", "ns", {"imm"});
  EXPECT_EQ(dataOf(cache->get("ns", "imm"), "k"), "fixed");
  EXPECT_TRUE(eventually([&] { return cache->watchingCount() == 0; }));
  std::this_thread::sleep_for(300ms);
  EXPECT_EQ(fake_.watches("imm"), 0) << "the reflector stopped after the list";
  EXPECT_EQ(fake_.lists("imm"), 1);
  EXPECT_EQ(dataOf(cache->get("ns", "imm"), "k"), "fixed") << "the cached copy is still served";
  EXPECT_EQ(fake_.gets("imm"), 0);
  cache->unregisterPod("pod1");
  EXPECT_EQ(cache->registeredCount(), 0u);
}

TEST_F(ObjectCacheTest, ObjectMadeImmutableStopsItsWatch) {
  fake_.put("m", {{"k", "v1"}});
  auto cache = makeCache();
  cache->registerPod("pod1", "ns", {"m"});
  ASSERT_TRUE(cache->get("ns", "m").ok());
  ASSERT_TRUE(eventually([&] { return fake_.openWatches("m") == 1; }));
  EXPECT_EQ(cache->watchingCount(), 1u);
  fake_.put("m", {{"k", "v2"}}, /*immutable=*/true);
  EXPECT_TRUE(eventually([&] { return fake_.openWatches("m") == 0; })) << "the watch was closed";
  EXPECT_EQ(cache->watchingCount(), 0u);
  EXPECT_EQ(dataOf(cache->get("ns", "m"), "k"), "v2");
  std::this_thread::sleep_for(300ms);
  EXPECT_EQ(fake_.watches("m"), 1) << "no new watch";
  EXPECT_EQ(fake_.lists("m"), 1);
}

TEST_F(ObjectCacheTest, FirstSyncTimeoutIsUnavailableThenRecovers) {
  fake_.put("x", {{"k", "v1"}});
  fake_.forbid("x", true);
  auto cache = makeCache({.firstSyncWait = 200ms});
  cache->registerPod("pod1", "ns", {"x"});
  auto r = cache->get("ns", "x");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(r.status().message(), "failed to sync configmap cache: timed out waiting for the condition");
  fake_.forbid("x", false);
  // The reflector retries the list with back-off (800 ms, then 1.6 s ...).
  EXPECT_TRUE(eventually([&] { return dataOf(cache->get("ns", "x"), "k") == "v1"; }));
  EXPECT_EQ(fake_.gets("x"), 0);
}

TEST_F(ObjectCacheTest, DestructorStopsEveryWatch) {
  fake_.put("a", {{"k", "a"}});
  {
    auto cache = makeCache();
    cache->registerPod("pod1", "ns", {"a", "b"});
    cache->registerPod("pod2", "ns", {"a"});
    ASSERT_TRUE(eventually([&] { return fake_.openWatches("a") == 1 && fake_.openWatches("b") == 1; }));
  }
  EXPECT_TRUE(eventually([&] { return fake_.openWatches("a") == 0 && fake_.openWatches("b") == 0; }));
}

TEST_F(ObjectCacheTest, ConcurrentRegisterGetAndUnregister) {
  fake_.put("x", {{"k", "v1"}});
  auto cache = makeCache({.firstSyncWait = 2s});
  std::atomic<int> unexpected{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      const std::string pod = "pod" + std::to_string(t);
      for (int i = 0; i < 10; ++i) {
        cache->registerPod(pod, "ns", {"x"});
        auto r = cache->get("ns", "x");
        // OK, or (rarely) Unavailable when the entry's first list had not arrived in time.
        if (!r.ok() && r.status().code() != absl::StatusCode::kUnavailable) ++unexpected;
        cache->unregisterPod(pod);
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(unexpected.load(), 0);
  EXPECT_EQ(cache->registeredCount(), 0u);
  EXPECT_TRUE(eventually([&] { return fake_.openWatches("x") == 0; }));
}

// ---- referencedNames ----

const json kPod = json::parse(R"({
  "metadata": {"name": "p", "namespace": "ns"},
  "spec": {
    "imagePullSecrets": [{"name": "pull"}, {"name": ""}],
    "volumes": [
      {"name": "v1", "configMap": {"name": "cm-vol"}},
      {"name": "v2", "secret": {"secretName": "sec-vol"}},
      {"name": "v3", "projected": {"sources": [
        {"configMap": {"name": "cm-proj"}},
        {"secret": {"name": "sec-proj"}},
        {"serviceAccountToken": {"path": "token"}},
        {"downwardAPI": {"items": []}}
      ]}},
      {"name": "v4", "emptyDir": {}},
      {"name": "v5", "configMap": {"name": ""}},
      {"name": "v6", "secret": {}}
    ],
    "containers": [{
      "name": "c",
      "env": [
        {"name": "A", "value": "plain"},
        {"name": "B", "valueFrom": {"configMapKeyRef": {"name": "cm-env", "key": "k"}}},
        {"name": "C", "valueFrom": {"secretKeyRef": {"name": "sec-env", "key": "k"}}},
        {"name": "D", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}
      ],
      "envFrom": [{"configMapRef": {"name": "cm-envfrom"}}, {"secretRef": {"name": "sec-envfrom"}}]
    }],
    "initContainers": [{
      "name": "i",
      "env": [{"name": "E", "valueFrom": {"configMapKeyRef": {"name": "cm-init"}}},
              {"name": "F", "valueFrom": {"secretKeyRef": {"name": "sec-init"}}}]
    }],
    "ephemeralContainers": [{
      "name": "e",
      "envFrom": [{"configMapRef": {"name": "cm-eph"}}, {"secretRef": {"name": "sec-eph"}}]
    }]
  }
})");

TEST(ReferencedNamesTest, ConfigMaps) {
  EXPECT_EQ(referencedNames(kPod, "configmaps"),
            (std::set<std::string>{"cm-vol", "cm-proj", "cm-env", "cm-envfrom", "cm-init", "cm-eph"}));
}

TEST(ReferencedNamesTest, Secrets) {
  EXPECT_EQ(referencedNames(kPod, "secrets"),
            (std::set<std::string>{"pull", "sec-vol", "sec-proj", "sec-env", "sec-envfrom", "sec-init", "sec-eph"}));
}

TEST(ReferencedNamesTest, MalformedPodsYieldNothing) {
  EXPECT_TRUE(referencedNames(json::object(), "configmaps").empty());
  EXPECT_TRUE(referencedNames(json(nullptr), "secrets").empty());
  EXPECT_TRUE(referencedNames(json::parse(R"({"spec": {"volumes": "x", "containers": [1, {"env": {}}]}})"),
                              "configmaps")
                  .empty());
  EXPECT_TRUE(referencedNames(json::parse(R"({"spec": {"imagePullSecrets": [{"name": 5}]}})"), "secrets").empty());
}

}  // namespace
}  // namespace cubelet::volume
