// Pieces shared by the inbound handlers; not part of the library's API.
#pragma once

#include <string>
#include <string_view>

#include <boost/beast/http/status.hpp>

#include "connectors/http_server.h"

namespace palaver::inbound::internal {

// An application/problem+json response:
// {"type": "https://palaver.dev/problems/<code>", "title", "status", "code",
//  "detail", "field"}.
HttpResponse Problem(const HttpRequest& request, boost::beast::http::status status,
                     std::string_view code, std::string_view detail, std::string_view field = {});

// Lowercase hex of HMAC-SHA256(key, message).
std::string HmacSha256Hex(std::string_view key, std::string_view message);
// Standard base64 of HMAC-SHA1(key, message).
std::string HmacSha1Base64(std::string_view key, std::string_view message);
// Equality in time independent of where the strings differ.
bool ConstantTimeEquals(std::string_view a, std::string_view b);

// %XX and (when `plus_is_space`) '+' decoded; malformed escapes stay as they are.
std::string PercentDecode(std::string_view in, bool plus_is_space);

// The media type of a Content-Type value, lowercase, without parameters.
std::string MediaType(std::string_view content_type);

}  // namespace palaver::inbound::internal
