#include "tests/child_process.h"

#include <cstdint>
#include <thread>

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

namespace palaver::testing {

ChildProcess::ChildProcess(std::vector<std::string> args,
                           std::optional<std::map<std::string, std::string>> env) {
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  std::vector<std::string> env_strings;
  std::vector<char*> envp;
  if (env) {
    env_strings.push_back("PATH=/usr/bin:/bin");
    for (const auto& [name, value] : *env) env_strings.push_back(name + "=" + value);
    for (std::string& e : env_strings) envp.push_back(e.data());
    envp.push_back(nullptr);
  }
  int fds[2];
  if (pipe(fds) != 0) return;  // pid_ stays -1: Wait() reports 127
  pid_ = fork();
  if (pid_ == 0) {
    dup2(fds[1], STDOUT_FILENO);
    dup2(fds[1], STDERR_FILENO);
    close(fds[0]);
    if (env) {
      execve(argv[0], argv.data(), envp.data());
    } else {
      execv(argv[0], argv.data());
    }
    _exit(127);
  }
  close(fds[1]);
  out_ = fds[0];
  fcntl(out_, F_SETFL, O_NONBLOCK);
}

ChildProcess::~ChildProcess() {
  if (pid_ > 0) {
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
  }
  if (out_ >= 0) close(out_);
}

std::string ChildProcess::ReadUntil(const std::string& needle, std::chrono::seconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (out_ >= 0 && output_.find(needle) == std::string::npos &&
         std::chrono::steady_clock::now() < deadline) {
    char buffer[4096];
    const ssize_t n = read(out_, buffer, sizeof buffer);
    if (n > 0) {
      output_.append(buffer, static_cast<size_t>(n));
    } else if (n == 0) {
      break;
    } else {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  }
  return output_;
}

int ChildProcess::Stop(int signal) {
  if (pid_ <= 0) return -1;
  kill(pid_, signal);
  for (int i = 0; i < 3000; ++i) {
    int status = 0;
    if (waitpid(pid_, &status, WNOHANG) == pid_) return Reap(status);
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return -1;
}

int ChildProcess::Wait() {
  if (pid_ <= 0) return 127;
  int status = 0;
  waitpid(pid_, &status, 0);
  return Reap(status);
}

int ChildProcess::Reap(int status) {
  pid_ = -1;
  ReadUntil("\x01", std::chrono::seconds(5));  // the rest, up to EOF
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

std::pair<int, std::string> RunToCompletion(std::vector<std::string> args,
                                            std::optional<std::map<std::string, std::string>> env) {
  ChildProcess child(std::move(args), std::move(env));
  const int code = child.Wait();
  return {code, child.output()};
}

uint16_t ListeningPort(const std::string& output) {
  const std::string prefix = "listening on http://127.0.0.1:";
  const auto at = output.find(prefix);
  if (at == std::string::npos) return 0;
  return static_cast<uint16_t>(std::stoi(output.substr(at + prefix.size())));
}

}  // namespace palaver::testing
