// AuthStore: tokens stored only as hashes, changes seen by other instances
// (other processes) at once, a damaged file never loses the last good copy.
#include "connectors/api/auth_store.h"

#include <fstream>
#include <set>
#include <sstream>
#include <thread>

#include <gtest/gtest.h>
#include <sys/stat.h>

#include "tests/engine/event_log_test_util.h"

namespace palaver::api {
namespace {

using palaver::testing::TempDir;

std::string ReadAll(const std::string& path) {
  std::ifstream file(path);
  std::stringstream s;
  s << file.rdbuf();
  return s.str();
}

TEST(AuthStoreTest, StoresOnlyTheHashOfATokenAndFindsItByItsText) {
  TempDir dir;
  const std::string path = dir.path() + "/auth.json";
  auto store = AuthStore::Open(path);
  ASSERT_TRUE(store.ok());
  auto shop = (*store)->AddShop("acme");
  ASSERT_TRUE(shop.ok()) << shop.status().ToString();
  EXPECT_GE(shop->identity_secret.size(), 40u);
  auto created = (*store)->CreateToken("acme", Role::kAdmin, "ann");
  ASSERT_TRUE(created.ok()) << created.status().ToString();
  EXPECT_EQ(created->secret_text.rfind("pvt_", 0), 0u);
  EXPECT_EQ(created->secret_text.size(), 4u + 43u);

  const std::string file = ReadAll(path);
  EXPECT_EQ(file.find(created->secret_text), std::string::npos);
  EXPECT_NE(file.find(Sha256Hex(created->secret_text)), std::string::npos);
  struct stat st {};
  ASSERT_EQ(stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u) << "the file holds secrets";

  auto found = (*store)->FindToken(created->secret_text);
  ASSERT_TRUE(found.has_value());
  EXPECT_EQ(found->shop, "acme");
  EXPECT_EQ(found->role, Role::kAdmin);
  EXPECT_EQ(found->agent_id, "ann");
  EXPECT_FALSE((*store)->FindToken(created->secret_text + "x").has_value());
  EXPECT_FALSE((*store)->FindToken("").has_value());
  EXPECT_EQ((*store)->ShopSecret("acme"), shop->identity_secret);
  EXPECT_FALSE((*store)->ShopSecret("other").has_value());

  ASSERT_TRUE((*store)->RevokeToken(created->token.id).ok());
  EXPECT_FALSE((*store)->FindToken(created->secret_text).has_value());
  EXPECT_TRUE((*store)->RevokeToken(created->token.id).ok()) << "revoking twice is fine";
  auto tokens = (*store)->ListTokens();
  ASSERT_EQ(tokens->size(), 1u);
  EXPECT_TRUE(tokens->at(0).revoked_at_us.has_value());
}

TEST(AuthStoreTest, AnotherInstanceSeesEveryChangeAtOnce) {
  TempDir dir;
  const std::string path = dir.path() + "/auth.json";
  auto server = AuthStore::Open(path);  // opened before the file exists
  auto cli = AuthStore::Open(path);
  ASSERT_TRUE(server.ok() && cli.ok());
  ASSERT_TRUE((*cli)->AddShop("acme").ok());
  EXPECT_TRUE((*server)->ShopSecret("acme").has_value());
  auto created = (*cli)->CreateToken("acme", Role::kAgent, "bob");
  ASSERT_TRUE(created.ok());
  EXPECT_TRUE((*server)->FindToken(created->secret_text).has_value());
  ASSERT_TRUE((*cli)->RevokeToken(created->token.id).ok());
  EXPECT_FALSE((*server)->FindToken(created->secret_text).has_value());
  auto rotated = (*cli)->RotateShopSecret("acme");
  ASSERT_TRUE(rotated.ok());
  EXPECT_EQ((*server)->ShopSecret("acme"), rotated->identity_secret);
}

TEST(AuthStoreTest, ADamagedFileKeepsTheLastGoodCopyAndIsReported) {
  TempDir dir;
  const std::string path = dir.path() + "/auth.json";
  auto store = AuthStore::Open(path);
  ASSERT_TRUE((*store)->AddShop("acme").ok());
  auto created = (*store)->CreateToken("acme", Role::kAgent, "bob");
  ASSERT_TRUE(created.ok());
  { std::ofstream(path) << "{ this is not json"; }
  EXPECT_TRUE((*store)->FindToken(created->secret_text).has_value());
  auto reopened = AuthStore::Open(path);
  ASSERT_FALSE(reopened.ok());
  EXPECT_EQ(reopened.status().code(), ErrorCode::kCorruption);
  EXPECT_NE(reopened.status().message().find(path), std::string::npos);
  // A change refuses to overwrite a file it cannot read.
  EXPECT_EQ((*store)->CreateToken("acme", Role::kAgent, "eve").status().code(),
            ErrorCode::kCorruption);
}

TEST(AuthStoreTest, RefusesBadIdsUnknownShopsAndDuplicates) {
  TempDir dir;
  auto store = AuthStore::Open(dir.path() + "/auth.json");
  EXPECT_EQ((*store)->AddShop("../etc").status().code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ((*store)->AddShop("").status().code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ((*store)->AddShop("a b").status().code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ((*store)->AddShop(std::string(65, 'a')).status().code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ((*store)->AddShop("acme", "short").status().code(), ErrorCode::kInvalidArgument);
  ASSERT_TRUE((*store)->AddShop("acme", "a-secret-of-sixteen-bytes").ok());
  EXPECT_EQ((*store)->ShopSecret("acme"), "a-secret-of-sixteen-bytes");
  EXPECT_EQ((*store)->AddShop("acme").status().code(), ErrorCode::kAlreadyExists);
  EXPECT_EQ((*store)->CreateToken("nope", Role::kAgent, "bob").status().code(),
            ErrorCode::kNotFound);
  EXPECT_EQ((*store)->CreateToken("acme", Role::kAgent, "bob\n").status().code(),
            ErrorCode::kInvalidArgument);
  EXPECT_EQ((*store)->RevokeToken("tok_nope").code(), ErrorCode::kNotFound);
  EXPECT_EQ(RoleFromName("admin"), Role::kAdmin);
  EXPECT_EQ(RoleFromName("root"), std::nullopt);
}

TEST(AuthStoreTest, ConcurrentWritersLoseNothing) {
  TempDir dir;
  const std::string path = dir.path() + "/auth.json";
  ASSERT_TRUE((*AuthStore::Open(path))->AddShop("acme").ok());
  std::vector<std::thread> writers;
  for (int w = 0; w < 4; ++w) {
    writers.emplace_back([&path, w] {
      auto store = AuthStore::Open(path);  // one instance per writer, as separate processes
      ASSERT_TRUE(store.ok());
      for (int i = 0; i < 10; ++i) {
        auto created = (*store)->CreateToken("acme", Role::kAgent, "agent" + std::to_string(w));
        EXPECT_TRUE(created.ok()) << created.status().ToString();
      }
    });
  }
  for (auto& t : writers) t.join();
  auto tokens = (*AuthStore::Open(path))->ListTokens();
  ASSERT_TRUE(tokens.ok());
  EXPECT_EQ(tokens->size(), 40u);
  std::set<std::string> ids;
  for (const auto& t : *tokens) ids.insert(t.id);
  EXPECT_EQ(ids.size(), 40u);
}

TEST(AuthStoreTest, Sha256HexMatchesTheStandardVector) {
  EXPECT_EQ(Sha256Hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

}  // namespace
}  // namespace palaver::api
