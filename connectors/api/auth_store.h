// AuthStore: the shops palaver serves (with their identity secrets) and the
// API tokens of their staff, in one small JSON file in the data directory
// (DATA_DIR/auth.json).
//
// Tokens are never stored: a token is "pvt_" followed by 43 base64url
// characters (32 random bytes from OpenSSL's RAND_bytes); the file keeps only
// its SHA-256 (hex) next to a short public id ("tok_" + 16 hex digits), the
// shop, the role and the agent id. CreateToken returns the token once.
//
// Several processes share the file: `palaver token ...` / `palaver shop ...`
// change it while `palaver serve` reads it. Every change is a read-modify-
// write under an exclusive flock on "<path>.lock", written to a temporary file,
// fsynced and renamed over the old one, so a reader sees either the old or
// the new file, never half of one. Readers (FindToken, ShopSecret) notice a
// change by the file's inode, size and modification time (one stat per call)
// and reload it; a file that does not parse is logged and the last good copy
// is kept.
//
// The file holds secrets: it is created with mode 0600.
//
// Thread safety: every member may be called from any thread.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "schemas/status.h"

namespace palaver::api {

enum class Role { kAdmin, kAgent };

// "admin" / "agent"; RoleFromName is its inverse (nullopt for anything else).
std::string_view RoleName(Role role);
std::optional<Role> RoleFromName(std::string_view name);

struct ApiToken {
  std::string id;          // public, e.g. "tok_3f9a0c1d2e4b5a69"; safe to log
  std::string sha256_hex;  // of the token text
  std::string shop;
  Role role = Role::kAgent;
  std::string agent_id;
  int64_t created_at_us = 0;
  std::optional<int64_t> revoked_at_us;
};

struct ShopRecord {
  std::string shop;
  std::string identity_secret;  // the HMAC key storefronts sign shopper identities with
  int64_t created_at_us = 0;
};

// True for a shop or agent id palaver accepts: 1 to 64 characters of
// A-Z a-z 0-9 . _ - (and @ + for agent ids), not "." or "..".
bool IsValidShopId(std::string_view shop);
bool IsValidAgentId(std::string_view agent_id);

// The lower-case hex SHA-256 of `text`.
std::string Sha256Hex(std::string_view text);

class AuthStore {
 public:
  // Uses the file at `path` (it need not exist yet; its directory is created
  // on the first change). Errors: kCorruption when an existing file does not
  // parse, kIoError when it cannot be read.
  static Result<std::unique_ptr<AuthStore>> Open(std::string path);
  ~AuthStore();
  AuthStore(const AuthStore&) = delete;
  AuthStore& operator=(const AuthStore&) = delete;

  const std::string& path() const { return path_; }

  // ---- changes (the command line)

  // Adds `shop` with `secret` (empty: a new random one). Errors:
  // kInvalidArgument for a bad id or a secret shorter than 16 bytes,
  // kAlreadyExists when the shop is there, kIoError.
  Result<ShopRecord> AddShop(std::string_view shop, std::string_view secret = {});
  // Replaces the shop's secret (empty: a new random one). kNotFound, kIoError.
  Result<ShopRecord> RotateShopSecret(std::string_view shop, std::string_view secret = {});

  struct CreatedToken {
    ApiToken token;
    std::string secret_text;  // the token itself: shown once, never stored
  };
  // Errors: kInvalidArgument (bad agent id), kNotFound (unknown shop), kIoError.
  Result<CreatedToken> CreateToken(std::string_view shop, Role role, std::string_view agent_id);
  // Marks the token revoked (it stays listed). Errors: kNotFound (unknown id;
  // revoking twice is OK), kIoError.
  Status RevokeToken(std::string_view token_id);

  // ---- reads

  Result<std::vector<ShopRecord>> ListShops();
  Result<std::vector<ApiToken>> ListTokens();

  // The live (not revoked) token whose text is `token_text`; nullopt otherwise.
  std::optional<ApiToken> FindToken(std::string_view token_text);
  // The identity secret of `shop`; nullopt for an unknown shop. Fast enough to
  // call for every command (one stat of the file).
  std::optional<std::string> ShopSecret(std::string_view shop);

  struct Snapshot;  // the parsed file; private

 private:
  explicit AuthStore(std::string path);
  // The current parsed file, reloaded when it changed.
  std::shared_ptr<const Snapshot> Current();
  // Runs `change` on a fresh copy under the file lock and writes it back.
  Status Modify(const std::function<Status(Snapshot&)>& change);

  const std::string path_;
  std::mutex mu_;
  std::shared_ptr<const Snapshot> snapshot_;  // guarded by mu_
};

}  // namespace palaver::api
