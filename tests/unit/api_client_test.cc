// The API client and reflector against a fake apiserver (plain HTTP on loopback): decoding,
// error mapping, streaming watches split across chunks, and relist on 410 Gone; over TLS, only
// the kubeconfig's CA is trusted.
#include "kubelet/api/client.h"

#include <gtest/gtest.h>
#include <httplib.h>

#include <atomic>
#include <thread>

#include "kubelet/api/events.h"
#include "kubelet/api/reflector.h"
#include "tests/fakes/self_signed_cert.h"

namespace cubelet::api {
namespace {

TEST(WatchDecodeTest, Events) {
  auto ev = decodeWatchEvent(R"({"type":"ADDED","object":{"kind":"Node","metadata":{"name":"n"}}})");
  ASSERT_TRUE(ev.ok()) << ev.status();
  EXPECT_EQ(ev->type, "ADDED");
  EXPECT_EQ(ev->object["metadata"]["name"], "n");

  ev = decodeWatchEvent(R"({"type":"BOOKMARK","object":{"metadata":{"resourceVersion":"12"}}})");
  ASSERT_TRUE(ev.ok());
  EXPECT_EQ(ev->type, "BOOKMARK");

  ev = decodeWatchEvent(
      R"j({"type":"ERROR","object":{"kind":"Status","code":410,"reason":"Expired","message":"too old resource version: 1 (5)"}})j");
  ASSERT_FALSE(ev.ok());
  EXPECT_TRUE(isGone(ev.status()));
  EXPECT_NE(ev.status().message().find("too old"), std::string::npos);

  EXPECT_FALSE(decodeWatchEvent("{not json").ok());
  EXPECT_FALSE(decodeWatchEvent(R"({"type":"ADDED"})").ok());
  EXPECT_FALSE(decodeWatchEvent(R"({"type":"WEIRD","object":{}})").ok());
}

TEST(WatchDecodeTest, ObjectsAreKeptWithoutManagedFields) {
  auto ev = decodeWatchEvent(
      R"({"type":"MODIFIED","object":{"kind":"Pod","metadata":{"name":"p","managedFields":[{"manager":"kubectl"}]},"spec":{}}})");
  ASSERT_TRUE(ev.ok()) << ev.status();
  EXPECT_FALSE(ev->object["metadata"].contains("managedFields"));
  EXPECT_EQ(ev->object["metadata"]["name"], "p");
  json odd = {{"metadata", "not an object"}};
  dropManagedFields(odd);  // left alone
  EXPECT_EQ(odd["metadata"], "not an object");
}

TEST(WatchDecodeTest, LineSplitterHandlesArbitraryChunks) {
  LineSplitter s;
  std::vector<std::string> lines;
  auto collect = [&](std::string_view l) { lines.emplace_back(l); };
  s.feed("{\"a\":1}\n{\"b\"", collect);
  EXPECT_EQ(lines.size(), 1u);
  s.feed(":2}\n\n{\"c\":3}", collect);
  EXPECT_EQ(lines, (std::vector<std::string>{"{\"a\":1}", "{\"b\":2}"}));
  EXPECT_EQ(s.pending(), 7u);
  s.feed("\n", collect);
  EXPECT_EQ(lines.back(), "{\"c\":3}");
}

TEST(StatusMappingTest, HttpCodes) {
  EXPECT_TRUE(statusFromResponse(200, "", "x").ok());
  EXPECT_TRUE(isNotFound(statusFromResponse(404, R"({"kind":"Status","reason":"NotFound","message":"nodes \"n\" not found"})", "GET")));
  EXPECT_TRUE(isAlreadyExists(statusFromResponse(409, R"({"kind":"Status","reason":"AlreadyExists","message":"exists"})", "POST")));
  EXPECT_TRUE(isConflict(statusFromResponse(409, R"({"kind":"Status","reason":"Conflict","message":"modified"})", "PUT")));
  EXPECT_TRUE(isGone(statusFromResponse(410, "{}", "GET")));
  auto st = statusFromResponse(403, R"({"kind":"Status","reason":"Forbidden","message":"nope"})", "PATCH /x");
  EXPECT_EQ(st.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_NE(st.message().find("PATCH /x"), std::string::npos);
  EXPECT_NE(st.message().find("nope"), std::string::npos);
  EXPECT_EQ(statusFromResponse(503, "busy", "x").code(), absl::StatusCode::kUnavailable);
}

// A fake apiserver serving one collection: a list and a scripted sequence of watches.
class FakeApiserver {
 public:
  FakeApiserver() {
    srv_.Get("/api/v1/nodes", [this](const httplib::Request& req, httplib::Response& res) {
      if (req.get_param_value("watch") == "true") {
        int n = watches_++;
        watchRVs_.push_back(req.get_param_value("resourceVersion"));
        EXPECT_EQ(req.get_param_value("allowWatchBookmarks"), "true");
        EXPECT_EQ(req.get_param_value("fieldSelector"), "metadata.name=n1");
        std::string body;
        if (n == 0) {
          // One event, split across chunks, then a bookmark, then the stream ends.
          body = R"({"type":"MODIFIED","object":{"metadata":{"name":"n1","resourceVersion":"11"}}})"
                 "\n"
                 R"({"type":"BOOKMARK","object":{"metadata":{"resourceVersion":"15"}}})"
                 "\n";
        } else if (n == 1) {
          body = R"({"type":"ERROR","object":{"kind":"Status","code":410,"reason":"Expired","message":"too old"}})"
                 "\n";
        } else {
          body = R"({"type":"DELETED","object":{"metadata":{"name":"n1","resourceVersion":"30"}}})"
                 "\n";
        }
        res.set_chunked_content_provider("application/json", [body](size_t, httplib::DataSink& sink) {
          size_t half = body.size() / 2;
          sink.write(body.data(), half);
          sink.write(body.data() + half, body.size() - half);
          sink.done();
          return true;
        });
        return;
      }
      lists_++;
      std::string rv = lists_ == 1 ? "10" : "20";
      res.set_content(R"({"kind":"NodeList","metadata":{"resourceVersion":")" + rv +
                          R"("},"items":[{"metadata":{"name":"n1","resourceVersion":")" + rv + R"("}}]})",
                      "application/json");
    });
    srv_.Post("/api/v1/nodes", [](const httplib::Request&, httplib::Response& res) {
      res.status = 409;
      res.set_content(R"({"kind":"Status","reason":"AlreadyExists","message":"nodes \"n1\" already exists"})",
                      "application/json");
    });
    port_ = srv_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { srv_.listen_after_bind(); });
    while (!srv_.is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  ~FakeApiserver() {
    srv_.stop();
    thread_.join();
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }

  std::atomic<int> lists_{0};
  std::atomic<int> watches_{0};
  std::vector<std::string> watchRVs_;

 private:
  httplib::Server srv_;
  int port_ = 0;
  std::thread thread_;
};

