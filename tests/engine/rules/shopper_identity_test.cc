#include "engine/rules/shopper_identity.h"

#include <functional>
#include <map>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace palaver::rules {
namespace {

using ::testing::HasSubstr;

constexpr std::string_view kSecret = "shop-secret-7f3a";
constexpr int64_t kExp = 1735689600;  // 2025-01-01T00:00:00Z
constexpr int64_t kBeforeExp = (kExp - 3600) * 1'000'000;

ShopperIdentity Ann() {
  return ShopperIdentity{"acme", "cust-42", "ann@example.com", "Ann Müller 😀", kExp};
}

// `token` with the character at `at` replaced by another base64url one.
std::string FlipChar(std::string token, size_t at) {
  token[at] = token[at] == 'A' ? 'B' : 'A';
  return token;
}

TEST(ShopperIdentityTest, RoundTrip) {
  const std::string token = SignShopperIdentity(Ann(), kSecret);
  Result<ShopperIdentity> identity = VerifyShopperIdentity(token, "acme", kSecret, kBeforeExp);
  ASSERT_TRUE(identity.ok()) << identity.status().ToString();
  EXPECT_EQ(*identity, Ann());
}

TEST(ShopperIdentityTest, RoundTripWithoutOptionalFields) {
  const ShopperIdentity anonymous_name{"acme", "7", "", "", kExp};
  Result<ShopperIdentity> identity = VerifyShopperIdentity(
      SignShopperIdentity(anonymous_name, kSecret), "acme", kSecret, kBeforeExp);
  ASSERT_TRUE(identity.ok()) << identity.status().ToString();
  EXPECT_EQ(*identity, anonymous_name);
}

TEST(ShopperIdentityTest, InvalidUtf8IsSignedAsReplacementCharacters) {
  ShopperIdentity odd = Ann();
  odd.name = "Ann \xC0";
  Result<ShopperIdentity> identity =
      VerifyShopperIdentity(SignShopperIdentity(odd, kSecret), "acme", kSecret, kBeforeExp);
  ASSERT_TRUE(identity.ok()) << identity.status().ToString();
  EXPECT_EQ(identity->name, "Ann \xEF\xBF\xBD");
}

TEST(ShopperIdentityTest, TokenHasTheDocumentedShape) {
  const std::string token = SignShopperIdentity(Ann(), kSecret);
  const size_t dot = token.find('.');
  ASSERT_NE(dot, std::string::npos);
  EXPECT_EQ(token.size() - dot - 1, 43u);  // 32 bytes, unpadded
  EXPECT_EQ(
      token.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_."),
      std::string::npos);
}

// The example in the header, computed with Python's hmac, hashlib and base64.
TEST(ShopperIdentityTest, VerifiesTheHeaderExample) {
  const std::string token =
      "eyJzaG9wIjoiYWNtZSIsImN1c3RvbWVyX2lkIjoiNDIiLCJlbWFpbCI6ImFAZXhhbXBsZS5jb20iLCJuYW1lIjoiQW"
      "5uIiwiZXhwIjoxNzM1Njg5NjAwfQ.8qB4J3HQMYGn-DwSr9TxbH2pUHn8j5s8GTSOrBvbNpM";
  Result<ShopperIdentity> identity =
      VerifyShopperIdentity(token, "acme", "s3cret", (kExp - 1) * 1'000'000);
  ASSERT_TRUE(identity.ok()) << identity.status().ToString();
  EXPECT_EQ(*identity, (ShopperIdentity{"acme", "42", "a@example.com", "Ann", kExp}));
}

TEST(ShopperIdentityTest, TamperedPayloadIsRefused) {
  const std::string token = SignShopperIdentity(Ann(), kSecret);
  // Change a customer id character inside the payload part.
  Result<ShopperIdentity> identity =
      VerifyShopperIdentity(FlipChar(token, 10), "acme", kSecret, kBeforeExp);
  ASSERT_FALSE(identity.ok());
  EXPECT_EQ(identity.status().code(), ErrorCode::kPermissionDenied);
  EXPECT_EQ(identity.status().message(),
            "the shopper identity's signature does not match the shop's secret");
}

TEST(ShopperIdentityTest, PayloadFromAnotherTokenIsRefused) {
  const std::string ann = SignShopperIdentity(Ann(), kSecret);
  ShopperIdentity bob = Ann();
  bob.customer_id = "cust-43";
  const std::string bob_token = SignShopperIdentity(bob, "another secret");
  const std::string forged = bob_token.substr(0, bob_token.find('.')) + ann.substr(ann.find('.'));
  Result<ShopperIdentity> identity = VerifyShopperIdentity(forged, "acme", kSecret, kBeforeExp);
  EXPECT_EQ(identity.status().code(), ErrorCode::kPermissionDenied);
}

TEST(ShopperIdentityTest, TamperedSignatureIsRefused) {
  const std::string token = SignShopperIdentity(Ann(), kSecret);
  const size_t dot = token.find('.');
  for (size_t at : {dot + 1, dot + 20, token.size() - 2}) {
    Result<ShopperIdentity> identity =
        VerifyShopperIdentity(FlipChar(token, at), "acme", kSecret, kBeforeExp);
    ASSERT_FALSE(identity.ok()) << at;
    EXPECT_EQ(identity.status().code(), ErrorCode::kPermissionDenied) << at;
  }
}

TEST(ShopperIdentityTest, NonCanonicalSignatureEncodingIsMalformed) {
  // The last of 43 characters carries 2 unused bits; setting them keeps the
  // bytes but is not the one accepted encoding.
  const std::string token = SignShopperIdentity(Ann(), kSecret);
  std::string changed = token;
  const char last = changed.back();
  const std::string alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  changed.back() = alphabet[alphabet.find(last) ^ 1];
  Result<ShopperIdentity> identity = VerifyShopperIdentity(changed, "acme", kSecret, kBeforeExp);
  EXPECT_EQ(identity.status().code(), ErrorCode::kInvalidArgument);
}

TEST(ShopperIdentityTest, WrongSecretIsRefused) {
  const std::string token = SignShopperIdentity(Ann(), "the storefront's old secret");
  Result<ShopperIdentity> identity = VerifyShopperIdentity(token, "acme", kSecret, kBeforeExp);
  EXPECT_EQ(identity.status().code(), ErrorCode::kPermissionDenied);
  EXPECT_EQ(identity.status().message(),
            "the shopper identity's signature does not match the shop's secret");
}

TEST(ShopperIdentityTest, EmptySecretVerifiesNothing) {
  const std::string token = SignShopperIdentity(Ann(), "");
  Result<ShopperIdentity> identity = VerifyShopperIdentity(token, "acme", "", kBeforeExp);
  EXPECT_EQ(identity.status().code(), ErrorCode::kFailedPrecondition);
}

TEST(ShopperIdentityTest, ExpiredIsRefusedAndSaysWhen) {
  const std::string token = SignShopperIdentity(Ann(), kSecret);
  EXPECT_TRUE(VerifyShopperIdentity(token, "acme", kSecret, kExp * 1'000'000 - 1).ok());
  Result<ShopperIdentity> identity =
      VerifyShopperIdentity(token, "acme", kSecret, kExp * 1'000'000);
  ASSERT_FALSE(identity.ok());
  EXPECT_EQ(identity.status().code(), ErrorCode::kPermissionDenied);
  EXPECT_EQ(identity.status().field(), "exp");
  EXPECT_THAT(identity.status().message(), HasSubstr("expired at 2025-01-01T00:00:00Z"));
}

TEST(ShopperIdentityTest, ClockOverloadReadsTheClock) {
  const std::string token = SignShopperIdentity(Ann(), kSecret);
  ManualClock clock(kBeforeExp);
  EXPECT_TRUE(VerifyShopperIdentity(token, "acme", kSecret, clock).ok());
  clock.AdvanceMicros(int64_t{3600} * 1'000'000);
  EXPECT_EQ(VerifyShopperIdentity(token, "acme", kSecret, clock).status().code(),
            ErrorCode::kPermissionDenied);
}

TEST(ShopperIdentityTest, WrongShopIsRefused) {
  const std::string token = SignShopperIdentity(Ann(), kSecret);
  Result<ShopperIdentity> identity = VerifyShopperIdentity(token, "globex", kSecret, kBeforeExp);
  ASSERT_FALSE(identity.ok());
  EXPECT_EQ(identity.status().code(), ErrorCode::kPermissionDenied);
  EXPECT_EQ(identity.status().field(), "shop");
  EXPECT_THAT(identity.status().message(), HasSubstr("\"acme\""));
}

TEST(ShopperIdentityTest, GarbageIsMalformed) {
  for (std::string_view garbage :
       {"garbage", "a.b.c", ".", "abc.", ".abc", "!!!.???", "eyJ9.abc", "e30=.abc",
        "e30.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",  // padded
        "e30.AAAA",                                          // 3-byte signature
        "a b.c d"}) {
    Result<ShopperIdentity> identity = VerifyShopperIdentity(garbage, "acme", kSecret, 0);
    ASSERT_FALSE(identity.ok()) << garbage;
    EXPECT_EQ(identity.status().code(), ErrorCode::kInvalidArgument) << garbage;
    EXPECT_THAT(identity.status().message(), HasSubstr("malformed")) << garbage;
  }
}

TEST(ShopperIdentityTest, EmptyIsMalformed) {
  Result<ShopperIdentity> identity = VerifyShopperIdentity("", "acme", kSecret, 0);
  EXPECT_EQ(identity.status().code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(identity.status().message(), "the shopper identity token is malformed: it is empty");
}

TEST(ShopperIdentityTest, TokensOver4KiBAreRefusedBeforeAnyWork) {
  ShopperIdentity big = Ann();
  big.name = std::string(5000, 'x');
  const std::string token = SignShopperIdentity(big, kSecret);
  ASSERT_GT(token.size(), kMaxShopperIdentityTokenBytes);
  Result<ShopperIdentity> identity = VerifyShopperIdentity(token, "acme", kSecret, kBeforeExp);
  EXPECT_EQ(identity.status().code(), ErrorCode::kTooLarge);
  EXPECT_THAT(identity.status().message(), HasSubstr("the limit is 4096"));
  // Garbage of 1 MiB as well.
  EXPECT_EQ(VerifyShopperIdentity(std::string(1 << 20, 'A'), "acme", kSecret, 0).status().code(),
            ErrorCode::kTooLarge);
  // Just under the limit still verifies.
  big.name = std::string(2900, 'x');
  const std::string fits = SignShopperIdentity(big, kSecret);
  ASSERT_LE(fits.size(), kMaxShopperIdentityTokenBytes);
  EXPECT_TRUE(VerifyShopperIdentity(fits, "acme", kSecret, kBeforeExp).ok());
}

// Signs `payload_json` the way a storefront would, to test what the verifier
// makes of signed but wrong payloads. The tokens were computed with kSecret
// by an independent implementation (Python's hmac, hashlib and base64).
std::string SignRaw(std::string_view payload_json) {
  static const auto* const kTokens = new std::map<std::string, std::string, std::less<>>{
      {R"({"customer_id":"1","exp":1735689600})",
       "eyJjdXN0b21lcl9pZCI6IjEiLCJleHAiOjE3MzU2ODk2MDB9"
       ".3lTdE-5jVcVCm-hN2U1M_9Dbnb5R2Gqxu97cT5wJTnA"},
      {R"({"shop":"acme","exp":1735689600})",
       "eyJzaG9wIjoiYWNtZSIsImV4cCI6MTczNTY4OTYwMH0"
       ".CRljBRqKu7cEN_jms5tY8EFKAOx6BAp9V6ffvOeYgW4"},
      {R"({"shop":"acme","customer_id":"","exp":1735689600})",
       "eyJzaG9wIjoiYWNtZSIsImN1c3RvbWVyX2lkIjoiIiwiZXhwIjoxNzM1Njg5NjAwfQ"
       ".6KUCSU2YPI5st6z3yfTlGvW14NyuwEOMcfq8kEzkfdw"},
      {R"({"shop":"acme","customer_id":42,"exp":1735689600})",
       "eyJzaG9wIjoiYWNtZSIsImN1c3RvbWVyX2lkIjo0MiwiZXhwIjoxNzM1Njg5NjAwfQ"
       ".IKYRcsNBidfDH_K73QbV72ICvhL4jS9v4G9d08bZMf0"},
      {R"({"shop":"acme","customer_id":"1"})",
       "eyJzaG9wIjoiYWNtZSIsImN1c3RvbWVyX2lkIjoiMSJ9"
       ".dWadovdeYZaCH22eYf2wNKkqOYmonD4SQARyvXawLEg"},
      {R"({"shop":"acme","customer_id":"1","exp":"tomorrow"})",
       "eyJzaG9wIjoiYWNtZSIsImN1c3RvbWVyX2lkIjoiMSIsImV4cCI6InRvbW9ycm93In0"
       ".U88lW63gT6JOEeDSj6mpF1FuT7FCCjFnSVZiq_meLiM"},
      {R"({"shop":"acme","customer_id":"1","exp":1735689600.5})",
       "eyJzaG9wIjoiYWNtZSIsImN1c3RvbWVyX2lkIjoiMSIsImV4cCI6MTczNTY4OTYwMC41fQ"
       ".5OG8KQGIdoLSCZs99b4vypN8kO7Q5yfCLdN2DfzXzoM"},
      {R"({"shop":"acme","customer_id":"1","exp":18446744073709551615})",
       "eyJzaG9wIjoiYWNtZSIsImN1c3RvbWVyX2lkIjoiMSIsImV4cCI6MTg0NDY3NDQwNzM3MDk1NTE2MTV9"
       ".KHXB8Cz14P7KPXnj00bRaLjjKbHkfdXiGShP-Jmmivw"},
      {R"({"shop":"acme","customer_id":"1","exp":1735689600,"email":7})",
       "eyJzaG9wIjoiYWNtZSIsImN1c3RvbWVyX2lkIjoiMSIsImV4cCI6MTczNTY4OTYwMCwiZW1haWwiOjd9"
       ".QvFawmNmON_51ZpYDIaGpxxZc37iGisOFRe2gARZKvA"},
      {R"({"shop":"acme","customer_id":"1","exp":1735689600,"name":["Ann"]})",
       "eyJzaG9wIjoiYWNtZSIsImN1c3RvbWVyX2lkIjoiMSIsImV4cCI6MTczNTY4OTYwMCwibmFtZSI6WyJBbm4iXX0"
       ".NuAewnaP3cicA51w_DuotVZjMUata-Ch_h6BDeZRvmE"},
      {R"([1,2])",
       "WzEsMl0"
       ".oWU9O-EhyuLIDB1gJ22JKVPPLwe8DMdBphziNgYk4sA"},
      {R"("acme")",
       "ImFjbWUi"
       ".ecCYSZ-thLWeZHiNB37wT0iwVXVmkEE20VLl8-NXiRY"},
      {R"({)",
       "ew"
       ".vPiDW7lDT1kNmNPLKfFm6JHqugLGWY16mxq71Eq2858"},
      {R"()",
       ""
       ".kLytp8sf4iYkG-5HAQ9vrn34hd20hSdB6RPq8oGizww"},
      {"{\"shop\":\"\xC0"
       "\"}",
       "eyJzaG9wIjoiwCJ9"
       ".zRsSQ4nVBMdyagmPIzool0GCxzIuy9MWpvztKcQF2NQ"},
      {R"({"shop":"acme","customer_id":"1","exp":1735689600,"email":null,"iat":1})",
       "eyJzaG9wIjoiYWNtZSIsImN1c3RvbWVyX2lkIjoiMSIsImV4cCI6MTczNTY4OTYwMCwiZW1haWwiOm51bGwsImlhdCI"
       "6MX0"
       ".WeGYx7uInkvKkj9RkLNocUr4dNtt_Edqak1eehpIqVo"},
  };
  const auto it = kTokens->find(payload_json);
  EXPECT_NE(it, kTokens->end()) << "no token computed for " << payload_json;
  return it == kTokens->end() ? std::string() : it->second;
}

struct FieldCase {
  std::string payload;
  std::string field;
};

TEST(ShopperIdentityTest, MissingOrMistypedFieldsAreNamed) {
  const std::vector<FieldCase> cases = {
      {R"({"customer_id":"1","exp":1735689600})", "shop"},
      {R"({"shop":"acme","exp":1735689600})", "customer_id"},
      {R"({"shop":"acme","customer_id":"","exp":1735689600})", "customer_id"},
      {R"({"shop":"acme","customer_id":42,"exp":1735689600})", "customer_id"},
      {R"({"shop":"acme","customer_id":"1"})", "exp"},
      {R"({"shop":"acme","customer_id":"1","exp":"tomorrow"})", "exp"},
      {R"({"shop":"acme","customer_id":"1","exp":1735689600.5})", "exp"},
      {R"({"shop":"acme","customer_id":"1","exp":18446744073709551615})", "exp"},
      {R"({"shop":"acme","customer_id":"1","exp":1735689600,"email":7})", "email"},
      {R"({"shop":"acme","customer_id":"1","exp":1735689600,"name":["Ann"]})", "name"},
  };
  for (const FieldCase& c : cases) {
    Result<ShopperIdentity> identity =
        VerifyShopperIdentity(SignRaw(c.payload), "acme", kSecret, 0);
    ASSERT_FALSE(identity.ok()) << c.payload;
    EXPECT_EQ(identity.status().code(), ErrorCode::kInvalidArgument) << c.payload;
    EXPECT_EQ(identity.status().field(), c.field) << c.payload;
  }
}

TEST(ShopperIdentityTest, SignedPayloadThatIsNotAnObjectIsRefused) {
  for (std::string_view payload : {"[1,2]", "\"acme\"", "{", "", "{\"shop\":\"\xC0\"}"}) {
    Result<ShopperIdentity> identity = VerifyShopperIdentity(SignRaw(payload), "acme", kSecret, 0);
    ASSERT_FALSE(identity.ok()) << payload;
    EXPECT_EQ(identity.status().code(), ErrorCode::kInvalidArgument) << payload;
  }
}

TEST(ShopperIdentityTest, NullOptionalFieldsAndUnknownMembersAreFine) {
  Result<ShopperIdentity> identity = VerifyShopperIdentity(
      SignRaw(R"({"shop":"acme","customer_id":"1","exp":1735689600,"email":null,"iat":1})"), "acme",
      kSecret, 0);
  ASSERT_TRUE(identity.ok()) << identity.status().ToString();
  EXPECT_EQ(identity->email, "");
}

}  // namespace
}  // namespace palaver::rules
