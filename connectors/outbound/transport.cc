#include "connectors/outbound/transport.h"

#include <algorithm>
#include <cstring>
#include <memory>
#include <mutex>

#include <curl/curl.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

namespace palaver::outbound_internal {
namespace {

void GlobalInit() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

size_t CollectBody(char* data, size_t size, size_t count, void* user) {
  auto* out = static_cast<std::string*>(user);
  // Keep only the start of an answer: it is for error messages.
  if (out->size() < 2048) out->append(data, std::min(size * count, 2048 - out->size()));
  return size * count;
}

size_t DiscardBody(char*, size_t size, size_t count, void*) { return size * count; }

// Stopping abandons a request only before any of it went out: once the body
// is on its way the receiver may accept it, so the answer is awaited (bounded
// by the request timeout) and the delivery settled. A graceful stop thus
// never causes a resend.
int StopProgress(void* user, curl_off_t, curl_off_t, curl_off_t, curl_off_t ulnow) {
  return static_cast<const std::atomic<bool>*>(user)->load() && ulnow == 0 ? 1 : 0;
}

struct Upload {
  const std::string* data;
  size_t offset = 0;
};

size_t ReadUpload(char* buffer, size_t size, size_t count, void* user) {
  auto* up = static_cast<Upload*>(user);
  const size_t n = std::min(size * count, up->data->size() - up->offset);
  std::memcpy(buffer, up->data->data() + up->offset, n);
  up->offset += n;
  return n;
}

struct SlistDeleter {
  void operator()(curl_slist* list) const { curl_slist_free_all(list); }
};
using Slist = std::unique_ptr<curl_slist, SlistDeleter>;

Slist MakeSlist(const std::vector<std::string>& items) {
  curl_slist* list = nullptr;
  for (const std::string& item : items) list = curl_slist_append(list, item.c_str());
  return Slist(list);
}

void SetCommon(CURL* curl, std::chrono::milliseconds timeout, const std::atomic<bool>& stop,
               char* error_buffer) {
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, static_cast<long>(timeout.count()));
  curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS,
                   static_cast<long>(std::min<int64_t>(timeout.count(), 5000)));
  curl_easy_setopt(curl, CURLOPT_NOPROGRESS, 0L);
  curl_easy_setopt(curl, CURLOPT_XFERINFOFUNCTION, StopProgress);
  curl_easy_setopt(curl, CURLOPT_XFERINFODATA, const_cast<std::atomic<bool>*>(&stop));
  curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, error_buffer);
  error_buffer[0] = '\0';
}

std::string CurlError(CURLcode code, const char* buffer) {
  std::string text = buffer[0] != '\0' ? std::string(buffer) : curl_easy_strerror(code);
  return text;
}

}  // namespace

CurlSession::CurlSession() {
  GlobalInit();
  curl_ = curl_easy_init();
}

CurlSession::~CurlSession() {
  if (curl_ != nullptr) curl_easy_cleanup(static_cast<CURL*>(curl_));
}

AttemptResult CurlSession::Post(const std::string& url, const std::vector<std::string>& headers,
                                const std::string& body, const std::string& userpwd,
                                std::chrono::milliseconds timeout, const std::atomic<bool>& stop) {
  CURL* curl = static_cast<CURL*>(curl_);
  if (curl == nullptr) return {AttemptStatus::kTransient, "libcurl could not be initialised"};
  curl_easy_reset(curl);
  char error_buffer[CURL_ERROR_SIZE];
  SetCommon(curl, timeout, stop, error_buffer);
  std::vector<std::string> all = headers;
  all.emplace_back("Expect:");  // no 100-continue round trip
  Slist list = MakeSlist(all);
  std::string answer;
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_POST, 1L);
  curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body.data());
  curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body.size()));
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, list.get());
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, CollectBody);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &answer);
  curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 0L);
  curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
  if (!userpwd.empty()) {
    curl_easy_setopt(curl, CURLOPT_HTTPAUTH, CURLAUTH_BASIC);
    curl_easy_setopt(curl, CURLOPT_USERPWD, userpwd.c_str());
  }
  const CURLcode code = curl_easy_perform(curl);
  if (code == CURLE_ABORTED_BY_CALLBACK) return {AttemptStatus::kAborted, "stopping"};
  if (code != CURLE_OK) {
    return {AttemptStatus::kTransient, "POST: " + CurlError(code, error_buffer)};
  }
  long status = 0;
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
  if (status >= 200 && status < 300) return {AttemptStatus::kOk, ""};
  // The URL stays out of the error: it may carry a token, and the error is
  // recorded in the log. The target id already names the endpoint.
  std::string error = "HTTP " + std::to_string(status);
  if (!answer.empty()) error += ": " + answer.substr(0, 200);
  const bool transient =
      status == 408 || status == 425 || status == 429 || status >= 500 || status < 200;
  return {transient ? AttemptStatus::kTransient : AttemptStatus::kPermanent, error};
}

