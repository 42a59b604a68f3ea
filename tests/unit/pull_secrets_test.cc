#include "kubelet/runtime/pull_secrets.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "absl/strings/escaping.h"

namespace cubelet::runtime {
namespace {

using nlohmann::json;

std::string b64(const std::string& s) { return absl::Base64Escape(s); }

json secretWithData(const std::string& name, const std::string& type, const std::string& key,
                    const std::string& encodedValue) {
  return {{"apiVersion", "v1"},
          {"kind", "Secret"},
          {"metadata", {{"name", name}, {"namespace", "default"}}},
          {"type", type},
          {"data", {{key, encodedValue}}}};
}

json dockerConfigJson(const std::string& name, const json& config) {
  return secretWithData(name, "kubernetes.io/dockerconfigjson", ".dockerconfigjson", b64(config.dump()));
}

json dockercfg(const std::string& name, const json& config) {
  return secretWithData(name, "kubernetes.io/dockercfg", ".dockercfg", b64(config.dump()));
}

PullCredential cred(const std::string& registry, const std::string& user, const std::string& secret = "s") {
  PullCredential c;
  c.registry = registry;
  c.username = user;
  c.password = user + "-pw";
  c.secretNamespace = "default";
  c.secretName = secret;
  return c;
}

std::vector<std::string> users(const std::vector<PullCredential>& creds) {
  std::vector<std::string> out;
  for (const auto& c : creds) out.push_back(c.username);
  return out;
}

std::string errorOf(const json& secret) {
  auto r = parsePullSecret(secret);
  EXPECT_FALSE(r.ok());
  if (r.ok()) return "<ok>";
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  return std::string(r.status().message());
}

// ----------------------------------------------------------------------------------------
// parsePullSecret

TEST(ParsePullSecretTest, DockerConfigJson) {
  auto r = parsePullSecret(dockerConfigJson(
      "regcred", {{"auths",
                   {{"localhost:5001", {{"username", "alice"}, {"password", "secret"}, {"email", "a@x"}}},
                    {"quay.io/team", {{"username", "bob"}, {"password", "pw"}}}}}}));
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_EQ(r->size(), 2u);
  const PullCredential& a = (*r)[0];
  EXPECT_EQ(a.registry, "localhost:5001");
  EXPECT_EQ(a.username, "alice");
  EXPECT_EQ(a.password, "secret");
  EXPECT_EQ(a.auth, "");
  EXPECT_EQ(a.secretNamespace, "default");
  EXPECT_EQ(a.secretName, "regcred");
  EXPECT_EQ((*r)[1].registry, "quay.io/team");
  EXPECT_EQ((*r)[1].username, "bob");
}

TEST(ParsePullSecretTest, Dockercfg) {
  auto r = parsePullSecret(
      dockercfg("legacy", {{"registry.example.com:5000", {{"username", "u"}, {"password", "p"}}}}));
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_EQ(r->size(), 1u);
  EXPECT_EQ((*r)[0].registry, "registry.example.com:5000");
  EXPECT_EQ((*r)[0].username, "u");
  EXPECT_EQ((*r)[0].password, "p");
  EXPECT_EQ((*r)[0].secretName, "legacy");
}

TEST(ParsePullSecretTest, AuthFieldGivesUsernameAndPassword) {
  std::string auth = b64("user:pa:ss");  // only the first ':' separates
  auto r = parsePullSecret(dockerConfigJson(
      "s", {{"auths", {{"r.io", {{"username", "ignored"}, {"password", "ignored"}, {"auth", auth}}}}}}));
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_EQ(r->size(), 1u);
  EXPECT_EQ((*r)[0].username, "user");
  EXPECT_EQ((*r)[0].password, "pa:ss");
  EXPECT_EQ((*r)[0].auth, auth);
}

TEST(ParsePullSecretTest, AuthFieldWithoutPadding) {
  // "user:pass" encodes to 12 characters, "user:pw" to 10 + "==".
  std::string padded = b64("user:pw");
  ASSERT_EQ(padded.substr(padded.size() - 2), "==");
  std::string unpadded = padded.substr(0, padded.size() - 2);
  auto r = parsePullSecret(dockerConfigJson("s", {{"auths", {{"r.io", {{"auth", unpadded}}}}}}));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ((*r)[0].username, "user");
  EXPECT_EQ((*r)[0].password, "pw");
  // A line break inside the value is ignored, as by Go's decoder.
  std::string wrapped = padded.substr(0, 4) + "\n" + padded.substr(4);
  r = parsePullSecret(dockerConfigJson("s", {{"auths", {{"r.io", {{"auth", wrapped}}}}}}));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ((*r)[0].password, "pw");
}

TEST(ParsePullSecretTest, TokensAndCaseInsensitiveKeys) {
  auto r = parsePullSecret(dockerConfigJson(
      "s", {{"Auths",
             {{"r.io", {{"Username", "u"}, {"PASSWORD", "p"}, {"identitytoken", "id-tok"}, {"registrytoken", "reg-tok"},
                        {"unknown", 42}}}}}}));
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_EQ(r->size(), 1u);
  EXPECT_EQ((*r)[0].username, "u");
  EXPECT_EQ((*r)[0].password, "p");
  EXPECT_EQ((*r)[0].identityToken, "id-tok");
  EXPECT_EQ((*r)[0].registryToken, "reg-tok");
}

TEST(ParsePullSecretTest, RegistryKeys) {
  auto r = parsePullSecret(dockercfg("s", {{"https://index.docker.io/v1/", json::object()},
                                            {"http://insecure.local:5000/v2/team", json::object()},
                                            {"https://quay.io/", json::object()},
                                            {"user:pw@auth.io/path", json::object()},
                                            {"*.example.com", json::object()}}));
  ASSERT_TRUE(r.ok()) << r.status();
  std::vector<std::string> keys;
  for (const auto& c : *r) keys.push_back(c.registry);
  // JSON object order (sorted keys).
  EXPECT_EQ(keys, (std::vector<std::string>{"*.example.com", "insecure.local:5000/team", "index.docker.io", "quay.io",
                                            "auth.io/path"}));
}

TEST(ParsePullSecretTest, SkipsRegistriesUpstreamIgnores) {
  auto r = parsePullSecret(dockercfg("s", {{"host:port", {{"username", "a"}}},
                                            {"bad host", {{"username", "b"}}},
                                            {"good.io", {{"username", "c"}}}}));
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_EQ(r->size(), 1u);
  EXPECT_EQ((*r)[0].registry, "good.io");
}

TEST(ParsePullSecretTest, OtherTypesAndEmptyConfigsYieldNothing) {
  json opaque = secretWithData("s", "Opaque", ".dockerconfigjson", b64("{}"));
  auto r = parsePullSecret(opaque);
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->empty());
  opaque.erase("type");
  r = parsePullSecret(opaque);
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->empty());
  for (const json& config :
       {json::object(), json{{"auths", nullptr}}, json{{"auths", json::object()}}, json(nullptr)}) {
    r = parsePullSecret(dockerConfigJson("s", config));
    ASSERT_TRUE(r.ok()) << config.dump() << ": " << r.status();
    EXPECT_TRUE(r->empty()) << config.dump();
  }
  // A null entry is an empty credential, as Go decodes it.
  r = parsePullSecret(dockercfg("s", {{"r.io", nullptr}}));
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_EQ(r->size(), 1u);
  EXPECT_EQ((*r)[0].username, "");
}

