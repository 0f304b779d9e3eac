#include "tests/connectors/outbound/http_receiver.h"

#include <algorithm>
#include <cctype>
#include <stdexcept>

#include <arpa/inet.h>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

namespace palaver::testing {

namespace beast = boost::beast;
namespace http = beast::http;
using tcp = boost::asio::ip::tcp;

HttpReceiver::HttpReceiver(Handler handler) : handler_(std::move(handler)) {
  // Plain sockets for listening, so the destructor can stop a blocked accept().
  listen_fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
  int one = 1;
  ::setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  if (::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
      ::listen(listen_fd_, 64) != 0) {
    throw std::runtime_error("HttpReceiver: cannot listen on 127.0.0.1");
  }
  socklen_t len = sizeof(addr);
  ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len);
  port_ = ntohs(addr.sin_port);
  accept_thread_ = std::thread([this] { AcceptLoop(); });
}

HttpReceiver::~HttpReceiver() {
  stopping_ = true;
  ::shutdown(listen_fd_, SHUT_RDWR);
  accept_thread_.join();
  ::close(listen_fd_);
  std::vector<std::thread> connections;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (int fd : connection_fds_) ::shutdown(fd, SHUT_RDWR);
    connections.swap(connections_);
  }
  for (std::thread& t : connections) t.join();
}

std::string HttpReceiver::Url(const std::string& path) const {
  return "http://127.0.0.1:" + std::to_string(port_) + path;
}

void HttpReceiver::AcceptLoop() {
  while (!stopping_) {
    const int fd = ::accept(listen_fd_, nullptr, nullptr);
    if (fd < 0) {
      if (stopping_) return;
      continue;
    }
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_) {
      ::close(fd);
      return;
    }
    connection_fds_.push_back(fd);
    connections_.emplace_back([this, fd] { Serve(fd); });
  }
}

void HttpReceiver::Serve(int fd) {
  boost::asio::io_context io;
  tcp::socket socket(io);
  boost::system::error_code ec;
  socket.assign(tcp::v4(), fd, ec);
  if (ec) return;
  beast::flat_buffer buffer;
  while (!stopping_) {
    http::request<http::string_body> req;
    http::read(socket, buffer, req, ec);
    if (ec) break;
    ReceivedRequest r;
    r.method = std::string(req.method_string());
    r.target = std::string(req.target());
    for (const auto& field : req) {
      std::string name(field.name_string());
      std::transform(name.begin(), name.end(), name.begin(),
                     [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
      r.headers[name] = std::string(field.value());
    }
    r.body = req.body();
    const int status = handler_(r);
    {
      std::lock_guard<std::mutex> lock(mu_);
      received_.push_back(r);
      if (status >= 200 && status < 300) accepted_.push_back(r);
    }
    http::response<http::string_body> res{static_cast<http::status>(status), req.version()};
    res.set(http::field::content_type, "text/plain");
    if (status != 204 && status != 304) res.body() = status < 300 ? "ok" : "failing on purpose";
    res.keep_alive(req.keep_alive());
    res.prepare_payload();
    http::write(socket, res, ec);
    if (ec || !req.keep_alive()) break;
  }
  socket.shutdown(tcp::socket::shutdown_both, ec);
  // Forgotten before the socket closes it, so the destructor never shuts down
  // a descriptor number the system has handed out again.
  std::lock_guard<std::mutex> lock(mu_);
  connection_fds_.erase(std::remove(connection_fds_.begin(), connection_fds_.end(), fd),
                        connection_fds_.end());
}

std::vector<ReceivedRequest> HttpReceiver::Accepted() const {
  std::lock_guard<std::mutex> lock(mu_);
  return accepted_;
}

std::vector<ReceivedRequest> HttpReceiver::Received() const {
  std::lock_guard<std::mutex> lock(mu_);
  return received_;
}

bool HttpReceiver::WaitForAccepted(size_t count, std::chrono::seconds timeout) const {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (accepted_.size() >= count) return true;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return false;
}

}  // namespace palaver::testing
