#include "kubelet/runtime/lifecycle_hooks.h"

#include <httplib.h>

#include <thread>

#include "kubelet/objects/json_access.h"
#include "kubelet/runtime/pod_config.h"

namespace cubelet::runtime {
namespace {

using nlohmann::json;
using objects::str;

std::string joined(const json& list) {
  std::string out;
  for (const auto& v : list)
    if (v.is_string()) out += (out.empty() ? "" : " ") + v.get<std::string>();
  return out;
}

// A port given by number or by the name of one of the container's ports.
std::optional<int> resolvePort(const json& port, const json& container) {
  if (port.is_number_integer()) return port.get<int>();
  if (!port.is_string()) return std::nullopt;
  const std::string name = port.get<std::string>();
  for (const auto& p : objects::array(container, {"ports"})) {
    if (str(p, {"name"}) == name) {
      int64_t n = objects::integer(p, {"containerPort"}, 0);
      if (n > 0) return static_cast<int>(n);
    }
  }
  try {
    size_t used = 0;
    int n = std::stoi(name, &used);
    if (used == name.size()) return n;
  } catch (const std::exception&) {
  }
  return std::nullopt;
}

absl::Status execHook(CriClient& cri, const json& exec, const HookTarget& t, std::chrono::seconds timeout) {
  const json& command = objects::array(exec, {"command"});
  std::vector<std::string> cmd;
  for (const auto& v : command)
    if (v.is_string()) cmd.push_back(v.get<std::string>());
  const std::string prefix = "Exec lifecycle hook ([" + joined(command) + "]) for Container \"" +
                             str(t.container, {"name"}) + "\" in Pod \"" + podDescription(t.pod) + "\" failed - error: ";
  if (cmd.empty()) return absl::InvalidArgumentError(prefix + "no command given, message: \"\"");
  auto resp = cri.execSync(t.containerId, cmd, timeout);
  if (!resp.ok()) return absl::Status(resp.status().code(), prefix + std::string(resp.status().message()) + ", message: \"\"");
  if (resp->exit_code() != 0) {
    std::string output = resp->stdout() + resp->stderr();
    return absl::FailedPreconditionError(prefix + "command '" + joined(command) + "' exited with " +
                                         std::to_string(resp->exit_code()) + ": " + output + ", message: \"" +
                                         output + "\"");
  }
  return absl::OkStatus();
}

absl::Status httpHook(const json& get, const HookTarget& t, std::chrono::seconds timeout) {
  const std::string path = str(get, {"path"}, "/");
  const std::string prefix = "HTTP lifecycle hook (" + path + ") for Container \"" + str(t.container, {"name"}) +
                             "\" in Pod \"" + podDescription(t.pod) + "\" failed - error: ";
  std::string host = str(get, {"host"});
  if (host.empty()) host = t.podIp;
  if (host.empty()) return absl::FailedPreconditionError(prefix + "the pod has no IP, message: \"\"");
  const json* portValue = objects::find(get, {"port"});
  auto port = portValue ? resolvePort(*portValue, t.container) : std::nullopt;
  if (!port || *port <= 0 || *port > 65535) return absl::InvalidArgumentError(prefix + "invalid port, message: \"\"");
  const bool https = str(get, {"scheme"}, "HTTP") == "HTTPS";
  std::unique_ptr<httplib::ClientImpl> cli;
  std::string hostPort = (host.find(':') != std::string::npos ? "[" + host + "]" : host) + ":" + std::to_string(*port);
  if (https) {
    auto ssl = std::make_unique<httplib::SSLClient>(host, *port);
    ssl->enable_server_certificate_verification(false);
    cli = std::move(ssl);
  } else {
    cli = std::make_unique<httplib::ClientImpl>(host, *port);
  }
  auto secs = timeout.count() > 0 ? timeout.count() : 10;
  cli->set_connection_timeout(secs, 0);
  cli->set_read_timeout(secs, 0);
  httplib::Headers headers;
  for (const auto& h : objects::array(get, {"httpHeaders"})) headers.emplace(str(h, {"name"}), str(h, {"value"}));
  auto res = cli->Get(path.empty() ? "/" : path, headers);
  if (!res) {
    return absl::UnavailableError(prefix + "Get \"" + std::string(https ? "https" : "http") + "://" + hostPort + path +
                                  "\": " + httplib::to_string(res.error()) + ", message: \"\"");
  }
  if (res->status < 200 || res->status >= 400) {
    return absl::FailedPreconditionError(prefix + "HTTP lifecycle hook returned status " + std::to_string(res->status) +
                                         ", message: \"" + res->body.substr(0, 1024) + "\"");
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status runLifecycleHook(CriClient& cri, const json& handler, const HookTarget& target,
                              std::chrono::seconds timeout) {
  if (const json* exec = objects::find(handler, {"exec"}); exec && exec->is_object()) {
    return execHook(cri, *exec, target, timeout);
  }
  if (const json* get = objects::find(handler, {"httpGet"}); get && get->is_object()) {
    return httpHook(*get, target, timeout);
  }
  if (const json* sleep = objects::find(handler, {"sleep"}); sleep && sleep->is_object()) {
    int64_t secs = objects::integer(*sleep, {"seconds"}, 0);
    if (timeout.count() > 0) secs = std::min<int64_t>(secs, timeout.count());
    std::this_thread::sleep_for(std::chrono::seconds(std::max<int64_t>(secs, 0)));
    return absl::OkStatus();
  }
  return absl::InvalidArgumentError("lifecycle hook for container \"" + str(target.container, {"name"}) +
                                    "\" in pod \"" + podDescription(target.pod) + "\": no exec, httpGet or sleep handler");
}

}  // namespace cubelet::runtime
