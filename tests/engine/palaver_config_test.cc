// Layered configuration of the real palaver executable: a flag wins over the
// environment, which wins over the --config file; bad files are refused with
// the file and line named, before anything is created.
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <unistd.h>

#include "tests/child_process.h"

namespace palaver {
namespace {

namespace fs = std::filesystem;

struct RunResult {
  int exit_code = -1;
  std::string output;  // stdout and stderr
};

// Runs palaver with exactly `env` as its environment (nothing inherited, so
// the test machine's PALAVER_* variables cannot leak in).
RunResult RunPalaver(const std::vector<std::string>& args,
                     const std::map<std::string, std::string>& env) {
  std::vector<std::string> argv = {PALAVER_BINARY};
  argv.insert(argv.end(), args.begin(), args.end());
  auto [exit_code, output] = testing::RunToCompletion(std::move(argv), env);
  return {exit_code, std::move(output)};
}

class PalaverConfigTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("palaver-config-test-" + std::to_string(getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::string WriteConfig(const std::string& name, const std::string& text) {
    fs::path path = dir_ / name;
    std::ofstream(path) << text;
    return path.string();
  }
  std::string Dir(const std::string& name) const { return (dir_ / name).string(); }
  // palaver inspect opens (and so creates) the embedded log in DATA_DIR/log:
  // the data directory a run used is the one that has a log afterwards.
  std::vector<std::string> LogsCreated() const {
    std::vector<std::string> used;
    for (const char* name : {"from-file", "from-table", "from-env", "from-flag"}) {
      if (fs::exists(dir_ / name / "log")) used.push_back(name);
    }
    return used;
  }

  fs::path dir_;
};

TEST_F(PalaverConfigTest, FileAloneSetsTheOption) {
  std::string config = WriteConfig("palaver.toml", "data-dir = \"" + Dir("from-file") + "\"\n");
  RunResult run = RunPalaver({"inspect", "--config", config}, {});
  ASSERT_EQ(run.exit_code, 0) << run.output;
  EXPECT_EQ(LogsCreated(), std::vector<std::string>{"from-file"});
}

TEST_F(PalaverConfigTest, EnvironmentWinsOverTheFile) {
  std::string config = WriteConfig("palaver.toml", "data-dir = \"" + Dir("from-file") + "\"\n");
  RunResult run =
      RunPalaver({"inspect", "--config", config}, {{"PALAVER_DATA_DIR", Dir("from-env")}});
  ASSERT_EQ(run.exit_code, 0) << run.output;
  EXPECT_EQ(LogsCreated(), std::vector<std::string>{"from-env"});
}

TEST_F(PalaverConfigTest, FlagWinsOverTheEnvironmentAndTheFile) {
  std::string config = WriteConfig("palaver.toml", "data-dir = \"" + Dir("from-file") + "\"\n");
  RunResult run = RunPalaver({"inspect", "--config", config, "--data-dir", Dir("from-flag")},
                             {{"PALAVER_DATA_DIR", Dir("from-env")}});
  ASSERT_EQ(run.exit_code, 0) << run.output;
  EXPECT_EQ(LogsCreated(), std::vector<std::string>{"from-flag"});
}

TEST_F(PalaverConfigTest, CommandTableWinsOverTheTopLevelAndOtherCommandsKeysAreIgnored) {
  std::string config =
      WriteConfig("palaver.toml",
                  "# shared by every command\n"
                  "data-dir = \"" +
                      Dir("from-file") +
                      "\"\n"
                      "listen = \"127.0.0.1:9999\"  # serve's option: ignored by inspect\n"
                      "\n[inspect]\n"
                      "data_dir = '" +
                      Dir("from-table") +
                      "'\n"
                      "[serve]\n"
                      "listen = \"127.0.0.1:9998\"\n");
  RunResult run = RunPalaver({"inspect", "--config", config}, {});
  ASSERT_EQ(run.exit_code, 0) << run.output;
  EXPECT_EQ(LogsCreated(), std::vector<std::string>{"from-table"});
}

TEST_F(PalaverConfigTest, MainCommandOptionsFollowTheSamePrecedence) {
  // log-level error hides inspect's closing info line; the environment brings it back.
  std::string config = WriteConfig("palaver.toml",
                                   "log-level = \"error\"\n"
                                   "data-dir = \"" +
                                       Dir("from-file") + "\"\n");
  RunResult quiet = RunPalaver({"inspect", "--config", config}, {});
  ASSERT_EQ(quiet.exit_code, 0) << quiet.output;
  EXPECT_EQ(quiet.output.find("inspect: printed"), std::string::npos) << quiet.output;

  RunResult env = RunPalaver({"inspect", "--config", config}, {{"PALAVER_LOG_LEVEL", "info"}});
  ASSERT_EQ(env.exit_code, 0) << env.output;
  EXPECT_NE(env.output.find("inspect: printed 0 records"), std::string::npos) << env.output;

  RunResult flag = RunPalaver({"inspect", "--config", config, "--log-level", "info"},
                              {{"PALAVER_LOG_LEVEL", "error"}});
  ASSERT_EQ(flag.exit_code, 0) << flag.output;
  EXPECT_NE(flag.output.find("inspect: printed 0 records"), std::string::npos) << flag.output;
}

TEST_F(PalaverConfigTest, PalaverConfigNamesTheFileAndTheFlagOverridesIt) {
  std::string from_env = WriteConfig("env.toml", "data-dir = \"" + Dir("from-env") + "\"\n");
  std::string from_flag = WriteConfig("flag.toml", "data-dir = \"" + Dir("from-flag") + "\"\n");
  RunResult run = RunPalaver({"inspect"}, {{"PALAVER_CONFIG", from_env}});
  ASSERT_EQ(run.exit_code, 0) << run.output;
  EXPECT_EQ(LogsCreated(), std::vector<std::string>{"from-env"});
  fs::remove_all(dir_ / "from-env");
  run = RunPalaver({"inspect", "--config", from_flag}, {{"PALAVER_CONFIG", from_env}});
  ASSERT_EQ(run.exit_code, 0) << run.output;
  EXPECT_EQ(LogsCreated(), std::vector<std::string>{"from-flag"});
}

TEST_F(PalaverConfigTest, MissingConfigFileIsAnErrorNamingIt) {
  for (const auto& [args, env] :
       std::vector<std::pair<std::vector<std::string>, std::map<std::string, std::string>>>{
           {{"inspect", "--data-dir", Dir("from-flag"), "--config", Dir("nowhere.toml")}, {}},
           {{"inspect", "--data-dir", Dir("from-flag")}, {{"PALAVER_CONFIG", Dir("nowhere.toml")}}},
       }) {
    RunResult run = RunPalaver(args, env);
    EXPECT_NE(run.exit_code, 0) << run.output;
    EXPECT_NE(run.output.find(Dir("nowhere.toml")), std::string::npos) << run.output;
    EXPECT_TRUE(LogsCreated().empty());
  }
}

TEST_F(PalaverConfigTest, BadConfigFileNamesTheFileAndLineAndChangesNothing) {
  struct Case {
    std::string text;
    std::string expected;  // in the error, after "config file <path>, line N: "
    int line;
  };
  const std::string data_dir = "data-dir = \"" + Dir("from-file") + "\"\n";
  const std::vector<Case> cases = {
      {data_dir + "listen 127.0.0.1:8080\n", "expected `name = value`", 2},
      {data_dir + "\n\ntopic = \"unterminated\n", "a string is not closed on its line", 4},
      {data_dir + "no-such-option = 1\n", "`no-such-option` is not an option of palaver", 2},
      {data_dir + "[nonsense]\n", "[nonsense] is not a palaver command", 2},
      {"[inspect]\nlisten = \"127.0.0.1:1\"\n", "`listen` is not an option of palaver inspect", 2},
      {data_dir + "partitions = many\n", "`many` is not a value", 2},
      {data_dir + "topic = \"a\"\ntopic = \"b\"\n", "`topic` is already set on line 2", 3},
      {data_dir + "count = [1, 2\n", "an array must close on the same line", 2},
      {data_dir + "config = \"other.toml\"\n", "`config` cannot be set inside a config file", 2},
  };
  for (const Case& c : cases) {
    std::string config = WriteConfig("bad.toml", c.text);
    RunResult run = RunPalaver({"inspect", "--config", config}, {});
    EXPECT_NE(run.exit_code, 0) << c.text;
    const std::string where = "config file " + config + ", line " + std::to_string(c.line) + ": ";
    EXPECT_NE(run.output.find(where + c.expected), std::string::npos)
        << "expected: " << where << c.expected << "\ngot: " << run.output;
    EXPECT_TRUE(LogsCreated().empty()) << c.text;
  }
}

TEST_F(PalaverConfigTest, ValueRefusedByTheOptionNamesItsConfigLine) {
  std::string config = WriteConfig("palaver.toml",
                                   "# comment\n"
                                   "data-dir = \"" +
                                       Dir("from-file") +
                                       "\"\n"
                                       "partitions = 0\n");
  RunResult run = RunPalaver({"inspect", "--config", config}, {});
  EXPECT_NE(run.exit_code, 0);
  EXPECT_NE(run.output.find("--partitions"), std::string::npos) << run.output;
  EXPECT_NE(run.output.find("(set in config file " + config + ", line 3)"), std::string::npos)
      << run.output;
  EXPECT_TRUE(LogsCreated().empty());

  // The same value from the environment is not blamed on the file.
  RunResult env = RunPalaver({"inspect", "--config", config}, {{"PALAVER_PARTITIONS", "2000"}});
  EXPECT_NE(env.exit_code, 0);
  EXPECT_NE(env.output.find("--partitions"), std::string::npos) << env.output;
  EXPECT_EQ(env.output.find("set in config file"), std::string::npos) << env.output;
}

TEST_F(PalaverConfigTest, HelpStatesThePrecedenceAndEveryOptionsEnvironmentVariable) {
  for (const std::string command : {"serve", "inspect", "replay", "export"}) {
    RunResult help = RunPalaver({command, "--help"}, {});
    ASSERT_EQ(help.exit_code, 0) << help.output;
    EXPECT_NE(help.output.find("A flag wins over the environment, which\nwins over the file"),
              std::string::npos)
        << help.output;
    // Every option line but --help carries its PALAVER_* variable.
    std::istringstream lines(help.output);
    std::string line;
    int options = 0;
    while (std::getline(lines, line)) {
      if (line.rfind("  --", 0) != 0) continue;
      ++options;
      EXPECT_NE(line.find("(Env:PALAVER_"), std::string::npos) << command << ": " << line;
    }
    EXPECT_GT(options, 0) << help.output;
  }
  RunResult main_help = RunPalaver({"--help"}, {});
  EXPECT_NE(main_help.output.find("--config FILE (Env:PALAVER_CONFIG)"), std::string::npos)
      << main_help.output;
}

}  // namespace
}  // namespace palaver