TEST(ClientTest, MapsApiErrors) {
  FakeApiserver fake;
  config::RestConfig rc;
  rc.server = fake.url();
  auto c = Client::create(rc);
  ASSERT_TRUE(c.ok()) << c.status();
  auto r = (*c)->create("/api/v1/nodes", json{{"kind", "Node"}});
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(isAlreadyExists(r.status())) << r.status();
  auto g = (*c)->get("/api/v1/nodes");
  ASSERT_TRUE(g.ok()) << g.status();
  EXPECT_EQ((*g)["kind"], "NodeList");
}

TEST(ClientTest, UnreachableServerIsUnavailable) {
  config::RestConfig rc;
  rc.server = "http://127.0.0.1:1";  // nothing listens on port 1
  auto c = Client::create(rc);
  ASSERT_TRUE(c.ok());
  auto g = (*c)->get("/api/v1/nodes");
  EXPECT_EQ(g.status().code(), absl::StatusCode::kUnavailable) << g.status();
}

TEST(ClientTest, TrustsOnlyTheKubeconfigsCaAndReusesItsConnections) {
  testing::SelfSignedCert serving("test-apiserver", "IP:127.0.0.1"), other("test-apiserver", "IP:127.0.0.1");
  httplib::SSLServer srv(serving.cert, serving.key);
  srv.set_keep_alive_timeout(1);  // its threads wait this long on a kept connection when stopping
  std::atomic<int> requests{0};
  srv.Get("/api/v1/nodes/n1", [&](const httplib::Request&, httplib::Response& res) {
    ++requests;
    res.set_content(R"({"kind":"Node","metadata":{"name":"n1"}})", "application/json");
  });
  int port = srv.bind_to_any_port("127.0.0.1");
  std::thread t([&] { srv.listen_after_bind(); });
  while (!srv.is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(5));

  config::RestConfig rc;
  rc.server = "https://127.0.0.1:" + std::to_string(port);
  rc.caPem = serving.pem();
  auto c = Client::create(rc);
  ASSERT_TRUE(c.ok()) << c.status();
  // Several at once, then again on the kept connections.
  std::vector<std::thread> callers;
  std::atomic<int> ok{0};
  for (int i = 0; i < 8; ++i) {
    callers.emplace_back([&] {
      for (int j = 0; j < 3; ++j)
        if (auto r = (*c)->get("/api/v1/nodes/n1"); r.ok() && (*r)["metadata"]["name"] == "n1") ++ok;
    });
  }
  for (auto& th : callers) th.join();
  EXPECT_EQ(ok.load(), 24);
  EXPECT_EQ(requests.load(), 24);

  // A server whose certificate the kubeconfig's CA did not sign is refused.
  rc.caPem = other.pem();
  auto wrong = Client::create(rc);
  ASSERT_TRUE(wrong.ok()) << wrong.status();
  auto r = (*wrong)->get("/api/v1/nodes/n1");
  EXPECT_FALSE(r.ok());
  EXPECT_EQ(requests.load(), 24);
  c->reset();  // closes the kept connections, so the server stops at once
  wrong->reset();
  srv.stop();
  t.join();
}

