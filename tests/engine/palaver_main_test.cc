// End-to-end tests of the palaver executable: serve, inspect, replay, export.
#include <chrono>
#include <filesystem>
#include <fstream>
#include <memory>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "engine/event_log.h"
#include "schemas/codec.h"
#include "tests/child_process.h"
#include "tests/schemas/sample_events.h"

namespace palaver {
namespace {

namespace fs = std::filesystem;

std::string HttpGet(uint16_t port, const std::string& target, int* status_code) {
  namespace beast = boost::beast;
  namespace http = beast::http;
  boost::asio::io_context io;
  boost::asio::ip::tcp::socket socket(io);
  socket.connect({boost::asio::ip::make_address("127.0.0.1"), port});
  http::request<http::empty_body> request(http::verb::get, target, 11);
  request.set(http::field::host, "127.0.0.1");
  http::write(socket, request);
  beast::flat_buffer buffer;
  http::response<http::string_body> response;
  http::read(socket, buffer, response);
  *status_code = static_cast<int>(response.result_int());
  return response.body();
}

class PalaverMainTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("palaver-main-test-" + std::to_string(getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  // Appends every sample event to the embedded log under dir_/log.
  size_t AppendSamples() {
    EventLogOptions options;
    options.embedded_dir = (dir_ / "log").string();
    auto log = OpenEventLog(options);
    EXPECT_TRUE(log.ok()) << log.status().ToString();
    size_t appended = 0;
    for (const Event& event : testing::SampleEvents()) {
      auto frame = EncodeEvent(event);
      EXPECT_TRUE(frame.ok()) << frame.status().ToString();
      auto position = (*log)->Append(*frame);
      EXPECT_TRUE(position.ok()) << position.status().ToString();
      ++appended;
    }
    return appended;
  }

  fs::path dir_;
};

TEST_F(PalaverMainTest, ServeAnswersHealthzAndStopsCleanlyOnCtrlC) {
  testing::ChildProcess serve(
      {PALAVER_BINARY, "serve", "--data-dir", dir_.string(), "--listen", "127.0.0.1:0"});
  std::string output = serve.ReadUntil("Ctrl-C", std::chrono::seconds(30));
  uint16_t port = testing::ListeningPort(output);
  ASSERT_NE(port, 0) << output;

  int status = 0;
  auto body = nlohmann::json::parse(HttpGet(port, "/healthz", &status));
  EXPECT_EQ(status, 200);
  EXPECT_EQ(body["status"], "ok");
  EXPECT_EQ(body["log"], "embedded");
  HttpGet(port, "/no-such-route", &status);
  EXPECT_EQ(status, 404);

  EXPECT_EQ(serve.Stop(SIGINT), 0) << serve.output();
  EXPECT_NE(serve.output().find("stopped cleanly"), std::string::npos) << serve.output();
}

TEST_F(PalaverMainTest, ServeFindsItsDataAgainAfterARestart) {
  size_t appended = AppendSamples();
  for (int run = 0; run < 2; ++run) {
    std::vector<std::string> args = {PALAVER_BINARY, "serve",    "--data-dir",
                                     dir_.string(),  "--listen", "127.0.0.1:0"};
    if (run == 1) {  // the views' memory is the operator's to choose
      for (const char* flag : {"--views-block-cache-mb", "8", "--views-read-cache-mb", "0"})
        args.push_back(flag);
    }
    testing::ChildProcess serve(args);
    std::string output = serve.ReadUntil("Ctrl-C", std::chrono::seconds(30));
    EXPECT_NE(output.find(std::to_string(appended) + " events"), std::string::npos) << output;
    EXPECT_NE(output.find(run == 0 ? "(block cache 256 MiB, read cache 16 MiB per partition)"
                                   : "(block cache 8 MiB, read cache 0 MiB per partition)"),
              std::string::npos)
        << output;
    EXPECT_EQ(serve.Stop(SIGTERM), 0) << serve.output();
  }
}

TEST_F(PalaverMainTest, ServeRefusesAPortInUseWithAClearError) {
  testing::ChildProcess first(
      {PALAVER_BINARY, "serve", "--data-dir", dir_.string(), "--listen", "127.0.0.1:0"});
  uint16_t port = testing::ListeningPort(first.ReadUntil("Ctrl-C", std::chrono::seconds(30)));
  ASSERT_NE(port, 0);
  testing::ChildProcess second({PALAVER_BINARY, "serve", "--data-dir", (dir_ / "other").string(),
                                "--listen", "127.0.0.1:" + std::to_string(port)});
  EXPECT_EQ(second.Wait(), 1);
  EXPECT_NE(second.output().find("cannot listen on 127.0.0.1:" + std::to_string(port)),
            std::string::npos)
      << second.output();
}

TEST_F(PalaverMainTest, InspectPrintsEveryEventAsJsonLines) {
  size_t appended = AppendSamples();
  testing::ChildProcess inspect({PALAVER_BINARY, "inspect", "--data-dir", dir_.string()});
  ASSERT_EQ(inspect.Wait(), 0) << inspect.output();
  std::istringstream lines(inspect.output());
  std::string line;
  size_t events = 0;
  while (std::getline(lines, line)) {
    if (line.empty() || line[0] != '{') continue;  // log lines go to stderr, same pipe here
    auto record = nlohmann::json::parse(line);
    EXPECT_TRUE(record.contains("event")) << line;
    EXPECT_FALSE(record["headers"]["palaver-event-type"].get<std::string>().empty());
    ++events;
  }
  EXPECT_EQ(events, appended);
}

TEST_F(PalaverMainTest, InspectFiltersByTenantAndCount) {
  AppendSamples();
  const std::string tenant = testing::SampleEvents().front().envelope.tenant;
  testing::ChildProcess inspect(
      {PALAVER_BINARY, "inspect", "--data-dir", dir_.string(), "--tenant", tenant, "--count", "2"});
  ASSERT_EQ(inspect.Wait(), 0) << inspect.output();
  std::istringstream lines(inspect.output());
  std::string line;
  size_t events = 0;
  while (std::getline(lines, line)) {
    if (line.empty() || line[0] != '{') continue;
    EXPECT_EQ(nlohmann::json::parse(line)["key"], tenant);
    ++events;
  }
  EXPECT_EQ(events, 2u);
}

TEST_F(PalaverMainTest, ReplayRebuildsTheViewsAndExportWritesThem) {
  size_t appended = AppendSamples();
  const std::string views = (dir_ / "views").string();
  testing::ChildProcess replay(
      {PALAVER_BINARY, "replay", "--data-dir", dir_.string(), "--out", views});
  ASSERT_EQ(replay.Wait(), 0) << replay.output();
  EXPECT_NE(replay.output().find("replay: " + std::to_string(appended) + " records"),
            std::string::npos)
      << replay.output();

  testing::ChildProcess jsonl(
      {PALAVER_BINARY, "export", "--data-dir", dir_.string(), "--views", views});
  ASSERT_EQ(jsonl.Wait(), 0) << jsonl.output();
  std::istringstream lines(jsonl.output());
  std::string line;
  std::set<std::string> seen_views;
  while (std::getline(lines, line)) {
    if (line.empty() || line[0] != '{') continue;
    seen_views.insert(nlohmann::json::parse(line)["view"].get<std::string>());
  }
  // The samples hold a conversation, a message, an order and a CSAT: every view has rows.
  EXPECT_EQ(seen_views,
            (std::set<std::string>{"history", "inbox", "metrics", "profile", "receipts"}))
      << jsonl.output();

  testing::ChildProcess csv({PALAVER_BINARY, "export", "--data-dir", dir_.string(), "--views",
                             views, "--view", "inbox", "--format", "csv"});
  ASSERT_EQ(csv.Wait(), 0) << csv.output();
  EXPECT_NE(csv.output().find("view,key,value\n"), std::string::npos) << csv.output();
  EXPECT_EQ(csv.output().find("\nhistory,"), std::string::npos) << csv.output();
}

// Lines of `output` starting with `lead` (stderr log lines share the pipe).
std::vector<std::string> LinesStartingWith(const std::string& output, char lead) {
  std::vector<std::string> out;
  std::istringstream lines(output);
  std::string line;
  while (std::getline(lines, line))
    if (!line.empty() && line[0] == lead) out.push_back(line);
  return out;
}

TEST_F(PalaverMainTest, ExportStreamsConversationsAndMetricsWithFilters) {
  AppendSamples();
  const std::string views = (dir_ / "views").string();
  testing::ChildProcess replay(
      {PALAVER_BINARY, "replay", "--data-dir", dir_.string(), "--out", views});
  ASSERT_EQ(replay.Wait(), 0) << replay.output();
  auto run = [&](std::vector<std::string> extra) {
    std::vector<std::string> args = {PALAVER_BINARY, "export",  "--data-dir",
                                     dir_.string(),  "--views", views};
    args.insert(args.end(), extra.begin(), extra.end());
    testing::ChildProcess child(args);
    const int code = child.Wait();
    return std::make_pair(code, child.output());
  };

  auto all = run({"--what", "conversations"});
  ASSERT_EQ(all.first, 0) << all.second;
  const auto conversations = LinesStartingWith(all.second, '{');
  ASSERT_FALSE(conversations.empty()) << all.second;
  const auto first = nlohmann::json::parse(conversations.front());
  EXPECT_FALSE(first["timeline"].empty());
  EXPECT_EQ(first["timeline"][0]["type"], "started");
  const std::string shop = first["shop"], channel = first["channel"], status = first["status"];

  auto same = run({"--what", "conversations", "--shop", shop, "--channel", channel, "--status",
                   status, "--from", "1970-01-02", "--to", "2200-01-01T00:00:00Z"});
  ASSERT_EQ(same.first, 0) << same.second;
  EXPECT_FALSE(LinesStartingWith(same.second, '{').empty());
  auto none = run({"--what", "conversations", "--shop", "no-such-shop"});
  ASSERT_EQ(none.first, 0) << none.second;
  EXPECT_TRUE(LinesStartingWith(none.second, '{').empty()) << none.second;
  auto later = run({"--what", "conversations", "--from", "2200-01-01"});
  ASSERT_EQ(later.first, 0) << later.second;
  EXPECT_TRUE(LinesStartingWith(later.second, '{').empty()) << later.second;

  auto csv = run({"--what", "conversations", "--format", "csv", "--shop", shop});
  ASSERT_EQ(csv.first, 0) << csv.second;
  EXPECT_NE(csv.second.find("shop,conversation_id,customer_id,channel,status,started_at,seq,"),
            std::string::npos);
  size_t entries = 0;
  for (const auto& line : conversations) {
    auto j = nlohmann::json::parse(line);
    if (j["shop"] == shop) entries += j["timeline"].size();
  }
  EXPECT_EQ(LinesStartingWith(csv.second, '"').size(), entries) << csv.second;

  auto metrics = run({"--what", "metrics", "--shop", shop});
  ASSERT_EQ(metrics.first, 0) << metrics.second;
  EXPECT_NE(metrics.second.find("first_response_s,first_response_office_s,resolution_s"),
            std::string::npos);
  EXPECT_FALSE(LinesStartingWith(metrics.second, '"').empty()) << metrics.second;
  auto daily = run({"--what", "daily"});
  ASSERT_EQ(daily.first, 0) << daily.second;
  EXPECT_NE(daily.second.find("shop,day,kind,name,count"), std::string::npos);
  EXPECT_NE(daily.second.find("\"started\""), std::string::npos) << daily.second;

  // Bad filter values: a clear error naming the flag, exit status 1, nothing written.
  for (const auto& [args, says] : std::vector<std::pair<std::vector<std::string>, std::string>>{
           {{"--what", "conversations", "--channel", "fax"}, "--channel \"fax\" is not a channel"},
           {{"--what", "conversations", "--status", "done"}, "--status \"done\" is not a"},
           {{"--what", "metrics", "--from", "last week"}, "--from \"last week\" is not a UTC time"},
           {{"--what", "conversations", "--from", "2026-02-01", "--to", "2026-01-01"},
            "is not before --to"},
           {{"--what", "metrics", "--format", "jsonl"}, "CSV only"},
           {{"--shop", shop}, "--shop filters conversations"}}) {
    auto bad = run(args);
    EXPECT_EQ(bad.first, 1) << bad.second;
    EXPECT_NE(bad.second.find(says), std::string::npos) << bad.second;
    EXPECT_TRUE(LinesStartingWith(bad.second, '{').empty()) << bad.second;
  }
}

TEST_F(PalaverMainTest, ReplayRefusesToOverwriteAndExplainsBadTimes) {
  AppendSamples();
  const std::string views = (dir_ / "views").string();
  fs::create_directories(views);
  { std::ofstream(fs::path(views) / "keep-me") << "x"; }
  testing::ChildProcess occupied(
      {PALAVER_BINARY, "replay", "--data-dir", dir_.string(), "--out", views});
  EXPECT_EQ(occupied.Wait(), 1) << occupied.output();
  EXPECT_TRUE(fs::exists(fs::path(views) / "keep-me"));

  testing::ChildProcess bad_time({PALAVER_BINARY, "replay", "--data-dir", dir_.string(), "--out",
                                  (dir_ / "other").string(), "--up-to-time", "yesterday"});
  EXPECT_EQ(bad_time.Wait(), 1);
  EXPECT_NE(bad_time.output().find("is not a UTC time like"), std::string::npos)
      << bad_time.output();

  testing::ChildProcess missing({PALAVER_BINARY, "export", "--data-dir", dir_.string(), "--views",
                                 (dir_ / "nowhere").string()});
  EXPECT_EQ(missing.Wait(), 1);
  EXPECT_NE(missing.output().find("palaver replay --out"), std::string::npos) << missing.output();
}

TEST_F(PalaverMainTest, ReplayMemoryIsConfigurableAndLeavesTheViewsAsTheyAre) {
  AppendSamples();
  auto replay_and_export = [&](const std::string& name, std::vector<std::string> memory) {
    const std::string views = (dir_ / name).string();
    std::vector<std::string> args = {PALAVER_BINARY, "replay", "--data-dir",
                                     dir_.string(),  "--out",  views};
    args.insert(args.end(), memory.begin(), memory.end());
    testing::ChildProcess replay(args);
    EXPECT_EQ(replay.Wait(), 0) << replay.output();
    testing::ChildProcess exported(
        {PALAVER_BINARY, "export", "--data-dir", dir_.string(), "--views", views});
    EXPECT_EQ(exported.Wait(), 0) << exported.output();
    return std::make_pair(replay.output(), LinesStartingWith(exported.output(), '{'));
  };
  const auto [default_log, default_rows] = replay_and_export("default", {});
  EXPECT_NE(
      default_log.find("(block cache 512 MiB, read cache 16 MiB per partition, batches of at most "
                       "1000000 records)"),
      std::string::npos)
      << default_log;
  EXPECT_NE(default_log.find("MiB (block cache 512 MiB)"), std::string::npos) << default_log;
  const auto [small_log, small_rows] = replay_and_export(
      "small",
      {"--views-block-cache-mb", "1", "--views-read-cache-mb", "0", "--batch-events", "3"});
  EXPECT_NE(small_log.find("(block cache 1 MiB, read cache 0 MiB per partition, batches of at "
                           "most 3 records)"),
            std::string::npos)
      << small_log;
  EXPECT_FALSE(default_rows.empty());
  EXPECT_EQ(small_rows, default_rows);

  testing::ChildProcess no_batch({PALAVER_BINARY, "replay", "--data-dir", dir_.string(), "--out",
                                  (dir_ / "none").string(), "--batch-events", "0"});
  EXPECT_NE(no_batch.Wait(), 0);
  EXPECT_NE(no_batch.output().find("--batch-events"), std::string::npos) << no_batch.output();
  EXPECT_FALSE(fs::exists(dir_ / "none"));

  testing::ChildProcess no_cache({PALAVER_BINARY, "replay", "--data-dir", dir_.string(), "--out",
                                  (dir_ / "none").string(), "--views-block-cache-mb", "0"});
  EXPECT_NE(no_cache.Wait(), 0);
  EXPECT_NE(no_cache.output().find("--views-block-cache-mb"), std::string::npos)
      << no_cache.output();
  EXPECT_FALSE(fs::exists(dir_ / "none"));
}

TEST_F(PalaverMainTest, UnknownOptionTeachesUsage) {
  testing::ChildProcess bad({PALAVER_BINARY, "serve", "--no-such-flag"});
  EXPECT_NE(bad.Wait(), 0);
  EXPECT_NE(bad.output().find("--no-such-flag"), std::string::npos) << bad.output();
}

}  // namespace
}  // namespace palaver