AttemptResult CurlSession::SendMail(const SmtpServer& server, const std::string& from,
                                    const std::vector<std::string>& recipients,
                                    const std::string& message, std::chrono::milliseconds timeout,
                                    const std::atomic<bool>& stop) {
  CURL* curl = static_cast<CURL*>(curl_);
  if (curl == nullptr) return {AttemptStatus::kTransient, "libcurl could not be initialised"};
  curl_easy_reset(curl);
  char error_buffer[CURL_ERROR_SIZE];
  SetCommon(curl, timeout, stop, error_buffer);
  const std::string scheme = server.tls == SmtpServer::Tls::kImplicit ? "smtps://" : "smtp://";
  const std::string url = scheme + server.host + ":" + std::to_string(server.port);
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "smtp,smtps");
  if (server.tls == SmtpServer::Tls::kStartTls) {
    curl_easy_setopt(curl, CURLOPT_USE_SSL, static_cast<long>(CURLUSESSL_ALL));
  }
  if (server.tls != SmtpServer::Tls::kNone && !server.verify_peer) {
    curl_easy_setopt(curl, CURLOPT_SSL_VERIFYPEER, 0L);
    curl_easy_setopt(curl, CURLOPT_SSL_VERIFYHOST, 0L);
  }
  if (!server.username.empty()) {
    curl_easy_setopt(curl, CURLOPT_USERNAME, server.username.c_str());
    curl_easy_setopt(curl, CURLOPT_PASSWORD, server.password.c_str());
  }
  const std::string mail_from = "<" + from + ">";
  curl_easy_setopt(curl, CURLOPT_MAIL_FROM, mail_from.c_str());
  std::vector<std::string> rcpt;
  for (const std::string& r : recipients) rcpt.push_back("<" + r + ">");
  Slist list = MakeSlist(rcpt);
  curl_easy_setopt(curl, CURLOPT_MAIL_RCPT, list.get());
  Upload upload{&message};
  curl_easy_setopt(curl, CURLOPT_READFUNCTION, ReadUpload);
  curl_easy_setopt(curl, CURLOPT_READDATA, &upload);
  curl_easy_setopt(curl, CURLOPT_UPLOAD, 1L);
  curl_easy_setopt(curl, CURLOPT_INFILESIZE_LARGE, static_cast<curl_off_t>(message.size()));
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, DiscardBody);
  const CURLcode code = curl_easy_perform(curl);
  if (code == CURLE_ABORTED_BY_CALLBACK) return {AttemptStatus::kAborted, "stopping"};
  if (code == CURLE_OK) return {AttemptStatus::kOk, ""};
  long reply = 0;
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &reply);
  std::string error = "SMTP " + url + ": " + CurlError(code, error_buffer);
  if (reply != 0) error += " (last reply " + std::to_string(reply) + ")";
  const bool permanent = reply >= 500 && reply < 600;
  return {permanent ? AttemptStatus::kPermanent : AttemptStatus::kTransient, error};
}

std::string HmacSha256Hex(std::string_view key, std::string_view data) {
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(data.data()), data.size(), mac, &length);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(length * 2);
  for (unsigned int i = 0; i < length; ++i) {
    out.push_back(kHex[mac[i] >> 4]);
    out.push_back(kHex[mac[i] & 0x0f]);
  }
  return out;
}

std::string Base64(std::string_view data) {
  std::string out(4 * ((data.size() + 2) / 3) + 1, '\0');
  const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(data.data()),
                                static_cast<int>(data.size()));
  out.resize(static_cast<size_t>(n));
  return out;
}

}  // namespace palaver::outbound_internal
