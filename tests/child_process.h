// ChildProcess: runs a program (in tests, the palaver binary) with its stdout
// and stderr captured through one pipe, for tests that drive the real
// executable: wait for a line, send a signal, read the exit status.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <sys/types.h>

namespace palaver::testing {

class ChildProcess {
 public:
  // Starts `args[0]` (a path) with `args`. With `env`, the child gets exactly
  // those variables plus PATH=/usr/bin:/bin, nothing inherited; without, it
  // inherits the test's environment.
  explicit ChildProcess(std::vector<std::string> args,
                        std::optional<std::map<std::string, std::string>> env = std::nullopt);
  // Kills (SIGKILL) and reaps a child that is still running.
  ~ChildProcess();
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  // Reads output until it contains `needle`, the child closes its output or
  // `timeout` passes; returns all output so far.
  std::string ReadUntil(const std::string& needle, std::chrono::seconds timeout);
  // Sends `signal` and returns the exit status as Wait() does, or -1 when the
  // child has not exited within 30 s.
  int Stop(int signal);
  // Waits for the child to exit, reads the rest of its output and returns the
  // exit code (128 + signal number when a signal ended it).
  int Wait();
  const std::string& output() const { return output_; }

 private:
  int Reap(int status);

  pid_t pid_ = -1;
  int out_ = -1;
  std::string output_;
};

// Runs `args` to completion; returns (exit code, output).
std::pair<int, std::string> RunToCompletion(
    std::vector<std::string> args,
    std::optional<std::map<std::string, std::string>> env = std::nullopt);

// The port in palaver serve's "listening on http://127.0.0.1:PORT" line of
// `output`, or 0 when there is none yet.
uint16_t ListeningPort(const std::string& output);

}  // namespace palaver::testing
