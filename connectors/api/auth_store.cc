#include "connectors/api/auth_store.h"

#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include <fcntl.h>
#include <nlohmann/json.hpp>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <spdlog/spdlog.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

namespace palaver::api {

namespace fs = std::filesystem;
using Json = nlohmann::json;

struct AuthStore::Snapshot {
  std::map<std::string, ShopRecord, std::less<>> shops;
  std::vector<ApiToken> tokens;
  std::map<std::string, size_t, std::less<>> token_by_hash;  // index into tokens
  // What the file looked like when read (all zero: no file).
  ino_t inode = 0;
  off_t size = 0;
  int64_t mtime_ns = 0;
  bool exists = false;

  void Index() {
    token_by_hash.clear();
    for (size_t i = 0; i < tokens.size(); ++i) token_by_hash[tokens[i].sha256_hex] = i;
  }
};

namespace {

int64_t NowMicros() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string Hex(const unsigned char* data, size_t n) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(n * 2);
  for (size_t i = 0; i < n; ++i) {
    out.push_back(kDigits[data[i] >> 4]);
    out.push_back(kDigits[data[i] & 15]);
  }
  return out;
}

std::string Base64Url(const unsigned char* data, size_t n) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::string out;
  uint32_t buffer = 0;
  int bits = 0;
  for (size_t i = 0; i < n; ++i) {
    buffer = (buffer << 8) | data[i];
    bits += 8;
    while (bits >= 6) {
      bits -= 6;
      out.push_back(kAlphabet[(buffer >> bits) & 63]);
    }
  }
  if (bits > 0) out.push_back(kAlphabet[(buffer << (6 - bits)) & 63]);
  return out;
}

Result<std::string> RandomBytes(size_t n) {
  std::string bytes(n, '\0');
  if (RAND_bytes(reinterpret_cast<unsigned char*>(bytes.data()), static_cast<int>(n)) != 1)
    return Status::Error(ErrorCode::kInternal, "OpenSSL could not produce random bytes");
  return bytes;
}

bool IdChars(std::string_view id, std::string_view extra) {
  if (id.empty() || id.size() > 64 || id == "." || id == "..") return false;
  for (char c : id) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '.' || c == '_' || c == '-' || extra.find(c) != std::string_view::npos;
    if (!ok) return false;
  }
  return true;
}

Json ToJson(const AuthStore::Snapshot& s) {
  Json shops = Json::object();
  for (const auto& [name, shop] : s.shops) {
    shops[name] = {{"identity_secret", shop.identity_secret},
                   {"created_at_us", shop.created_at_us}};
  }
  Json tokens = Json::array();
  for (const ApiToken& t : s.tokens) {
    Json j = {{"id", t.id},
              {"sha256", t.sha256_hex},
              {"shop", t.shop},
              {"role", std::string(RoleName(t.role))},
              {"agent_id", t.agent_id},
              {"created_at_us", t.created_at_us}};
    if (t.revoked_at_us) j["revoked_at_us"] = *t.revoked_at_us;
    tokens.push_back(std::move(j));
  }
  return {{"version", 1}, {"shops", shops}, {"tokens", tokens}};
}

Status FromJson(const std::string& text, AuthStore::Snapshot& s, const std::string& path) {
  try {
    Json j = Json::parse(text);
    for (const auto& [name, shop] : j.at("shops").items()) {
      s.shops[name] = {name, shop.at("identity_secret").get<std::string>(),
                       shop.value("created_at_us", int64_t{0})};
    }
    for (const Json& t : j.at("tokens")) {
      ApiToken token;
      token.id = t.at("id").get<std::string>();
      token.sha256_hex = t.at("sha256").get<std::string>();
      token.shop = t.at("shop").get<std::string>();
      auto role = RoleFromName(t.at("role").get<std::string>());
      if (!role) throw std::runtime_error("unknown role in token " + token.id);
      token.role = *role;
      token.agent_id = t.at("agent_id").get<std::string>();
      token.created_at_us = t.value("created_at_us", int64_t{0});
      if (t.contains("revoked_at_us")) token.revoked_at_us = t["revoked_at_us"].get<int64_t>();
      s.tokens.push_back(std::move(token));
    }
  } catch (const std::exception& e) {
    return Status::Error(ErrorCode::kCorruption, path + " is not a palaver auth file (" + e.what() +
                                                     "); fix or move it away");
  }
  s.Index();
  return Status::Ok();
}

