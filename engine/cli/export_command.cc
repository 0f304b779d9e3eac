// `palaver export`: what `palaver replay` built, streamed to stdout: the
// conversation histories (JSON Lines or CSV), per-conversation metrics and
// daily volumes (CSV), or the raw view entries.
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
  std::string what = "views";
  std::string view;
  std::string format;  // default per `what`
  std::string shop, from, to, channel, status;
};

Status Usage(const std::string& message, const std::string& flag) {
  return Status::Error(ErrorCode::kInvalidArgument, message, flag);
}

int Export(const ExportFlags& flags) {
  const bool conversations = flags.what == "conversations";
  const bool views_only = flags.what == "views";
  std::string format = flags.format;
  if (format.empty()) format = conversations || views_only ? "jsonl" : "csv";
  if (!conversations && !views_only && format != "csv")
    return Fail(
        Usage("--what " + flags.what + " is written as CSV only; drop --format jsonl", "--format"));
  if (views_only) {
    for (const auto& [value, flag] :
         {std::pair{&flags.shop, "--shop"}, std::pair{&flags.from, "--from"},
          std::pair{&flags.to, "--to"}, std::pair{&flags.channel, "--channel"},
          std::pair{&flags.status, "--status"}})
      if (!value->empty())
        return Fail(Usage(std::string(flag) +
                              " filters conversations; use it with --what conversations, "
                              "metrics or daily",
                          flag));
  } else if (!flags.view.empty()) {
    return Fail(Usage("--view selects raw view entries; use it with --what views", "--view"));
  }
  auto filter =
      projections::MakeExportFilter(flags.shop, flags.from, flags.to, flags.channel, flags.status);
  if (!filter.ok()) return Fail(filter.status());

  if (!std::filesystem::is_directory(flags.views)) {
    return Fail(Status::Error(
        ErrorCode::kNotFound,
        "no views in \"" + flags.views + "\"; build them first with `palaver replay --out DIR`",
        "--views"));
  }
  auto log = OpenLog(flags.log);
  if (!log.ok()) return Fail(log.status());
  projections::ProjectorOptions options;
  options.db_path = flags.views;
  auto views = projections::Projector::Open(options, **log, projections::DefaultProjections());
  if (!views.ok()) return Fail(views.status());
  const auto csv =
      format == "csv" ? projections::ExportFormat::kCsv : projections::ExportFormat::kJsonLines;
  Status written;
  if (conversations) {
    written = projections::ExportConversations(**views, *filter, csv, std::cout);
  } else if (flags.what == "metrics") {
    written = projections::ExportConversationMetrics(**views, *filter, std::cout);
  } else if (flags.what == "daily") {
    written = projections::ExportDailyVolumes(**views, *filter, std::cout);
  } else {
    written = format == "csv" ? projections::ExportCsv(**views, flags.view, std::cout)
                              : projections::ExportJsonLines(**views, flags.view, std::cout);
  }
  std::cout.flush();
  return written.ok() ? 0 : Fail(written);
}

}  // namespace

Subcommand AddExportCommand(CLI::App& app) {
  auto flags = std::make_shared<ExportFlags>();
  CLI::App* export_cmd = app.add_subcommand(
      "export",
      "Stream what `palaver replay` built to stdout, with bounded memory. --what picks:\n"
      "  conversations  one conversation per line with its ordered timeline (JSON Lines),\n"
      "                 or one row per timeline entry (--format csv)\n"
      "  metrics        per conversation: first response, resolution, CSAT (CSV)\n"
      "  daily          daily volumes by channel, topic and agent (CSV)\n"
      "  views          the raw view entries (default; --view to pick one)\n"
      "Filters (conversations, metrics; daily takes --shop, --from, --to): --shop, --from/--to\n"
      "(conversation started, UTC), --channel, --status.\n"
      "Example: palaver export --views views-jan --what conversations --shop shop-1 \\\n"
      "           --from 2026-01-01 --to 2026-02-01 --channel email --status closed");
  flags->log.AddTo(*export_cmd);
  export_cmd->add_option("--views", flags->views, "Directory written by palaver replay")
      ->required();
  export_cmd->add_option("--what", flags->what, "conversations, metrics, daily or views")
      ->check(CLI::IsMember({"conversations", "metrics", "daily", "views"}))
      ->capture_default_str();
  export_cmd->add_option("--view", flags->view,
                         "With --what views: only this view (inbox, receipts, history, profile, "
                         "metrics); default all");
  export_cmd
      ->add_option("--format", flags->format,
                   "jsonl or csv (default: jsonl for conversations and views, csv otherwise)")
      ->check(CLI::IsMember({"jsonl", "csv"}));
  export_cmd->add_option("--shop", flags->shop, "Only this shop");
  export_cmd->add_option("--from", flags->from,
                         "Conversations started at or after this UTC time (2026-01-31T12:00:00Z) "
                         "or day (2026-01-31)");
  export_cmd->add_option("--to", flags->to, "Conversations started before this UTC time or day");
  export_cmd->add_option("--channel", flags->channel, "web_chat, sms, email or shop_app");
  export_cmd->add_option("--status", flags->status, "open, snoozed or closed (current status)");
  return {export_cmd, [flags] { return Export(*flags); }};
}

}  // namespace palaver::cli
