// JSON text appended straight into one string, for answers on hot paths (the
// inbox page) that would otherwise build an nlohmann::json tree only to dump
// it. The bytes are exactly those of
//   nlohmann::json::dump(-1, ' ', false, nlohmann::json::error_handler_t::replace)
// for the same values, so an answer keeps its shape whichever way it is made:
// strings are escaped the same way (", \, \b \f \n \r \t, other control
// characters as \u00xx, everything else verbatim) and invalid UTF-8 is
// replaced by U+FFFD the same way. Objects must be written with their keys in
// std::map order (nlohmann::json sorts them); callers do that by hand.
//
// Internal to palaver_api. Thread safety: free functions on the caller's string.
#pragma once

#include <charconv>
#include <cstdint>
#include <string>
#include <string_view>

namespace palaver::api::internal {

// Appends `text` as a JSON string literal, quotes included.
void AppendJsonString(std::string& out, std::string_view text);

inline void AppendJsonInt(std::string& out, int64_t value) {
  char buffer[24];
  const auto end = std::to_chars(buffer, buffer + sizeof buffer, value).ptr;
  out.append(buffer, end);
}

inline void AppendJsonBool(std::string& out, bool value) { out.append(value ? "true" : "false"); }

}  // namespace palaver::api::internal
