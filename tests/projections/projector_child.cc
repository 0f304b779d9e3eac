// projector_child <log dir> <db dir> <batch size> [bulk-load]: projects
// every record of an embedded log into the projection database (as a bulk
// load, with a small block cache that ends batches early, as a replay's full
// cache does, when asked), then prints "done" and exits 0.
// The crash-safety test kills it with SIGKILL at random points and restarts it.
#include <cstdio>
#include <cstdlib>
#include <string>

#include "engine/event_log.h"
#include "projections/projector.h"
#include "projections/queries.h"

int main(int argc, char** argv) {
  using namespace palaver;
  if (argc != 4 && !(argc == 5 && std::string(argv[4]) == "bulk-load")) {
    std::fprintf(stderr, "usage: projector_child <log dir> <db dir> <batch size> [bulk-load]\n");
    return 2;
  }
  EventLogOptions log_options;
  log_options.kind = EventLogOptions::Kind::kEmbedded;
  log_options.embedded_dir = argv[1];
  log_options.sync_writes = false;
  auto log = OpenEventLog(log_options);
  if (!log.ok()) {
    std::fprintf(stderr, "open log: %s\n", log.status().ToString().c_str());
    return 1;
  }
  projections::ProjectorOptions options;
  options.db_path = argv[2];
  options.max_batch_events = static_cast<size_t>(std::atoi(argv[3]));
  options.bulk_load = argc == 5;
  // A bulk load with a block cache of 2 MiB, which the read caches and
  // pending writes fill, so that batches also end early, as a replay's do
  // once its cache is full.
  if (options.bulk_load) options.block_cache_bytes = 2u << 20;
  auto projector = projections::Projector::Open(options, **log, projections::DefaultProjections());
  if (!projector.ok()) {
    std::fprintf(stderr, "open projector: %s\n", projector.status().ToString().c_str());
    return 1;
  }
  Status caught_up = (*projector)->CatchUp(std::chrono::minutes(5));
  if (!caught_up.ok()) {
    std::fprintf(stderr, "catch up: %s\n", caught_up.ToString().c_str());
    return 1;
  }
  std::printf("done\n");
  return 0;
}
