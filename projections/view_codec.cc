#include "projections/view_codec.h"

#include <cstdio>

namespace palaver::projections::internal {

std::string UtcDay(int64_t unix_micros) {
  // Floor division, so times before 1970 land on the right day.
  constexpr int64_t kMicrosPerDay = 86'400'000'000LL;
  int64_t days = unix_micros / kMicrosPerDay;
  if (unix_micros % kMicrosPerDay < 0) --days;
  // civil_from_days (H. Hinnant, "chrono-Compatible Low-Level Date Algorithms").
  days += 719468;
  const int64_t era = (days >= 0 ? days : days - 146096) / 146097;
  const int64_t doe = days - era * 146097;
  const int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  int64_t y = yoe + era * 400;
  const int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const int64_t mp = (5 * doy + 2) / 153;
  const int64_t d = doy - (153 * mp + 2) / 5 + 1;
  const int64_t m = mp < 10 ? mp + 3 : mp - 9;
  if (m <= 2) ++y;
  char buf[32];
  std::snprintf(buf, sizeof buf, "%04lld-%02lld-%02lld", static_cast<long long>(y),
                static_cast<long long>(m), static_cast<long long>(d));
  return buf;
}

std::string EscapeKey(std::string_view key) {
  std::string out;
  for (char ch : key) {
    const auto c = static_cast<unsigned char>(ch);
    if (c == 0) {
      out.push_back('|');
    } else if (c >= 0x20 && c < 0x7f && c != '\\' && c != '|') {
      out.push_back(ch);
    } else {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", c);
      out.append(buf);
    }
  }
  return out;
}

}  // namespace palaver::projections::internal
