// `palaver export`: the views built by `palaver replay`, as JSON Lines or CSV.
#include <filesystem>
#include <iostream>
#include <string>

#include "engine/cli/commands.h"
#include "projections/projector.h"
#include "projections/queries.h"
#include "projections/replay.h"

namespace palaver::cli {
namespace {

struct ExportFlags {
  LogFlags log;
  std::string views;
  std::string view;
  std::string format = "jsonl";
};

int Export(const ExportFlags& export_flags) {
  if (!std::filesystem::is_directory(export_flags.views)) {
    return Fail(Status::Error(ErrorCode::kNotFound,
                              "no views in \"" + export_flags.views +
                                  "\"; build them first with `palaver replay --out DIR`",
                              "--views"));
  }
  auto log = OpenLog(export_flags.log);
  if (!log.ok()) return Fail(log.status());
  projections::ProjectorOptions options;
  options.db_path = export_flags.views;
  auto views = projections::Projector::Open(options, **log, projections::DefaultProjections());
  if (!views.ok()) return Fail(views.status());
  Status written = export_flags.format == "csv"
                       ? projections::ExportCsv(**views, export_flags.view, std::cout)
                       : projections::ExportJsonLines(**views, export_flags.view, std::cout);
  std::cout.flush();
  return written.ok() ? 0 : Fail(written);
}

}  // namespace

Subcommand AddExportCommand(CLI::App& app) {
  auto flags = std::make_shared<ExportFlags>();
  CLI::App* export_cmd = app.add_subcommand(
      "export",
      "Write the views built by `palaver replay` as JSON Lines or CSV to stdout.\n"
      "Example: palaver export --views views-jan --view metrics --format csv > metrics.csv");
  flags->log.AddTo(*export_cmd);
  export_cmd->add_option("--views", flags->views, "Directory written by palaver replay")
      ->required();
  export_cmd->add_option("--view", flags->view,
                         "Only this view (inbox, receipts, history, profile, metrics); default all");
  export_cmd->add_option("--format", flags->format, "jsonl or csv")
      ->check(CLI::IsMember({"jsonl", "csv"}))
      ->capture_default_str();
  return {export_cmd, [flags] { return Export(*flags); }};
}

}  // namespace palaver::cli
