// Crash safety: projector_child is killed with SIGKILL at random points of a
// long run and restarted each time; the final views equal a clean rebuild.
#include <chrono>
#include <random>
#include <thread>

#include <gtest/gtest.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tests/engine/event_log_test_util.h"
#include "tests/projections/event_generator.h"
#include "tests/projections/projection_test_util.h"

extern char** environ;

namespace palaver::testing {
namespace {

pid_t SpawnChild(const std::string& log_dir, const std::string& db_dir, const std::string& batch,
                 bool bulk_load = false) {
  const std::string path = PALAVER_PROJECTOR_CHILD;
  std::vector<std::string> args = {path, log_dir, db_dir, batch};
  if (bulk_load) args.push_back("bulk-load");
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t pid = -1;
  if (posix_spawn(&pid, path.c_str(), nullptr, nullptr, argv.data(), environ) != 0) return -1;
  return pid;
}

TEST(ProjectorCrashTest, SigkillAtRandomPointsThenResumeEqualsCleanRebuild) {
  const uint64_t seed = TestSeed();
  SCOPED_TRACE("seed=" + std::to_string(seed));
  std::mt19937_64 rng(seed);
  TempDir dir;
  const std::string log_dir = dir.path() + "/log";
  const std::string db_dir = dir.path() + "/views";
  {
    auto log = OpenEmbeddedLog(log_dir, 4);
    EventGenerator generator(seed);
    ASSERT_TRUE(AppendEvents(*log, generator.Next(60000)).ok());
  }  // closed: the child opens the log directory itself

  int kills = 0;
  bool finished = false;
  for (int attempt = 0; attempt < 20 && !finished; ++attempt) {
    const std::string batch = std::to_string(std::uniform_int_distribution<int>(1, 300)(rng));
    // Half the runs are bulk loads, as a replay is: each batch a table file
    // ingested; killed, maybe while writing one, they lose that batch, never
    // the match of views and checkpoints.
    const bool bulk_load = rng() % 2 == 0;
    SCOPED_TRACE("attempt " + std::to_string(attempt) + " batch " + batch +
                 (bulk_load ? " bulk load" : " with the WAL"));
    const pid_t pid = SpawnChild(log_dir, db_dir, batch, bulk_load);
    ASSERT_GT(pid, 0);
    std::this_thread::sleep_for(
        std::chrono::milliseconds(std::uniform_int_distribution<int>(30, 700)(rng)));
    int status = 0;
    if (waitpid(pid, &status, WNOHANG) == pid) {
      ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0)
          << "child failed, status " << status;
      finished = true;
      break;
    }
    ASSERT_EQ(kill(pid, SIGKILL), 0);
    ASSERT_EQ(waitpid(pid, &status, 0), pid);
    ++kills;
  }
  if (!finished) {
    const pid_t pid = SpawnChild(log_dir, db_dir, "500");
    ASSERT_GT(pid, 0);
    int status = 0;
    ASSERT_EQ(waitpid(pid, &status, 0), pid);
    ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "child failed, status " << status;
  }
  EXPECT_GE(kills, 5) << "the run was too short to be killed often; raise the event count";

  auto log = OpenEmbeddedLog(log_dir, 4);
  // Generous bounds: a loaded machine (or a sanitizer build) is slow, and
  // this test is about equality, not speed.
  auto resumed = OpenProjector(db_dir, *log);
  Status caught_up = resumed->CatchUp(std::chrono::minutes(10));
  ASSERT_TRUE(caught_up.ok()) << caught_up.ToString();
  auto clean = OpenProjector(dir.path() + "/clean", *log);
  caught_up = clean->CatchUp(std::chrono::minutes(10));
  ASSERT_TRUE(caught_up.ok()) << caught_up.ToString();
  EXPECT_EQ(FirstDifference(resumed->DumpAll(), clean->DumpAll()), "") << kills << " kills";
}

}  // namespace
}  // namespace palaver::testing