TEST(ParsePullSecretTest, ErrorsNameSecretAndField) {
  EXPECT_EQ(errorOf(secretWithData("regcred", "kubernetes.io/dockerconfigjson", ".dockerconfigjson", "not base64!")),
            "secret default/regcred: data[.dockerconfigjson]: invalid base64");
  // Secret data is padded base64.
  EXPECT_EQ(errorOf(secretWithData("regcred", "kubernetes.io/dockerconfigjson", ".dockerconfigjson", "e30")),
            "secret default/regcred: data[.dockerconfigjson]: invalid base64");
  EXPECT_EQ(errorOf(secretWithData("regcred", "kubernetes.io/dockerconfigjson", ".dockerconfigjson",
                                   b64("{\"auths\":"))),
            "secret default/regcred: data[.dockerconfigjson]: invalid JSON");
  EXPECT_EQ(errorOf(secretWithData("regcred", "kubernetes.io/dockercfg", ".dockerconfigjson", b64("{}"))),
            "secret default/regcred: data[.dockercfg]: missing");
  EXPECT_EQ(errorOf(secretWithData("regcred", "kubernetes.io/dockercfg", ".dockercfg", "")),
            "secret default/regcred: data[.dockercfg]: empty");

  json notString = dockerConfigJson("regcred", json::object());
  notString["data"][".dockerconfigjson"] = 12;
  EXPECT_EQ(errorOf(notString), "secret default/regcred: data[.dockerconfigjson]: not a string");
  json dataArray = dockerConfigJson("regcred", json::object());
  dataArray["data"] = json::array({1});
  EXPECT_EQ(errorOf(dataArray), "secret default/regcred: data: not an object");
  json noData = dockerConfigJson("regcred", json::object());
  noData.erase("data");
  EXPECT_EQ(errorOf(noData), "secret default/regcred: data[.dockerconfigjson]: missing");

  EXPECT_EQ(errorOf(dockerConfigJson("regcred", json::array())),
            "secret default/regcred: data[.dockerconfigjson]: not a JSON object");
  EXPECT_EQ(errorOf(dockerConfigJson("regcred", {{"auths", "x"}})),
            "secret default/regcred: data[.dockerconfigjson]: auths: not an object");
  EXPECT_EQ(errorOf(dockercfg("regcred", json::array({1, 2}))),
            "secret default/regcred: data[.dockercfg]: not a JSON object");
  EXPECT_EQ(errorOf(dockerConfigJson("regcred", {{"auths", {{"localhost:5001", "user:pass"}}}})),
            "secret default/regcred: data[.dockerconfigjson]: auths[localhost:5001]: not an object");
  EXPECT_EQ(errorOf(dockercfg("regcred", {{"r.io", json::array()}})),
            "secret default/regcred: data[.dockercfg]: [r.io]: not an object");
  EXPECT_EQ(errorOf(dockerConfigJson("regcred", {{"auths", {{"r.io", {{"username", 5}}}}}})),
            "secret default/regcred: data[.dockerconfigjson]: auths[r.io].username: not a string");
  EXPECT_EQ(errorOf(dockerConfigJson("regcred", {{"auths", {{"r.io", {{"email", true}}}}}})),
            "secret default/regcred: data[.dockerconfigjson]: auths[r.io].email: not a string");
  EXPECT_EQ(errorOf(dockerConfigJson("regcred", {{"auths", {{"r.io", {{"auth", "%%%%"}}}}}})),
            "secret default/regcred: data[.dockerconfigjson]: auths[r.io].auth: invalid base64");
  EXPECT_EQ(errorOf(dockerConfigJson("regcred", {{"auths", {{"r.io", {{"auth", b64("nocolon")}}}}}})),
            "secret default/regcred: data[.dockerconfigjson]: auths[r.io].auth: not base64(username:password)");
  // An entry's error counts even when its registry would be skipped.
  EXPECT_EQ(errorOf(dockercfg("regcred", {{"bad host", {{"auth", "!"}}}})),
            "secret default/regcred: data[.dockercfg]: [bad host].auth: invalid base64");
  EXPECT_EQ(errorOf(json::array()), "secret: not a JSON object");
}