// Reads the file into a snapshot (an empty one when it does not exist).
Result<std::shared_ptr<AuthStore::Snapshot>> ReadFile(const std::string& path) {
  auto s = std::make_shared<AuthStore::Snapshot>();
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return s;
    return Status::Error(ErrorCode::kIoError, "cannot read " + path + ": " + std::strerror(errno));
  }
  struct stat st {};
  ::fstat(fd, &st);
  std::string text;
  char buffer[8192];
  ssize_t n;
  while ((n = ::read(fd, buffer, sizeof buffer)) > 0) text.append(buffer, static_cast<size_t>(n));
  ::close(fd);
  if (n < 0) return Status::Error(ErrorCode::kIoError, "cannot read " + path);
  PALAVER_RETURN_IF_ERROR(FromJson(text, *s, path));
  s->exists = true;
  s->inode = st.st_ino;
  s->size = st.st_size;
  s->mtime_ns = static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec;
  return s;
}

Status WriteFileAtomically(const std::string& path, const std::string& text) {
  const std::string temp = path + ".tmp";
  int fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0)
    return Status::Error(ErrorCode::kIoError, "cannot write " + temp + ": " + std::strerror(errno));
  size_t written = 0;
  while (written < text.size()) {
    ssize_t n = ::write(fd, text.data() + written, text.size() - written);
    if (n <= 0) {
      ::close(fd);
      return Status::Error(ErrorCode::kIoError,
                           "cannot write " + temp + ": " + std::strerror(errno));
    }
    written += static_cast<size_t>(n);
  }
  if (::fsync(fd) != 0 || ::close(fd) != 0)
    return Status::Error(ErrorCode::kIoError, "cannot sync " + temp + ": " + std::strerror(errno));
  if (::rename(temp.c_str(), path.c_str()) != 0)
    return Status::Error(ErrorCode::kIoError,
                         "cannot rename " + temp + " to " + path + ": " + std::strerror(errno));
  // Make the rename itself durable.
  int dir = ::open(fs::path(path).parent_path().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir >= 0) {
    ::fsync(dir);
    ::close(dir);
  }
  return Status::Ok();
}

Result<std::string> NewSecret(std::string_view given) {
  if (!given.empty()) {
    if (given.size() < 16)
      return Status::Error(ErrorCode::kInvalidArgument,
                           "an identity secret must be at least 16 bytes long", "secret");
    return std::string(given);
  }
  auto bytes = RandomBytes(32);
  if (!bytes.ok()) return bytes.status();
  return Base64Url(reinterpret_cast<const unsigned char*>(bytes->data()), bytes->size());
}

}  // namespace

std::string_view RoleName(Role role) { return role == Role::kAdmin ? "admin" : "agent"; }

std::optional<Role> RoleFromName(std::string_view name) {
  if (name == "admin") return Role::kAdmin;
  if (name == "agent") return Role::kAgent;
  return std::nullopt;
}

bool IsValidShopId(std::string_view shop) { return IdChars(shop, ""); }
bool IsValidAgentId(std::string_view agent_id) { return IdChars(agent_id, "@+"); }

std::string Sha256Hex(std::string_view text) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  EVP_Digest(text.data(), text.size(), digest, &length, EVP_sha256(), nullptr);
  return Hex(digest, length);
}

AuthStore::AuthStore(std::string path) : path_(std::move(path)) {}
AuthStore::~AuthStore() = default;

Result<std::unique_ptr<AuthStore>> AuthStore::Open(std::string path) {
  auto snapshot = ReadFile(path);
  if (!snapshot.ok()) return snapshot.status();
  std::unique_ptr<AuthStore> store(new AuthStore(std::move(path)));
  store->snapshot_ = std::move(*snapshot);
  return store;
}

std::shared_ptr<const AuthStore::Snapshot> AuthStore::Current() {
  // The stat outside the lock: every request calls this.
  struct stat st {};
  const bool exists = ::stat(path_.c_str(), &st) == 0;
  const int64_t mtime_ns =
      exists ? static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec : 0;
  std::lock_guard lock(mu_);
  const bool changed = exists != snapshot_->exists ||
                       (exists && (st.st_ino != snapshot_->inode || st.st_size != snapshot_->size ||
                                   mtime_ns != snapshot_->mtime_ns));
  if (changed) {
    auto fresh = ReadFile(path_);
    if (fresh.ok()) {
      snapshot_ = std::move(*fresh);
    } else {
      spdlog::error("auth store: {}; keeping the last good copy", fresh.status().ToString());
    }
  }
  return snapshot_;
}

Status AuthStore::Modify(const std::function<Status(Snapshot&)>& change) {
  std::error_code ec;
  const fs::path dir = fs::path(path_).parent_path();
  if (!dir.empty()) fs::create_directories(dir, ec);
  const std::string lock_path = path_ + ".lock";
  int lock_fd = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (lock_fd < 0)
    return Status::Error(ErrorCode::kIoError,
                         "cannot open " + lock_path + ": " + std::strerror(errno));
  ::flock(lock_fd, LOCK_EX);
  Status result = [&]() -> Status {
    auto current = ReadFile(path_);
    if (!current.ok()) return current.status();
    Snapshot& s = **current;
    PALAVER_RETURN_IF_ERROR(change(s));
    s.Index();
    return WriteFileAtomically(path_, ToJson(s).dump(2) + "\n");
  }();
  ::flock(lock_fd, LOCK_UN);
  ::close(lock_fd);
  if (result.ok()) Current();  // this instance's last good copy is what it just wrote
  return result;
}

