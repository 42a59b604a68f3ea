// The small HTTP/1.1 layer of the kubelet server on :10250: request heads parsed from bytes,
// response heads and chunked bodies written as bytes. Pure functions; the connection
// handling lives in kubelet_server.cc.
//
// cpp-httplib (used for the plain healthz port) cannot hand a connection over after a
// "101 Switching Protocols", which exec, attach and port-forward need, so :10250 has its own
// reader and writer.
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace cubelet::server {

// Query parameters in the order given; a name may repeat (command=a&command=b).
using QueryParams = std::multimap<std::string, std::string>;

struct Header {
  std::string name;
  std::string value;
};

struct Request {
  std::string method;   // "GET"
  std::string target;   // as sent: "/containerLogs/ns/p/c?follow=true"
  std::string rawPath;  // target up to '?', still percent-encoded
  std::string version;  // "HTTP/1.1"
  QueryParams query;
  std::vector<Header> headers;
  std::string body;

  // First value of a header (names compare case-insensitively); "" when absent.
  std::string header(std::string_view name) const;
  // Every value of a header, in order (repeated headers are kept apart).
  std::vector<std::string> headerValues(std::string_view name) const;
  bool hasHeaderToken(std::string_view name, std::string_view token) const;
  // "Connection: Upgrade" and an Upgrade header: a SPDY or WebSocket stream request.
  bool isUpgrade() const;
  // HTTP/1.1 unless "Connection: close"; HTTP/1.0 only with "Connection: keep-alive".
  bool keepAlive() const;
  // The query parameter's first value, or `def`.
  std::string param(const std::string& name, const std::string& def = "") const;
  bool hasParam(const std::string& name) const { return query.count(name) > 0; }
};

// Parses a request line and headers (`head` ends before the blank line). Errors are
// InvalidArgument naming what is malformed.
absl::StatusOr<Request> parseRequestHead(std::string_view head);

// Percent-decoding; '+' is a space only in query strings. Malformed escapes are errors.
absl::StatusOr<std::string> percentDecode(std::string_view s, bool plusIsSpace);
absl::StatusOr<QueryParams> parseQuery(std::string_view rawQuery);

// The path split at '/' with each segment decoded: "/a/b%2Fc" -> {"a", "b/c"}. Empty segments
// (a doubled or trailing '/') are kept as "" so callers can reject them.
absl::StatusOr<std::vector<std::string>> pathSegments(std::string_view rawPath);

// "200 OK", "404 Not Found"...
std::string statusLine(int code);
std::string responseHead(int code, const std::vector<Header>& headers);
// One chunk of a chunked body ("" gives nothing: the last chunk is chunkedEnd()).
std::string chunk(std::string_view data);
inline constexpr std::string_view kChunkedEnd = "0\r\n\r\n";

// Go's strconv.ParseBool: 1 t T TRUE true True 0 f F FALSE false False.
absl::StatusOr<bool> parseGoBool(std::string_view s);

}  // namespace cubelet::server
