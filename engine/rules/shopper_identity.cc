#include "engine/rules/shopper_identity.h"

#include <array>
#include <chrono>
#include <limits>
#include <optional>

#include <date/date.h>
#include <nlohmann/json.hpp>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

namespace palaver::rules {
namespace {

using Json = nlohmann::json;

constexpr size_t kSignatureBytes = 32;  // SHA-256
constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

std::string Base64UrlEncode(std::string_view bytes) {
  std::string out;
  out.reserve((bytes.size() * 4 + 2) / 3);
  size_t i = 0;
  for (; i + 3 <= bytes.size(); i += 3) {
    const uint32_t v = (uint32_t{static_cast<unsigned char>(bytes[i])} << 16) |
                       (uint32_t{static_cast<unsigned char>(bytes[i + 1])} << 8) |
                       uint32_t{static_cast<unsigned char>(bytes[i + 2])};
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += kAlphabet[(v >> 6) & 63];
    out += kAlphabet[v & 63];
  }
  const size_t rest = bytes.size() - i;
  if (rest > 0) {
    uint32_t v = uint32_t{static_cast<unsigned char>(bytes[i])} << 16;
    if (rest == 2) v |= uint32_t{static_cast<unsigned char>(bytes[i + 1])} << 8;
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    if (rest == 2) out += kAlphabet[(v >> 6) & 63];
  }
  return out;
}

int Base64UrlValue(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '-') return 62;
  if (c == '_') return 63;
  return -1;
}

// Strict: unpadded, alphabet only, and unused trailing bits must be zero so
// every byte string has exactly one accepted encoding.
std::optional<std::string> Base64UrlDecode(std::string_view text) {
  if (text.size() % 4 == 1) return std::nullopt;
  std::string out;
  out.reserve(text.size() * 3 / 4);
  uint32_t buffer = 0;
  int bits = 0;
  for (char c : text) {
    const int v = Base64UrlValue(c);
    if (v < 0) return std::nullopt;
    buffer = (buffer << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((buffer >> bits) & 0xFF);
    }
  }
  if ((buffer & ((1u << bits) - 1)) != 0) return std::nullopt;
  return out;
}

std::array<unsigned char, kSignatureBytes> HmacSha256(std::string_view key,
                                                      std::string_view message) {
  std::array<unsigned char, kSignatureBytes> mac{};
  unsigned int length = 0;
  // Keys and tokens are bounded far below INT_MAX by the callers' limits
  // except the secret, which a shop configures; clamp defensively.
  const int key_length = static_cast<int>(
      std::min<size_t>(key.size(), static_cast<size_t>(std::numeric_limits<int>::max())));
  HMAC(EVP_sha256(), key.data(), key_length, reinterpret_cast<const unsigned char*>(message.data()),
       message.size(), mac.data(), &length);
  return mac;
}

Status Malformed(std::string why) {
  return Status::Error(ErrorCode::kInvalidArgument,
                       "the shopper identity token is malformed: " + std::move(why));
}

Status BadField(std::string field, std::string why) {
  std::string message = "the shopper identity's \"" + field + "\" " + std::move(why);
  return Status::Error(ErrorCode::kInvalidArgument, std::move(message), std::move(field));
}

// "2024-05-01T12:00:00Z" for years 0001-9999, else the bare number.
std::string FormatUnixSeconds(int64_t seconds) {
  constexpr int64_t kMin = -62135596800LL;  // 0001-01-01T00:00:00Z
  constexpr int64_t kMax = 253402300799LL;  // 9999-12-31T23:59:59Z
  if (seconds < kMin || seconds > kMax) return "Unix time " + std::to_string(seconds);
  return date::format("%Y-%m-%dT%H:%M:%SZ", date::sys_seconds{std::chrono::seconds{seconds}});
}

int64_t FloorDivMillion(int64_t micros) {
  int64_t q = micros / 1'000'000;
  if (micros % 1'000'000 < 0) --q;
  return q;
}

// Reads an optional string member: absent or null is "".
Result<std::string> OptionalString(const Json& payload, const char* name) {
  const auto it = payload.find(name);
  if (it == payload.end() || it->is_null()) return std::string();
  if (!it->is_string()) return BadField(name, "must be a string");
  return it->get<std::string>();
}

Result<std::string> RequiredString(const Json& payload, const char* name) {
  const auto it = payload.find(name);
  if (it == payload.end() || it->is_null()) return BadField(name, "is missing");
  if (!it->is_string()) return BadField(name, "must be a string");
  std::string value = it->get<std::string>();
  if (value.empty()) return BadField(name, "is empty");
  return value;
}

}  // namespace

