// The subcommands of the `palaver` executable, one file each. Each Add*
// registers its subcommand, flags and help on `app` and returns what runs it.
#pragma once

#include "engine/cli/cli_common.h"

namespace palaver::cli {

Subcommand AddServeCommand(CLI::App& app);    // serve_command.cc
Subcommand AddInspectCommand(CLI::App& app);  // inspect_command.cc
Subcommand AddReplayCommand(CLI::App& app);   // replay_command.cc
Subcommand AddExportCommand(CLI::App& app);   // export_command.cc
Subcommand AddTokenCommand(CLI::App& app);    // token_command.cc
Subcommand AddShopCommand(CLI::App& app);     // token_command.cc

}  // namespace palaver::cli