TEST(ParsePullSecretTest, MalformedInputNeverThrows) {
  std::vector<json> values = {nullptr, true, 1, -1.5, "", "x", json::array(), json::array({nullptr}), json::object(),
                              json{{"a", {{"b", nullptr}}}}};
  for (const json& v : values) {
    for (const char* type : {"kubernetes.io/dockerconfigjson", "kubernetes.io/dockercfg"}) {
      json s = {{"metadata", v}, {"type", type}, {"data", v}};
      EXPECT_NO_THROW((void)parsePullSecret(s));
      s = {{"metadata", {{"name", v}, {"namespace", v}}}, {"type", type},
           {"data", {{".dockerconfigjson", v}, {".dockercfg", v}}}};
      EXPECT_NO_THROW((void)parsePullSecret(s));
      json config = {{"auths", {{"r.io", v}, {"s.io", {{"auth", v}, {"username", v}}}}}};
      EXPECT_NO_THROW((void)parsePullSecret(secretWithData("s", type, ".dockerconfigjson", b64(config.dump()))));
      EXPECT_NO_THROW((void)parsePullSecret(secretWithData("s", type, ".dockercfg", b64(config["auths"].dump()))));
      EXPECT_NO_THROW((void)parsePullSecret(secretWithData("s", type, ".dockercfg", b64(v.dump()))));
    }
    EXPECT_NO_THROW((void)parsePullSecret(v));
    EXPECT_NO_THROW((void)pullSecretNames(v));
    EXPECT_NO_THROW((void)pullSecretNames(json{{"spec", {{"imagePullSecrets", v}}}}));
  }
  // Invalid UTF-8 in the decoded JSON.
  EXPECT_EQ(errorOf(secretWithData("s", "kubernetes.io/dockercfg", ".dockercfg", b64("{\"\xff\": {}}"))),
            "secret default/s: data[.dockercfg]: invalid JSON");
}

