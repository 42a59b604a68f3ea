#include "kubelet/config/kubeconfig.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "absl/strings/escaping.h"

namespace cubelet::config {
namespace {

namespace fs = std::filesystem;

class KubeconfigTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("kubeconfig-test-" + std::to_string(getpid()) + "-" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(dir_ / "certs");
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string write(const std::string& name, const std::string& content) {
    auto p = dir_ / name;
    std::ofstream(p) << content;
    return p.string();
  }
  fs::path dir_;
};

std::string doc(const std::string& cluster, const std::string& user) {
  return "apiVersion: v1\nkind: Config\ncurrent-context: ctx\n"
         "contexts:\n- name: other\n  context: {cluster: nope, user: nope}\n"
         "- name: ctx\n  context: {cluster: c1, user: u1}\n"
         "clusters:\n- name: c1\n  cluster:\n" +
         cluster + "users:\n- name: u1\n  user:\n" + user;
}

TEST_F(KubeconfigTest, InlineDataIsDecoded) {
  std::string path = write("kc", doc("    server: https://10.0.0.1:6443\n    certificate-authority-data: " +
                                         absl::Base64Escape("CA PEM") + "\n",
                                     "    client-certificate-data: " + absl::Base64Escape("CERT") +
                                         "\n    client-key-data: " + absl::Base64Escape("KEY") + "\n"));
  auto rc = loadKubeconfig(path);
  ASSERT_TRUE(rc.ok()) << rc.status();
  EXPECT_EQ(rc->server, "https://10.0.0.1:6443");
  EXPECT_EQ(rc->caPem, "CA PEM");
  EXPECT_EQ(rc->clientCertPem, "CERT");
  EXPECT_EQ(rc->clientKeyPem, "KEY");
  EXPECT_EQ(rc->source, path);
}

TEST_F(KubeconfigTest, FilesAreRelativeToTheKubeconfig) {
  write("certs/ca.crt", "CA FILE");
  write("certs/c.crt", "CERT FILE");
  write("certs/c.key", "KEY FILE");
  write("token", "tok-123\n");
  std::string path = write("kc", doc("    server: https://h:443\n    certificate-authority: certs/ca.crt\n",
                                     "    client-certificate: certs/c.crt\n    client-key: " +
                                         (dir_ / "certs/c.key").string() + "\n    tokenFile: token\n"));
  auto rc = loadKubeconfig(path);
  ASSERT_TRUE(rc.ok()) << rc.status();
  EXPECT_EQ(rc->caPem, "CA FILE");
  EXPECT_EQ(rc->clientCertPem, "CERT FILE");
  EXPECT_EQ(rc->clientKeyPem, "KEY FILE");
  EXPECT_EQ(rc->bearerToken, "tok-123");
}

TEST_F(KubeconfigTest, BearerTokenAndInsecure) {
  std::string path = write("kc", doc("    server: https://h\n    insecure-skip-tls-verify: true\n", "    token: abc\n"));
  auto rc = loadKubeconfig(path);
  ASSERT_TRUE(rc.ok()) << rc.status();
  EXPECT_EQ(rc->bearerToken, "abc");
  EXPECT_TRUE(rc->insecureSkipVerify);
}

TEST_F(KubeconfigTest, ErrorsNameTheFileAndTheField) {
  struct Case {
    std::string text;
    std::string needle;
  };
  for (const auto& tc : std::vector<Case>{
           {"apiVersion: v1\nkind: Config\nclusters: [ {name: x\n", "line"},
           {"apiVersion: v1\nkind: Config\n", "current-context"},
           {doc("    server: ftp://h\n", "    token: t\n"), "server"},
           {doc("    certificate-authority-data: '!!!'\n    server: https://h\n", "    token: t\n"),
            "certificate-authority-data"},
           {doc("    server: https://h\n", "    client-certificate-data: " + absl::Base64Escape("C") + "\n"),
            "client-key"},
           {doc("    server: https://h\n    certificate-authority: missing.crt\n", "    token: t\n"), "missing.crt"},
           {"apiVersion: v1\nkind: Config\ncurrent-context: nope\ncontexts: []\n", "nope"},
           {"- a list\n", "not a mapping"},
       }) {
    std::string path = write("kc", tc.text);
    auto rc = loadKubeconfig(path);
    ASSERT_FALSE(rc.ok()) << tc.text;
    EXPECT_NE(rc.status().message().find(path), std::string::npos) << rc.status();
    EXPECT_NE(rc.status().message().find(tc.needle), std::string::npos) << rc.status();
  }
  auto rc = loadKubeconfig((dir_ / "absent").string());
  ASSERT_FALSE(rc.ok());
  EXPECT_NE(rc.status().message().find("absent"), std::string::npos);
}

}  // namespace
}  // namespace cubelet::config
