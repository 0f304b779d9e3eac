// Shopper identity tokens: how a storefront vouches for a logged-in shopper.
//
// Web chat admits authenticated shoppers only. The storefront's backend signs
// the shopper's identity with the shop's secret (known to the storefront and
// palaver, never to the browser) and hands the token to the chat widget; the
// widget sends it with every request and palaver verifies it.
//
// TOKEN FORMAT (a public contract for storefront developers; it never changes
// incompatibly):
//
//   token     = payload_b64 "." signature_b64
//   payload_b64   = base64url(payload_json)
//   signature_b64 = base64url(HMAC-SHA256(key = shop_secret, message = payload_b64))
//
//   - base64url is RFC 4648 section 5 (alphabet A-Z a-z 0-9 - _) WITHOUT "="
//     padding; the signature is therefore exactly 43 characters.
//   - The HMAC is computed over the ASCII characters of payload_b64, not over
//     the decoded JSON, so the JSON need not be re-serialised to verify.
//   - payload_json is a UTF-8 JSON object:
//       "shop"        string, required: the shop's id in palaver
//       "customer_id" string, required, non-empty: the storefront's customer id
//       "email"       string, optional (absent or null means none)
//       "name"        string, optional (absent or null means none)
//       "exp"         integer, required: Unix time in seconds after which the
//                     token is refused (keep it short, e.g. now + 1 hour)
//     Other members are ignored.
//   - The whole token is at most kMaxShopperIdentityTokenBytes bytes.
//
// Example: with the secret "s3cret", the payload
//   {"shop":"acme","customer_id":"42","email":"a@example.com","name":"Ann","exp":1735689600}
// signs to the token (on two lines here; it is one string)
//   eyJzaG9wIjoiYWNtZSIsImN1c3RvbWVyX2lkIjoiNDIiLCJlbWFpbCI6ImFAZXhhbXBsZS5jb20iLCJuYW1lIjoiQW5uIiwiZXhwIjoxNzM1Njg5NjAwfQ
//   .8qB4J3HQMYGn-DwSr9TxbH2pUHn8j5s8GTSOrBvbNpM
// In Python (any JSON serialisation works; this one reproduces the example):
//   p = base64.urlsafe_b64encode(json.dumps(payload, separators=(",", ":")).encode()).rstrip(b"=")
//   s = base64.urlsafe_b64encode(hmac.new(secret, p, hashlib.sha256).digest()).rstrip(b"=")
//   token = (p + b"." + s).decode()
//
// Both functions are pure and safe to call from any thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "engine/rules/clock.h"
#include "schemas/status.h"

namespace palaver::rules {

inline constexpr size_t kMaxShopperIdentityTokenBytes = 4096;

struct ShopperIdentity {
  std::string shop;
  std::string customer_id;
  std::string email;  // empty when the storefront gave none
  std::string name;   // empty when the storefront gave none
  int64_t expires_at_unix_seconds = 0;

  friend bool operator==(const ShopperIdentity&, const ShopperIdentity&) = default;
};

// Returns a token for `identity` signed with `secret`, in the format above.
// Strings that are not valid UTF-8 are signed with U+FFFD in place of the
// bad bytes; empty email and name are left out of the payload. Verification
// refuses tokens over kMaxShopperIdentityTokenBytes and an empty secret, so a
// token made from over-long fields or with an empty secret never verifies.
// palaver itself signs only in tests and tools; storefronts sign on their side.
std::string SignShopperIdentity(const ShopperIdentity& identity, std::string_view secret);

// Checks `token` and returns the identity it carries. In this order:
//   kTooLarge          the token is longer than kMaxShopperIdentityTokenBytes;
//   kFailedPrecondition `secret` is empty (the shop has no identity secret set);
//   kInvalidArgument   the token is malformed: empty, not two base64url parts
//                      joined by ".", a signature that is not 32 bytes;
//   kPermissionDenied  "the shopper identity's signature does not match the
//                      shop's secret" (a tampered token or another secret);
//   kInvalidArgument   the signed payload is not a JSON object, or a field is
//                      missing or of the wrong type (Status::field() names it:
//                      "shop", "customer_id", "email", "name", "exp");
//   kPermissionDenied  the token is for another shop (field "shop");
//   kPermissionDenied  the token has expired: now_micros >= exp seconds; the
//                      message says when it expired (field "exp").
// The signature is compared in constant time. Nothing is parsed as JSON before
// the signature has been checked.
Result<ShopperIdentity> VerifyShopperIdentity(std::string_view token,
                                              std::string_view expected_shop,
                                              std::string_view secret, int64_t now_micros);
inline Result<ShopperIdentity> VerifyShopperIdentity(std::string_view token,
                                                     std::string_view expected_shop,
                                                     std::string_view secret, const Clock& clock) {
  return VerifyShopperIdentity(token, expected_shop, secret, clock.NowMicros());
}

}  // namespace palaver::rules