TEST(PullSecretNamesTest, InOrderSkippingEmpty) {
  json refs = json::array({{{"name", "b"}}, {{"name", ""}}, json::object(), {{"name", "a"}}});
  json pod = {{"spec", {{"imagePullSecrets", refs}}}};
  EXPECT_EQ(pullSecretNames(pod), (std::vector<std::string>{"b", "a"}));
  EXPECT_TRUE(pullSecretNames(json{{"spec", json::object()}}).empty());
}

// ----------------------------------------------------------------------------------------
// imageRepository

TEST(ImageRepositoryTest, Normalizes) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"busybox", "docker.io/library/busybox"},
      {"busybox:1.36", "docker.io/library/busybox"},
      {"library/busybox:latest", "docker.io/library/busybox"},
      {"user/app", "docker.io/user/app"},
      {"docker.io/busybox", "docker.io/library/busybox"},
      {"index.docker.io/user/app", "docker.io/user/app"},
      {"docker.io/library/busybox@sha256:" + std::string(64, 'a'), "docker.io/library/busybox"},
      {"busybox:1.36@sha256:" + std::string(64, 'b'), "docker.io/library/busybox"},
      {"localhost:5001/private/busybox:1.36", "localhost:5001/private/busybox"},
      {"localhost/app", "localhost/app"},
      {"registry.k8s.io/pause:3.10", "registry.k8s.io/pause"},
      {"Example.COM/team/app", "Example.COM/team/app"},
      {"[::1]:5000/app:v1", "[::1]:5000/app"},
      {"quay.io/a__b/c-d.e_f---g", "quay.io/a__b/c-d.e_f---g"},
  };
  for (const auto& [image, want] : cases) {
    auto r = imageRepository(image);
    ASSERT_TRUE(r.ok()) << image << ": " << r.status();
    EXPECT_EQ(*r, want) << image;
  }
}

TEST(ImageRepositoryTest, RejectsInvalid) {
  for (const std::string& image :
       {std::string(""), std::string("Busybox"), std::string("library/BusyBox"), std::string("busybox:"),
        std::string("busybox:-tag"), std::string("busybox@sha256:abc"), std::string("busybox@sha256"),
        std::string("quay.io/team//app"), std::string("quay.io/app_"), std::string("quay.io/a___b"),
        std::string("-bad.io/app"), std::string("host:port/app"), std::string("a b"), std::string(64, 'a'),
        "quay.io/" + std::string(250, 'a'), std::string("busybox:1:2")}) {
    auto r = imageRepository(image);
    EXPECT_FALSE(r.ok()) << image << " -> " << (r.ok() ? *r : "");
    if (!r.ok()) {
      EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
    }
  }
}

// ----------------------------------------------------------------------------------------
// matchCredentials

TEST(MatchCredentialsTest, HostWithPort) {
  std::vector<PullCredential> creds = {cred("localhost:5001", "a"), cred("localhost", "b"),
                                       cred("localhost:5002", "c")};
  EXPECT_EQ(users(matchCredentials("localhost:5001/private/busybox:1.36", creds)), (std::vector<std::string>{"a"}));
  EXPECT_EQ(users(matchCredentials("localhost/private/busybox", creds)), (std::vector<std::string>{"b"}));
  EXPECT_TRUE(matchCredentials("localhost:5003/private/busybox", creds).empty());
}

