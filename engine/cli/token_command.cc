// `palaver token ...` and `palaver shop ...`: API tokens and shops in
// DATA_DIR/auth.json (connectors/api/auth_store.h). They work while
// `palaver serve` runs: the server reloads the file when it changes.
#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>

#include "connectors/api/auth_store.h"
#include "engine/cli/commands.h"

namespace palaver::cli {
namespace {

struct AuthFlags {
  std::string data_dir = "palaver-data";
  std::string auth_file;  // empty: DATA_DIR/auth.json
  void AddTo(CLI::App& app) {
    app.add_option("--data-dir", data_dir,
                   "Directory for palaver's local data; shops and tokens live in DIR/auth.json")
        ->envname("PALAVER_DATA_DIR")
        ->capture_default_str();
    app.add_option("--auth-file", auth_file,
                   "Shops and API tokens (default: DATA_DIR/auth.json; as `palaver serve`)");
  }
};

Result<std::unique_ptr<api::AuthStore>> OpenStore(const AuthFlags& flags) {
  return api::AuthStore::Open(flags.auth_file.empty()
                                  ? (std::filesystem::path(flags.data_dir) / "auth.json").string()
                                  : flags.auth_file);
}

std::string Time(int64_t us) {
  if (us <= 0) return "-";
  const time_t seconds = static_cast<time_t>(us / 1000000);
  struct tm tm {};
  gmtime_r(&seconds, &tm);
  char buffer[32];
  std::strftime(buffer, sizeof buffer, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buffer;
}

}  // namespace

Subcommand AddTokenCommand(CLI::App& app) {
  auto flags = std::make_shared<AuthFlags>();
  auto shop = std::make_shared<std::string>();
  auto role = std::make_shared<std::string>("agent");
  auto agent = std::make_shared<std::string>();
  auto id = std::make_shared<std::string>();
  CLI::App* token = app.add_subcommand(
      "token",
      "Create, list and revoke API tokens (bound to one shop, a role and an agent id).\n"
      "Only the SHA-256 of a token is stored; `create` prints the token once.\n"
      "Example: palaver token create --shop acme --role admin --agent ann");
  token->require_subcommand(1);
  CLI::App* create = token->add_subcommand("create", "Create a token and print it (once)");
  flags->AddTo(*create);
  create->add_option("--shop", *shop, "The shop the token is bound to (see `palaver shop add`)")
      ->required();
  create
      ->add_option("--role", *role,
                   "admin (may also change settings and post storefront "
                   "records) or agent")
      ->check(CLI::IsMember({"admin", "agent"}))
      ->capture_default_str();
  create
      ->add_option("--agent", *agent,
                   "The agent id the token acts as (must be on the shop's staff to act on "
                   "conversations)")
      ->required();
  CLI::App* revoke = token->add_subcommand("revoke", "Revoke a token by its id (tok_...)");
  flags->AddTo(*revoke);
  revoke->add_option("id", *id, "The token id shown by `create` and `list`")->required();
  CLI::App* list = token->add_subcommand("list", "List the tokens (ids, never the tokens)");
  flags->AddTo(*list);

  auto run = [flags, shop, role, agent, id, create, revoke, list]() -> int {
    auto store = OpenStore(*flags);
    if (!store.ok()) return Fail(store.status());
    if (create->parsed()) {
      auto created = (*store)->CreateToken(*shop, *api::RoleFromName(*role), *agent);
      if (!created.ok()) return Fail(created.status());
      std::printf("id:    %s\nshop:  %s\nrole:  %s\nagent: %s\ntoken: %s\n",
                  created->token.id.c_str(), shop->c_str(), role->c_str(), agent->c_str(),
                  created->secret_text.c_str());
      std::printf("Keep the token secret; it is not stored and cannot be shown again.\n");
      return 0;
    }
    if (revoke->parsed()) {
      Status s = (*store)->RevokeToken(*id);
      if (!s.ok()) return Fail(s);
      std::printf("revoked %s\n", id->c_str());
      return 0;
    }
    if (list->parsed()) {
      auto tokens = (*store)->ListTokens();
      if (!tokens.ok()) return Fail(tokens.status());
      std::printf("%-21s %-16s %-6s %-20s %-21s %s\n", "ID", "SHOP", "ROLE", "AGENT", "CREATED",
                  "REVOKED");
      for (const auto& t : *tokens) {
        std::printf("%-21s %-16s %-6s %-20s %-21s %s\n", t.id.c_str(), t.shop.c_str(),
                    std::string(api::RoleName(t.role)).c_str(), t.agent_id.c_str(),
                    Time(t.created_at_us).c_str(),
                    t.revoked_at_us ? Time(*t.revoked_at_us).c_str() : "-");
      }
      return 0;
    }
    return 2;
  };
  return {token, run};
}

Subcommand AddShopCommand(CLI::App& app) {
  auto flags = std::make_shared<AuthFlags>();
  auto shop = std::make_shared<std::string>();
  auto secret = std::make_shared<std::string>();
  CLI::App* command = app.add_subcommand(
      "shop",
      "Add shops and manage their identity secrets (the HMAC key storefronts sign shopper\n"
      "identities with; engine/rules/shopper_identity.h).\n"
      "Example: palaver shop add acme");
  command->require_subcommand(1);
  CLI::App* add = command->add_subcommand("add", "Add a shop and print its identity secret");
  flags->AddTo(*add);
  add->add_option("shop", *shop, "The shop id (A-Z a-z 0-9 . _ -, up to 64)")->required();
  add->add_option("--secret", *secret, "The identity secret (default: 32 random bytes)");
  CLI::App* rotate =
      command->add_subcommand("rotate-secret", "Replace a shop's identity secret and print it");
  flags->AddTo(*rotate);
  rotate->add_option("shop", *shop, "The shop id")->required();
  rotate->add_option("--secret", *secret, "The new secret (default: 32 random bytes)");
  CLI::App* list = command->add_subcommand("list", "List the shops (without their secrets)");
  flags->AddTo(*list);

  auto run = [flags, shop, secret, add, rotate, list]() -> int {
    auto store = OpenStore(*flags);
    if (!store.ok()) return Fail(store.status());
    if (add->parsed() || rotate->parsed()) {
      auto record = add->parsed() ? (*store)->AddShop(*shop, *secret)
                                  : (*store)->RotateShopSecret(*shop, *secret);
      if (!record.ok()) return Fail(record.status());
      std::printf("shop:            %s\nidentity secret: %s\n", record->shop.c_str(),
                  record->identity_secret.c_str());
      std::printf("Give the secret to the storefront backend only; it signs shopper identities.\n");
      return 0;
    }
    if (list->parsed()) {
      auto shops = (*store)->ListShops();
      if (!shops.ok()) return Fail(shops.status());
      std::printf("%-24s %s\n", "SHOP", "CREATED");
      for (const auto& s : *shops)
        std::printf("%-24s %s\n", s.shop.c_str(), Time(s.created_at_us).c_str());
      return 0;
    }
    return 2;
  };
  return {command, run};
}

}  // namespace palaver::cli