TEST(ClientTest, BadCredentialsFailEarly) {
  config::RestConfig rc;
  rc.server = "https://127.0.0.1:6443";
  rc.source = "/etc/kubeconfig";
  rc.clientCertPem = "not pem";
  rc.clientKeyPem = "not pem";
  auto c = Client::create(rc);
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.status().message().find("/etc/kubeconfig"), std::string::npos);
}

TEST(ReflectorTest, ListsWatchesResumesAndRelistsOnGone) {
  FakeApiserver fake;
  config::RestConfig rc;
  rc.server = fake.url();
  auto c = Client::create(rc);
  ASSERT_TRUE(c.ok());

  std::mutex mu;
  std::vector<std::string> seen;
  std::stop_source stop;
  Reflector r(**c, "/api/v1/nodes", "fieldSelector=metadata.name%3Dn1",
              ReflectorHandler{[&](const std::vector<json>& items) {
                                 std::lock_guard<std::mutex> l(mu);
                                 seen.push_back("replace:" + items.at(0)["metadata"]["resourceVersion"].get<std::string>());
                               },
                               [&](const WatchEvent& ev) {
                                 std::lock_guard<std::mutex> l(mu);
                                 seen.push_back(ev.type + ":" + ev.object["metadata"]["resourceVersion"].get<std::string>());
                                 if (ev.type == "DELETED") stop.request_stop();
                               }});
  std::thread t([&] { r.run(stop.get_token()); });
  for (int i = 0; i < 100 && !stop.stop_requested(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  stop.request_stop();
  t.join();
  // list@10, watch from 10 -> MODIFIED@11 + bookmark@15, watch from 15 -> 410, relist@20,
  // watch from 20 -> DELETED@30.
  EXPECT_EQ(seen, (std::vector<std::string>{"replace:10", "MODIFIED:11", "replace:20", "DELETED:30"}));
  EXPECT_EQ(fake.lists_.load(), 2);
  ASSERT_GE(fake.watchRVs_.size(), 3u);
  EXPECT_EQ(fake.watchRVs_[0], "10");
  EXPECT_EQ(fake.watchRVs_[1], "15") << "a watch resumes from the bookmark's resourceVersion";
  EXPECT_EQ(fake.watchRVs_[2], "20");
}

TEST(BackoffTest, GrowsAndCaps) {
  Backoff b(std::chrono::milliseconds(100), std::chrono::milliseconds(1000));
  auto first = b.next();
  EXPECT_GE(first.count(), 100);
  EXPECT_LE(first.count(), 120);
  for (int i = 0; i < 10; ++i) b.next();
  auto capped = b.next();
  EXPECT_GE(capped.count(), 1000);
  EXPECT_LE(capped.count(), 1200);
  b.reset();
  EXPECT_LE(b.next().count(), 120);
}

}  // namespace
}  // namespace cubelet::api


namespace cubelet::api {
namespace {

TEST(EventsTest, EventObjectAsTheKubeletWritesIt) {
  auto now = std::chrono::system_clock::from_time_t(1700000000);
  json ev = makeEvent({"Node", "", "n1", "", "n1", ""}, "Normal", "NodeReady", "Node n1 status is now: NodeReady",
                      "kubelet", "n1", now);
  EXPECT_EQ(ev["kind"], "Event");
  EXPECT_EQ(ev["metadata"]["namespace"], "default") << "cluster-scoped objects' events go to default";
  EXPECT_EQ(ev["metadata"]["name"].get<std::string>().rfind("n1.", 0), 0u);
  EXPECT_EQ(ev["involvedObject"], (json{{"kind", "Node"}, {"name", "n1"}, {"uid", "n1"}}));
  EXPECT_EQ(ev["source"], (json{{"component", "kubelet"}, {"host", "n1"}}));
  EXPECT_EQ(ev["firstTimestamp"], "2023-11-14T22:13:20Z");
  EXPECT_EQ(ev["count"], 1);
  json podEv = makeEvent({"Pod", "v1", "p", "ns1", "u1", "spec.containers{c}"}, "Warning", "BackOff", "m", "kubelet",
                         "n1", now);
  EXPECT_EQ(podEv["metadata"]["namespace"], "ns1");
  EXPECT_EQ(podEv["involvedObject"]["fieldPath"], "spec.containers{c}");
}

}  // namespace
}  // namespace cubelet::api

namespace cubelet::api {
namespace {

TEST(MalformedInputTest, OddlyTypedApiObjectsDoNotThrow) {
  EXPECT_EQ(statusFromResponse(409, R"({"kind":"Status","reason":5,"message":["x"]})", "POST").code(),
            absl::StatusCode::kAborted);
  auto ev = decodeWatchEvent(R"({"type":"ERROR","object":{"code":"410"}})");
  EXPECT_FALSE(ev.ok());
  EXPECT_EQ(ev.status().code(), absl::StatusCode::kUnavailable) << "a non-integer code counts as 500";
}

}  // namespace
}  // namespace cubelet::api