Result<ShopRecord> AuthStore::AddShop(std::string_view shop, std::string_view secret) {
  if (!IsValidShopId(shop))
    return Status::Error(ErrorCode::kInvalidArgument,
                         "a shop id is 1 to 64 characters of A-Z a-z 0-9 . _ -", "shop");
  auto chosen = NewSecret(secret);
  if (!chosen.ok()) return chosen.status();
  ShopRecord record{std::string(shop), *chosen, NowMicros()};
  Status s = Modify([&](Snapshot& snap) {
    if (snap.shops.count(record.shop))
      return Status::Error(ErrorCode::kAlreadyExists, "shop " + record.shop + " already exists",
                           "shop");
    snap.shops[record.shop] = record;
    return Status::Ok();
  });
  if (!s.ok()) return s;
  return record;
}

Result<ShopRecord> AuthStore::RotateShopSecret(std::string_view shop, std::string_view secret) {
  auto chosen = NewSecret(secret);
  if (!chosen.ok()) return chosen.status();
  ShopRecord record;
  Status s = Modify([&](Snapshot& snap) {
    auto it = snap.shops.find(shop);
    if (it == snap.shops.end())
      return Status::Error(ErrorCode::kNotFound, "no shop " + std::string(shop), "shop");
    it->second.identity_secret = *chosen;
    record = it->second;
    return Status::Ok();
  });
  if (!s.ok()) return s;
  return record;
}

Result<AuthStore::CreatedToken> AuthStore::CreateToken(std::string_view shop, Role role,
                                                       std::string_view agent_id) {
  if (!IsValidAgentId(agent_id))
    return Status::Error(ErrorCode::kInvalidArgument,
                         "an agent id is 1 to 64 characters of A-Z a-z 0-9 . _ - @ +", "agent");
  auto secret = RandomBytes(32);
  auto id = RandomBytes(8);
  if (!secret.ok()) return secret.status();
  if (!id.ok()) return id.status();
  CreatedToken created;
  created.secret_text =
      "pvt_" + Base64Url(reinterpret_cast<const unsigned char*>(secret->data()), secret->size());
  created.token.id = "tok_" + Hex(reinterpret_cast<const unsigned char*>(id->data()), id->size());
  created.token.sha256_hex = Sha256Hex(created.secret_text);
  created.token.shop = std::string(shop);
  created.token.role = role;
  created.token.agent_id = std::string(agent_id);
  created.token.created_at_us = NowMicros();
  Status s = Modify([&](Snapshot& snap) {
    if (!snap.shops.count(shop))
      return Status::Error(ErrorCode::kNotFound,
                           "no shop " + std::string(shop) +
                               "; add it first with `palaver shop add " + std::string(shop) + "`",
                           "shop");
    snap.tokens.push_back(created.token);
    return Status::Ok();
  });
  if (!s.ok()) return s;
  return created;
}

Status AuthStore::RevokeToken(std::string_view token_id) {
  return Modify([&](Snapshot& snap) {
    for (ApiToken& t : snap.tokens) {
      if (t.id == token_id) {
        if (!t.revoked_at_us) t.revoked_at_us = NowMicros();
        return Status::Ok();
      }
    }
    return Status::Error(ErrorCode::kNotFound, "no token " + std::string(token_id), "id");
  });
}

Result<std::vector<ShopRecord>> AuthStore::ListShops() {
  auto s = Current();
  std::vector<ShopRecord> out;
  for (const auto& [name, shop] : s->shops) out.push_back(shop);
  return out;
}

Result<std::vector<ApiToken>> AuthStore::ListTokens() { return Current()->tokens; }

std::optional<ApiToken> AuthStore::FindToken(std::string_view token_text) {
  if (token_text.empty() || token_text.size() > 256) return std::nullopt;
  auto s = Current();
  auto it = s->token_by_hash.find(Sha256Hex(token_text));
  if (it == s->token_by_hash.end()) return std::nullopt;
  const ApiToken& token = s->tokens[it->second];
  if (token.revoked_at_us) return std::nullopt;
  return token;
}

std::optional<std::string> AuthStore::ShopSecret(std::string_view shop) {
  auto s = Current();
  auto it = s->shops.find(shop);
  if (it == s->shops.end()) return std::nullopt;
  return it->second.identity_secret;
}

}  // namespace palaver::api
