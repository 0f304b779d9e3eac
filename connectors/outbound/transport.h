// Internal to connectors/outbound: libcurl for HTTP POSTs and SMTP sessions,
// with answers classified for retrying (lane.h), and the small encoders the
// connectors share (HMAC-SHA256 hex, base64).
#pragma once

#include <atomic>
#include <chrono>
#include <string>
#include <string_view>
#include <vector>

#include "connectors/outbound/email_connector.h"
#include "connectors/outbound/lane.h"

namespace palaver::outbound_internal {

// One libcurl easy handle (its connections are reused between requests).
// Belongs to one thread at a time.
class CurlSession {
 public:
  CurlSession();
  ~CurlSession();
  CurlSession(const CurlSession&) = delete;
  CurlSession& operator=(const CurlSession&) = delete;

  // POSTs `body` to `url` with `headers` ("Name: value"); `userpwd`
  // "user:password" for basic auth when not empty. 2xx -> kOk; 408, 425,
  // 429, 5xx, network errors -> kTransient; other statuses -> kPermanent;
  // `stop` set during the request -> kAborted.
  AttemptResult Post(const std::string& url, const std::vector<std::string>& headers,
                     const std::string& body, const std::string& userpwd,
                     std::chrono::milliseconds timeout, const std::atomic<bool>& stop);

  // Sends `message` (a whole RFC 5322 message, CRLF line ends) from `from`
  // to `recipients`. Any SMTP reply >= 500 -> kPermanent; 4xx and network
  // errors -> kTransient.
  AttemptResult SendMail(const SmtpServer& server, const std::string& from,
                         const std::vector<std::string>& recipients, const std::string& message,
                         std::chrono::milliseconds timeout, const std::atomic<bool>& stop);

 private:
  void* curl_;  // CURL*
};

// Lower-case hex of HMAC-SHA256(key, data).
std::string HmacSha256Hex(std::string_view key, std::string_view data);
// Standard base64 with padding, one line.
std::string Base64(std::string_view data);

}  // namespace palaver::outbound_internal
