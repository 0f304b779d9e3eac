// Flags: the command line of every benchmark binary. A mistake on it must
// stop the run with a clear message before anything is measured, never be
// ignored (a typo once ran a whole benchmark with its defaults).
#include "benchmarks/flags.h"

#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <unistd.h>

namespace palaver::bench {
namespace {

constexpr char kUsage[] = "usage: example [options]\n  --events N  events to write\n";

// Runs Parse on `args` (argv[0] is added); `rest` as Parse takes it.
void Parse(const Flags& flags, std::vector<std::string> args, std::vector<char*>* rest = nullptr) {
  static std::vector<std::string> storage;  // outlives the call: `rest` points into it
  storage = {"example"};
  storage.insert(storage.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (std::string& arg : storage) argv.push_back(arg.data());
  flags.Parse(static_cast<int>(argv.size()), argv.data(), rest);
}

struct Values {
  size_t events = 300;
  int threads = 4;
  double seconds = 2;
  double share = 0.5;
  std::string dir = "/tmp/default";
  bool kafka_only = false;
  std::string phase = "all";
};

Flags ExampleFlags(Values* v) {
  Flags flags(kUsage);
  flags.Option("--events", &v->events, 1)
      .Option("--threads", &v->threads, 1, 64)
      .Option("--seconds", &v->seconds, 0.1)
      .Option("--share", &v->share, 0.0, 1.0)
      .Option("--dir", &v->dir)
      .Switch("--kafka-only", &v->kafka_only)
      .Option("--phase", "all or rebuild", [v](const std::string& text) {
        v->phase = text;
        return text == "all" || text == "rebuild";
      });
  return flags;
}

TEST(FlagsTest, StoresEachGivenValueAndLeavesTheOthersAtTheirDefaults) {
  Values v;
  Parse(ExampleFlags(&v),
        {"--events", "1000000", "--seconds", "1.5", "--kafka-only", "--phase", "rebuild"});
  EXPECT_EQ(v.events, 1'000'000u);
  EXPECT_DOUBLE_EQ(v.seconds, 1.5);
  EXPECT_TRUE(v.kafka_only);
  EXPECT_EQ(v.phase, "rebuild");
  EXPECT_EQ(v.threads, 4);
  EXPECT_EQ(v.dir, "/tmp/default");
}

TEST(FlagsTest, TheLastOfARepeatedOptionWins) {
  Values v;
  Parse(ExampleFlags(&v), {"--dir", "/a", "--dir", "/b"});
  EXPECT_EQ(v.dir, "/b");
}

TEST(FlagsTest, HelpPrintsTheUsageToStdoutAndExitsZero) {
  Values v;
  // stdout goes to stderr in the child, where EXPECT_EXIT can read it.
  EXPECT_EXIT(
      {
        dup2(STDERR_FILENO, STDOUT_FILENO);
        Parse(ExampleFlags(&v), {"--events", "5", "--help"});
      },
      ::testing::ExitedWithCode(0),
      "^usage: example \\[options\\]\n  --events N  events to write\n$");
}

TEST(FlagsTest, AnUnknownOptionIsNamedWithTheUsageAndExitsTwo) {
  Values v;
  EXPECT_EXIT(Parse(ExampleFlags(&v), {"--evnts", "5"}), ::testing::ExitedWithCode(2),
              "^example: unknown option --evnts\n\nusage: example");
}

TEST(FlagsTest, AnOptionWithoutItsValueSaysWhatItTakes) {
  Values v;
  EXPECT_EXIT(Parse(ExampleFlags(&v), {"--kafka-only", "--events"}), ::testing::ExitedWithCode(2),
              "example: --events needs a value: a whole number of at least 1\n");
}

TEST(FlagsTest, ARefusedValueIsQuotedBesideWhatTheOptionTakes) {
  Values v;
  const auto exits_two = ::testing::ExitedWithCode(2);
  EXPECT_EXIT(Parse(ExampleFlags(&v), {"--events", "3k"}), exits_two,
              "--events takes a whole number of at least 1, not \"3k\"");
  EXPECT_EXIT(Parse(ExampleFlags(&v), {"--events", "0"}), exits_two, "not \"0\"");
  EXPECT_EXIT(Parse(ExampleFlags(&v), {"--events", "-1"}), exits_two, "not \"-1\"");
  EXPECT_EXIT(Parse(ExampleFlags(&v), {"--events", ""}), exits_two, "not \"\"");
  EXPECT_EXIT(Parse(ExampleFlags(&v), {"--events", "99999999999999999999999"}), exits_two,
              "not \"99999999999999999999999\"");
  EXPECT_EXIT(Parse(ExampleFlags(&v), {"--threads", "65"}), exits_two,
              "--threads takes a whole number of at least 1 and at most 64, not \"65\"");
  EXPECT_EXIT(Parse(ExampleFlags(&v), {"--seconds", "nan"}), exits_two,
              "--seconds takes a number of at least 0.1, not \"nan\"");
  EXPECT_EXIT(Parse(ExampleFlags(&v), {"--seconds", "2s"}), exits_two, "not \"2s\"");
  EXPECT_EXIT(Parse(ExampleFlags(&v), {"--share", "1.5"}), exits_two,
              "--share takes a number of at least 0 and at most 1, not \"1.5\"");
  EXPECT_EXIT(Parse(ExampleFlags(&v), {"--phase", "everything"}), exits_two,
              "--phase takes all or rebuild, not \"everything\"");
}

TEST(FlagsTest, WithRestUnknownArgumentsAreHandedOnInOrder) {
  Values v;
  std::vector<char*> rest;
  Parse(ExampleFlags(&v), {"--benchmark_filter=apply", "--events", "200", "-v", "x"}, &rest);
  EXPECT_EQ(v.events, 200u);
  ASSERT_EQ(rest.size(), 3u);
  EXPECT_STREQ(rest[0], "--benchmark_filter=apply");
  EXPECT_STREQ(rest[1], "-v");
  EXPECT_STREQ(rest[2], "x");
}

}  // namespace
}  // namespace palaver::bench