TEST(MatchCredentialsTest, HostGlob) {
  std::vector<PullCredential> creds = {cred("*.example.com", "star"), cred("reg[0-9].io", "class"),
                                       cred("mirror-*.io", "suffix"), cred("*.*.local", "twostars")};
  EXPECT_EQ(users(matchCredentials("a.example.com/app", creds)), (std::vector<std::string>{"star"}));
  EXPECT_TRUE(matchCredentials("a.b.example.com/app", creds).empty());  // one label per "*"
  EXPECT_TRUE(matchCredentials("example.com/app", creds).empty());
  EXPECT_TRUE(matchCredentials("a.example.com:443/app", creds).empty());  // port differs
  EXPECT_EQ(users(matchCredentials("reg1.io/app", creds)), (std::vector<std::string>{"class"}));
  EXPECT_TRUE(matchCredentials("reg12.io/app", creds).empty());
  EXPECT_TRUE(matchCredentials("regx.io/app", creds).empty());
  EXPECT_EQ(users(matchCredentials("mirror-7.io/app", creds)), (std::vector<std::string>{"suffix"}));
  EXPECT_EQ(users(matchCredentials("mirror-a-b.io/app", creds)), (std::vector<std::string>{"suffix"}));
  EXPECT_TRUE(matchCredentials("mirror.io/app", creds).empty());
  EXPECT_EQ(users(matchCredentials("a.b.local/app", creds)), (std::vector<std::string>{"twostars"}));
  // A malformed pattern matches nothing.
  EXPECT_TRUE(matchCredentials("mirror-1.io/app", {cred("mirror-[1.io", "bad")}).empty());
  EXPECT_TRUE(matchCredentials("ab.io/app", {cred("a[]b.io", "bad")}).empty());
  EXPECT_EQ(users(matchCredentials("ab.io/app", {cred("a[a-c]*.io", "range")})), (std::vector<std::string>{"range"}));
  // As upstream, a key is a URL first: "?" starts a query and "^" is not a host character, so
  // neither can be used as a glob.
  EXPECT_TRUE(matchCredentials("ab.io/app", {cred("a[^x-z]*.io", "neg")}).empty());
  EXPECT_TRUE(matchCredentials("ab.io/app", {cred("a?.io", "question")}).empty());
  auto r = parsePullSecret(dockercfg("s", {{"a?.io", json::object()}}));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ((*r)[0].registry, "a");
  EXPECT_EQ(users(matchCredentials("a.io/app", {cred("*", "any")})), std::vector<std::string>{});  // 1 label vs 2
}

TEST(MatchCredentialsTest, PathPrefix) {
  std::vector<PullCredential> creds = {cred("quay.io/team", "team"), cred("quay.io/other/app", "other")};
  EXPECT_EQ(users(matchCredentials("quay.io/team/app:v1", creds)), (std::vector<std::string>{"team"}));
  // A string prefix, not a path-segment one, as upstream.
  EXPECT_EQ(users(matchCredentials("quay.io/teamx/app", creds)), (std::vector<std::string>{"team"}));
  EXPECT_EQ(users(matchCredentials("quay.io/other/app", creds)), (std::vector<std::string>{"other"}));
  EXPECT_TRUE(matchCredentials("quay.io/other/lib", creds).empty());
  EXPECT_TRUE(matchCredentials("quay.io/app", creds).empty());
}

TEST(MatchCredentialsTest, SchemeInSecretKey) {
  auto r = parsePullSecret(dockerConfigJson(
      "s", {{"auths",
             {{"https://localhost:5001", {{"username", "https"}}},
              {"http://quay.io/v2/team", {{"username", "http"}}}}}}));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(users(matchCredentials("localhost:5001/private/busybox:1.36", *r)), (std::vector<std::string>{"https"}));
  EXPECT_EQ(users(matchCredentials("quay.io/team/app", *r)), (std::vector<std::string>{"http"}));
}

TEST(MatchCredentialsTest, DefaultRegistry) {
  auto r = parsePullSecret(
      dockerConfigJson("hub", {{"auths", {{"https://index.docker.io/v1/", {{"username", "hub"}}}}}}));
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_EQ((*r)[0].registry, "index.docker.io");
  for (const char* image : {"busybox", "busybox:1.36", "library/busybox", "user/app", "docker.io/library/busybox",
                            "index.docker.io/user/app:v1",
                            "docker.io/library/busybox@sha256:0123456789abcdef0123456789abcdef"}) {
    EXPECT_EQ(users(matchCredentials(image, *r)), (std::vector<std::string>{"hub"})) << image;
  }
  EXPECT_TRUE(matchCredentials("quay.io/user/app", *r).empty());
  EXPECT_TRUE(matchCredentials("localhost:5001/app", *r).empty());

  // "docker.io" matches Docker Hub images by host; "index.docker.io" serves only when nothing
  // else matched.
  std::vector<PullCredential> creds = {cred("index.docker.io", "index"), cred("docker.io", "docker")};
  EXPECT_EQ(users(matchCredentials("busybox", creds)), (std::vector<std::string>{"docker"}));
  std::vector<PullCredential> hub = {cred("docker.io/user", "ns"), cred("index.docker.io", "i")};
  EXPECT_EQ(users(matchCredentials("docker.io/user/app", hub)), (std::vector<std::string>{"ns"}));
  EXPECT_EQ(users(matchCredentials("docker.io/other/app", hub)), (std::vector<std::string>{"i"}));
  // Upstream never maps registry-1.docker.io keys to Docker Hub images.
  EXPECT_TRUE(matchCredentials("busybox", {cred("registry-1.docker.io", "r1")}).empty());
  // Upstream quirk kept: a first component without "." or ":" counts as Docker Hub.
  EXPECT_EQ(users(matchCredentials("localhost/app", {cred("index.docker.io", "i")})), (std::vector<std::string>{"i"}));
}

