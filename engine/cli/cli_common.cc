#include "engine/cli/cli_common.h"

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <filesystem>
#include <iomanip>
#include <iostream>
#include <map>
#include <sstream>
#include <vector>

#include <spdlog/spdlog.h>
#include <time.h>

namespace palaver::cli {

void LogFlags::AddTo(CLI::App& app) {
  app.add_option("--data-dir", data_dir,
                 "Directory for palaver's local data; the embedded log lives in DIR/log")
      ->envname("PALAVER_DATA_DIR")
      ->capture_default_str();
  app.add_option("--kafka", kafka_brokers,
                 "Kafka bootstrap servers (host:port,...). Empty: use the embedded log")
      ->envname("PALAVER_KAFKA");
  app.add_option("--topic", topic, "Kafka topic of the event log")
      ->envname("PALAVER_TOPIC")
      ->capture_default_str();
  app.add_option("--partitions", partitions,
                 "Partitions when the log or topic is created (an existing one keeps its own)")
      ->envname("PALAVER_PARTITIONS")
      ->check(CLI::Range(1, 1024))
      ->capture_default_str();
  app.add_flag("--no-sync", no_sync,
               "Embedded log: do not fsync each append (faster, loses the last writes on a "
               "power cut, never on a crash of palaver itself)")
      ->envname("PALAVER_NO_SYNC");
}

void ViewsMemoryFlags::AddTo(CLI::App& app) {
  app.add_option("--views-block-cache-mb", block_cache_mb,
                 "Memory of the views, all of it: three quarters are RocksDB's block cache, "
                 "which their write buffers (flushed once they hold half of it), read caches "
                 "and batches being applied are charged to (a batch ends early once it is "
                 "full); the last quarter is left to what is not charged. More speeds up "
                 "rebuilding a large log")
      ->check(CLI::Range(1, 1 << 20))
      ->capture_default_str();
  app.add_option("--views-read-cache-mb", read_cache_mb,
                 "Memory per log partition for view rows recently read or written, sparing "
                 "RocksDB lookups while events are applied (0: none); charged to the block "
                 "cache, and at most what leaves half of it to the rest")
      ->check(CLI::Range(0, 1 << 20))
      ->capture_default_str();
}

std::string ViewsMemoryFlags::Describe() const {
  return "block cache " + std::to_string(block_cache_mb) + " MiB, read cache " +
         std::to_string(read_cache_mb) + " MiB per partition";
}

EventLogOptions LogFlags::ToOptions() const {
  EventLogOptions options;
  options.partitions = partitions;
  if (kafka_brokers.empty()) {
    options.kind = EventLogOptions::Kind::kEmbedded;
    options.embedded_dir = (std::filesystem::path(data_dir) / "log").string();
    options.sync_writes = !no_sync;
  } else {
    options.kind = EventLogOptions::Kind::kKafka;
    options.kafka_brokers = kafka_brokers;
    options.topic = topic;
  }
  return options;
}

std::string LogFlags::Describe() const {
  return kafka_brokers.empty() ? "embedded log in " + ToOptions().embedded_dir
                               : "Kafka topic " + topic + " at " + kafka_brokers;
}

Result<std::unique_ptr<EventLog>> OpenLog(const LogFlags& flags) {
  auto log = OpenEventLog(flags.ToOptions());
  if (!log.ok()) return log.status().WithContext("cannot open the " + flags.Describe());
  return log;
}

namespace {

// ---- Layered configuration ----------------------------------------------------
//
// CLI11 2.1 applies a config file before the environment, and an option keeps
// the first value it gets, so on its own the file would win over the
// environment. LayeredConfig is the config reader CLI11 calls (after the
// command line is parsed, before the environment is read): it leaves out every
// key whose option was given as a flag or has its environment variable set, so
// the order becomes flag > environment > file. It also reads the file strictly
// (CLI11's reader accepts almost any line) so that mistakes name their line.

constexpr const char* kConfigOption = "--config";

std::vector<CLI::App*> AllSubcommands(CLI::App& app) {
  return app.get_subcommands([](CLI::App*) { return true; });
}

std::string ConfigFileName(const CLI::App& root) {
  const CLI::Option* option = root.get_option_no_throw(kConfigOption);
  return option == nullptr ? std::string("config file") : option->as<std::string>();
}

bool EnvironmentSets(const CLI::Option& option) {
  const std::string& name = option.get_envname();
  if (name.empty()) return false;
  const char* value = std::getenv(name.c_str());
  return value != nullptr && *value != '\0';  // CLI11 also ignores an empty variable
}

// The option named by a config key ("data-dir", "data_dir"), or nullptr.
CLI::Option* FindOption(CLI::App& app, const std::string& key) {
  if (key.empty() || key == "help" || key == "config") return nullptr;
  std::string dashed = key;
  for (char& c : dashed) {
    if (c == '_') c = '-';
  }
  for (const std::string& name : {key, dashed}) {
    CLI::Option* option = app.get_option_no_throw("--" + name);
    if (option != nullptr) return option;
  }
  return nullptr;
}

class ConfigSyntaxError {
 public:
  explicit ConfigSyntaxError(std::string why) : message(std::move(why)) {}
  std::string message;
};

void AppendUtf8(std::string& out, uint32_t code_point) {
  if (code_point > 0x10FFFF || (code_point >= 0xD800 && code_point <= 0xDFFF)) {
    throw ConfigSyntaxError("\\u escape is not a Unicode scalar value");
  }
  if (code_point < 0x80) {
    out += static_cast<char>(code_point);
  } else if (code_point < 0x800) {
    out += static_cast<char>(0xC0 | (code_point >> 6));
    out += static_cast<char>(0x80 | (code_point & 0x3F));
  } else if (code_point < 0x10000) {
    out += static_cast<char>(0xE0 | (code_point >> 12));
    out += static_cast<char>(0x80 | ((code_point >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (code_point & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (code_point >> 18));
    out += static_cast<char>(0x80 | ((code_point >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((code_point >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (code_point & 0x3F));
  }
}

// A reader of the TOML subset a flat option file needs: [table] headers,
// bare or quoted keys, basic and literal strings, integers, floats, booleans
// and one-line arrays of those, comments. Throws ConfigSyntaxError.
class TomlLineReader {
 public:
  explicit TomlLineReader(std::string_view line) : line_(line) {}

  void SkipSpace() {
    while (pos_ < line_.size() && (line_[pos_] == ' ' || line_[pos_] == '\t')) ++pos_;
  }
  bool AtEnd() {
    SkipSpace();
    return pos_ == line_.size() || line_[pos_] == '#';
  }
  bool Consume(char c) {
    SkipSpace();
    if (pos_ < line_.size() && line_[pos_] == c) {
      ++pos_;
      return true;
    }
    return false;
  }
  char Peek() {
    SkipSpace();
    return pos_ < line_.size() ? line_[pos_] : '\0';
  }

  std::string Key() {
    SkipSpace();
    if (Peek() == '"' || Peek() == '\'') return String();
    size_t start = pos_;
    while (pos_ < line_.size() && (std::isalnum(static_cast<unsigned char>(line_[pos_])) ||
                                   line_[pos_] == '_' || line_[pos_] == '-')) {
      ++pos_;
    }
    if (pos_ == start) throw ConfigSyntaxError("expected `name = value`");
    return std::string(line_.substr(start, pos_ - start));
  }

  // One value; arrays give several inputs.
  std::vector<std::string> Value() {
    char c = Peek();
    if (c == '[') {
      ++pos_;
      std::vector<std::string> items;
      while (!Consume(']')) {
        if (AtEnd()) throw ConfigSyntaxError("an array must close on the same line");
        items.push_back(Scalar());
        if (AtEnd()) throw ConfigSyntaxError("an array must close on the same line");
        if (!Consume(',') && Peek() != ']') {
          throw ConfigSyntaxError("expected `,` or `]` in the array");
        }
      }
      return items;
    }
    return {Scalar()};
  }

 private:
  std::string Scalar() {
    char c = Peek();
    if (c == '"' || c == '\'') return String();
    size_t start = pos_;
    while (pos_ < line_.size() && line_[pos_] != ',' && line_[pos_] != ']' && line_[pos_] != ' ' &&
           line_[pos_] != '\t' && line_[pos_] != '#') {
      ++pos_;
    }
    std::string word(line_.substr(start, pos_ - start));
    if (word == "true" || word == "false") return word;
    std::string number;
    bool digit = false;
    for (size_t i = 0; i < word.size(); ++i) {
      char d = word[i];
      if (std::isdigit(static_cast<unsigned char>(d))) {
        digit = true;
        number += d;
      } else if (d == '_' && i > 0 && std::isdigit(static_cast<unsigned char>(word[i - 1]))) {
        // TOML digit separator
      } else if (d == '+' || d == '-' || d == '.' || d == 'e' || d == 'E') {
        number += d;
      } else {
        digit = false;
        break;
      }
    }
    if (!digit) {
      throw ConfigSyntaxError(word.empty() ? "a value is missing after `=`"
                                           : "`" + word +
                                                 "` is not a value: write a string in quotes "
                                                 "(\"...\"), a number, true/false or an array");
    }
    return number;
  }

  std::string String() {
    char quote = line_[pos_];
    if (line_.substr(pos_, 3) == std::string(3, quote)) {
      throw ConfigSyntaxError("multi-line strings are not supported");
    }
    ++pos_;
    std::string out;
    while (pos_ < line_.size()) {
      char c = line_[pos_++];
      if (c == quote) return out;
      if (c == '\\' && quote == '"') {
        if (pos_ >= line_.size()) break;
        char e = line_[pos_++];
        switch (e) {
          case '"':
            out += '"';
            break;
          case '\\':
            out += '\\';
            break;
          case 'n':
            out += '\n';
            break;
          case 't':
            out += '\t';
            break;
          case 'r':
            out += '\r';
            break;
          case 'b':
            out += '\b';
            break;
          case 'f':
            out += '\f';
            break;
          case 'u':
          case 'U': {
            size_t digits = e == 'u' ? 4 : 8;
            std::string hex(line_.substr(pos_, digits));
            if (hex.size() != digits ||
                hex.find_first_not_of("0123456789abcdefABCDEF") != std::string::npos) {
              throw ConfigSyntaxError("bad \\" + std::string(1, e) + " escape in a string");
            }
            pos_ += digits;
            AppendUtf8(out, static_cast<uint32_t>(std::stoul(hex, nullptr, 16)));
            break;
          }
          default:
            throw ConfigSyntaxError("unknown escape \\" + std::string(1, e) + " in a string");
        }
      } else {
        out += c;
      }
    }
    throw ConfigSyntaxError("a string is not closed on its line");
  }

  std::string_view line_;
  size_t pos_ = 0;
};

class LayeredConfig : public CLI::ConfigBase {
 public:
  explicit LayeredConfig(CLI::App* root) : root_(root) {}

  std::vector<CLI::ConfigItem> from_config(std::istream& input) const override {
    const std::string file = ConfigFileName(*root_);
    applied_.clear();
    // The commands being run, outermost first: palaver token create -> [token, create].
    std::vector<CLI::App*> running;
    for (CLI::App* app = root_; !app->get_subcommands().empty();) {
      app = app->get_subcommands().front();
      running.push_back(app);
    }
    auto is_running = [&](CLI::App* app) {
      return std::find(running.begin(), running.end(), app) != running.end();
    };

    struct Setting {
      CLI::App* app;
      CLI::Option* option;
      std::vector<std::string> inputs;
      int line;
      bool in_table;
    };
    std::vector<Setting> settings;
    std::map<std::pair<std::string, CLI::Option*>, int> first_line;  // (table, option) -> line
    std::string table;  // "" at the top level, else e.g. "serve" or "token.create"
    CLI::App* table_app = nullptr;
    std::string text;
    int line_number = 0;
    while (std::getline(input, text)) {
      ++line_number;
      auto fail = [&](const std::string& why) -> CLI::ConfigError {
        return CLI::ConfigError("config file " + file + ", line " + std::to_string(line_number) +
                                ": " + why);
      };
      try {
        TomlLineReader reader(text);
        if (reader.AtEnd()) continue;
        if (reader.Consume('[')) {
          if (reader.Consume('[')) throw ConfigSyntaxError("arrays of tables are not supported");
          table.clear();
          table_app = root_;
          do {
            std::string name = reader.Key();
            table += (table.empty() ? "" : ".") + name;
            CLI::App* next = nullptr;
            if (table_app != nullptr) {
              for (CLI::App* sub : AllSubcommands(*table_app)) {
                if (sub->get_name() == name) next = sub;
              }
            }
            table_app = next;
          } while (reader.Consume('.'));
          if (!reader.Consume(']') || !reader.AtEnd()) {
            throw ConfigSyntaxError("expected `[command]`, e.g. [serve]");
          }
          if (table_app == nullptr) throw fail("[" + table + "] is not a palaver command");
          continue;
        }
        std::string key = reader.Key();
        if (reader.Consume('.')) {
          throw ConfigSyntaxError("dotted keys are not supported; put `" + key +
                                  "` options in a [" + key + "] table");
        }
        if (!reader.Consume('=')) throw ConfigSyntaxError("expected `name = value`");
        std::vector<std::string> inputs = reader.Value();
        if (!reader.AtEnd()) throw ConfigSyntaxError("unexpected text after the value");

        if (key == "config") throw fail("`config` cannot be set inside a config file");
        CLI::App* app = nullptr;
        CLI::Option* option = nullptr;
        if (table_app != nullptr) {
          option = FindOption(*table_app, key);
          if (option == nullptr) {
            std::string command = table;
            std::replace(command.begin(), command.end(), '.', ' ');
            throw fail("`" + key + "` is not an option of palaver " + command);
          }
          if (is_running(table_app)) app = table_app;
        } else {
          option = FindOption(*root_, key);
          if (option != nullptr) {
            app = root_;
          } else {
            // The innermost running command that has the option takes it.
            for (auto it = running.rbegin(); it != running.rend() && app == nullptr; ++it) {
              option = FindOption(**it, key);
              if (option != nullptr) app = *it;
            }
            bool known = app != nullptr;
            std::vector<CLI::App*> pending = AllSubcommands(*root_);
            while (!known && !pending.empty()) {
              CLI::App* other = pending.back();
              pending.pop_back();
              known = FindOption(*other, key) != nullptr;
              for (CLI::App* sub : AllSubcommands(*other)) pending.push_back(sub);
            }
            if (!known) throw fail("`" + key + "` is not an option of palaver or any command");
          }
        }
        if (app == nullptr) continue;  // another command's option
        auto [at, inserted] = first_line.emplace(std::make_pair(table, option), line_number);
        if (!inserted) {
          throw fail("`" + key + "` is already set on line " + std::to_string(at->second));
        }
        settings.push_back({app, option, std::move(inputs), line_number, table_app != nullptr});
      } catch (const ConfigSyntaxError& error) {
        throw fail(error.message);
      }
    }

    // A [command] table wins over the top level: CLI11 keeps the first value
    // an option gets, so table settings go first.
    std::stable_sort(settings.begin(), settings.end(),
                     [](const Setting& a, const Setting& b) { return a.in_table && !b.in_table; });
    std::vector<CLI::ConfigItem> result;
    for (Setting& setting : settings) {
      // Flag > environment > file: leave out what a stronger layer sets.
      if (setting.option->count() > 0 || EnvironmentSets(*setting.option)) continue;
      CLI::ConfigItem item;
      for (CLI::App* app = setting.app; app != root_; app = app->get_parent()) {
        item.parents.insert(item.parents.begin(), app->get_name());
      }
      item.name = setting.option->get_single_name();
      item.inputs = std::move(setting.inputs);
      applied_.push_back({setting.option->get_name(),
                          "config file " + file + ", line " + std::to_string(setting.line)});
      result.push_back(std::move(item));
    }
    return result;
  }

  // The config line that set the option an error message names, if any.
  std::string WhereSet(const std::string& message) const {
    std::string best_name;
    std::string where;
    for (const auto& [name, at] : applied_) {
      if (name.size() > best_name.size() && message.find(name) != std::string::npos) {
        best_name = name;
        where = at;
      }
    }
    return where;
  }

 private:
  CLI::App* const root_;
  // (option name, "file:line") of each value taken from the file by the last
  // parse. Parsing is single-threaded; CLI11's reader interface is const.
  mutable std::vector<std::pair<std::string, std::string>> applied_;
};

std::string EnvironmentName(const std::string& long_name) {
  std::string name = "PALAVER_";
  for (char c : long_name) {
    name += c == '-' ? '_' : static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  }
  return name;
}

void NameEnvironmentVariables(CLI::App& app) {
  for (CLI::Option* option : app.get_options()) {
    if (!option->get_envname().empty() || option->get_lnames().empty()) continue;
    const std::string& name = option->get_lnames().front();
    if (name == "help" || name == "help-all" || name == "config") continue;
    option->envname(EnvironmentName(name));
  }
  for (CLI::App* sub : AllSubcommands(app)) NameEnvironmentVariables(*sub);
}

constexpr const char* kPrecedenceHelp =
    "Every option can also be set by its environment variable (Env: above) or in a TOML file\n"
    "given with --config FILE (or PALAVER_CONFIG). A flag wins over the environment, which\n"
    "wins over the file. In the file, keys are option names without dashes; a [serve],\n"
    "[inspect], ... table applies to that command only and wins over the top level:\n"
    "  log-level = \"info\"\n"
    "  data-dir = \"/var/lib/palaver\"\n"
    "  [serve]\n"
    "  listen = \"0.0.0.0:8080\"\n";

}  // namespace

void EnableLayeredConfig(CLI::App& app) {
  const char* from_env = std::getenv("PALAVER_CONFIG");
  const bool env_names_file = from_env != nullptr && *from_env != '\0';
  // CLI11 reads the config file before the environment, so PALAVER_CONFIG is
  // passed as the default file name; naming a file makes it required to exist.
  app.set_config(kConfigOption, env_names_file ? from_env : "",
                 "TOML file of option values; flags and environment variables win over it",
                 env_names_file)
      ->envname("PALAVER_CONFIG")
      ->type_name("FILE");
  app.config_formatter(std::make_shared<LayeredConfig>(&app));
  NameEnvironmentVariables(app);
  app.footer(kPrecedenceHelp);
  std::vector<CLI::App*> pending = AllSubcommands(app);
  while (!pending.empty()) {
    CLI::App* sub = pending.back();
    pending.pop_back();
    sub->footer(kPrecedenceHelp);
    for (CLI::App* nested : AllSubcommands(*sub)) pending.push_back(nested);
  }
}

std::optional<int> ParseCommandLine(CLI::App& app, int argc, const char* const* argv) {
  try {
    app.parse(argc, argv);
    return std::nullopt;
  } catch (const CLI::ParseError& error) {
    auto config = std::dynamic_pointer_cast<LayeredConfig>(app.get_config_formatter());
    std::string where = config == nullptr ? "" : config->WhereSet(error.what());
    if (!where.empty() && error.get_exit_code() != 0) {
      // A value from the file was refused: say which line it came from.
      std::cerr << error.what() << " (set in " << where << ")\n"
                << "Run with --help for more information.\n";
      return error.get_exit_code();
    }
    return app.exit(error);
  }
}

int Fail(const Status& status) {
  spdlog::error("{}", status.ToString());
  return 1;
}

Result<int64_t> ParseUtcTime(const std::string& text, const std::string& flag) {
  std::tm tm{};
  std::istringstream in(text);
  in >> std::get_time(&tm, "%Y-%m-%dT%H:%M:%S");
  if (in.fail() || in.get() != 'Z' || in.peek() != std::char_traits<char>::eof()) {
    return Status::Error(ErrorCode::kInvalidArgument,
                         "\"" + text + "\" is not a UTC time like 2026-01-31T12:00:00Z", flag);
  }
  return static_cast<int64_t>(timegm(&tm)) * 1000;
}

Result<std::pair<std::string, uint16_t>> ParseHostPort(const std::string& text,
                                                       const std::string& flag) {
  auto colon = text.rfind(':');
  int port = -1;
  if (colon != std::string::npos && colon > 0) {
    try {
      size_t used = 0;
      port = std::stoi(text.substr(colon + 1), &used);
      if (used != text.size() - colon - 1) port = -1;
    } catch (const std::exception&) {
    }
  }
  if (port < 0 || port > 65535) {
    return Status::Error(ErrorCode::kInvalidArgument,
                         "\"" + text + "\" is not HOST:PORT, e.g. 127.0.0.1:8080", flag);
  }
  return std::make_pair(text.substr(0, colon), static_cast<uint16_t>(port));
}

}  // namespace palaver::cli