std::string SignShopperIdentity(const ShopperIdentity& identity, std::string_view secret) {
  Json payload = {
      {"shop", identity.shop},
      {"customer_id", identity.customer_id},
      {"exp", identity.expires_at_unix_seconds},
  };
  if (!identity.email.empty()) payload["email"] = identity.email;
  if (!identity.name.empty()) payload["name"] = identity.name;
  const std::string payload_b64 =
      Base64UrlEncode(payload.dump(-1, ' ', false, Json::error_handler_t::replace));
  const auto mac = HmacSha256(secret, payload_b64);
  return payload_b64 + "." +
         Base64UrlEncode(std::string_view(reinterpret_cast<const char*>(mac.data()), mac.size()));
}

Result<ShopperIdentity> VerifyShopperIdentity(std::string_view token,
                                              std::string_view expected_shop,
                                              std::string_view secret, int64_t now_micros) {
  if (token.size() > kMaxShopperIdentityTokenBytes) {
    return Status::Error(ErrorCode::kTooLarge, "the shopper identity token is " +
                                                   std::to_string(token.size()) +
                                                   " bytes; the limit is " +
                                                   std::to_string(kMaxShopperIdentityTokenBytes));
  }
  if (secret.empty()) {
    return Status::Error(ErrorCode::kFailedPrecondition,
                         "the shop has no shopper identity secret configured, so no shopper "
                         "identity can be verified");
  }
  if (token.empty()) return Malformed("it is empty");
  const size_t dot = token.find('.');
  if (dot == std::string_view::npos || token.find('.', dot + 1) != std::string_view::npos) {
    return Malformed("it must be two base64url parts joined by one \".\"");
  }
  const std::string_view payload_b64 = token.substr(0, dot);
  const std::string_view signature_b64 = token.substr(dot + 1);
  if (payload_b64.empty()) return Malformed("the payload part is empty");
  const std::optional<std::string> signature = Base64UrlDecode(signature_b64);
  if (!signature.has_value() || signature->size() != kSignatureBytes) {
    return Malformed("the signature part is not 32 bytes of unpadded base64url");
  }
  const std::optional<std::string> payload_json = Base64UrlDecode(payload_b64);
  if (!payload_json.has_value()) return Malformed("the payload part is not unpadded base64url");

  const auto expected = HmacSha256(secret, payload_b64);
  if (CRYPTO_memcmp(expected.data(), signature->data(), kSignatureBytes) != 0) {
    return Status::Error(ErrorCode::kPermissionDenied,
                         "the shopper identity's signature does not match the shop's secret");
  }

  // Signed by the shop from here on; what remains are storefront bugs.
  const Json payload = Json::parse(*payload_json, nullptr, /*allow_exceptions=*/false);
  if (payload.is_discarded() || !payload.is_object()) {
    return Status::Error(ErrorCode::kInvalidArgument,
                         "the shopper identity's payload is not a JSON object");
  }
  ShopperIdentity identity;
  {
    Result<std::string> shop = RequiredString(payload, "shop");
    if (!shop.ok()) return shop.status();
    identity.shop = std::move(shop).value();
    Result<std::string> customer_id = RequiredString(payload, "customer_id");
    if (!customer_id.ok()) return customer_id.status();
    identity.customer_id = std::move(customer_id).value();
    Result<std::string> email = OptionalString(payload, "email");
    if (!email.ok()) return email.status();
    identity.email = std::move(email).value();
    Result<std::string> name = OptionalString(payload, "name");
    if (!name.ok()) return name.status();
    identity.name = std::move(name).value();
  }
  const auto exp = payload.find("exp");
  if (exp == payload.end() || exp->is_null()) return BadField("exp", "is missing");
  if (!exp->is_number_integer() ||
      (exp->is_number_unsigned() &&
       exp->get<uint64_t>() > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))) {
    return BadField("exp", "must be an integer number of seconds since the Unix epoch");
  }
  identity.expires_at_unix_seconds = exp->get<int64_t>();

  if (identity.shop != expected_shop) {
    return Status::Error(ErrorCode::kPermissionDenied,
                         "the shopper identity is for shop \"" + identity.shop +
                             "\", not for shop \"" + std::string(expected_shop) + "\"",
                         "shop");
  }
  if (FloorDivMillion(now_micros) >= identity.expires_at_unix_seconds) {
    return Status::Error(ErrorCode::kPermissionDenied,
                         "the shopper identity expired at " +
                             FormatUnixSeconds(identity.expires_at_unix_seconds) +
                             "; the storefront must sign a fresh one",
                         "exp");
  }
  return identity;
}

}  // namespace palaver::rules
