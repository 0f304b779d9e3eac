// A real HTTP/1.1 server on loopback (Boost.Beast, one thread per
// connection, keep-alive) for the outbound connector suites: it records every
// request in arrival order and answers with the status its handler chooses.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace palaver::testing {

struct ReceivedRequest {
  std::string method;
  std::string target;
  std::map<std::string, std::string> headers;  // names in lower case
  std::string body;

  std::string Header(const std::string& lower_name) const {
    auto it = headers.find(lower_name);
    return it == headers.end() ? std::string() : it->second;
  }
};

class HttpReceiver {
 public:
  // Returns the HTTP status to answer `request` with. Called on connection
  // threads, one request at a time per connection.
  using Handler = std::function<int(const ReceivedRequest& request)>;

  explicit HttpReceiver(Handler handler = [](const ReceivedRequest&) { return 200; });
  ~HttpReceiver();
  HttpReceiver(const HttpReceiver&) = delete;
  HttpReceiver& operator=(const HttpReceiver&) = delete;

  // "http://127.0.0.1:<port><path>".
  std::string Url(const std::string& path = "/hook") const;
  int port() const { return port_; }

  // Every request answered 2xx, and every request received, in arrival order.
  std::vector<ReceivedRequest> Accepted() const;
  std::vector<ReceivedRequest> Received() const;

  // Waits (at most `timeout`) until at least `count` requests were answered 2xx.
  bool WaitForAccepted(size_t count, std::chrono::seconds timeout = std::chrono::seconds(60)) const;

 private:
  void AcceptLoop();
  void Serve(int fd);

  Handler handler_;
  int listen_fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stopping_{false};
  std::thread accept_thread_;
  mutable std::mutex mu_;
  std::vector<std::thread> connections_;   // guarded by mu_
  std::vector<int> connection_fds_;        // guarded by mu_
  std::vector<ReceivedRequest> received_;  // guarded by mu_
  std::vector<ReceivedRequest> accepted_;  // guarded by mu_
};

}  // namespace palaver::testing