TEST(MatchCredentialsTest, NoMatch) {
  std::vector<PullCredential> creds = {cred("quay.io", "q"), cred("gcr.io/project", "g")};
  EXPECT_TRUE(matchCredentials("registry.k8s.io/pause:3.10", creds).empty());
  EXPECT_TRUE(matchCredentials("busybox", creds).empty());
  EXPECT_TRUE(matchCredentials("gcr.io/other/app", creds).empty());
  EXPECT_TRUE(matchCredentials("Not A Valid Image", creds).empty());
  EXPECT_TRUE(matchCredentials("quay.io/app", {}).empty());
}

TEST(MatchCredentialsTest, OrderMostSpecificKeyFirstThenInputOrder) {
  std::vector<PullCredential> creds = {
      cred("quay.io", "host-1", "first"),       cred("quay.io/team", "team-1", "first"),
      cred("*.io", "glob", "first"),            cred("quay.io/team/app", "app", "second"),
      cred("quay.io", "host-2", "second"),      cred("quay.io/team", "team-2", "second"),
      cred("quay.io:443", "port", "second"),
  };
  // Keys in reverse lexicographic order: quay.io:443 (no match: port), quay.io/team/app,
  // quay.io/team, quay.io, *.io.
  EXPECT_EQ(users(matchCredentials("quay.io/team/app:v2", creds)),
            (std::vector<std::string>{"app", "team-1", "team-2", "host-1", "host-2", "glob"}));
  EXPECT_EQ(users(matchCredentials("quay.io/team/lib", creds)),
            (std::vector<std::string>{"team-1", "team-2", "host-1", "host-2", "glob"}));
  auto matched = matchCredentials("quay.io/x", creds);
  ASSERT_EQ(matched.size(), 3u);
  EXPECT_EQ(matched[0].registry, "quay.io");
  EXPECT_EQ(matched[0].secretName, "first");
  EXPECT_EQ(matched[1].secretName, "second");
  EXPECT_EQ(matched[2].registry, "*.io");
}

TEST(MatchCredentialsTest, SecretsEndToEnd) {
  std::vector<PullCredential> all;
  for (const json& secret :
       {dockerConfigJson("a", {{"auths", {{"localhost:5001", {{"auth", b64("alice:pw1")}}}}}}),
        dockercfg("b", {{"localhost:5001", {{"username", "bob"}, {"password", "pw2"}}}})}) {
    auto r = parsePullSecret(secret);
    ASSERT_TRUE(r.ok()) << r.status();
    all.insert(all.end(), r->begin(), r->end());
  }
  auto matched = matchCredentials("localhost:5001/private/busybox:1.36", all);
  ASSERT_EQ(matched.size(), 2u);
  EXPECT_EQ(matched[0].username, "alice");
  EXPECT_EQ(matched[0].secretName, "a");
  EXPECT_EQ(matched[1].username, "bob");
  EXPECT_EQ(matched[1].secretName, "b");
}

// ----------------------------------------------------------------------------------------
// toAuthConfig

TEST(ToAuthConfigTest, CopiesCredentialsLeavesServerAddressEmpty) {
  PullCredential c = cred("localhost:5001", "u");
  c.auth = b64("u:u-pw");
  c.identityToken = "id";
  c.registryToken = "reg";
  ::runtime::v1::AuthConfig a = toAuthConfig(c);
  EXPECT_EQ(a.username(), "u");
  EXPECT_EQ(a.password(), "u-pw");
  EXPECT_EQ(a.auth(), c.auth);
  EXPECT_EQ(a.identity_token(), "id");
  EXPECT_EQ(a.registry_token(), "reg");
  EXPECT_EQ(a.server_address(), "");
}

}  // namespace
}  // namespace cubelet::runtime
